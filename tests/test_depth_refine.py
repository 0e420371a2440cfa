"""Depth decided along each duct where it is in focus (reconstruction/depth_refine.py).

The synthetic contrast mimics DBT's depth response to a thin duct: sharp and high in its
own slice with dark FBP undershoots beside it, spread across the sweep direction (and
lower) out of focus.  A centreline put at the wrong depth and a few tenths of a
millimetre off the duct's axis must be moved to the duct's depth.
"""
from __future__ import annotations

import numpy as np

from reconstruction.depth_refine import duct_strokes, refine_tree_depths, ridge_profiles, viterbi_depth
from reconstruction.frame import ImageFrame
from reconstruction.tree import Branch, DuctSystem, DuctTree

SPACING_ZYX = (1.0, 0.2, 0.2)          # DBT-like: 1 mm slices, 0.2 mm in-plane
SHAPE = (40, 80, 220)


def dbt_like_contrast(duct_depths: np.ndarray, duct_y_mm: float, *, noise: float = 0.5,
                      seed: int = 0) -> np.ndarray:
    """Contrast (noise units) of a duct along x at ``duct_y_mm``, depth per x column.

    In focus: a Gaussian of sigma 0.3 mm across y (the sweep direction) with negative
    side lobes; ``d`` slices away: sigma 0.3 + 0.35 d mm, same integral, no lobes.
    """
    nz, ny, nx = SHAPE
    y = np.arange(ny) * SPACING_ZYX[1] - duct_y_mm
    z = np.arange(nz) * SPACING_ZYX[0]
    out = np.zeros(SHAPE, np.float32)
    for ix in range(nx):
        d = np.abs(z - duct_depths[ix])[:, None]
        sig = 0.3 + 0.35 * d
        body = 8.0 * 0.3 / sig * np.exp(-0.5 * (y[None, :] / sig) ** 2)
        lobes = np.where(d < 1.0, -3.0 * np.exp(-0.5 * ((np.abs(y[None, :]) - 0.7) / 0.2) ** 2), 0.0)
        out[:, :, ix] = body + lobes
    return out + np.random.default_rng(seed).normal(0, noise, SHAPE).astype(np.float32)


def tree_along_x(frame: ImageFrame, depth_mm: float, y_mm: float, x_mm: list[tuple[float, float]]) -> DuctTree:
    """Branches along x (root first), each from x0 to x1, at one depth and y."""
    branches = []
    for i, (x0, x1) in enumerate(x_mm):
        xs = np.linspace(x0, x1, int(round((x1 - x0) / 0.4)) + 1)
        q = np.stack([np.full_like(xs, depth_mm), np.full_like(xs, y_mm), xs], axis=1)
        branches.append(Branch(id=i, system=0, parent=None if i == 0 else 0, generation=1 if i == 0 else 2,
                               points_mm=frame.array_mm_to_physical(q), radius_mm=np.full(len(xs), 0.3)))
    return DuctTree(branches=branches, systems=[DuctSystem(id=0, orifice_mm=branches[0].points_mm[0])])


def depth_of(frame: ImageFrame, points_mm: np.ndarray) -> np.ndarray:
    return frame.physical_to_array_mm(points_mm)[:, 0]


def test_ridge_peaks_at_the_in_focus_slice_although_the_centreline_is_off_axis():
    depths = np.full(SHAPE[2], 20.0)
    c = dbt_like_contrast(depths, 8.0, noise=0.0)
    for off in (0.0, 0.3, 0.5):
        path = np.stack([np.full(50, 8.0 + off), np.linspace(10, 30, 50)], axis=1)
        ridge = ridge_profiles(c, SPACING_ZYX, path, half_width_mm=0.8)
        assert np.all(np.argmax(ridge, axis=1) == 20), off


