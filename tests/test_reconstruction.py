"""Reconstruction on sample volumes: what holds today (floors), and clear errors.

The issue's targets (recall/precision >= 0.95) are not met yet; the benchmark
(benchmarks/bench_reconstruction.py) prints the figures.  These floors guard against
regressions while the method improves.
"""
from __future__ import annotations

import numpy as np
import pytest

from reconstruction.frame import ImageFrame
from reconstruction.pipeline import reconstruct
from reconstruction.segment import segment_lumen
from reconstruction.volume import Volume
from sample_volumes.scoring import score_tree


@pytest.mark.parametrize("name", ["normal", "cutoff"])
def test_reconstruction_floors(sample_of, name):
    s = sample_of(name)
    rec = reconstruct(s.volume)
    rec.tree.validate()
    score = score_tree(rec.tree, s.truth)
    assert score.recall >= 0.65, score.line()
    assert score.precision >= 0.4, score.line()
    assert score.branches_detected >= 0.5, score.line()
    # Depth artefacts pruned: no tip branch runs along the slice axis.
    from reconstruction.depth_prune import steepness

    axis = s.volume.frame.direction_matrix[:, 2]
    for b in rec.tree.branches:
        if rec.tree.is_tip(b.id) and b.parent is not None and b.length_mm <= 15.0:
            assert steepness(b.points_mm, axis) <= 0.6
    # Every system is rooted on the nipple (its orifice within the 2 mm ring of the nipple
    # found, which is itself within 2.5 mm of the true one).
    for sys_ in rec.tree.systems:
        if sys_.root_branch is not None:
            assert np.linalg.norm(sys_.orifice_mm - np.asarray(s.truth["nipple_mm"])) < 4.5


def test_nipple_found_on_the_skin_line(sample_of):
    for name in ("normal", "two-systems", "air-bubble"):
        s = sample_of(name)
        seg = segment_lumen(s.volume.array, s.volume.frame)
        assert np.linalg.norm(seg.nipple_mm - np.asarray(s.truth["nipple_mm"])) < 2.5, name


SECOND_SYSTEM_JOINED = pytest.mark.xfail(strict=True, reason=(
    "the second system's duct leaves the nipple 2-3 mm deeper than the first and overlaps it "
    "in projection; the tree builder joins it to the first system.  The count was right before "
    "depth was decided along the ducts only by accident: the second 'system' was a 28 mm column "
    "along the slice axis at its orifice with no in-plane extent, which now collapses to 1 mm and "
    "is dropped as a stub"))


@pytest.mark.parametrize("name", ["normal", pytest.param("two-systems", marks=SECOND_SYSTEM_JOINED), "cyst",
                                  # a branch whose junction with the main duct is not seen
                                  # reaches toward the nipple on its own: still one system
                                  "cutoff", "obstructing-papilloma"])
def test_number_of_opacified_systems_is_exact(sample_of, name):
    s = sample_of(name)
    score = score_tree(reconstruct(s.volume).tree, s.truth)
    assert score.n_found_systems == score.n_true_systems, score.line()


def test_empty_and_constant_volumes_give_clear_errors():
    frame = ImageFrame.identity((10, 40, 40), spacing=(0.2, 0.2, 1.0))
    with pytest.raises(ValueError, match="breast|uniform|empty"):
        reconstruct(Volume(np.zeros((10, 40, 40), np.float32), frame))
    solid = np.full((10, 40, 40), 100.0, np.float32)
    with pytest.raises(ValueError):
        reconstruct(Volume(solid, frame))


def test_score_counts_only_systems_with_opacified_ducts(sample_of):
    from reconstruction.tree import DuctSystem, DuctTree

    s = sample_of("normal")
    truth_tree = DuctTree.from_dict(s.truth["tree"])
    found = DuctTree(branches=[b for b in truth_tree.branches if b.system in s.truth["opacified_systems"]],
                     systems=[sy for sy in truth_tree.systems if sy.id in s.truth["opacified_systems"]],
                     nipple_mm=truth_tree.nipple_mm)
    exact = score_tree(found, s.truth)
    assert exact.recall == 1.0 and exact.precision == 1.0
    assert exact.n_found_systems == exact.n_true_systems
    # an orifice the builder found no lumen for: an empty, not opacified system
    found.systems.append(DuctSystem(id=max(sy.id for sy in found.systems) + 1,
                                    orifice_mm=np.asarray(s.truth["nipple_mm"]), opacified=False))
    assert score_tree(found, s.truth).n_found_systems == exact.n_true_systems


