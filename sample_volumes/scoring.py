"""Scoring a reconstructed duct tree against a sample's truth (ATM'22-style rules).

- Centreline recall: share of the true opacified centreline (resampled every 0.25 mm)
  lying within ``tolerance_mm`` of the result; precision the other way round.
- Branches detected: a true branch counts when >= 80 % of its opacified centreline is
  covered by the result within the tolerance.
- Systems: the number of opacified systems found.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from reconstruction.tree import DuctTree, resample_polyline

__all__ = ["TreeScore", "score_tree"]


@dataclass
class TreeScore:
    recall: float
    precision: float
    branches_detected: float
    n_true_branches: int
    n_true_systems: int
    n_found_systems: int
    true_length_mm: float
    found_length_mm: float

    def line(self) -> str:
        return (f"recall {self.recall:.3f}  precision {self.precision:.3f}  branches "
                f"{self.branches_detected:.3f} of {self.n_true_branches}  systems "
                f"{self.n_found_systems}/{self.n_true_systems}")


def _samples(tree: DuctTree, *, step_mm: float, opacified_only: bool) -> tuple[np.ndarray, np.ndarray]:
    pts, owner = [], []
    for b in tree.branches:
        p = b.points_mm
        if opacified_only:
            if b.opacified is not None:
                p = p[b.opacified]
        if len(p) < 2:
            continue
        r, _ = resample_polyline(p, step_mm=step_mm)
        pts.append(r)
        owner.append(np.full(len(r), b.id))
    if not pts:
        return np.zeros((0, 3)), np.zeros(0, int)
    return np.concatenate(pts), np.concatenate(owner)


def score_tree(found: DuctTree, truth: dict, *, tolerance_mm: float = 1.0, step_mm: float = 0.25,
               branch_coverage: float = 0.8) -> TreeScore:
    """Compare ``found`` with the opacified part of ``truth['tree']``."""
    true_tree = DuctTree.from_dict(truth["tree"])
    opac = set(truth["opacified_systems"])
    tp, towner = _samples(true_tree, step_mm=step_mm, opacified_only=True)
    keep = np.isin(np.array([true_tree.branches[i].system for i in towner]) if len(towner) else np.zeros(0),
                   list(opac))
    tp, towner = tp[keep], towner[keep]
    fp, _ = _samples(found, step_mm=step_mm, opacified_only=False)
    # An orifice the tree builder found no lumen for is kept as an empty, not opacified
    # system (reported); only systems with an opacified duct count.
    with_ducts = {b.system for b in found.branches}
    n_found = sum(1 for s in found.systems if s.opacified and s.id in with_ducts)
    if len(fp) == 0 or len(tp) == 0:
        return TreeScore(0.0, 0.0, 0.0, len(set(towner.tolist())), len(opac), n_found,
                         len(tp) * step_mm, len(fp) * step_mm)
    d_true, _ = cKDTree(fp).query(tp)
    d_found, _ = cKDTree(tp).query(fp)
    covered = d_true <= tolerance_mm
    branch_ids = np.unique(towner)
    detected = [covered[towner == b].mean() >= branch_coverage for b in branch_ids]
    return TreeScore(recall=float(covered.mean()), precision=float((d_found <= tolerance_mm).mean()),
                     branches_detected=float(np.mean(detected)), n_true_branches=len(branch_ids),
                     n_true_systems=len(opac), n_found_systems=n_found,
                     true_length_mm=len(tp) * step_mm, found_length_mm=len(fp) * step_mm)
