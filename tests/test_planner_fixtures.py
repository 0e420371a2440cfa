"""Hand-built duct trees and lesions for the planner tests (plus checks of the fixtures).

Frame: nipple at the origin, the breast extends along +z (nipple -> chest wall), mm.
"""
from __future__ import annotations

import numpy as np

from planner import ClinicalContext, Lesion, PlanSettings
from reconstruction.tree import Branch, DuctSystem, DuctTree, resample_polyline

NIPPLE = np.zeros(3)
INFO = {"path": "hand_built.nrrd", "size": [400, 400, 80], "spacing_mm": [0.25, 0.25, 1.0]}


def branch(bid: int, system: int, parent: int | None, a, b, r0: float, r1: float,
           generation: int = 1) -> Branch:
    """A straight branch from ``a`` to ``b`` sampled every 0.5 mm, radius r0 -> r1."""
    pts, rad = resample_polyline(np.array([a, b], dtype=float), step_mm=0.5, values=[r0, r1])
    return Branch(bid, system, parent, pts, rad, generation=generation)


def two_systems() -> DuctTree:
    """Two systems with orifices 3 mm apart at the nipple, each a Y of 30-60 mm branches.

    System 0 (x < 0): root 0 (orifice -> 10 mm deep), children 1 and 2.
    System 1 (x > 0): root 3, children 4 and 5.
    """
    o0, o1 = np.array([-1.5, 0, 0]), np.array([1.5, 0, 0])
    j0, j1 = np.array([-5.0, 0, 10]), np.array([6.0, 0, 12])
    branches = [
        branch(0, 0, None, o0, j0, 1.0, 0.9),
        branch(1, 0, 0, j0, [-15, -5, 45], 0.8, 0.5, 2),
        branch(2, 0, 0, j0, [-4, 10, 50], 0.8, 0.5, 2),
        branch(3, 1, None, o1, j1, 1.0, 0.9),
        branch(4, 1, 3, j1, [18, 5, 50], 0.8, 0.5, 2),
        branch(5, 1, 3, j1, [5, -12, 55], 0.8, 0.5, 2),
    ]
    return DuctTree(branches, [DuctSystem(0, o0, root_branch=0), DuctSystem(1, o1, root_branch=3)],
                    nipple_mm=NIPPLE)


def long_duct() -> DuctTree:
    """One system whose duct runs 90 mm deep: lesions far along it are beyond reach."""
    o = np.array([0.0, 0, 0])
    j = np.array([0.0, 1, 12])
    branches = [branch(0, 0, None, o, j, 1.0, 0.9),
                branch(1, 0, 0, j, [4, 6, 90], 0.8, 0.4, 2),
                branch(2, 0, 0, j, [-12, 0, 40], 0.8, 0.5, 2)]
    return DuctTree(branches, [DuctSystem(0, o, root_branch=0)], nipple_mm=NIPPLE)


def shared_junction() -> DuctTree:
    """Two systems whose roots (orifices 3 mm apart) meet at one branch point (0, 0, 8)."""
    j = np.array([0.0, 0, 8])
    branches = [
        branch(0, 0, None, [-1.5, 0, 0], j, 1.0, 0.9),
        branch(1, 0, 0, j, [-12, 0, 45], 0.8, 0.5, 2),
        branch(2, 1, None, [1.5, 0, 0], j, 1.0, 0.9),
        branch(3, 1, 2, j, [12, 3, 45], 0.8, 0.5, 2),
    ]
    return DuctTree(branches, [DuctSystem(0, [-1.5, 0, 0], root_branch=0),
                               DuctSystem(1, [1.5, 0, 0], root_branch=2)], nipple_mm=NIPPLE)


def on_branch(tree: DuctTree, bid: int, arc_mm: float) -> np.ndarray:
    """The centreline point ``arc_mm`` along branch ``bid`` (from its root end)."""
    p = tree.branches[bid].points_mm
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))])
    return np.array([np.interp(arc_mm, s, p[:, k]) for k in range(3)])


def lesion(lid: int, center, diameter: float = 4.0, **kw) -> Lesion:
    kw.setdefault("kind", "filling_defect")
    return Lesion(lid, center_mm=np.asarray(center, dtype=float), diameter_mm=diameter, **kw)


BLOODY_ONE = ClinicalContext(discharge="bloody", discharging_ducts=1, bilateral=False, age=45)
FAST = PlanSettings()  # the defaults are fast enough for hand-built trees


# ------------------------------------------------------------------ the fixtures themselves
def test_fixtures_are_valid_trees():
    for t in (two_systems(), long_duct(), shared_junction()):
        t.validate()
        for b in t.branches:
            assert 30.0 <= b.length_mm <= 90.0 or b.parent is None


def test_two_systems_orifices_3mm_apart():
    t = two_systems()
    assert np.linalg.norm(t.systems[0].orifice_mm - t.systems[1].orifice_mm) == 3.0