def _stored_differently(volume: Volume, *, mirror_x: bool, swap_xy: bool) -> Volume:
    """The same voxels at the same physical places, stored in another array layout."""
    f = volume.frame
    d = f.direction_matrix.copy()
    a = volume.array
    origin = np.asarray(f.origin, float)
    spacing = list(f.spacing)
    size = list(f.size)
    if mirror_x:                      # x runs the other way: index 0 is the old last column
        a = a[:, :, ::-1]
        origin = f.index_to_physical([[size[0] - 1, 0, 0]])[0]
        d[:, 0] = -d[:, 0]
    if swap_xy:                       # rows and columns exchanged
        a = np.swapaxes(a, 1, 2)
        d[:, [0, 1]] = d[:, [1, 0]]
        spacing[0], spacing[1] = spacing[1], spacing[0]
        size[0], size[1] = size[1], size[0]
    frame = ImageFrame(origin=tuple(origin), spacing=tuple(spacing), direction=tuple(d.ravel()), size=tuple(size))
    return Volume(np.ascontiguousarray(a), frame)


def test_another_array_layout_gives_the_same_tree(sample_of):
    """Other scanners and files store the breast mirrored or turned: the tree is physical."""
    s = sample_of("cutoff")
    ref = score_tree(reconstruct(s.volume).tree, s.truth)
    for mirror_x, swap_xy in ((True, False), (False, True)):
        other = _stored_differently(s.volume, mirror_x=mirror_x, swap_xy=swap_xy)
        probe = np.array([[3, 100, 200]])
        assert np.allclose(s.volume.frame.array_index_to_physical(probe),
                           other.frame.array_index_to_physical(probe[:, [0, 2, 1]] if swap_xy
                                                               else [[3, 100, s.volume.array.shape[2] - 201]]))
        got = score_tree(reconstruct(other).tree, s.truth)
        assert got.n_found_systems == ref.n_found_systems, (mirror_x, swap_xy, got.line(), ref.line())
        # 3D thinning visits the axes in a fixed order, so exchanging rows and columns moves a
        # few skeleton voxels and, downstream, which edge of a depth ladder is kept: measured
        # 0.00 recall and 0.075 precision apart on this volume while its branch piece whose
        # junction is not seen founded a false second system; 0.100 recall and 0.036
        # precision apart since that piece joins the tree (reference 0.828, swapped 0.728);
        # 0.049 and 0.027 apart (mirrored 0.014 and 0.005) since each junction's depth
        # weighs the ducts beyond it (reference 0.789/0.763, swapped 0.740/0.790).
        assert abs(got.recall - ref.recall) <= 0.08 and abs(got.precision - ref.precision) <= 0.06, \
            (mirror_x, swap_xy, got.line(), ref.line())


def test_thin_tortuous_ducts_floor():
    """Ducts thinner and more tortuous than the presets' (another duct-tree model).

    Thin ducts peak at 3-5 noise sigma: with a 6-sigma hysteresis seed whole branches went
    unseeded (recall 0.52 on this sample); the 4.5-sigma seed finds 0.60.
    """
    from sample_volumes.generate import make_sample

    s = make_sample("normal", seed=0, ducts="thin-tortuous")
    score = score_tree(reconstruct(s.volume).tree, s.truth)
    assert score.recall >= 0.57, score.line()
    assert score.precision >= 0.75, score.line()


def _half_mm_slices(volume: Volume) -> Volume:
    """The volume resampled (linearly) to slices 0.5 mm apart, as some scanners reconstruct."""
    import SimpleITK as sitk

    f = volume.frame
    image = sitk.GetImageFromArray(volume.array)
    image.SetSpacing(f.spacing)
    image.SetOrigin(f.origin)
    image.SetDirection(f.direction)
    size = (f.size[0], f.size[1], 2 * f.size[2] - 1)
    spacing = (f.spacing[0], f.spacing[1], 0.5 * f.spacing[2])
    out = sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear, f.origin, spacing, f.direction, 0.0,
                        sitk.sitkFloat32)
    return Volume(sitk.GetArrayFromImage(out), ImageFrame(origin=f.origin, spacing=spacing,
                                                          direction=f.direction, size=size))


def test_half_millimetre_slices_give_a_tree_as_good(sample_of):
    """Slices 0.5 mm apart are averaged in pairs before segmenting (the depth blur spans
    several mm).  Segmented as they came, the one-voxel depth ribbon breaks between
    columns: here recall 0.70 and precision 0.66 against 0.81/0.81 on the 1 mm slices
    (another volume lost every duct at the nipple); averaged, 0.78/0.82."""
    s = sample_of("single-papilloma")
    ref = score_tree(reconstruct(s.volume).tree, s.truth)
    got = score_tree(reconstruct(_half_mm_slices(s.volume)).tree, s.truth)
    assert got.n_found_systems == ref.n_found_systems, (got.line(), ref.line())
    assert abs(got.recall - ref.recall) <= 0.08 and abs(got.precision - ref.precision) <= 0.08, \
        (got.line(), ref.line())
