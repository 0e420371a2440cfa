"""Where each lesion sits on the duct tree, as the excision needs it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from reconstruction.tree import Branch, DuctTree

from .lesions import Lesion

__all__ = ["LesionSite", "locate_lesions", "project_to_branch"]


@dataclass(frozen=True)
class LesionSite:
    """A lesion's place on the tree.

    Attributes
    ----------
    lesion : int
        Lesion id.
    system, branch : int or None
        The duct the lesion belongs to (the lesion's own assignment when it has one,
        else the nearest duct it touches); None for a lesion on no opacified duct.
    point_index : int or None
        Nearest centreline vertex of ``branch``.
    branch_arc_mm : float or None
        Distance along ``branch`` from its root end to the lesion's projection.
    arc_mm : float or None
        Distance along the duct from the system's orifice to the projection.
    distance_to_duct_mm : float
        Lesion centre to the centreline of ``branch`` (inf when there is none).
    on_duct : bool
        Whether the lesion touches (or was assigned to) a duct.
    systems_touched : tuple of int
        Every system whose duct the lesion touches; more than one means the lesion
        cannot be assigned to a single discharging duct.  Stub systems (shorter than
        ``min_system_length_mm``) are left out when the lesion also touches a longer one.
    stubs_touched : tuple of int
        Stub systems the lesion touches but that were not counted.
    """

    lesion: int
    system: int | None
    branch: int | None
    point_index: int | None
    branch_arc_mm: float | None
    arc_mm: float | None
    distance_to_duct_mm: float
    on_duct: bool
    systems_touched: tuple[int, ...]
    stubs_touched: tuple[int, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return len(self.systems_touched) > 1


def project_to_branch(branch: Branch, point: npt.ArrayLike) -> tuple[float, float, float, int]:
    """Closest point of a branch centreline to ``point``.

    Parameters
    ----------
    branch : Branch
    point : (3,) array, mm

    Returns
    -------
    distance_mm : float
        From ``point`` to the centreline.
    arc_mm : float
        Distance along the branch, from its root end, of the closest point.
    radius_mm : float
        Duct radius there (linear between vertices).
    point_index : int
        Nearest vertex.

    Examples
    --------
    >>> b = Branch(0, 0, None, [[0, 0, 0], [10, 0, 0]], [1.0, 0.5])
    >>> [round(v, 3) for v in project_to_branch(b, [4, 3, 0])]
    [3.0, 4.0, 0.8, 0]
    """
    p = np.asarray(point, dtype=float).reshape(3)
    pts, rad = branch.points_mm, branch.radius_mm
    if len(pts) == 0:
        return float("inf"), 0.0, 0.0, 0
    if len(pts) == 1:
        return float(np.linalg.norm(p - pts[0])), 0.0, float(rad[0]), 0
    a, b = pts[:-1], pts[1:]
    e = b - a
    ee = np.einsum("ij,ij->i", e, e)
    t = np.where(ee > 0, np.einsum("ij,ij->i", p - a, e) / np.where(ee > 0, ee, 1.0), 0.0)
    t = np.clip(t, 0.0, 1.0)
    q = a + t[:, None] * e
    d = np.linalg.norm(p - q, axis=1)
    k = int(np.argmin(d))
    seg = np.sqrt(ee)
    arc = float(seg[:k].sum() + t[k] * seg[k])
    r = float(rad[k] + t[k] * (rad[k + 1] - rad[k]))
    idx = k if t[k] < 0.5 else k + 1
    return float(d[k]), arc, r, idx


def locate_lesions(tree: DuctTree, lesions: list[Lesion], *, snap_mm: float = 2.0,
                   min_system_length_mm: float = 0.0) -> list[LesionSite]:
    """Place each lesion on the tree.

    A lesion touches a branch when the distance from its centre to the centreline is at
    most ``lesion radius + duct radius + snap_mm``.  A lesion's own ``branch``/``system``
    (from the detector or the merge of marks) wins for its primary place; the systems it
    touches are still all reported.  Where several centrelines of its system pass within
    the lesion's radius of its centre, its place is on the one that reaches it by the
    shortest way from the orifice (``arc_mm`` is how far a surgeon follows the duct).

    A *stub* system, one with less than ``min_system_length_mm`` of duct, is not an
    opacified ductal system a lesion can be told to lie in: the orifices all open within
    a few millimetres of each other on the nipple, so a lesion near the nipple touches
    every short piece of contrast there (contrast on the skin, reflux into the first
    millimetres of a neighbouring orifice, a fragment of a reconstruction).  When a
    lesion touches a longer system too, its stubs are reported in ``stubs_touched`` but
    not in ``systems_touched``, and a primary place on a stub moves to the nearest
    longer duct it touches.  A lesion touching stubs only keeps them.

    Parameters
    ----------
    tree : DuctTree
    lesions : list of Lesion
    snap_mm : float
        Extra distance tolerated between a lesion's surface and a duct wall.
    min_system_length_mm : float
        Systems with less duct than this are stubs (0: none is).

    Returns
    -------
    list of LesionSite
        One per lesion, same order.

    Raises
    ------
    ValueError
        When a lesion names a branch or system the tree does not have, or a branch of
        another system than the one it names.

    Examples
    --------
    >>> from reconstruction.tree import DuctSystem
    >>> t = DuctTree([Branch(0, 0, None, [[0, 0, 0], [30, 0, 0]], [1.0, 1.0])],
    ...              [DuctSystem(0, [0, 0, 0], root_branch=0)])
    >>> s = locate_lesions(t, [Lesion(0, "filling_defect", [20, 0.5, 0], 4.0)])[0]
    >>> s.system, s.branch, round(s.arc_mm, 1), s.on_duct
    (0, 0, 20.0, True)

    A 2 mm stub of another system beside a lesion near the nipple is not counted:

    >>> t2 = DuctTree(t.branches + [Branch(1, 1, None, [[1, 1, 0], [2, 1, 0]], [0.5, 0.5])],
    ...               t.systems + [DuctSystem(1, [1, 1, 0], root_branch=1)])
    >>> s = locate_lesions(t2, [Lesion(0, "filling_defect", [3, 0, 0], 4.0)], min_system_length_mm=10)[0]
    >>> s.system, s.systems_touched, s.stubs_touched
    (0, (0,), (1,))
    """
    nb = len(tree.branches)
    lengths = np.array([b.length_mm for b in tree.branches]) if nb else np.zeros(0)
    # Arc from the orifice to the root end of each branch.
    offset = np.zeros(nb)
    for b in tree.branches:
        offset[b.id] = float(sum(lengths[p] for p in tree.path_to_root(b.id)[1:]))

    stubs = {s.id for s in tree.systems if tree.system_length_mm(s.id) < min_system_length_mm}
    branch_is_stub = np.array([b.system in stubs for b in tree.branches], dtype=bool)

    sites = []
    for les in lesions:
        proj = [project_to_branch(b, les.center_mm) for b in tree.branches]
        dist = np.array([p[0] for p in proj]) if nb else np.zeros(0)
        thr = np.array([les.radius_mm + p[2] + snap_mm for p in proj]) if nb else np.zeros(0)
        touching = dist <= thr
        touched = {tree.branches[i].system for i in np.flatnonzero(touching)}
        # Touching a longer system too: stubs do not count (see above).
        long_touching = touching & ~branch_is_stub if nb else touching
        skip_stubs = bool(stubs) and bool(long_touching.any())

        if les.branch is not None:
            if not 0 <= les.branch < nb:
                raise ValueError(f"lesion {les.id} names branch {les.branch}, but the tree has "
                                 f"{nb} branches")
            bid = int(les.branch)
            sys_ = tree.branches[bid].system
            if les.system is not None and les.system != sys_:
                raise ValueError(f"lesion {les.id} names system {les.system} but its branch {bid} "
                                 f"belongs to system {sys_}")
            on_duct = True
            if skip_stubs and sys_ in stubs:
                bid = _nearest_wall(long_touching, dist, thr)
                sys_ = tree.branches[bid].system
        elif les.system is not None:
            if not 0 <= les.system < len(tree.systems):
                raise ValueError(f"lesion {les.id} names system {les.system}, but the tree has "
                                 f"{len(tree.systems)} systems")
            sys_ = int(les.system)
            ids = [b.id for b in tree.branches if b.system == sys_]
            bid = min(ids, key=lambda i: dist[i]) if ids else None
            on_duct = True
            if skip_stubs and sys_ in stubs:
                bid = _nearest_wall(long_touching, dist, thr)
                sys_ = tree.branches[bid].system
        elif nb and touching.any():
            # Nearest touched duct wall (not centreline): a big lesion in a wide duct wins.
            bid = _nearest_wall(long_touching if skip_stubs else touching, dist, thr)
            sys_ = tree.branches[bid].system
            on_duct = True
        else:
            bid, sys_, on_duct = None, None, False

        if bid is not None and on_duct:
            # Several centrelines of the system may pass through the lesion (a duct and a
            # second route of the reconstruction to it, or a junction): it lies as far
            # along the duct as the shortest of them says, the way a probe or a surgeon
            # following the duct from the orifice reaches it.
            through = [i for i in np.flatnonzero(dist <= les.radius_mm)
                       if tree.branches[i].system == sys_ and not branch_is_stub[i]]
            if through:
                nearest = min(through, key=lambda i: offset[i] + proj[i][1])
                if offset[nearest] + proj[nearest][1] < offset[bid] + proj[bid][1]:
                    bid = int(nearest)
        if sys_ is not None:
            touched.add(sys_)
        stubs_touched = tuple(sorted(touched & stubs)) if skip_stubs else ()
        touched -= set(stubs_touched)
        if bid is not None:
            d, barc, _, idx = proj[bid]
            arc = float(offset[bid] + barc)
        else:
            d = float(dist.min()) if nb else float("inf")
            barc, arc, idx = None, None, None
        sites.append(LesionSite(lesion=les.id, system=sys_, branch=bid, point_index=idx,
                                branch_arc_mm=barc, arc_mm=arc, distance_to_duct_mm=float(d),
                                on_duct=on_duct, systems_touched=tuple(sorted(touched)),
                                stubs_touched=stubs_touched))
    return sites


def _nearest_wall(candidates: np.ndarray, dist: np.ndarray, thr: np.ndarray) -> int:
    """The candidate branch whose duct wall (not centreline) is nearest the lesion."""
    cand = np.flatnonzero(candidates)
    return int(cand[np.argmin(dist[cand] - thr[cand])])
