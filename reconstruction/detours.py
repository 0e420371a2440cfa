"""Ducts hung on the tree the long way round: bridge their gap and re-hang them.

A filling defect interrupts its duct.  When the duct beyond it touches another duct, the
skeleton joins it to the tree through that contact, and no loose piece is left for the
gap bridging of :mod:`reconstruction.treebuild` to find.  The tree then reaches the duct
beyond the defect the long way round, and everything measured along the duct (a
lesion's distance from the orifice, how far a microdochectomy must follow the duct) is
wrong, sometimes by several centimetres.  The tell: the duct's free end, at the defect,
runs back toward the orifice (ducts branch outward from the nipple), and just ahead of
it, across a gap, lies the duct it came from, far nearer the orifice along the tree.

:func:`bridge_detours` bridges that gap and re-hangs the detour: the chain of branches
from the free end back to where the two ways from the orifice meet is reversed and hung
on the bridge, and the old way is cut there, so every centreline point is kept and each
is reached the shorter way.  It works on the refined tree (depths decided), where a tip's
direction means something.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .topology import GapBridge
from .tree import Branch, DuctTree, arc_length, end_direction

__all__ = ["DetourOptions", "bridge_detours", "distances_from_orifice", "locate_bridges"]


@dataclass(frozen=True)
class DetourOptions:
    """When a tip's gap is bridged.

    Attributes
    ----------
    max_gap_mm : float
        Longest gap bridged (the reconstruction's ``max_gap_mm``: a filling defect's length).
    max_angle_deg : float
        The bridge must leave the tip within this angle of the direction it runs.
    min_saving_mm, min_saving_share : float
        The way from the orifice across the gap must be shorter than the tip's way along
        the tree by at least this many mm and this share of it: a detour, not a neighbour.
    slice_axis : (3,) tuple, optional
        The volume's slice axis (unit vector, physical mm).  When given, a bridge may not
        run along it steeper than ``max_steepness`` (|cos| of its angle to the axis, as
        in :func:`reconstruction.depth_prune.steepness`): a jump in depth across a gap is
        two ducts at different depths, not one duct's interruption.
    max_steepness : float
    """

    max_gap_mm: float = 12.0
    max_angle_deg: float = 45.0
    min_saving_mm: float = 10.0
    min_saving_share: float = 0.25
    slice_axis: tuple[float, float, float] | None = None
    max_steepness: float = 0.6


@dataclass
class _Detour:
    """A tip to re-hang: bridge from its end to point ``k`` of ``target``, reverse
    ``chain`` (the tip first) and cut ``cut_branch`` at ``cut_index``."""

    saving_mm: float
    tip: int
    target: int
    k: int
    gap_mm: float
    cos_angle: float
    chain: list[int]
    cut_branch: int
    cut_index: int
    onto_tip: bool


def distances_from_orifice(tree: DuctTree) -> dict[int, np.ndarray]:
    """Along-tree distance (mm) of every point of every branch from its system's root."""
    out: dict[int, np.ndarray] = {}

    def get(bid: int) -> np.ndarray:
        if bid not in out:
            b = tree.branches[bid]
            base = 0.0 if b.parent is None else float(get(b.parent)[-1])
            out[bid] = base + arc_length(b.points_mm)
        return out[bid]

    for b in tree.branches:
        get(b.id)
    return out


def _chain_to(tree: DuctTree, tip: int, ancestor_path: set[int]) -> list[int]:
    """Branches from ``tip`` up to (not including) the first branch in ``ancestor_path``."""
    chain = []
    cur: int | None = tip
    while cur is not None and cur not in ancestor_path:
        chain.append(cur)
        cur = tree.branches[cur].parent
    return chain


def _interp(a: np.ndarray | None, b: np.ndarray | None, n: int) -> np.ndarray | None:
    if a is None or b is None:
        return None
    t = np.linspace(0.0, 1.0, n)
    return (1 - t) * float(a) + t * float(b)


def _reversed_branch(b: Branch, lo: int, bid: int, parent: int) -> Branch:
    """Points ``lo..end`` of ``b``, reversed, as branch ``bid`` hung on ``parent``."""
    n = len(b.points_mm)
    bridged = [(n - 1 - e, n - 1 - s) for s, e in b.bridged if e >= lo]
    bridged = [(max(s, 0), min(e, n - 1 - lo)) for s, e in bridged]
    return Branch(bid, b.system, parent, b.points_mm[lo:][::-1].copy(), b.radius_mm[lo:][::-1].copy(),
                  z_uncertainty_mm=None if b.z_uncertainty_mm is None else b.z_uncertainty_mm[lo:][::-1].copy(),
                  bridged=bridged)


