"""The duct tree: the one rich result that planner and viewers read.

Notation
--------
N : number of centreline points of one branch.
B : number of branches in the tree (edges between branch points, orifice or tips).
S : number of ductal systems, each a rooted tree with its own nipple orifice.

A *branch* is a centreline polyline between two nodes of the duct graph (the orifice, a
branch point, or a tip), ordered root end first, in physical millimetres of the image
frame.  A branch's ``parent`` is the branch that ends where it starts; the root branch of
a system starts at the system's orifice and has ``parent = None``.  ``generation`` is 1 for
a root branch and the parent's generation + 1 otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

__all__ = ["Branch", "DuctSystem", "DuctTree", "resample_polyline", "polyline_length", "arc_length",
           "end_direction"]


def polyline_length(points: npt.ArrayLike) -> float:
    """Length (mm) of a polyline ``(N, 3)``."""
    p = np.asarray(points, dtype=float)
    if len(p) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())


def arc_length(points: npt.ArrayLike) -> np.ndarray:
    """Distance (mm) along a polyline ``(N, 3)`` from its first vertex to each vertex.

    Examples
    --------
    >>> arc_length([[0, 0, 0], [3, 4, 0], [3, 4, 1]]).tolist()
    [0.0, 5.0, 6.0]
    """
    p = np.asarray(points, dtype=float)
    if len(p) == 0:
        return np.zeros(0)
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))])


def end_direction(points: npt.ArrayLike, *, at_end: bool = True, reach_mm: float = 3.0) -> np.ndarray:
    """Unit vector pointing out of a polyline at its last (or first) vertex, over ``reach_mm``.

    Averaging over a few millimetres keeps the jitter of the last vertices out of it; a
    zero vector when the polyline has no length.

    Examples
    --------
    >>> end_direction([[0, 0, 0], [1, 0, 0], [2, 0, 0]]).tolist()
    [1.0, 0.0, 0.0]
    >>> end_direction([[0, 0, 0], [1, 0, 0], [2, 0, 0]], at_end=False).tolist()
    [-1.0, 0.0, 0.0]
    """
    p = np.asarray(points, dtype=float)
    if len(p) < 2:
        return np.zeros(3)
    if not at_end:
        p = p[::-1]
    back = arc_length(p[::-1])                            # distance from the end
    k = int(np.searchsorted(back, min(reach_mm, back[-1])))
    k = min(max(k, 1), len(p) - 1)
    d = p[-1] - p[-1 - k]
    n = np.linalg.norm(d)
    return d / n if n > 0 else np.zeros(3)


def resample_polyline(points: npt.ArrayLike, *, step_mm: float,
                      values: npt.ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Resample a polyline at (about) every ``step_mm`` millimetres.

    Parameters
    ----------
    points : (N, 3) array
        Polyline vertices in mm.
    step_mm : float
        Target spacing between samples; the end points are always kept.
    values : (N,) or (N, K) array, optional
        Per-vertex values interpolated linearly along arc length.

    Returns
    -------
    points : (M, 3) ndarray
    values : (M, ...) ndarray or None

    Examples
    --------
    >>> p, _ = resample_polyline([[0, 0, 0], [1, 0, 0]], step_mm=0.25)
    >>> len(p)
    5
    """
    p = np.asarray(points, dtype=float)
    if len(p) == 0:
        return p.reshape(0, 3), None if values is None else np.asarray(values)
    s = arc_length(p)
    total = s[-1]
    if total <= 0:
        return p[:1].copy(), None if values is None else np.asarray(values, dtype=float)[:1]
    n = max(int(np.ceil(total / step_mm)), 1)
    t = np.linspace(0.0, total, n + 1)
    out = np.stack([np.interp(t, s, p[:, k]) for k in range(3)], axis=1)
    if values is None:
        return out, None
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        return out, np.interp(t, s, v)
    return out, np.stack([np.interp(t, s, v[:, k]) for k in range(v.shape[1])], axis=1)


