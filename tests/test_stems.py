"""The main duct's stem behind the nipple: traced through the image, not drawn straight."""
from __future__ import annotations

import numpy as np
import pytest

from reconstruction.frame import ImageFrame
from reconstruction.orifices import extend_to_nipple
from reconstruction.stems import depth_peak_image, trace_stem
from reconstruction.topology import SystemRooting, TopologyReport
from reconstruction.tree import Branch, DuctSystem, DuctTree

SPACING = (0.2, 0.2, 1.0)        # x, y, z (mm): DBT-like
DEPTH_MM = 10.0


def _arc_y(x_mm: np.ndarray) -> np.ndarray:
    """A duct curving 2 mm off the straight line between its ends (x 4 to 36 mm)."""
    return 10.0 + 2.0 * np.sin(np.pi * (x_mm - 4.0) / 32.0)


@pytest.fixture(scope="module")
def curved_duct_across_skin() -> tuple[np.ndarray, ImageFrame]:
    """A 1 mm duct blurred over slices, crossed by a 3 mm band bright through every slice
    (skin) and by noise."""
    nx, ny, nz = 200, 100, 20
    frame = ImageFrame(origin=(0.0, 0.0, 0.0), spacing=SPACING, direction=tuple(np.eye(3).ravel()),
                       size=(nx, ny, nz))
    z, y, x = np.meshgrid(np.arange(nz) * SPACING[2], np.arange(ny) * SPACING[1], np.arange(nx) * SPACING[0],
                          indexing="ij")
    off = np.abs(y - _arc_y(x))
    duct = 60.0 * np.exp(-0.5 * (off / 0.5) ** 2) * np.exp(-0.5 * ((z - DEPTH_MM) / 3.0) ** 2)
    duct[:, :, (x[0, 0] < 4.0) | (x[0, 0] > 36.0)] = 0.0
    skin = np.where(np.abs(x - 24.0) <= 1.5, 80.0, 0.0)
    rng = np.random.default_rng(0)
    return (100.0 + duct + skin + rng.normal(0.0, 4.0, duct.shape)).astype(np.float32), frame


def _deviation_from_arc(points: np.ndarray) -> float:
    inner = points[(points[:, 0] > 5.0) & (points[:, 0] < 35.0)]
    return float(np.max(np.abs(inner[:, 1] - _arc_y(inner[:, 0]))))


def test_depth_peak_image_scores_peaked_columns_not_flat_ones():
    cols = np.zeros((9, 1, 2), np.float32)
    cols[:, 0, 0] = 50.0                 # bright through the slab: skin
    cols[4, 0, 1] = 30.0                 # bright at one depth: a duct
    np.testing.assert_allclose(depth_peak_image(cols)[0], [0.0, 30.0])


def test_trace_follows_a_curved_duct_across_the_skin(curved_duct_across_skin):
    volume, frame = curved_duct_across_skin
    start = np.array([4.0, _arc_y(np.array(4.0)), DEPTH_MM])
    end = np.array([36.0, _arc_y(np.array(36.0)), DEPTH_MM])
    path = trace_stem(volume, frame, start, end)
    assert path is not None
    np.testing.assert_allclose(path[0], start)
    np.testing.assert_allclose(path[-1], end)
    # the straight line is 2 mm off the duct at its middle; the trace stays in the duct's
    # band (its core is one level: the path may cut the inside of the bend by half a width)
    straight = start + np.linspace(0, 1, 50)[:, None] * (end - start)
    assert _deviation_from_arc(straight) > 1.5
    assert _deviation_from_arc(path) <= 0.7
    np.testing.assert_allclose(path[:, 2], DEPTH_MM)      # depth between the ends' depths


def test_trace_refuses_ends_outside_the_volume(curved_duct_across_skin):
    volume, frame = curved_duct_across_skin
    assert trace_stem(volume, frame, np.array([4.0, 10.0, 10.0]), np.array([60.0, 10.0, 10.0])) is None


def test_stem_traced_to_the_nipple_follows_the_duct(curved_duct_across_skin):
    volume, frame = curved_duct_across_skin
    # The lumen was seen from x = 4 mm; the nipple's tip is where the duct ends (x = 36).
    nipple = np.array([36.0, _arc_y(np.array(36.0)), DEPTH_MM])
    x = np.linspace(4.0, 0.0, 9)
    pts = np.column_stack([x, _arc_y(x), np.full(len(x), DEPTH_MM)])
    root = Branch(id=0, system=0, parent=None, points_mm=pts, radius_mm=np.full(len(x), 0.5),
                  z_uncertainty_mm=np.full(len(x), 1.0))
    tree = DuctTree(branches=[root], systems=[DuctSystem(0, pts[0].copy(), root_branch=0)], nipple_mm=nipple)
    report = TopologyReport()
    report.systems.append(SystemRooting(system=0, orifice_mm=pts[0].copy(), found=True, length_mm=4.0))
    notes = extend_to_nipple(tree, report, nipple, ring_mm=2.0, step_mm=0.5, volume=volume, frame=frame)
    tree.validate()
    assert len(notes) == 1 and "traced" in notes[0]
    orifice = tree.systems[0].orifice_mm
    assert np.linalg.norm(orifice - nipple) <= 2.0 + 0.3
    stem = tree.branches[0].points_mm[: len(tree.branches[0].points_mm) - len(pts)]
    assert _deviation_from_arc(stem) <= 0.7
    steps = np.linalg.norm(np.diff(tree.branches[0].points_mm[: len(stem) + 1], axis=0), axis=1)
    assert np.max(steps) <= 0.5 + 0.05
