"""Pruning branches that run along the slice axis: DBT depth artefacts, not ducts.

In a compressed breast the ducts spread along the detector; a short tip branch that runs
mostly along z is what a smeared duct leaves when its depth peak jumps between columns.
Such tips are removed (iteratively: a removal can expose another), every removal is
reported, and a parent left with a single child is merged with it.
"""
from __future__ import annotations

import numpy as np

from .tree import DuctTree

__all__ = ["prune_depth_artefacts", "steepness"]


def steepness(points_mm: np.ndarray, slice_axis: np.ndarray) -> float:
    """How much a polyline's chord runs along the slice axis: |cos| of its angle (0 flat,
    1 along z).  The chord, not the path: a real duct whose depth estimate jitters
    zigzags in z but still heads along the detector."""
    chord = points_mm[-1] - points_mm[0]
    n = float(np.linalg.norm(chord))
    return 0.0 if n <= 0 else float(abs(chord @ slice_axis) / n)


def _merge_single_children(tree: DuctTree) -> DuctTree:
    """Join each branch with its only child (the junction vanished with a pruned sibling).

    Chains of single children are joined in one pass and the tree renumbered once.
    """
    kids: dict[int, list[int]] = {b.id: [] for b in tree.branches}
    for b in tree.branches:
        if b.parent is not None:
            kids[b.parent].append(b.id)
    absorbed: set[int] = set()
    for b in tree.branches:
        if b.id in absorbed:
            continue
        while len(kids[b.id]) == 1:
            k = tree.branches[kids[b.id][0]]
            offset = len(b.points_mm) - 1
            b.points_mm = np.vstack([b.points_mm, k.points_mm[1:]])
            b.radius_mm = np.concatenate([b.radius_mm, k.radius_mm[1:]])
            if b.z_uncertainty_mm is not None and k.z_uncertainty_mm is not None:
                b.z_uncertainty_mm = np.concatenate([b.z_uncertainty_mm, k.z_uncertainty_mm[1:]])
            else:
                b.z_uncertainty_mm = None
            b.bridged = list(b.bridged) + [(s + offset, e + offset) for s, e in k.bridged]
            for g in kids[k.id]:
                tree.branches[g].parent = b.id
            kids[b.id] = kids[k.id]
            absorbed.add(k.id)
    if not absorbed:
        return tree
    return tree.with_branches([b.id for b in tree.branches if b.id not in absorbed])


def prune_depth_artefacts(tree: DuctTree, *, slice_axis: np.ndarray, max_steepness: float = 0.6,
                          max_length_mm: float = 15.0) -> tuple[DuctTree, list[str]]:
    """Remove tip branches steeper than ``max_steepness`` and shorter than ``max_length_mm``.

    Returns
    -------
    tree : DuctTree
    report : list of str
        One line per removal (where, length, steepness).
    """
    slice_axis = np.asarray(slice_axis, float) / np.linalg.norm(slice_axis)
    lines: list[str] = []
    while True:
        before = len(tree.branches)
        tree = _prune_once(tree, slice_axis, max_steepness, max_length_mm, lines)
        tree = _merge_single_children(tree)
        if len(tree.branches) == before:
            return tree, lines


def _prune_once(tree: DuctTree, slice_axis: np.ndarray, max_steepness: float, max_length_mm: float,
                lines: list[str]) -> DuctTree:
    while True:
        drop = [b.id for b in tree.branches
                if tree.is_tip(b.id) and b.parent is not None and b.length_mm <= max_length_mm
                and steepness(b.points_mm, slice_axis) > max_steepness]
        if not drop:
            return tree
        for i in drop:
            b = tree.branches[i]
            lines.append(f"removed a {b.length_mm:.1f} mm tip running along the slice axis "
                         f"(steepness {steepness(b.points_mm, slice_axis):.2f}) at "
                         f"{np.round(b.points_mm[-1], 1).tolist()} mm: a depth artefact, not a duct")
        tree = tree.with_branches([b.id for b in tree.branches if b.id not in set(drop)])
    return tree
