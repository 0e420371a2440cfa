"""ImageFrame: index <-> mm both ways, agreeing with SimpleITK and pyvista."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from reconstruction.frame import ImageFrame
from sample_volumes import patient_direction


@pytest.fixture(params=["CC", "MLO"])
def frame(request):
    d = patient_direction("L", request.param)
    return ImageFrame(origin=(-61.3, 20.7, 5.5), spacing=(0.15, 0.12, 1.0), direction=tuple(d.ravel()),
                      size=(7, 5, 4))


def test_round_trips(frame):
    rng = np.random.default_rng(0)
    ijk = rng.uniform(0, 4, size=(20, 3))
    np.testing.assert_allclose(frame.physical_to_index(frame.index_to_physical(ijk)), ijk, atol=1e-9)
    zyx = ijk[:, ::-1]
    np.testing.assert_allclose(frame.physical_to_array_index(frame.array_index_to_physical(zyx)), zyx, atol=1e-9)
    q = frame.physical_to_array_mm(frame.index_to_physical(ijk))
    np.testing.assert_allclose(q, zyx * np.array(frame.spacing_zyx), atol=1e-9)
    np.testing.assert_allclose(frame.array_mm_to_physical(q), frame.index_to_physical(ijk), atol=1e-9)


def test_agrees_with_simpleitk(frame):
    arr = np.arange(np.prod(frame.shape_zyx), dtype=np.float32).reshape(frame.shape_zyx)
    img = frame.to_sitk(arr)
    assert ImageFrame.from_sitk(img) == frame
    for ijk in [(0, 0, 0), (6, 4, 3), (2.5, 1.25, 0.5)]:
        np.testing.assert_allclose(frame.index_to_physical(ijk), img.TransformContinuousIndexToPhysicalPoint(ijk),
                                   atol=1e-9)
    # numpy (z, y, x) and ITK (x, y, z) name the same voxel.
    assert img[6, 4, 3] == arr[3, 4, 6]


def test_agrees_with_pyvista(frame):
    arr = np.arange(np.prod(frame.shape_zyx), dtype=np.float32).reshape(frame.shape_zyx)
    grid = frame.to_pyvista(arr)
    assert ImageFrame.from_pyvista(grid).size == frame.size
    np.testing.assert_allclose(grid.points[grid.find_closest_point(frame.index_to_physical((6, 4, 3)))],
                               frame.index_to_physical((6, 4, 3)), atol=1e-6)
    assert grid.point_data["values"][grid.find_closest_point(frame.index_to_physical((6, 4, 3)))] == arr[3, 4, 6]


def test_rejects_bad_geometry():
    with pytest.raises(ValueError, match="spacing"):
        ImageFrame(origin=(0, 0, 0), spacing=(0.1, 0.0, 1.0), direction=tuple(np.eye(3).ravel()), size=(2, 2, 2))
    with pytest.raises(ValueError, match="orthonormal"):
        ImageFrame(origin=(0, 0, 0), spacing=(1, 1, 1), direction=(1, 1, 0, 0, 1, 0, 0, 0, 1), size=(2, 2, 2))