def test_where_the_duct_gives_no_focus_the_depth_stays_level():
    # 8 mm of a duct in focus at 12 mm, then 22 mm where only broad out-of-focus haze
    # rises gently with depth (0.02 noise units per mm): the haze must not pull the
    # duct up through the slices (it did, to 28.5 mm, without the tilt prior).
    z = np.arange(60) * 0.5
    prof = np.tile(0.02 * z, (30, 1))
    prof[:8] += 5 * np.exp(-0.5 * ((z - 12.0) / 1.0) ** 2)
    assert np.all(viterbi_depth(prof, dz_mm=0.5, ds_mm=1.0) == 12.0)
    assert viterbi_depth(prof, dz_mm=0.5, ds_mm=1.0, tilt_cost=0.0)[-1] > 20.0


def test_a_centreline_at_the_wrong_depth_is_moved_to_the_duct():
    frame = ImageFrame.identity(SHAPE[::-1], spacing=SPACING_ZYX[::-1])
    true_depth = 15.0 + 8.0 * np.arange(SHAPE[2]) * SPACING_ZYX[2] / (SHAPE[2] * SPACING_ZYX[2])  # 15 -> 23 mm
    c = dbt_like_contrast(true_depth, 8.0)
    tree = tree_along_x(frame, 28.0, 8.3, [(2.0, 40.0)])
    new, notes = refine_tree_depths(tree, c, frame)
    p = new.branches[0].points_mm
    x = frame.physical_to_array_mm(p)[:, 2]
    expected = np.interp(x, np.arange(SHAPE[2]) * SPACING_ZYX[2], true_depth)
    err = np.abs(depth_of(frame, p) - expected)
    assert np.median(err) <= 0.5 and np.percentile(err, 90) <= 1.0, err
    # in-plane position untouched
    np.testing.assert_allclose(frame.physical_to_array_mm(p)[:, 1:],
                               frame.physical_to_array_mm(tree.branches[0].points_mm)[:, 1:], atol=1e-9)
    assert notes and "median shift" in notes[0]
    assert new.branches[0].z_uncertainty_mm is not None


def test_a_side_branch_stays_attached_to_its_parent():
    frame = ImageFrame.identity(SHAPE[::-1], spacing=SPACING_ZYX[::-1])
    c = dbt_like_contrast(np.full(SHAPE[2], 20.0), 8.0)
    tree = tree_along_x(frame, 26.0, 8.0, [(2.0, 20.0)])
    # a side branch leaving at 90 degrees (along y) from the root's end
    end = frame.physical_to_array_mm(tree.branches[0].points_mm[-1:])[0]
    ys = np.linspace(end[1], end[1] + 6.0, 16)
    q = np.stack([np.full_like(ys, 26.0), ys, np.full_like(ys, end[2])], axis=1)
    side = Branch(id=1, system=0, parent=0, generation=2, points_mm=frame.array_mm_to_physical(q),
                  radius_mm=np.full(len(ys), 0.3))
    tree = DuctTree(branches=[tree.branches[0], side], systems=tree.systems)
    new, _ = refine_tree_depths(tree, c, frame)
    np.testing.assert_allclose(new.branches[1].points_mm[0], new.branches[0].points_mm[-1], atol=1e-6)
    assert abs(depth_of(frame, new.branches[0].points_mm[-1:])[0] - 20.0) <= 1.0


def _duct_along_y(x_mm: float, y_mm: tuple[float, float], depth_mm: float, height: float) -> np.ndarray:
    """Noise-free contrast of a duct along y at ``x_mm`` (same depth response as above)."""
    nz, ny, nx = SHAPE
    x = np.arange(nx) * SPACING_ZYX[2] - x_mm
    d = np.abs(np.arange(nz) * SPACING_ZYX[0] - depth_mm)[:, None]
    sig = 0.3 + 0.35 * d
    across = height * 0.3 / sig * np.exp(-0.5 * (x[None, :] / sig) ** 2)          # (nz, nx)
    y = np.arange(ny) * SPACING_ZYX[1]
    inside = ((y >= y_mm[0]) & (y <= y_mm[1])).astype(np.float32)
    return (across[:, None, :] * inside[None, :, None]).astype(np.float32)