def _rehang(tree: DuctTree, d: _Detour, step_mm: float) -> DuctTree:
    """The tree with the detour's gap bridged and its chain reversed and hung on the
    bridge (see :class:`_Detour`)."""
    tip, target, k, chain, cut_branch, cut_index = d.tip, d.target, d.k, d.chain, d.cut_branch, d.cut_index
    branches = [Branch(b.id, b.system, b.parent, b.points_mm.copy(), b.radius_mm.copy(), b.generation,
                       None if b.z_uncertainty_mm is None else b.z_uncertainty_mm.copy(), list(b.bridged))
                for b in tree.branches]
    next_id = len(branches)
    # Split the target at the bridge's foot (unless it is the target's end).
    tb = branches[target]
    if k < len(tb.points_mm) - 1:
        rest = Branch(next_id, tb.system, target, tb.points_mm[k:].copy(), tb.radius_mm[k:].copy(),
                      z_uncertainty_mm=None if tb.z_uncertainty_mm is None else tb.z_uncertainty_mm[k:].copy(),
                      bridged=[(max(s - k, 0), e - k) for s, e in tb.bridged if e >= k])
        next_id += 1
        for b in branches:
            if b.parent == target:
                b.parent = rest.id
        branches.append(rest)
        tb.bridged = [(s, min(e, k)) for s, e in tb.bridged if s <= k]
        tb.points_mm, tb.radius_mm = tb.points_mm[: k + 1], tb.radius_mm[: k + 1]
        if tb.z_uncertainty_mm is not None:
            tb.z_uncertainty_mm = tb.z_uncertainty_mm[: k + 1]
    # The bridge, then the chain reversed: each reversed branch ends at the junction where
    # the chain's next branch's other children hang; they hang on it instead.
    t_end = branches[tip].points_mm[-1]
    gap = float(np.linalg.norm(t_end - tb.points_mm[-1]))
    nb = max(2, int(np.ceil(gap / step_mm)) + 1)
    s = np.linspace(0.0, 1.0, nb)[:, None]
    bridge_pts = tb.points_mm[-1] + s * (t_end - tb.points_mm[-1])
    t_branch = branches[tip]
    z_t = None if t_branch.z_uncertainty_mm is None else t_branch.z_uncertainty_mm[-1]
    z_f = None if tb.z_uncertainty_mm is None else tb.z_uncertainty_mm[-1]
    parent = target
    new_ids: dict[int, int] = {}
    for i, cid in enumerate(chain):
        c = branches[cid]
        lo = cut_index if cid == cut_branch else 0
        rb = _reversed_branch(c, lo, next_id, parent)
        next_id += 1
        if i == 0:
            zb = _interp(z_f, z_t, nb)
            rb.points_mm = np.vstack([bridge_pts[:-1], rb.points_mm])
            rb.radius_mm = np.concatenate([np.linspace(tb.radius_mm[-1], c.radius_mm[-1], nb)[:-1], rb.radius_mm])
            rb.z_uncertainty_mm = (None if zb is None or rb.z_uncertainty_mm is None
                                   else np.concatenate([zb[:-1], rb.z_uncertainty_mm]))
            rb.bridged = [(0, nb - 1)] + [(s0 + nb - 1, e0 + nb - 1) for s0, e0 in rb.bridged]
        new_ids[cid] = rb.id
        branches.append(rb)
        parent = rb.id
    # Children of chain branches: the next chain branch's siblings hung at its start,
    # which is now the end of the reversed branch before it.
    for i, cid in enumerate(chain[1:], start=1):
        below = chain[i - 1]
        for b in branches:
            if b.parent == cid and b.id != below and b.id not in new_ids.values():
                b.parent = new_ids[below]
    # The cut branch keeps its points up to the cut; the other chain branches are gone.
    cb = branches[cut_branch]
    cb.points_mm, cb.radius_mm = cb.points_mm[: cut_index + 1], cb.radius_mm[: cut_index + 1]
    if cb.z_uncertainty_mm is not None:
        cb.z_uncertainty_mm = cb.z_uncertainty_mm[: cut_index + 1]
    cb.bridged = [(s0, min(e0, cut_index)) for s0, e0 in cb.bridged if s0 <= cut_index]
    gone = set(chain) - {cut_branch}
    for b in branches:
        if b.id not in gone and b.parent in gone:
            raise AssertionError(f"branch {b.id} left hanging on re-hung branch {b.parent}")
    # Parents before children, renumbered.
    kids: dict[int | None, list[int]] = {}
    for b in branches:
        if b.id not in gone:
            kids.setdefault(b.parent, []).append(b.id)
    order: list[int] = []
    stack = list(reversed(kids.get(None, [])))
    while stack:
        bid = stack.pop()
        order.append(bid)
        stack.extend(reversed(kids.get(bid, [])))
    out = DuctTree(branches=branches, systems=tree.systems, nipple_mm=tree.nipple_mm)
    return out.with_branches(order)


