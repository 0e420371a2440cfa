"""Ducts hung on the tree the long way round are re-hung across their gap
(:mod:`reconstruction.detours`), on hand-built trees."""
from __future__ import annotations

import numpy as np

from reconstruction.detours import DetourOptions, bridge_detours, distances_from_orifice
from reconstruction.tree import Branch, DuctSystem, DuctTree


def _line(a, b, step: float = 0.5) -> np.ndarray:
    n = int(round(np.linalg.norm(np.subtract(b, a)) / step)) + 1
    return np.linspace(np.asarray(a, float), np.asarray(b, float), n)


def _branch(i: int, parent, a, b, r: float) -> Branch:
    p = _line(a, b)
    return Branch(i, 0, parent, p, np.full(len(p), r), z_uncertainty_mm=np.full(len(p), 0.5))


def _detour_tree() -> DuctTree:
    """A main duct along x from the orifice, interrupted at x = 20-23 mm by a filling
    defect.  Beyond it the duct (x = 23-60) touches a side duct at x = 40, and the
    skeleton joined it there: the tree reaches x = 23 from the far side, 85 mm round.
    A side branch leaves the far duct at x = 50."""
    return DuctTree(branches=[
        _branch(0, None, [0, 0, 30], [20, 0, 30], 0.8),
        _branch(1, 0, [20, 0, 30], [20, 20, 30], 0.5),       # side duct ...
        _branch(2, 1, [20, 20, 30], [40, 0, 30], 0.5),       # ... touching the far duct
        _branch(3, 2, [40, 0, 30], [23, 0, 30], 0.8),        # far duct, back to the defect
        _branch(4, 2, [40, 0, 30], [50, 0, 30], 0.8),        # far duct, onward
        _branch(5, 4, [50, 0, 30], [60, 0, 30], 0.7),
        _branch(6, 4, [50, 0, 30], [55, 8, 30], 0.4),
    ], systems=[DuctSystem(0, [0, 0, 30], root_branch=0)], nipple_mm=np.array([-2.0, 0, 30]))


def _point_distance(tree: DuctTree, p) -> float:
    """Along-tree distance from the orifice of the tree point nearest ``p``."""
    d = distances_from_orifice(tree)
    best = min(((np.linalg.norm(b.points_mm - p, axis=1).min(), b.id) for b in tree.branches))
    b = tree.branches[best[1]]
    return float(d[b.id][np.argmin(np.linalg.norm(b.points_mm - p, axis=1))])


def test_far_side_of_a_gap_is_rehung_across_it():
    tree = _detour_tree()
    before_len = tree.total_length_mm
    assert _point_distance(tree, [23, 0, 30]) > 80 and _point_distance(tree, [60, 0, 30]) > 85
    fixed, bridges = bridge_detours(tree)
    fixed.validate()
    assert len(bridges) == 1
    g = bridges[0]
    assert abs(g.length_mm - 3.0) < 0.1 and g.detour_mm > 55
    assert np.allclose(g.start_mm, [20, 0, 30]) and np.allclose(g.end_mm, [23, 0, 30])
    # Distances along the duct are now those of one duct through the defect ...
    assert abs(_point_distance(fixed, [23, 0, 30]) - 23) < 0.5
    assert abs(_point_distance(fixed, [50, 0, 30]) - 50) < 0.5
    assert abs(_point_distance(fixed, [60, 0, 30]) - 60) < 0.5
    # ... the side duct is reached from both ends, and cut where the two ways meet ...
    assert _point_distance(fixed, [20, 20, 30]) < 41
    assert max(distances_from_orifice(fixed)[b.id][-1] for b in fixed.branches) < 65
    # ... nothing was removed (the bridge was added), every old point is still there, ...
    assert abs(fixed.total_length_mm - (before_len + 3.0)) < 0.1
    new_pts = np.concatenate([b.points_mm for b in fixed.branches])
    for b in tree.branches:
        assert max(np.linalg.norm(new_pts - p, axis=1).min() for p in b.points_mm) < 1e-9
    # ... and the bridge is marked where it lies (the lesion detector reads it).
    on = fixed.branches[g.branch]
    s0, e0 = g.point_range
    assert (s0, e0) in on.bridged
    assert np.allclose(on.points_mm[s0], [20, 0, 30]) and np.allclose(on.points_mm[e0], [23, 0, 30])
    # The far duct's side branch still hangs where it did, one generation further from
    # the orifice than the duct it leaves.
    side = [b for b in fixed.branches if np.allclose(b.points_mm[-1], [55, 8, 30])]
    assert len(side) == 1 and np.allclose(side[0].points_mm[0], [50, 0, 30])
    assert tree.systems[0].root_branch == fixed.systems[0].root_branch == 0


def test_tips_running_away_from_the_orifice_are_left_alone():
    # The same tree without the detour: the far duct hangs on the main one past a short
    # gap that was bridged at reconstruction; nothing runs back toward the orifice.
    tree = DuctTree(branches=[
        _branch(0, None, [0, 0, 30], [23, 0, 30], 0.8),
        _branch(1, 0, [23, 0, 30], [40, 0, 30], 0.8),
        _branch(2, 0, [23, 0, 30], [40, 15, 30], 0.5),
        _branch(3, 1, [40, 0, 30], [60, 0, 30], 0.7),
        _branch(4, 1, [40, 0, 30], [50, -10, 30], 0.5),
    ], systems=[DuctSystem(0, [0, 0, 30], root_branch=0)])
    fixed, bridges = bridge_detours(tree)
    assert bridges == [] and len(fixed.branches) == len(tree.branches)


def test_a_tip_curving_back_near_its_neighbour_is_not_a_detour():
    # A duct that curls back toward the orifice and ends 3 mm from a sister duct: the way
    # across is not much shorter than its own way (it is a neighbour, not its gap).
    tree = DuctTree(branches=[
        _branch(0, None, [0, 0, 30], [20, 0, 30], 0.8),
        _branch(1, 0, [20, 0, 30], [35, 0, 30], 0.6),
        _branch(2, 0, [20, 0, 30], [30, 6, 30], 0.5),
        _branch(3, 2, [30, 6, 30], [27, 3, 30], 0.5),
    ], systems=[DuctSystem(0, [0, 0, 30], root_branch=0)])
    _, bridges = bridge_detours(tree)
    assert bridges == []
    # Asked for any saving at all, it would be bridged: the threshold is what holds.
    _, bridges = bridge_detours(tree, options=DetourOptions(min_saving_mm=0.5, min_saving_share=0.0))
    assert len(bridges) == 1
