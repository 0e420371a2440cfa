"""The main duct's stem behind the nipple: traced through the image, not drawn straight."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

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
    trace = trace_stem(volume, frame, start, end)
    assert trace is not None
    path = trace.points_mm
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


def _wide_duct(profile: str) -> tuple[np.ndarray, ImageFrame]:
    """A 4 mm wide lumen (an ampulla) along x at y = 10 mm, with noise.  ``chord``: as a
    cylinder thinner than the depth blur images (brightness ~ its thickness through the
    slab); ``flat``: evenly bright across (a plateau, where brightness gives no middle)."""
    nx, ny, nz = 200, 100, 20
    frame = ImageFrame(origin=(0.0, 0.0, 0.0), spacing=SPACING, direction=tuple(np.eye(3).ravel()),
                       size=(nx, ny, nz))
    z, y, x = np.meshgrid(np.arange(nz) * SPACING[2], np.arange(ny) * SPACING[1], np.arange(nx) * SPACING[0],
                          indexing="ij")
    if profile == "chord":
        across = np.sqrt(np.clip(1.0 - ((y - 10.0) / 2.0) ** 2, 0.0, None))
    else:
        across = ndimage.gaussian_filter1d((np.abs(y - 10.0) <= 2.0).astype(float), 0.5 / SPACING[1], axis=1)
    lumen = 60.0 * across * np.exp(-0.5 * ((z - DEPTH_MM) / 3.0) ** 2)
    rng = np.random.default_rng(1)
    return (100.0 + lumen + rng.normal(0.0, 4.0, lumen.shape)).astype(np.float32), frame


@pytest.mark.parametrize("profile", ["flat", "chord"])
def test_trace_keeps_to_the_middle_of_a_wide_lumen_and_measures_its_radius(profile):
    volume, frame = _wide_duct(profile)
    # Both ends on one wall (1.5 mm off the middle): a path that only seeks brightness
    # runs straight along that wall through a plateau; the band's middle is 1.5 mm away.
    start, end = np.array([4.0, 11.5, DEPTH_MM]), np.array([36.0, 11.5, DEPTH_MM])
    trace = trace_stem(volume, frame, start, end)
    assert trace is not None
    mid = (trace.points_mm[:, 0] > 10.0) & (trace.points_mm[:, 0] < 30.0)
    assert np.median(np.abs(trace.points_mm[mid, 1] - 10.0)) <= 0.4
    # The radius: chord-corrected half-width, exact for the cylinder's profile (and
    # 15 % over for a plateau, which has no chord profile to correct).
    expected = 2.0 if profile == "chord" else 2.0 / np.sqrt(0.75)
    np.testing.assert_allclose(np.median(trace.radius_mm[mid]), expected, rtol=0.12)