def bridge_detours(tree: DuctTree, *, options: DetourOptions | None = None,
                   step_mm: float = 0.5) -> tuple[DuctTree, list[GapBridge]]:
    """Bridge the gaps of ducts that hang on the tree the long way round.

    A tip is bridged when its end runs toward its system's orifice, centreline of the
    same system lies within ``max_gap_mm`` ahead of it (within ``max_angle_deg``), and the
    way from the orifice across that gap is shorter than the tip's way along the tree by
    ``min_saving_mm`` and ``min_saving_share`` of it.  The chain of branches from the
    tip back to where the two ways meet is reversed and hung on the bridge (the old way
    is cut there); nothing is removed.  Largest saving first; repeated until none is left.

    Parameters
    ----------
    tree : DuctTree
        A rooted tree in physical mm (depths refined).
    options : DetourOptions, optional
    step_mm : float
        Point spacing of the bridge.

    Returns
    -------
    tree : DuctTree
        A new tree (the input is not changed), renumbered, generations recomputed.
    bridges : list of GapBridge
        One per bridged gap, ``detour_mm`` the distance saved, ``piece_length_mm`` the
        length of duct re-hung, ``branch``/``point_range`` where the bridge lies in the
        returned tree (``gap`` numbers from 0).

    Examples
    --------
    A duct from the orifice along x, interrupted at x = 20-23 mm; its far part is joined
    to the tree through a side duct that touches it at x = 40 mm, so its end at the gap
    hangs 85 mm from the orifice instead of 23, and its far end 88 mm instead of 60:

    >>> import numpy as np
    >>> from reconstruction.tree import Branch, DuctSystem, DuctTree
    >>> line = lambda a, b: np.linspace(a, b, int(np.linalg.norm(np.subtract(b, a)) / 0.5) + 1)
    >>> br = [Branch(0, 0, None, line([0, 0, 0], [20, 0, 0]), np.full(41, 0.8)),
    ...       Branch(1, 0, 0, line([20, 0, 0], [20, 20, 0]), np.full(41, 0.5)),
    ...       Branch(2, 0, 1, line([20, 20, 0], [40, 0, 0]), np.full(57, 0.5)),
    ...       Branch(3, 0, 2, line([40, 0, 0], [23, 0, 0]), np.full(35, 0.8)),
    ...       Branch(4, 0, 2, line([40, 0, 0], [60, 0, 0]), np.full(41, 0.8))]
    >>> tree = DuctTree(branches=br, systems=[DuctSystem(0, [0, 0, 0], root_branch=0)])
    >>> round(float(distances_from_orifice(tree)[3][-1]))
    85
    >>> fixed, bridges = bridge_detours(tree)
    >>> len(bridges), round(bridges[0].length_mm, 1)
    (1, 3.0)
    >>> d = distances_from_orifice(fixed)
    >>> far = max(fixed.branches, key=lambda b: b.points_mm[:, 0].max())
    >>> round(float(d[far.id][np.argmax(far.points_mm[:, 0])]))
    60
    """
    opt = options or DetourOptions()
    cos_max = np.cos(np.radians(opt.max_angle_deg))
    bridges: list[GapBridge] = []
    tried: set[tuple[int, int]] = set()
    for _ in range(len(tree.branches) + 1):
        found = _best_detour(tree, opt, cos_max, tried)
        if found is None:
            break
        t_end = tree.branches[found.tip].points_mm[-1].copy()
        foot = tree.branches[found.target].points_mm[found.k].copy()
        cut_at = tree.branches[found.cut_branch].points_mm[found.cut_index]
        # (Both tips left at the cut are where the two ways meet: never a detour.)
        for p in (t_end, cut_at):
            tried.add((round(float(p[0]), 3), round(float(p[1]), 3)))
        system = tree.branches[found.tip].system
        piece = float(sum(tree.branches[c].length_mm for c in found.chain))
        tree = _rehang(tree, found, step_mm)
        bridges.append(GapBridge(gap=len(bridges), start_mm=foot, end_mm=t_end, length_mm=found.gap_mm,
                                 kind="continuation" if found.onto_tip else "side",
                                 piece_angle_deg=float(np.degrees(np.arccos(np.clip(found.cos_angle, -1, 1)))),
                                 tree_angle_deg=None, piece_length_mm=piece, system=system,
                                 detour_mm=found.saving_mm))
    locate_bridges(tree, bridges)
    return tree, bridges


