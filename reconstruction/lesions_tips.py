"""How a duct ends: tapering out, a cyst, an obstruction, or an abrupt cut-off.

At every tip of the tree the CPR is extended straight past the last centreline point, so
whatever stops the contrast column is in view:

* a **cyst** is a round contrast pool at the end, much wider than the duct feeding it and
  bright to its centre;
* an **obstructing filling defect** (papilloma) ends the column in a concave meniscus:
  the duct is dilated before it and the column's end is hollow, with contrast reaching
  further along the rim than along the axis (see :mod:`reconstruction.lesions_voids`);
* an **abrupt cut-off** is a duct that stops at a calibre it should not stop at: wider
  than the terminal ducts of its system, not tapered from its parent, and well short of
  where the ducts that leave the same branch point go on to end.

Everything here is measured in the slice plane and relative to the duct and its system.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .lesions_profile import BEYOND, OWN, DuctProfile, LumenRows
from .tree import DuctTree, arc_length

__all__ = ["TipMeasure", "measure_tip", "premature_end", "effective_junction", "smooth_length_mm",
           "tail_radius_mm"]


@dataclass
class TipMeasure:
    """What the image shows at the end of a terminal branch.

    Attributes
    ----------
    branch : int
    tip_row : int
        CPR row of the tree's last point.
    end_row : int
        Last row where the lumen centre still holds half the duct's contrast.
    duct_width_mm : float
        Calibre of the duct leading to the end (a low percentile of the widths over the
        last ``reference_mm``: the duct, not a pool at its end).
    end_width_mm : float
        Median calibre over the last stretch of the column (before any pool).
    blob_width_mm, blob_length_mm : float
        In-plane extent across and along the widest part near the end.
    blob_row : int
        Row of the widest part.
    blob_centre_ratio : float
        Lowest ratio of centre contrast to the brightest part of the lumen over the wide
        rows from the widest one to the end (a pool is brightest at its centre all the
        way; an obstruction's meniscus is hollow).
    blob_reaches_end : bool
        The widest part is the end of the column (nothing continues past it).
    cnr : float
        Duct contrast over image noise near the end.
    fall_mm : float
        Distance along the duct over which the centre contrast falls from 80 % to 20 %.
    """

    branch: int
    tip_row: int
    end_row: int
    duct_width_mm: float
    end_width_mm: float
    blob_width_mm: float
    blob_length_mm: float
    blob_row: int
    blob_centre_ratio: float
    blob_reaches_end: bool
    cnr: float
    fall_mm: float
    measures: dict = field(default_factory=dict)


def _nanpct(v: np.ndarray, q: float) -> float:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    return float(np.percentile(v, q)) if v.size else float("nan")


def measure_tip(profile: DuctProfile, rows: LumenRows, *, reference_mm: float = 10.0) -> TipMeasure:
    """Measure the end of the contrast column of a tip path.

    Parameters
    ----------
    profile : DuctProfile
        Profile of a tip branch's path, extended past the tip (``part == BEYOND``).
    rows : LumenRows
    reference_mm : float
        Length of duct before the tip whose calibre is the duct's reference.

    Returns
    -------
    TipMeasure
    """
    step = profile.step_mm
    own_rows = np.flatnonzero(profile.part == OWN)
    tip_row = int(own_rows[-1]) if own_rows.size else len(profile.s_mm) - 1
    n_ref = max(int(reference_mm / step), 3)
    lo = max(tip_row - n_ref, 0)
    w = rows.width
    w_s = ndimage.median_filter(np.nan_to_num(w, nan=0.0), size=max(int(1.0 / step) | 1, 3), mode="nearest")
    w_s = np.where(np.isfinite(w), w_s, np.nan)
    duct_width = _nanpct(w_s[lo: tip_row + 1], 30)

    # Contrast level of the column: an upper percentile of the centre before the tip.
    c = ndimage.gaussian_filter1d(np.nan_to_num(rows.centre, nan=0.0), max(0.25 / step, 0.5))
    level = _nanpct(c[lo: tip_row + 1], 75)
    level = max(level, 3.0 * profile.noise)
    # End of the column: follow the lumen from the tree's tip on while it is there
    # (bridging gaps under half a millimetre); if the tip overshoots, walk back to it.
    end_row = _column_end(profile, rows, tip_row)
    run = max(int(1.0 / step), 2)
    # Fall-off sharpness along the axis.
    seg = c[max(end_row - n_ref // 2, 0): min(end_row + run * 3, len(c))]
    i80 = np.flatnonzero(seg >= 0.8 * level)
    i20 = np.flatnonzero(seg >= 0.2 * level)
    fall = float((i20[-1] - i80[-1]) * step) if i80.size and i20.size else float("nan")

    # The widest part near the end: a pool (cyst), a dilated end (obstruction), or nothing.
    zone = np.arange(lo, min(end_row + 1, len(w_s)))
    if zone.size and np.isfinite(w_s[zone]).any():
        blob_row = int(zone[np.nanargmax(w_s[zone])])
        blob_w = float(w_s[blob_row])
    else:
        blob_row, blob_w = tip_row, float("nan")
    thr = 0.5 * (blob_w + duct_width) if np.isfinite(blob_w) and np.isfinite(duct_width) else np.inf
    a = b = blob_row
    while a > 0 and np.isfinite(w_s[a - 1]) and w_s[a - 1] >= thr:
        a -= 1
    while b < len(w_s) - 1 and np.isfinite(w_s[b + 1]) and w_s[b + 1] >= thr:
        b += 1
    blob_len = float((b - a + 1) * step)
    reaches_end = bool(b >= end_row - max(int(1.0 / step), 1))
    # Hollow or full: the centre of each wide row against its brightest part, from the
    # widest row to the end of the column (a pool is brightest at its middle all the way;
    # an obstruction's meniscus is dark in the middle near the end).
    o = profile.offsets_mm
    peaks, ratios = [], []
    wide_thr = 0.5 * blob_w if np.isfinite(blob_w) else np.inf
    for r in range(blob_row, max(end_row, blob_row) + 1):
        if r != blob_row and not (np.isfinite(w_s[r]) and w_s[r] >= wide_thr):
            continue
        row = np.where(profile.own[r], profile.cpr[r], np.nan)
        inside = (o >= rows.left[r]) & (o <= rows.right[r]) if np.isfinite(rows.left[r]) else \
            np.abs(o - rows.centre_offset[r]) <= 0.5 * (blob_w if np.isfinite(blob_w) else 1.0)
        cand = np.where(inside & np.isfinite(row), ndimage.uniform_filter1d(np.nan_to_num(row), 3), np.nan)
        pk = float(np.nanmax(cand)) if np.isfinite(cand).any() else float("nan")
        peaks.append(pk)
        if np.isfinite(pk) and pk > 0 and np.isfinite(rows.centre[r]):
            ratios.append(float(rows.centre[r] / pk))
    peak = peaks[0] if peaks else float("nan")
    centre_ratio = float(min(ratios)) if ratios else float("nan")
    # A pool of the same contrast as the duct, and at least as thick, is at least as bright
    # as the duct in the slice; out-of-focus blur of something else is fainter.
    blob_contrast = float(peak / level) if np.isfinite(peak) else float("nan")
    meniscus = _meniscus(profile, rows, end_row, w_s, search_mm=max(6.0, 2.0 * (blob_w if np.isfinite(blob_w) else 1.0)))
    # Does the duct itself go on past the tree's tip (the reconstruction stopped short)?
    # Its centre keeps the duct's contrast and its calibre stays a duct's for 2 mm.
    nxt = slice(tip_row + max(int(0.5 / step), 1), tip_row + max(int(2.5 / step), 2))
    c_next = c[nxt]
    w_next = w_s[nxt]
    duct_w = _nanpct(w_s[max(tip_row - max(int(3.0 / step), 2), 0): tip_row + 1], 50)
    continues = bool(c_next.size >= 3 and np.mean(c_next >= 0.5 * level) >= 0.8
                     and np.isfinite(w_next).mean() >= 0.6
                     and _nanpct(w_next, 50) <= 1.5 * duct_w)
    end_lo = max(end_row - max(int(2.5 / step), 2), lo)
    end_w = _nanpct(w_s[end_lo: max(end_row - max(int(0.5 / step), 1), end_lo + 1)], 50)
    if a <= end_lo <= b:  # the last stretch is the pool itself: the column's calibre is the duct's
        end_w = _nanpct(w_s[max(a - n_ref // 2, 0): a], 50)
    return TipMeasure(branch=profile.branch, tip_row=tip_row, end_row=int(end_row),
                      duct_width_mm=duct_width, end_width_mm=end_w, blob_width_mm=blob_w,
                      blob_length_mm=blob_len, blob_row=blob_row, blob_centre_ratio=centre_ratio,
                      blob_reaches_end=reaches_end, cnr=float(level / profile.noise), fall_mm=fall,
                      measures={"beyond_tip_mm": float((end_row - tip_row) * step),
                                "end_in_extrapolation": bool(profile.part[end_row] == BEYOND),
                                **meniscus,
                                "continues_past_tip": continues,
                                "blob_contrast": blob_contrast,
                                # A widening of this duct is centred on it; a neighbour
                                # merging into its side shifts the lumen's middle.
                                "blob_shift_mm": float(abs(rows.centre_offset[blob_row]
                                                           - np.median(rows.centre_offset[lo: max(a, lo + 1)]))),
                                "upstream_width_mm": _nanpct(w_s[max(end_row - int(20.0 / step), 0):
                                                                 max(end_row - int(3.0 / step), 1)], 30)})


def _present(rows: LumenRows, m: int, centre: float, tol: float, o: np.ndarray) -> bool:
    near = np.abs(o - centre) <= tol
    return bool(rows.mask[m, near].any())


def _column_end(profile: DuctProfile, rows: LumenRows, tip_row: int) -> int:
    """Last row of the contrast column that reaches the tip (rows in ``rows.mask``)."""
    o = profile.offsets_mm
    step = profile.step_mm
    n = len(profile.s_mm)
    gap_max = max(int(0.5 / step), 1)

    def tol_at(m: int) -> float:
        w = rows.width[m]
        return max(0.6 * w, 0.6) if np.isfinite(w) else max(1.2 * profile.radius_hint_mm[m], 0.6)

    m = tip_row
    while m > 0 and not _present(rows, m, rows.centre_offset[m], tol_at(m), o):
        m -= 1
    last, centre, tol, gap = m, rows.centre_offset[m], tol_at(m), 0
    for k in range(m + 1, n):
        if _present(rows, k, centre, tol, o):
            last, gap = k, 0
            if np.isfinite(rows.width[k]):
                centre = 0.5 * (rows.left[k] + rows.right[k])
                tol = max(0.6 * rows.width[k], 0.6)
        else:
            gap += 1
            if gap > gap_max:
                break
    return int(last)


def _meniscus(profile: DuctProfile, rows: LumenRows, end_row: int, widths: np.ndarray, *,
              search_mm: float) -> dict:
    """Shape of the end of the contrast column across the duct.

    Where the column is widest near its end, follow each transverse position of the
    lumen distally until it stops: along the axis (centre) and along the walls (sides).
    A concave meniscus (an obstructing filling defect) stops on the axis first, the
    contrast reaching further along the walls; a blunt cut stops everywhere at once; a
    tapering or rounded end stops at the walls first.

    Returns
    -------
    dict
        ``concavity_mm`` (side reach minus axis reach; > 0 concave), ``end_lumen_width_mm``,
        ``meniscus_row`` (row between the axis and side ends), ``meniscus_offset_mm``,
        ``hollow_width_mm`` (dark core between the walls at that row).
    """
    step = profile.step_mm
    o = profile.offsets_mm
    nan = {"concavity_mm": float("nan"), "end_lumen_width_mm": float("nan"), "meniscus_row": int(end_row),
           "meniscus_offset_mm": 0.0, "hollow_width_mm": 0.0}
    lo = max(end_row - max(int(search_mm / step), 2), 0)
    seg = widths[lo: end_row + 1]
    if not np.isfinite(seg).any():
        return nan
    r0 = lo + int(np.nanargmax(seg))
    w = float(widths[r0])
    c = float(rows.centre_offset[r0])
    smooth = ndimage.gaussian_filter(np.nan_to_num(np.where(profile.own, profile.cpr, np.nan)), 0.7)
    bright = (smooth >= 0.4 * rows.level[r0]) & profile.own
    cols = np.flatnonzero(np.abs(o - c) <= 0.45 * w)
    if cols.size < 3:
        return dict(nan, end_lumen_width_mm=w)
    # Start where the lumen spans all those positions (before any hollow).
    start = r0
    for r in range(r0, max(r0 - int(3.0 / step), 0) - 1, -1):
        if bright[r, cols].all():
            start = r
            break
    reach = np.empty(cols.size)
    for k, j in enumerate(cols):
        col = bright[start:, j]
        stop = np.flatnonzero(~col)
        reach[k] = start + (stop[0] - 1 if stop.size else col.size - 1)
    rel = np.abs(o[cols] - c)
    axis = np.median(reach[rel <= max(0.1 * w, 1.5 * step)])
    left = reach[(o[cols] - c <= -0.25 * w)]
    right = reach[(o[cols] - c >= 0.25 * w)]
    if left.size == 0 or right.size == 0:
        return dict(nan, end_lumen_width_mm=w)
    sides = min(np.median(left), np.median(right))
    mid = int(round(0.5 * (axis + sides)))
    hollow = float(np.sum(~bright[min(mid, bright.shape[0] - 1), cols]) * step) if sides > axis else 0.0
    return {"concavity_mm": float((sides - axis) * step), "end_lumen_width_mm": w, "meniscus_row": mid,
            "meniscus_offset_mm": c, "hollow_width_mm": hollow}


def smooth_length_mm(points: np.ndarray, *, sigma_mm: float = 1.0) -> float:
    """Length of a polyline after Gaussian smoothing along it.

    Reconstructed centrelines zig-zag by a voxel or so; summed segment lengths then
    overstate a duct's length by tens of per cent.  Smoothing over ``sigma_mm`` removes
    that without shortening real bends.
    """
    from .tree import resample_polyline

    p = np.asarray(points, float)
    if len(p) < 2:
        return 0.0
    r, _ = resample_polyline(p, step_mm=0.25)
    if len(r) > 4:
        sm = ndimage.gaussian_filter1d(r, sigma_mm / 0.25, axis=0, mode="nearest")
        sm[0], sm[-1] = r[0], r[-1]
        r = sm
    return float(np.linalg.norm(np.diff(r, axis=0), axis=1).sum())


def tail_radius_mm(points: np.ndarray, radius: np.ndarray, *, skip_mm: float = 0.5, length_mm: float = 8.0
                   ) -> float:
    """Median radius over the last ``length_mm`` of a branch, its last ``skip_mm`` left out
    (a distance transform shrinks toward a lumen's end)."""
    p = np.asarray(points, float)
    r = np.asarray(radius, float)
    if len(p) == 0:
        return float("nan")
    s = arc_length(p)
    sel = (s >= s[-1] - length_mm) & (s <= s[-1] - skip_mm)
    if sel.sum() < 2:
        sel = s >= s[-1] - length_mm
    return float(np.median(r[sel]))


def effective_junction(tree: DuctTree, branch_id: int) -> tuple[int | None, int, float]:
    """The branch point a tip hangs from, skipping single-child links.

    Returns
    -------
    junction : int or None
        Branch whose end is the last true branch point (two or more children) above.
    first : int
        Child of that junction on the way to ``branch_id``.
    length_mm : float
        Centreline length from the junction to the tip.
    """
    b = tree.branches[branch_id]
    length = smooth_length_mm(b.points_mm)
    while b.parent is not None and len(tree.children(b.parent)) < 2:
        b = tree.branches[b.parent]
        length += smooth_length_mm(b.points_mm)
    return b.parent, b.id, float(length)


def _downstream_mm(tree: DuctTree, branch_id: int) -> float:
    """Longest centreline path from the start of ``branch_id`` to any tip below it."""
    best = 0.0
    stack = [(branch_id, 0.0)]
    while stack:
        bid, acc = stack.pop()
        acc += smooth_length_mm(tree.branches[bid].points_mm)
        kids = tree.children(bid)
        if not kids:
            best = max(best, acc)
        stack.extend((k, acc) for k in kids)
    return best


def premature_end(tree: DuctTree, branch_id: int) -> dict:
    """How early a tip stops compared with the ducts leaving the same branch point.

    Returns
    -------
    dict
        ``own_mm`` (junction to tip), ``sibling_mm`` (longest path from the junction down
        any other child) and ``ratio`` (own / sibling; NaN without a sibling).
    """
    junction, first, own = effective_junction(tree, branch_id)
    if junction is None:
        return {"own_mm": own, "sibling_mm": float("nan"), "ratio": float("nan")}
    sib = [_downstream_mm(tree, k) for k in tree.children(junction) if k != first]
    sib_mm = max(sib) if sib else float("nan")
    ratio = own / sib_mm if sib and sib_mm > 0 else float("nan")
    return {"own_mm": own, "sibling_mm": sib_mm, "ratio": ratio}
