"""Filters run slab by slab in threads give exactly what the whole-volume call gives."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from reconstruction import slabs
from reconstruction.segment import flatten_background, segment_lumen
from reconstruction.slabs import map_slabs


@pytest.fixture
def volume() -> np.ndarray:
    return np.random.default_rng(3).normal(size=(9, 37, 23)).astype(np.float32)


@pytest.mark.parametrize("workers", [1, 2, 3, 8, 100])
def test_halo_makes_a_filter_across_the_cut_exact(volume, workers):
    sigma = (0.6, 1.7, 0.9)
    whole = ndimage.gaussian_filter(volume, sigma)
    cut = map_slabs(lambda s: ndimage.gaussian_filter(s, sigma), volume, axis=1,
                    halo=int(4.0 * sigma[1] + 0.5) + 1, workers=workers)
    assert cut.dtype == whole.dtype
    assert np.array_equal(cut, whole)


def test_without_the_halo_the_cut_shows(volume):
    """The halo is what makes the result exact: the test above could fail."""
    smooth = lambda s: ndimage.gaussian_filter(s, (0.6, 1.7, 0.9))  # noqa: E731
    assert not np.array_equal(map_slabs(smooth, volume, axis=1, workers=2), smooth(volume))


def test_tuple_results_come_back_as_a_tuple(volume):
    def peaks(columns):
        top = ndimage.maximum_filter1d(columns, size=3, axis=0)
        return top, columns >= top

    top, is_peak = map_slabs(peaks, volume, axis=2, workers=2)
    assert top.shape == volume.shape and is_peak.dtype == bool
    assert np.array_equal(top, ndimage.maximum_filter1d(volume, size=3, axis=0))
    assert np.array_equal(is_peak, volume >= top)


def test_an_error_in_a_slab_reaches_the_caller(volume):
    def fails(s):
        raise ValueError("bad slab")

    with pytest.raises(ValueError, match="bad slab"):
        map_slabs(fails, volume, axis=0, workers=2)


def test_background_flattening_is_the_same_on_one_core_and_many(volume, monkeypatch):
    big = np.random.default_rng(4).normal(size=(6, 64, 48)).astype(np.float32)
    many = flatten_background(big, spacing_yx=(0.2, 0.2))
    monkeypatch.setattr(slabs, "available_cores", lambda: 1)
    one = flatten_background(big, spacing_yx=(0.2, 0.2))
    assert np.array_equal(many, one)


def test_segmentation_is_the_same_on_one_core_and_two(sample_of, monkeypatch):
    s = sample_of("normal")
    monkeypatch.setattr(slabs, "available_cores", lambda: 2)
    two = segment_lumen(s.volume.array, s.volume.frame)
    monkeypatch.setattr(slabs, "available_cores", lambda: 1)
    one = segment_lumen(s.volume.array, s.volume.frame)
    assert np.array_equal(two.mask, one.mask)
    assert np.array_equal(two.contrast, one.contrast)
    assert two.mask.any()