def locate_bridges(tree: DuctTree, gaps: list[GapBridge], *, tolerance_mm: float = 3.0) -> None:
    """Set each gap's ``branch``, ``point_range`` and ``system`` from the tree's bridged
    ranges (in place).

    Branch ids change whenever the tree is pruned, merged or re-hung, and depth
    refinement moves the points: each gap is matched to the bridged range whose ends lie
    nearest its own (either way round), within ``tolerance_mm`` each on average; a gap
    with none left that near (its branch was pruned) gets None.
    """
    ranges = [(b, s0, e0) for b in tree.branches for s0, e0 in b.bridged]
    for g in gaps:
        best, where = 2.0 * tolerance_mm, None
        for b, s0, e0 in ranges:
            a, z = b.points_mm[s0], b.points_mm[e0]
            cost = min(np.linalg.norm(a - g.start_mm) + np.linalg.norm(z - g.end_mm),
                       np.linalg.norm(a - g.end_mm) + np.linalg.norm(z - g.start_mm))
            if cost <= best:
                best, where = cost, (b, s0, e0)
        if where is None:
            g.branch, g.point_range = None, None
        else:
            g.branch, g.point_range, g.system = where[0].id, (where[1], where[2]), where[0].system


def _best_detour(tree: DuctTree, opt: DetourOptions, cos_max: float, tried: set) -> _Detour | None:
    """The tip with the largest saving and how to re-hang it (None when none qualifies)."""
    if not tree.branches:
        return None
    along = distances_from_orifice(tree)
    pts = np.concatenate([b.points_mm for b in tree.branches])
    owner = np.concatenate([np.full(len(b.points_mm), b.id) for b in tree.branches])
    index = np.concatenate([np.arange(len(b.points_mm)) for b in tree.branches])
    system = np.concatenate([np.full(len(b.points_mm), b.system) for b in tree.branches])
    dist = np.concatenate([along[b.id] for b in tree.branches])
    kd = cKDTree(pts)
    orifice = {s.id: np.asarray(s.orifice_mm, float) for s in tree.systems}
    best = None
    for b in tree.branches:
        if b.parent is None or not tree.is_tip(b.id) or len(b.points_mm) < 2:
            continue
        p = b.points_mm[-1]
        if (round(float(p[0]), 3), round(float(p[1]), 3)) in tried:
            continue
        d_p = end_direction(b.points_mm)
        home = orifice[b.system] - p
        if not float(d_p @ home) > 0.0:
            continue            # runs away from the orifice, as a duct's end does
        d_tip = float(along[b.id][-1])
        idx = np.asarray(kd.query_ball_point(p, opt.max_gap_mm), np.int64)
        if not len(idx):
            continue
        idx = idx[(owner[idx] != b.id) & (system[idx] == b.system)]
        if not len(idx):
            continue
        gvec = pts[idx] - p
        gap = np.linalg.norm(gvec, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ahead = (gap > 1e-6) & ((gvec @ d_p) >= cos_max * gap)
            if opt.slice_axis is not None:
                ahead &= np.abs(gvec @ np.asarray(opt.slice_axis, float)) <= opt.max_steepness * gap
        via = np.where(ahead, dist[idx] + gap, np.inf)
        # (Points in line ahead all give the same way round: take the nearest of them.)
        j = int(np.argmin(via + gap))
        saving = d_tip - float(via[j])
        if not (np.isfinite(via[j]) and saving >= max(opt.min_saving_mm, opt.min_saving_share * d_tip)):
            continue
        target, k = int(owner[idx[j]]), int(index[idx[j]])
        if k == 0 and tree.branches[target].parent is not None:
            target = tree.branches[target].parent      # its start is its parent's end
            k = len(tree.branches[target].points_mm) - 1
        k = max(k, 1)
        # The loop: the tip's chain up to the branch on the target's way to the root.
        chain = _chain_to(tree, b.id, set(tree.path_to_root(target)))
        if target in chain:
            continue            # the tip curls back onto its own branch
        # Where the two ways meet: old distance = distance across the bridge.
        back = float(via[j])
        cut = None
        rest = 0.0
        for cid in chain:
            c = tree.branches[cid]
            old = along[cid]
            new = back + rest + (old[-1] - old)     # back from the tip's end across the bridge
            rest += c.length_mm
            meet = np.flatnonzero(new <= old)
            if len(meet) and meet[0] == 0:
                continue                            # all of it is nearer across the bridge
            if len(meet) and 1 <= meet[0] <= len(c.points_mm) - 2:
                cut = (cid, int(meet[0]))
            break
        if cut is None:
            continue
        if best is None or saving > best.saving_mm:
            onto_tip = k == len(tree.branches[target].points_mm) - 1 and tree.is_tip(target)
            best = _Detour(saving, b.id, target, k, float(gap[j]), float((gvec[j] @ d_p) / gap[j]),
                           chain[: chain.index(cut[0]) + 1], cut[0], cut[1], onto_tip)
    return best
