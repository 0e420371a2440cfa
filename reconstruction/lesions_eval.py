"""Scoring automatic findings against a sample's truth, and trees that stand in for a
reconstruction while it is being written.

``truth_tree_input`` keeps what a reconstruction could see: the opacified systems, each
branch cut where contrast stops.  ``perturb_tree`` adds what a reconstruction gets
wrong: centreline jitter, radius error, and centrelines that were lost through a filling
defect and bridged straight across.  ``score_findings`` matches findings to true lesions
(a finding matches a lesion of the same kind within ``max(5 mm, lesion radius)``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .findings import FINDING_KINDS, Finding
from .tree import Branch, DuctSystem, DuctTree

__all__ = ["truth_tree_input", "perturb_tree", "bridge_through", "reconstruction_like", "score_findings",
           "KindScore", "match_radius_mm"]


def truth_tree_input(truth: dict) -> DuctTree:
    """The part of a sample's true tree that contrast shows, renumbered.

    Parameters
    ----------
    truth : dict
        A sample's ``truth.json`` content.

    Returns
    -------
    DuctTree
        Opacified systems only (renumbered from 0 in ``truth["opacified_systems"]``
        order); every branch cut at its first unopacified point; branches that took no
        contrast dropped.
    """
    full = DuctTree.from_dict(truth["tree"])
    keep = list(truth["opacified_systems"])
    new_id: dict[int, int] = {}
    branches: list[Branch] = []
    for b in full.branches:  # parents come before children in a truth tree
        if b.system not in keep:
            continue
        op = b.opacified if b.opacified is not None else np.ones(len(b.points_mm), bool)
        n = len(op) if op.all() else int(np.argmin(op))
        if n < 2 or (b.parent is not None and b.parent not in new_id):
            continue
        new_id[b.id] = len(branches)
        branches.append(Branch(len(branches), keep.index(b.system),
                               None if b.parent is None else new_id[b.parent],
                               b.points_mm[:n].copy(), b.radius_mm[:n].copy(), generation=b.generation))
    systems = [DuctSystem(i, full.systems[s].orifice_mm, root_branch=new_id.get(full.systems[s].root_branch))
               for i, s in enumerate(keep)]
    tree = DuctTree(branches=branches, systems=systems, nipple_mm=full.nipple_mm)
    tree.recompute_generations()
    return tree


def bridge_through(tree: DuctTree, center_mm: np.ndarray, radius_mm: float, *,
                   offset_mm: float = 0.0, rng: np.random.Generator | None = None) -> bool:
    """Replace the centreline through a ball by a straight bridge, as a reconstruction
    does where a void interrupts the lumen.

    Parameters
    ----------
    tree : DuctTree
        Edited in place.
    center_mm, radius_mm
        The ball (a filling defect).
    offset_mm : float
        Move the bridged points this far sideways (a centreline that ran round the void
        along its rim instead of through it).
    rng : numpy Generator, optional
        Picks the side of the offset.

    Returns
    -------
    bool
        Whether a branch passed through the ball.
    """
    c = np.asarray(center_mm, float)
    best = None
    for b in tree.branches:
        d = np.linalg.norm(b.points_mm - c, axis=1)
        inside = np.flatnonzero(d <= radius_mm)
        if inside.size and (best is None or d.min() < best[2]):
            best = (b, inside, d.min())
    if best is None:
        return False
    b, inside, _ = best
    lo, hi = max(int(inside.min()) - 1, 0), min(int(inside.max()) + 1, len(b.points_mm) - 1)
    if hi - lo < 2:
        return False
    t = np.linspace(0.0, 1.0, hi - lo + 1)[:, None]
    line = b.points_mm[lo] * (1 - t) + b.points_mm[hi] * t
    if offset_mm:
        rng = rng or np.random.default_rng(0)
        d = b.points_mm[hi] - b.points_mm[lo]
        side = np.cross(d, [0.0, 0.0, 1.0])
        if np.linalg.norm(side) < 1e-9:
            side = np.cross(d, [0.0, 1.0, 0.0])
        side = side / np.linalg.norm(side) * (1 if rng.uniform() < 0.5 else -1)
        line = line + offset_mm * np.sin(np.pi * t) * side
    b.points_mm[lo: hi + 1] = line
    b.radius_mm[lo: hi + 1] = np.linspace(b.radius_mm[lo], b.radius_mm[hi], hi - lo + 1)
    b.bridged = [*b.bridged, (lo, hi)]
    return True


def perturb_tree(tree: DuctTree, *, rng: np.random.Generator, point_jitter_mm: float = 0.3,
                 radius_jitter: float = 0.2) -> DuctTree:
    """A copy of ``tree`` with reconstruction-like errors.

    Parameters
    ----------
    tree : DuctTree
    rng : numpy Generator
    point_jitter_mm : float
        Standard deviation of independent per-point displacement (each axis).
    radius_jitter : float
        Relative standard deviation of per-point radius errors.

    Returns
    -------
    DuctTree
        Branch end points stay shared between parent and child (the jitter of a branch's
        first point is its parent's last).
    """
    out = DuctTree.from_dict(tree.to_dict())
    moved_end: dict[int, np.ndarray] = {}
    for b in out.branches:
        jitter = rng.normal(0.0, point_jitter_mm, size=b.points_mm.shape)
        if b.parent is not None and b.parent in moved_end:
            jitter[0] = moved_end[b.parent]
        b.points_mm = b.points_mm + jitter
        moved_end[b.id] = jitter[-1]
        b.radius_mm = np.maximum(b.radius_mm * (1.0 + rng.normal(0.0, radius_jitter, size=len(b.radius_mm))), 0.05)
    return out


def reconstruction_like(truth: dict, *, rng: np.random.Generator, point_jitter_mm: float = 0.3,
                        radius_jitter: float = 0.2, rim_offset: float = 0.0) -> DuctTree:
    """The visible truth tree with a reconstruction's errors: jittered points and radii,
    and the centreline through every non-obstructing void (papilloma, bubble) lost and
    bridged straight across.

    Parameters
    ----------
    truth : dict
    rng : numpy Generator
    point_jitter_mm, radius_jitter : float
        See :func:`perturb_tree`.
    rim_offset : float
        Bridge along the void's rim instead of through it: offset as a share of the
        void's radius (a skeleton that went round the void).

    Returns
    -------
    DuctTree
    """
    tree = perturb_tree(truth_tree_input(truth), rng=rng, point_jitter_mm=point_jitter_mm,
                        radius_jitter=radius_jitter)
    for row in truth.get("lesions", []) + truth.get("artefacts", []):
        if row["kind"] in ("filling_defect", "air_bubble") and not row.get("obstructing"):
            r = 0.5 * float(row["diameter_mm"])
            bridge_through(tree, np.asarray(row["center_mm"], float), r, offset_mm=rim_offset * r, rng=rng)
    return tree


def match_radius_mm(lesion: dict) -> float:
    """How far a finding may sit from a true lesion and still match it."""
    return max(5.0, 0.5 * float(lesion["diameter_mm"]))


@dataclass
class KindScore:
    """Detection figures for one finding kind over one or more volumes."""

    kind: str
    true: int = 0
    found: int = 0
    false_positives: int = 0
    volumes: int = 0
    missed: list = field(default_factory=list)
    false: list = field(default_factory=list)

    @property
    def sensitivity(self) -> float:
        return self.found / self.true if self.true else float("nan")

    @property
    def fp_per_volume(self) -> float:
        return self.false_positives / self.volumes if self.volumes else float("nan")

    def add(self, other: "KindScore") -> None:
        self.true += other.true
        self.found += other.found
        self.false_positives += other.false_positives
        self.volumes += other.volumes
        self.missed += other.missed
        self.false += other.false


def score_findings(findings: Sequence[Finding], truth: dict, *, min_defect_mm: float = 0.0,
                   label: str = "") -> dict[str, KindScore]:
    """Match findings to the truth of one volume, kind by kind.

    Parameters
    ----------
    findings : sequence of Finding
    truth : dict
        ``truth.json`` content (``lesions`` and ``artefacts`` in physical mm).
    min_defect_mm : float
        Filling defects smaller than this count neither as missed nor as false (found
        ones still count as found).
    label : str
        Recorded with every miss and false positive (e.g. the preset name).

    Returns
    -------
    dict of kind to KindScore
        ``air_bubble`` scores true bubbles against artefact findings.  A lesion finding
        that matches an air bubble counts as a false positive of its kind; a finding that
        matches a true lesion of another kind is a false positive too (kinds matter).
    """
    scores = {k: KindScore(k, volumes=1) for k in FINDING_KINDS}
    truth_rows = [dict(r, kind=r["kind"]) for r in truth.get("lesions", [])]
    truth_rows += [dict(r, kind="air_bubble") for r in truth.get("artefacts", [])]
    used = [False] * len(findings)
    for row in truth_rows:
        kind = row["kind"]
        c = np.asarray(row["center_mm"], float)
        small = kind == "filling_defect" and row["diameter_mm"] < min_defect_mm
        hits = [i for i, f in enumerate(findings)
                if f.kind == kind and (f.is_artefact == (kind == "air_bubble"))
                and np.linalg.norm(f.center_mm - c) <= match_radius_mm(row)]
        if not small:
            scores[kind].true += 1
        if hits:
            if not small:
                scores[kind].found += 1
            for i in hits:
                used[i] = True
        elif not small:
            scores[kind].missed.append((label, round(float(row["diameter_mm"]), 2), [round(x, 1) for x in c]))
    for i, f in enumerate(findings):
        if used[i]:
            continue
        if f.kind == "filling_defect" and min_defect_mm > 0:
            # A small true defect it matches neither counts for nor against.
            near_small = any(r["kind"] == "filling_defect" and r["diameter_mm"] < min_defect_mm
                             and np.linalg.norm(f.center_mm - np.asarray(r["center_mm"])) <= match_radius_mm(r)
                             for r in truth_rows)
            if near_small:
                continue
        scores[f.kind].false_positives += 1
        scores[f.kind].false.append((label, round(float(f.diameter_mm), 2), round(f.confidence, 2),
                                     [round(x, 1) for x in f.center_mm]))
    return scores