def test_a_junction_takes_the_depth_its_side_branch_is_seen_at():
    # A short root (along y) lies over two ridges, a slightly stronger one at 28 mm and one
    # at 12 mm; the 30 mm side branch leaving its end (along x) is in focus at 12 mm only.
    # Alone the root would take 28 mm and bend its side branch down to 12; decided with
    # the side branch's evidence, the junction is at 12 mm and the side branch level.
    frame = ImageFrame.identity(SHAPE[::-1], spacing=SPACING_ZYX[::-1])
    depths = np.where(np.arange(SHAPE[2]) * SPACING_ZYX[2] >= 10.0, 12.0, 1e3)   # starts at x = 10
    c = (dbt_like_contrast(depths, 8.0, noise=0.3)
         + _duct_along_y(10.0, (2.0, 8.0), 12.0, 8.0) + _duct_along_y(10.0, (2.0, 8.0), 28.0, 10.0))
    ys = np.linspace(2.0, 8.0, 16)
    root_q = np.stack([np.full_like(ys, 20.0), ys, np.full_like(ys, 10.0)], axis=1)
    xs = np.linspace(10.0, 40.0, 76)
    side_q = np.stack([np.full_like(xs, 20.0), np.full_like(xs, 8.0), xs], axis=1)
    tree = DuctTree(branches=[Branch(id=0, system=0, parent=None, points_mm=frame.array_mm_to_physical(root_q),
                                     radius_mm=np.full(len(ys), 0.3)),
                              Branch(id=1, system=0, parent=0, generation=2,
                                     points_mm=frame.array_mm_to_physical(side_q), radius_mm=np.full(len(xs), 0.3))],
                    systems=[DuctSystem(id=0, orifice_mm=frame.array_mm_to_physical(root_q[:1])[0])])
    new, _ = refine_tree_depths(tree, c, frame)
    assert abs(depth_of(frame, new.branches[0].points_mm[-1:])[0] - 12.0) <= 1.0
    side = depth_of(frame, new.branches[1].points_mm)
    assert np.all(np.abs(side[5:] - 12.0) <= 1.0), side


def test_strokes_continue_straight_through_a_junction():
    frame = ImageFrame.identity(SHAPE[::-1], spacing=SPACING_ZYX[::-1])
    root = tree_along_x(frame, 20.0, 8.0, [(2.0, 20.0)]).branches[0]
    end = frame.physical_to_array_mm(root.points_mm[-1:])[0]

    def leg(i: int, dy: float, dx: float) -> Branch:
        t = np.linspace(0, 1, 20)[:, None]
        q = end + t * np.array([0.0, dy, dx])
        return Branch(id=i, system=0, parent=0, generation=2, points_mm=frame.array_mm_to_physical(q),
                      radius_mm=np.full(20, 0.3))

    tree = DuctTree(branches=[root, leg(1, 6.0, 1.0), leg(2, 0.5, 10.0)],
                    systems=[DuctSystem(id=0, orifice_mm=root.points_mm[0])])
    strokes = duct_strokes(tree, frame.direction_matrix[:, 2])
    assert strokes == [[0, 2], [1]]


def test_doctests_of_the_module():
    import doctest

    import reconstruction.depth_refine as module

    assert doctest.testmod(module).failed == 0


def test_window_quantiles_match_one_row_at_a_time():
    from reconstruction.depth_refine import _window_quantiles

    rng = np.random.default_rng(5)
    p = rng.normal(size=(40, 30))
    lo = rng.integers(0, 15, size=40)
    hi = np.minimum(30, lo + rng.integers(1, 20, size=40))
    expected = [np.quantile(p[i, lo[i]:hi[i]], 0.1) for i in range(40)]
    assert np.array_equal(_window_quantiles(p, lo, hi, 0.1), expected)