@dataclass
class Branch:
    """One duct segment between two graph nodes, root end first.

    Attributes
    ----------
    id : int
        Index of the branch in ``DuctTree.branches``.
    system : int
        Id of the ductal system it belongs to.
    parent : int or None
        Id of the branch it leaves from; None for a system's root branch.
    points_mm : (N, 3) ndarray
        Centreline in physical mm (image frame), root end first.
    radius_mm : (N,) ndarray
        Lumen radius at each point.
    generation : int
        1 for the root branch, parent's + 1 below it.
    z_uncertainty_mm : (N,) ndarray or None
        1-sigma uncertainty of each point along the weak (slice) axis.
    bridged : list of (int, int)
        Point index ranges ``[start, end]`` where the lumen was interrupted (a filling
        defect, a bubble) and the centreline was bridged rather than observed.
    opacified : (N,) bool ndarray or None
        Ground truth only: whether contrast reaches each point.
    """

    id: int
    system: int
    parent: int | None
    points_mm: np.ndarray
    radius_mm: np.ndarray
    generation: int = 1
    z_uncertainty_mm: np.ndarray | None = None
    bridged: list[tuple[int, int]] = field(default_factory=list)
    opacified: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.points_mm = np.asarray(self.points_mm, dtype=float).reshape(-1, 3)
        self.radius_mm = np.asarray(self.radius_mm, dtype=float).reshape(-1)
        if len(self.radius_mm) != len(self.points_mm):
            raise ValueError(f"branch {self.id}: {len(self.points_mm)} points but "
                             f"{len(self.radius_mm)} radii")
        if self.z_uncertainty_mm is not None:
            self.z_uncertainty_mm = np.asarray(self.z_uncertainty_mm, dtype=float).reshape(-1)
        if self.opacified is not None:
            self.opacified = np.asarray(self.opacified, dtype=bool).reshape(-1)

    @property
    def length_mm(self) -> float:
        return polyline_length(self.points_mm)

    @property
    def bridged_mask(self) -> np.ndarray:
        """(N,) bool: points on a bridged (not observed) stretch of the centreline."""
        mask = np.zeros(len(self.points_mm), bool)
        for lo, hi in self.bridged:
            mask[max(int(lo), 0): int(hi) + 1] = True
        return mask

    @property
    def mean_radius_mm(self) -> float:
        return float(np.mean(self.radius_mm)) if len(self.radius_mm) else 0.0

    def to_dict(self) -> dict:
        d = {"id": self.id, "system": self.system, "parent": self.parent,
             "generation": self.generation,
             "points_mm": np.round(self.points_mm, 4).tolist(),
             "radius_mm": np.round(self.radius_mm, 4).tolist()}
        if self.z_uncertainty_mm is not None:
            d["z_uncertainty_mm"] = np.round(self.z_uncertainty_mm, 3).tolist()
        if self.bridged:
            d["bridged"] = [list(map(int, b)) for b in self.bridged]
        if self.opacified is not None:
            d["opacified"] = self.opacified.astype(bool).tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Branch":
        return cls(id=int(d["id"]), system=int(d["system"]), parent=d.get("parent"),
                   points_mm=np.asarray(d["points_mm"], dtype=float),
                   radius_mm=np.asarray(d["radius_mm"], dtype=float),
                   generation=int(d.get("generation", 1)),
                   z_uncertainty_mm=d.get("z_uncertainty_mm"),
                   bridged=[tuple(b) for b in d.get("bridged", [])],
                   opacified=d.get("opacified"))


@dataclass
class DuctSystem:
    """One ductal system: a rooted tree that drains through one nipple orifice."""

    id: int
    orifice_mm: np.ndarray
    root_branch: int | None = None
    opacified: bool = True

    def __post_init__(self) -> None:
        self.orifice_mm = np.asarray(self.orifice_mm, dtype=float).reshape(3)

    def to_dict(self) -> dict:
        return {"id": self.id, "orifice_mm": np.round(self.orifice_mm, 4).tolist(),
                "root_branch": self.root_branch, "opacified": bool(self.opacified)}

    @classmethod
    def from_dict(cls, d: dict) -> "DuctSystem":
        return cls(id=int(d["id"]), orifice_mm=np.asarray(d["orifice_mm"], dtype=float),
                   root_branch=d.get("root_branch"), opacified=bool(d.get("opacified", True)))


