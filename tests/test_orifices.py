"""Orifices on the nipple: which lumen pieces are systems, and the stem to the nipple face."""
from __future__ import annotations

import numpy as np

from reconstruction.frame import ImageFrame
from reconstruction.nipple import find_nipple
from reconstruction.orifices import extend_to_nipple, find_orifices
from reconstruction.segment import Segmentation, breast_mask_2d, tissue_footprint_2d
from reconstruction.topology import GapBridge, SystemRooting, TopologyReport
from reconstruction.tree import Branch, DuctSystem, DuctTree

SPACING = (0.2, 0.2, 1.0)   # x, y, z mm


def _segmentation(pieces: list[tuple[tuple[float, float], tuple[float, float]]]) -> Segmentation:
    """Straight in-plane lumen pieces ((x0, y0), (x1, y1)) mm, one voxel thick at z = 5 mm."""
    frame = ImageFrame.identity((11, 200, 300), spacing=SPACING)
    mask = np.zeros(frame.shape_zyx, bool)
    for (x0, y0), (x1, y1) in pieces:
        n = int(np.hypot(x1 - x0, y1 - y0) / 0.1) + 2
        xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
        mask[5, np.rint(ys / SPACING[1]).astype(int), np.rint(xs / SPACING[0]).astype(int)] = True
    return Segmentation(mask=mask, frame=frame, contrast=mask.astype(np.float32),
                        breast=np.ones(mask.shape[1:], bool), sigma=1.0)


NIPPLE = np.array([55.0, 20.0, 5.0])


def test_a_short_fragment_near_the_nipple_is_not_a_system():
    seg = _segmentation([((50.0, 20.0), (20.0, 20.0)),      # main duct: starts 5 mm behind the nipple
                         ((52.0, 26.0), (49.0, 27.0))])     # a 3 mm speck beside it
    found = find_orifices(seg, NIPPLE)
    assert len(found.lumen_starts_mm) == 1
    np.testing.assert_allclose(found.lumen_starts_mm[0], [50.0, 20.0, 5.0], atol=0.25)
    assert any("shorter than" in n for n in found.notes)


def test_two_long_pieces_are_two_systems_nearest_first():
    seg = _segmentation([((46.0, 14.0), (20.0, 4.0)),       # farther from the nipple
                         ((51.0, 21.0), (25.0, 30.0))])
    found = find_orifices(seg, NIPPLE)
    assert len(found.lumen_starts_mm) == 2
    d = np.linalg.norm(found.lumen_starts_mm - NIPPLE, axis=1)
    assert d[0] < d[1]
    np.testing.assert_allclose(found.lumen_starts_mm[0][:2], [51.0, 21.0], atol=0.25)


def test_pieces_beyond_reach_are_not_systems():
    seg = _segmentation([((30.0, 20.0), (5.0, 20.0))])      # starts 25 mm from the nipple
    assert len(find_orifices(seg, NIPPLE, reach_mm=15.0).lumen_starts_mm) == 0


def test_only_fragments_reach_the_nipple_the_longest_is_taken():
    seg = _segmentation([((52.0, 20.0), (46.0, 20.0)), ((52.0, 26.0), (50.0, 26.0))])
    found = find_orifices(seg, NIPPLE)
    assert len(found.lumen_starts_mm) == 1
    np.testing.assert_allclose(found.lumen_starts_mm[0][:2], [52.0, 20.0], atol=0.25)
    assert any("longest" in n for n in found.notes)


def _tree_starting_behind_the_nipple() -> tuple[DuctTree, TopologyReport]:
    pts = np.column_stack([np.linspace(47.0, 27.0, 41), np.full(41, 20.0), np.full(41, 5.0)])
    root = Branch(id=0, system=0, parent=None, points_mm=pts, radius_mm=np.full(41, 0.9),
                  z_uncertainty_mm=np.full(41, 1.5), bridged=[(10, 14)])
    child_pts = np.column_stack([np.linspace(27.0, 17.0, 21), np.linspace(20.0, 26.0, 21), np.full(21, 5.0)])
    child = Branch(id=1, system=0, parent=0, points_mm=child_pts, radius_mm=np.full(21, 0.5), generation=2,
                   z_uncertainty_mm=np.full(21, 1.0))
    tree = DuctTree(branches=[root, child], systems=[DuctSystem(0, pts[0].copy(), root_branch=0)],
                    nipple_mm=NIPPLE)
    report = TopologyReport()
    report.systems.append(SystemRooting(system=0, orifice_mm=pts[0].copy(), found=True, length_mm=30.0))
    report.gaps.append(GapBridge(gap=0, start_mm=pts[10], end_mm=pts[14], length_mm=2.0, kind="continuation",
                                 piece_angle_deg=0.0, tree_angle_deg=0.0, piece_length_mm=10.0,
                                 system=0, branch=0, point_range=(10, 14)))
    return tree, report


