"""After depth refinement: rails of one smeared lumen removed, ducts kept; the tree drawn
back into voxels where the tree puts it (reconstruction/depth_prune.py, tree_raster.py)."""
from __future__ import annotations

import numpy as np

from reconstruction.depth_prune import prune_dark_tips, prune_redundant_tips
from reconstruction.frame import ImageFrame
from reconstruction.tree import Branch, DuctSystem, DuctTree
from reconstruction.tree_raster import tree_labelmap


def line(a, b, step: float = 0.2) -> np.ndarray:
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = max(int(np.ceil(np.linalg.norm(b - a) / step)), 1)
    return a + np.linspace(0, 1, n + 1)[:, None] * (b - a)


def tree_of(paths: list[tuple[int | None, np.ndarray]], radius: float = 0.4, system: int = 0) -> DuctTree:
    branches = [Branch(id=i, system=system, parent=parent, points_mm=p, radius_mm=np.full(len(p), radius))
                for i, (parent, p) in enumerate(paths)]
    tree = DuctTree(branches=branches, systems=[DuctSystem(id=system, orifice_mm=paths[0][1][0], root_branch=0)])
    tree.recompute_generations()
    return tree


def test_second_rail_on_top_of_a_duct_is_removed_and_the_duct_left_whole():
    # Root 0 -> 10 mm, then the duct goes on to 30 mm (child 1); the skeleton's second
    # rail (child 2) follows it 0.3 mm away, from the junction to 26 mm.
    root = line([0, 0, 5], [10, 0, 5])
    duct = line([10, 0, 5], [30, 0, 5])
    rail = np.vstack([root[-1:], line([10.5, 0.3, 5], [26, 0.3, 5])])
    tree, notes = prune_redundant_tips(tree_of([(None, root), (0, duct), (0, rail)]))
    assert len(tree.branches) == 1, "the rail is removed and the root merged with its only child"
    assert np.isclose(tree.branches[0].length_mm, 30.0, atol=0.2)
    assert len(notes) == 1 and "rail" in notes[0]


def test_a_real_side_branch_and_a_duct_crossing_at_another_depth_are_kept():
    root = line([0, 0, 5], [10, 0, 5])
    main = line([10, 0, 5], [30, 0, 5])
    side = line([10, 0, 5], [20, 6, 5])              # leaves at ~31 degrees
    # Runs 2 mm below the main duct (same in projection) for 15 mm: another duct.
    below = np.vstack([main[:1], line([10, 0, 6], [10, 0, 7]), line([10.2, 0, 7], [25, 0, 7])])
    tree, notes = prune_redundant_tips(tree_of([(None, root), (0, main), (0, side), (0, below)]))
    assert len(tree.branches) == 4 and not notes


def test_two_rails_covering_each_other_keep_the_longer():
    root = line([0, 0, 5], [10, 0, 5])
    long_rail = line([10, 0, 5], [25, 0, 5])
    short_rail = np.vstack([root[-1:], line([10.5, 0.2, 5], [24, 0.2, 5])])
    tree, _ = prune_redundant_tips(tree_of([(None, root), (0, short_rail), (0, long_rail)]))
    assert len(tree.branches) == 1 and np.isclose(tree.branches[0].length_mm, 25.0, atol=0.2)


def test_a_tip_with_no_contrast_where_it_lies_is_removed_and_a_faint_duct_kept():
    # Contrast (noise units) on a 1 mm x 0.2 mm grid: the root and one side duct are
    # opacified (a faint 3 sigma one), the other tip was placed in a slice with nothing.
    frame = ImageFrame.identity((200, 100, 20), spacing=(0.2, 0.2, 1.0))
    contrast = np.zeros((20, 100, 200), np.float32)
    contrast[5, 50, 0:100] = 8.0                 # root along x at y = 10, depth 5
    contrast[5, 50:90, 50] = 3.0                 # faint side duct along y from x = 10
    root = line([0, 10, 5], [10, 10, 5])
    faint = line([10, 10, 5], [10, 17.8, 5])
    dark = np.vstack([root[-1:], line([10.4, 10, 9], [19, 10, 9])])   # 4 mm above the root's duct
    tree, notes = prune_dark_tips(tree_of([(None, root), (0, faint), (0, dark)]), contrast, frame)
    assert len(tree.branches) == 1 and np.isclose(tree.branches[0].length_mm, 17.8, atol=0.3), \
        "the dark tip goes, the root and the faint duct are merged into one branch"
    assert len(notes) == 1 and "no contrast" in notes[0]


def test_labelmap_follows_the_centreline_depth_and_labels_systems():
    frame = ImageFrame.identity((20, 60, 200), spacing=(0.2, 0.2, 1.0))    # x, y, z spacing
    first = tree_of([(None, line([2, 4, 6.0], [30, 4, 12.0]))], radius=0.5, system=0)
    labels = tree_labelmap(first, frame)
    zyx = np.argwhere(labels == 1)
    assert len(zyx) > 0 and set(np.unique(labels)) == {0, 1}
    # Every labelled voxel lies within radius + half a slice of the oblique centreline.
    q = zyx[:, ::-1] * np.array([0.2, 0.2, 1.0])                          # x, y, z in mm
    t = np.clip((q[:, 0] - 2) / 28, 0, 1)
    centre = np.stack([2 + 28 * t, np.full_like(t, 4), 6 + 6 * t], axis=1)
    d_inplane = np.linalg.norm((q - centre)[:, :2], axis=1)
    assert d_inplane.max() <= 0.5 + 0.2 and np.abs(q[:, 2] - centre[:, 2]).max() <= 0.5 + 0.5 + 6 / 28 * 0.7
    # The duct appears in every slice it crosses (6 .. 12 mm), and no other.
    assert sorted(set(zyx[:, 0].tolist())) == list(range(6, 13))


def test_labelmap_gives_each_system_its_label_and_an_empty_tree_nothing():
    frame = ImageFrame.identity((10, 50, 100), spacing=(0.2, 0.2, 1.0))
    a, b = line([2, 2, 3], [15, 2, 3]), line([2, 8, 5], [15, 8, 5])
    both = DuctTree(branches=[Branch(id=0, system=0, parent=None, points_mm=a, radius_mm=np.full(len(a), 0.4)),
                              Branch(id=1, system=1, parent=None, points_mm=b, radius_mm=np.full(len(b), 0.4))],
                    systems=[DuctSystem(0, a[0], 0), DuctSystem(1, b[0], 1)])
    labels = tree_labelmap(both, frame)
    assert set(np.unique(labels)) == {0, 1, 2}
    assert set(np.unique(labels[3])) == {0, 1} and set(np.unique(labels[5])) == {0, 2}
    empty = DuctTree(branches=[], systems=[DuctSystem(0, np.zeros(3))])
    assert not tree_labelmap(empty, frame).any()