@dataclass
class DuctTree:
    """All reconstructed (or true) ductal systems of one volume.

    Parameters
    ----------
    branches : list of Branch
        ``branches[i].id == i``.
    systems : list of DuctSystem
        ``systems[s].id == s``.
    nipple_mm : (3,) array or None
        Nipple position, physical mm.

    Examples
    --------
    >>> t = DuctTree(branches=[Branch(0, 0, None, [[0, 0, 0], [10, 0, 0]], [1, 1]),
    ...                        Branch(1, 0, 0, [[10, 0, 0], [20, 5, 0]], [0.8, 0.7])],
    ...              systems=[DuctSystem(0, [0, 0, 0], root_branch=0)])
    >>> t.children(0), round(t.system_length_mm(0), 1)
    ([1], 21.2)
    """

    branches: list[Branch] = field(default_factory=list)
    systems: list[DuctSystem] = field(default_factory=list)
    nipple_mm: np.ndarray | None = None

    def __post_init__(self) -> None:
        for i, b in enumerate(self.branches):
            if b.id != i:
                raise ValueError(f"branch at position {i} has id {b.id}")
        for i, s in enumerate(self.systems):
            if s.id != i:
                raise ValueError(f"system at position {i} has id {s.id}")
        if self.nipple_mm is not None:
            self.nipple_mm = np.asarray(self.nipple_mm, dtype=float).reshape(3)

    # ----------------------------------------------------------- navigation
    @cached_property
    def _children(self) -> dict[int, list[int]]:
        kids: dict[int, list[int]] = {b.id: [] for b in self.branches}
        for b in self.branches:
            if b.parent is not None:
                kids[b.parent].append(b.id)
        return kids

    def children(self, branch_id: int) -> list[int]:
        """Ids of the branches leaving the distal end of ``branch_id``."""
        return list(self._children[branch_id])

    def branch_ids(self, system: int) -> list[int]:
        return [b.id for b in self.branches if b.system == system]

    def path_to_root(self, branch_id: int) -> list[int]:
        """Branch ids from ``branch_id`` up to its system's root (inclusive)."""
        path = [branch_id]
        seen = {branch_id}
        while self.branches[path[-1]].parent is not None:
            p = self.branches[path[-1]].parent
            if p in seen:
                raise ValueError(f"cycle in parent links at branch {p}")
            path.append(p)
            seen.add(p)
        return path

    def descendants(self, branch_id: int) -> list[int]:
        out, stack = [], [branch_id]
        while stack:
            b = stack.pop()
            out.append(b)
            stack.extend(self._children[b])
        return out

    def is_tip(self, branch_id: int) -> bool:
        return not self._children[branch_id]

    def distance_along_duct_mm(self, branch_id: int, point_index: int) -> float:
        """Centreline distance from the system's orifice to a point of a branch."""
        b = self.branches[branch_id]
        d = polyline_length(b.points_mm[: point_index + 1])
        for pid in self.path_to_root(branch_id)[1:]:
            d += self.branches[pid].length_mm
        return d

    # --------------------------------------------------------------- measures
    def system_length_mm(self, system: int) -> float:
        return float(sum(self.branches[i].length_mm for i in self.branch_ids(system)))

    @property
    def total_length_mm(self) -> float:
        return float(sum(b.length_mm for b in self.branches))

    def all_points(self, *, opacified_only: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Concatenated centreline points, radii and branch ids of the whole tree."""
        pts, rad, bid = [], [], []
        for b in self.branches:
            keep = np.ones(len(b.points_mm), bool)
            if opacified_only and b.opacified is not None:
                keep = b.opacified
            pts.append(b.points_mm[keep])
            rad.append(b.radius_mm[keep])
            bid.append(np.full(int(keep.sum()), b.id))
        if not pts:
            return np.zeros((0, 3)), np.zeros(0), np.zeros(0, int)
        return np.concatenate(pts), np.concatenate(rad), np.concatenate(bid)

    def summary(self) -> list[dict]:
        """One row per branch: id, system, parent, generation, length, radii, children."""
        rows = []
        for b in self.branches:
            rows.append({"branch": b.id, "system": b.system, "parent": b.parent,
                         "generation": b.generation, "length_mm": round(b.length_mm, 2),
                         "radius_mean_mm": round(b.mean_radius_mm, 3),
                         "radius_max_mm": round(float(b.radius_mm.max()), 3) if len(b.radius_mm) else 0.0,
                         "n_children": len(self._children[b.id]),
                         "bridged_gaps": len(b.bridged)})
        return rows

    def summary_table(self) -> str:
        """``summary()`` as an aligned text table."""
        rows = self.summary()
        if not rows:
            return "(empty tree)"
        keys = list(rows[0])
        widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
        line = "  ".join(k.rjust(w) for k, w in zip(keys, widths))
        body = ["  ".join(str(r[k]).rjust(w) for k, w in zip(keys, widths)) for r in rows]
        return "\n".join([line, *body])

    def with_branches(self, keep: list[int]) -> "DuctTree":
        """A new tree of the branches ``keep`` (ids in their new order), renumbered.

        Parent links to a removed branch become None; a system whose root branch is
        removed keeps its orifice with ``root_branch=None``.  Generations are recomputed.
        """
        new_id = {old: i for i, old in enumerate(keep)}
        branches = []
        for old in keep:
            b = self.branches[old]
            branches.append(Branch(id=new_id[old], system=b.system,
                                   parent=None if b.parent is None else new_id.get(b.parent),
                                   points_mm=b.points_mm, radius_mm=b.radius_mm, generation=b.generation,
                                   z_uncertainty_mm=b.z_uncertainty_mm, bridged=list(b.bridged),
                                   opacified=b.opacified))
        systems = [DuctSystem(id=s.id, orifice_mm=s.orifice_mm,
                              root_branch=None if s.root_branch is None else new_id.get(s.root_branch),
                              opacified=s.opacified) for s in self.systems]
        out = DuctTree(branches=branches, systems=systems, nipple_mm=self.nipple_mm)
        out.recompute_generations()
        return out

    # ----------------------------------------------------------- validation
    def recompute_generations(self) -> None:
        """Set each branch's generation (the root branch is 1) from the parent links."""
        gen: dict[int, int] = {}
        for b in self.branches:
            chain: list[int] = []
            cur: int | None = b.id
            while cur is not None and cur not in gen:
                if cur in chain:
                    raise ValueError(f"cycle in parent links at branch {cur}")
                chain.append(cur)
                cur = self.branches[cur].parent
            level = 0 if cur is None else gen[cur]
            for i in reversed(chain):
                level += 1
                gen[i] = level
        for b in self.branches:
            b.generation = gen[b.id]

    def validate(self) -> None:
        """Raise ValueError if parent links, systems or generations disagree."""
        for b in self.branches:
            if b.system >= len(self.systems) or b.system < 0:
                raise ValueError(f"branch {b.id} names unknown system {b.system}")
            if b.parent is not None and self.branches[b.parent].system != b.system:
                raise ValueError(f"branch {b.id} and its parent {b.parent} are in different systems")
            if b.generation != len(self.path_to_root(b.id)):
                raise ValueError(f"branch {b.id} has generation {b.generation}, expected "
                                 f"{len(self.path_to_root(b.id))}")
        for s in self.systems:
            roots = [b.id for b in self.branches if b.system == s.id and b.parent is None]
            if len(roots) > 1:
                raise ValueError(f"system {s.id} has {len(roots)} root branches")

    # ------------------------------------------------------------ serialising
    def to_dict(self) -> dict:
        return {"nipple_mm": None if self.nipple_mm is None else np.round(self.nipple_mm, 4).tolist(),
                "systems": [s.to_dict() for s in self.systems],
                "branches": [b.to_dict() for b in self.branches]}

    @classmethod
    def from_dict(cls, d: dict) -> "DuctTree":
        return cls(branches=[Branch.from_dict(b) for b in d.get("branches", [])],
                   systems=[DuctSystem.from_dict(s) for s in d.get("systems", [])],
                   nipple_mm=d.get("nipple_mm"))