def test_stem_puts_the_orifice_on_the_nipple_face():
    tree, report = _tree_starting_behind_the_nipple()
    before = tree.branches[0].points_mm.copy()
    notes = extend_to_nipple(tree, report, NIPPLE, ring_mm=2.0, step_mm=0.5)
    tree.validate()
    root = tree.branches[0]
    # orifice 2 mm from the nipple, on the way to the lumen; the lumen itself untouched
    np.testing.assert_allclose(tree.systems[0].orifice_mm, [53.0, 20.0, 5.0], atol=1e-9)
    np.testing.assert_allclose(root.points_mm[0], tree.systems[0].orifice_mm)
    n_new = len(root.points_mm) - len(before)
    assert n_new == 12   # 6 mm of stem every 0.5 mm
    np.testing.assert_allclose(root.points_mm[n_new:], before)
    assert np.max(np.linalg.norm(np.diff(root.points_mm, axis=0), axis=1)) <= 0.5 + 1e-9
    # the bridged gap still points at the same centreline points
    assert root.bridged == [(10 + n_new, 14 + n_new)]
    assert report.gaps[0].point_range == (10 + n_new, 14 + n_new)
    np.testing.assert_allclose(root.points_mm[root.bridged[0][0]], before[10])
    # the stem was not observed: its depth is less certain than the lumen's
    assert np.all(root.z_uncertainty_mm[:n_new] == 3.0) and np.all(root.z_uncertainty_mm[n_new:] == 1.5)
    np.testing.assert_allclose(root.radius_mm[:n_new], 0.9)
    assert report.systems[0].length_mm == 36.0
    assert len(notes) == 1 and "stem" in notes[0]


def test_a_lumen_already_at_the_nipple_gets_no_stem():
    tree, report = _tree_starting_behind_the_nipple()
    n = len(tree.branches[0].points_mm)
    assert extend_to_nipple(tree, report, np.array([48.5, 20.0, 5.0]), ring_mm=2.0) == []
    assert len(tree.branches[0].points_mm) == n


def test_a_thin_nipple_is_tissue_and_its_tip_is_the_nipple():
    # a full-thickness slab (x < 60 mm) and a nipple 10 mm long, 5 slices thick of 20
    frame = ImageFrame.identity((20, 100, 100), spacing=(1.0, 1.0, 1.0))
    a = np.zeros(frame.shape_zyx, np.float32)
    a[:, :, :60] = 300.0
    a[8:13, 45:56, 60:70] = 300.0
    a += np.random.default_rng(0).normal(0, 2.0, a.shape).astype(np.float32)
    breast = breast_mask_2d(a)
    assert not breast[50, 65]                   # mean 75 of 300: Otsu loses the nipple
    tissue = tissue_footprint_2d(a, breast)
    assert tissue[50, 65] and tissue[:, :60].all() and not tissue[20, 80]
    est = find_nipple(tissue, frame)
    np.testing.assert_allclose(est.position_mm[:2], [69.0, 50.0], atol=1.0)
    assert est.chest_wall_edge == "x0"


def test_a_stub_system_beside_a_long_one_is_not_counted():
    from reconstruction.orifices import drop_stub_systems

    tree, report = _tree_starting_behind_the_nipple()
    stub_pts = np.column_stack([np.linspace(50.0, 44.0, 13), np.full(13, 24.0), np.full(13, 5.0)])
    tree.branches.append(Branch(id=2, system=1, parent=None, points_mm=stub_pts, radius_mm=np.full(13, 0.4)))
    tree.systems.append(DuctSystem(1, stub_pts[0].copy(), root_branch=2))
    report.systems.append(SystemRooting(system=1, orifice_mm=stub_pts[0].copy(), found=True))
    out, notes = drop_stub_systems(tree, report, min_system_mm=10.0)
    out.validate()
    assert [b.system for b in out.branches] == [0, 0]
    assert out.systems[1].root_branch is None and not out.systems[1].opacified
    assert out.systems[0].root_branch == 0 and out.systems[0].opacified
    assert not report.systems[1].found and len(notes) == 1
    # the only system is kept however short it is
    alone = DuctTree(branches=[Branch(id=0, system=0, parent=None, points_mm=stub_pts,
                                      radius_mm=np.full(13, 0.4))],
                     systems=[DuctSystem(0, stub_pts[0].copy(), root_branch=0)])
    kept, notes = drop_stub_systems(alone, TopologyReport(), min_system_mm=10.0)
    assert len(kept.branches) == 1 and notes == []


def test_a_piece_starting_beside_a_system_is_its_branch_not_a_second_system():
    # Junction not seen: the piece starts 1 mm beside the main duct, 13 mm from the nipple.
    seg = _segmentation([((50.0, 20.0), (20.0, 20.0)),
                         ((42.0, 21.0), (25.0, 35.0))])
    found = find_orifices(seg, NIPPLE)
    assert len(found.lumen_starts_mm) == 1
    np.testing.assert_allclose(found.lumen_starts_mm[0][:2], [50.0, 20.0], atol=0.25)
    assert any("its branch" in n for n in found.notes)


def test_a_piece_along_the_skin_is_not_a_system():
    seg = _segmentation([((50.0, 20.0), (20.0, 20.0)),      # main duct, runs into the breast
                         ((52.5, 24.0), (52.5, 38.0))])     # skin line, 1.5 mm under the skin
    seg.breast[:, int(54.0 / SPACING[0]):] = False          # the skin edge at x = 54 mm
    found = find_orifices(seg, NIPPLE)
    assert len(found.lumen_starts_mm) == 1
    np.testing.assert_allclose(found.lumen_starts_mm[0][:2], [50.0, 20.0], atol=0.25)
    assert any("of the skin" in n for n in found.notes)
    # Without a skin edge in view, nothing is judged by depth: both pieces count.
    seg.breast[:] = True
    assert len(find_orifices(seg, NIPPLE).lumen_starts_mm) == 2
