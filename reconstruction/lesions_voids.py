"""Voids inside a contrast-filled duct: where the lumen's centre goes dark.

A papilloma or an air bubble displaces contrast from the middle of the lumen: in the
slice plane the duct shows a dark core with a bright rim (contrast wraps around it and
lies above and below it).  Along a duct's CPR (:mod:`reconstruction.lesions_profile`)
this is a run of rows whose *centre* contrast falls well below the local duct contrast
while the duct is present before (and, unless it obstructs, after) it.

Everything is measured relative to the duct itself: depth as a fraction of the local duct
contrast, sizes in mm in the slice plane, calibres relative to the same duct away from
the void.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .lesions_profile import OWN, DuctProfile, LumenRows

__all__ = ["VoidCandidate", "find_voids", "centre_dip"]


@dataclass
class VoidCandidate:
    """A dark core inside a duct's lumen, with the measurements that judge it.

    Attributes
    ----------
    branch : int
        Branch whose path it was found on.
    row : int
        Deepest CPR row; ``rows`` the first and last rows of the void.
    point_index : float
        Fractional index of ``row`` in the branch's own points.
    center_offset_mm : float
        Transverse offset of the void's centre in the CPR.
    depth : float
        ``1 - centre contrast / duct contrast`` at the deepest row (1: no contrast).
    length_mm, across_mm : float
        In-plane extent of the dark core along and across the duct.
    area_mm2 : float
        In-plane area of the dark core.
    lumen_width_mm : float
        Outer calibre of the lumen around the void (largest over its rows).
    enclosed : bool
        Contrast continues beyond the void (False: the column ends at it).
    bridged : bool
        The reconstruction bridged the centreline here.
    cnr : float
        Duct contrast over image noise at the void.
    measures : dict
        Reference calibres around the void (``proximal_near``, ``proximal_far``,
        ``distal_near``, ``distal_far``, mm) and shape measures (``roundness``,
        ``edge_sharpness``).
    """

    branch: int
    row: int
    rows: tuple[int, int]
    point_index: float
    center_offset_mm: float
    depth: float
    length_mm: float
    across_mm: float
    area_mm2: float
    lumen_width_mm: float
    enclosed: bool
    bridged: bool
    cnr: float
    measures: dict = field(default_factory=dict)

    @property
    def diameter_mm(self) -> float:
        """Largest in-plane extent of the dark core."""
        return float(max(self.length_mm, self.across_mm))


def _nanmedian(v: np.ndarray) -> float:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


def _nanpct(v: np.ndarray, q: float, *, min_count: int = 1) -> float:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    return float(np.percentile(v, q)) if v.size >= max(min_count, 1) else float("nan")


def _calibre(clean: np.ndarray, widths: np.ndarray, lo: int, hi: int, min_count: int) -> float:
    """25th percentile of the widths in rows ``lo:hi``: the rows whose edges were this
    lumen's own if there are enough of them, else all measured rows."""
    c = _nanpct(_window(clean, lo, hi), 25, min_count=min_count)
    return c if np.isfinite(c) else _nanpct(_window(widths, lo, hi), 25, min_count=min_count)


def _window(values: np.ndarray, lo: int, hi: int) -> np.ndarray:
    lo, hi = max(lo, 0), min(hi, len(values))
    return values[lo:hi] if hi > lo else values[:0]


def centre_dip(profile: DuctProfile, rows: LumenRows, *, window_mm: float = 2.0
               ) -> tuple[np.ndarray, np.ndarray]:
    """How much of the duct's contrast the lumen centre loses, row by row.

    The reference (the *shoulder*) is the duct itself on both sides: the lower of the
    brightest centre contrasts found before and after the row.  A bright structure
    crossing the duct on one side, or a wide bright segment next to a thin one, then
    cannot make the thin duct look like a void.

    Parameters
    ----------
    profile : DuctProfile
    rows : LumenRows
    window_mm : float
        Minimum length searched for each shoulder; it grows to 1.5 local calibres (a long
        papilloma still has its rim on both sides).

    Returns
    -------
    dip : (M,) ndarray
        ``1 - centre / shoulder`` (NaN where the centre is hidden).
    shoulder : (M,) ndarray
        Contrast of the lower shoulder.
    """
    step = profile.step_mm
    c = ndimage.gaussian_filter1d(np.nan_to_num(rows.centre, nan=0.0), max(0.25 / step, 0.5))
    c = np.where(np.isfinite(rows.centre), c, np.nan)
    w = np.where(np.isfinite(rows.width), rows.width, 2.0 * profile.radius_hint_mm)
    w_local = ndimage.maximum_filter1d(w, max(int(2.0 * window_mm / step), 1))
    # Window lengths in half-millimetre steps (a handful of distinct filters per path).
    win = np.round(np.clip(1.5 * w_local, window_mm, 12.0) * 2.0) / 2.0
    n = len(c)
    cf = np.where(np.isfinite(c), c, -np.inf)
    left = np.full(n, -np.inf)
    right = np.full(n, -np.inf)
    kk = np.maximum((win / step).astype(int), 2)
    for k in np.unique(kk):
        sel = kk == k
        # max over the k rows before / after each row
        mx = ndimage.maximum_filter1d(cf, k, mode="constant", cval=-np.inf, origin=(k - 1) // 2)
        before = np.concatenate([[-np.inf], mx[:-1]])
        mx2 = ndimage.maximum_filter1d(cf, k, mode="constant", cval=-np.inf, origin=-(k // 2))
        after = np.concatenate([mx2[1:], [-np.inf]])
        left[sel] = before[sel]
        right[sel] = after[sel]
    shoulder = np.fmin(left, right)
    one_sided = ~np.isfinite(shoulder)
    shoulder[one_sided] = np.fmax(left, right)[one_sided]
    shoulder = np.where(np.isfinite(shoulder), shoulder, 0.0)
    shoulder = np.maximum(shoulder, 3.0 * profile.noise)
    return 1.0 - c / shoulder, shoulder


def find_voids(profile: DuctProfile, rows: LumenRows, *, min_void_mm: float = 0.8,
               core_depth: float = 0.5, extent_depth: float = 0.3, context_mm: float = 3.0,
               shoulder_mm: float = 2.0, last_row: int | None = None,
               parts: tuple[int, ...] = (OWN,)) -> list[VoidCandidate]:
    """Dark cores in the lumen along one duct path.

    Parameters
    ----------
    profile : DuctProfile
    rows : LumenRows
    min_void_mm : float
        Smallest in-plane extent reported (smaller dark spots are noise at DBT resolution).
    core_depth : float
        A void's deepest row must lose at least this share of the duct contrast.
    extent_depth : float
        Rows losing at least this share belong to the void (hysteresis).
    context_mm : float
        Length of duct before and after the void that must carry contrast (before: always;
        after: for ``enclosed``).
    shoulder_mm : float
        Minimum length of duct on each side over which the void's shoulders are sought
        (it grows to 1.5 local calibres for wide ducts).
    last_row : int, optional
        Last row of the contrast column (at a tip): nothing past it is a void, it is the
        end of the column.
    parts : tuple of int
        Path parts whose rows may hold a void's deepest row (``OWN``; at a tip also
        ``BEYOND``, where an obstruction's meniscus lies past the reconstructed tip).

    Returns
    -------
    list of VoidCandidate
        Only voids whose deepest row lies on the branch itself (not on its context).
    """
    step = profile.step_mm
    o = profile.offsets_mm
    dip, shoulder = centre_dip(profile, rows, window_mm=shoulder_mm)
    rel = rows.centre / np.maximum(shoulder, 1e-9)
    known = np.isfinite(dip)
    if last_row is not None:
        known[last_row + 1:] = False
    ext = known & (dip >= extent_depth)
    lab, n = ndimage.label(ext)
    out: list[VoidCandidate] = []
    # Noise of the centre contrast itself (row to row), for the significance of a dip.
    cen = rows.centre[np.isfinite(rows.centre)]
    sigma_c = float(1.4826 * np.median(np.abs(np.diff(cen))) / np.sqrt(2.0)) if cen.size > 3 else profile.noise
    sigma_c = max(sigma_c, 1e-9)
    n_ctx = max(int(context_mm / step), 2)
    n_near = max(int(0.5 / step), 1)
    smooth = ndimage.gaussian_filter(np.nan_to_num(np.where(profile.own, profile.cpr, np.nan)), 0.7)
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        a, b = sl[0].start, sl[0].stop - 1
        seg = np.where(lab[a: b + 1] == k, dip[a: b + 1], -np.inf)
        m = a + int(np.argmax(seg))
        if dip[m] < core_depth or profile.part[m] not in parts:
            continue
        # Contrast before the void (the column reaches it) ...
        before = _window(rel, a - n_ctx, a)
        if not (before.size and np.isfinite(before).any() and np.nanmax(before) >= 0.6):
            continue
        after = _window(rel, b + 1, b + 1 + n_ctx)
        enclosed = bool(after.size and np.isfinite(after).any() and np.nanmax(after) >= 0.6)
        # ... and the 2D dark core, inside the lumen's edges.
        level = rows.level
        lo_edge = np.where(np.isfinite(rows.left), rows.left, rows.centre_offset - profile.radius_hint_mm)
        hi_edge = np.where(np.isfinite(rows.right), rows.right, rows.centre_offset + profile.radius_hint_mm)
        inside = (o[None, :] > lo_edge[:, None]) & (o[None, :] < hi_edge[:, None])
        # Its boundary sits at half the dip (the void's full width at half depth).
        half_level = shoulder[m] * (1.0 - 0.5 * dip[m])
        darkpix = inside & (smooth < half_level) & profile.own
        span = slice(max(a - n_near, 0), min(b + n_near + 1, len(dip)))
        sub = np.zeros_like(darkpix)
        sub[span] = darkpix[span]
        if last_row is not None:
            sub[last_row + 1:] = False
        dl, _ = ndimage.label(sub)
        jc = int(np.argmin(np.abs(o - rows.centre_offset[m])))
        seed = dl[m, max(jc - 2, 0): jc + 3]
        seed = seed[seed > 0]
        if seed.size:
            core = dl == np.bincount(seed).argmax()
            rr, cc = np.nonzero(core)
            length = (rr.max() - rr.min() + 1) * step
            across = float(np.max([(c.max() - c.min() + 1) * step
                                   for c in np.split(cc, np.flatnonzero(np.diff(rr)) + 1)]))
            area = core.sum() * step * step
            off = float(o[cc].mean())
            # How far the core stays from the tree's centreline (0: it lies across it).
            axis_gap = float(np.min(np.abs(o[cc])))
        else:
            core = None
            length = float(np.sum(dip[a: b + 1] >= core_depth) * step)
            across = 0.0
            area = 0.0
            off = float(rows.centre_offset[m])
            axis_gap = abs(off)
        if max(length, across) < min_void_mm:
            continue
        # A void lies *inside* the duct: the contrast column runs into it and (unless it
        # obstructs) on out of it at the same transverse position.  The dark wedge between
        # two diverging ducts at a branch point, or the gap beside a crossing, fails this.
        c_void = rows.centre[m] if np.isfinite(rows.centre[m]) else 0.0
        bright_thr = c_void + 0.6 * (shoulder[m] - c_void)
        sides = _enclosure(smooth, profile.own, core, bright_thr, step=step,
                           reach_mm=1.5 + 0.5 * max(length, across)) if core is not None else {}
        if core is not None and not (sides["before"] and (sides["after"] or not enclosed)):
            continue
        # Ring sign: a void keeps a brighter rim on both sides of its dark core; a duct
        # that merely fades (leaves the slice, thins out) dims across its whole width.
        ring = _ring(smooth[m], o, rows, m, dark_half=0.5 * max(across, 2 * step))
        widths = rows.width
        lumen = _window(widths, a, b + 1)
        n4, n10 = int(4.0 / step), int(10.0 / step)
        n2, n8 = int(2.0 / step), int(8.0 / step)
        n1, n12 = max(int(1.0 / step), 1), int(12.0 / step)
        clean = np.where(rows.touching, np.nan, widths)
        measures = {
            "proximal_near": _nanmedian(_window(widths, a - n_ctx, a - n_near)),
            "proximal_far": _nanmedian(_window(widths, a - n10, a - n4)),
            "distal_near": _nanmedian(_window(widths, b + 1 + n_near, b + 1 + n_ctx)),
            "distal_far": _nanmedian(_window(widths, b + 1 + n4, b + 1 + n10)),
            # The duct a little way off (beyond the lumen's own widening round the void).
            "proximal_mid": _nanmedian(_window(widths, a - n8, a - n2)),
            "distal_mid": _nanmedian(_window(widths, b + 1 + n2, b + 1 + n8)),
            # The duct's own calibre on each side: a low percentile over 12 mm, so the
            # lumen's widening round the void (and any dilation before it) is passed over.
            "proximal_calibre": _calibre(clean, widths, a - n12, a - n1, n2),
            "distal_calibre": _calibre(clean, widths, b + 1 + n1, b + 1 + n12, n2),
            "ring": ring / shoulder[m],
            "axis_gap_mm": axis_gap,
            # Where the lumen's middle sits at the void, against the duct's axis just
            # before and after it, in lumen half-widths (0: the duct widens evenly round
            # the void; a gap beside the duct, next to another one, pulls it sideways).
            "asymmetry": _asymmetry(rows, a, b, n_ctx),
            "radius_hint_mm": float(profile.radius_hint_mm[m]),
            # How much the background itself changes across the void (a skin line or the
            # nipple's edge crossing the duct fakes a dip; a void sits on a steady one).
            "background_step": float(np.ptp(_window(profile.background, a - n_near, b + 1 + n_near))
                                     / max(shoulder[m], 1e-9)),
            "significance": (shoulder[m] - rows.centre[m]) / sigma_c if np.isfinite(rows.centre[m]) else 0.0,
            "roundness": _roundness(core, step) if core is not None else float("nan"),
            "edge_sharpness": _edge_sharpness(smooth, level, core, step) if core is not None else float("nan"),
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lumen_w = float(np.nanmax(lumen)) if np.isfinite(lumen).any() else float("nan")
        out.append(VoidCandidate(
            branch=profile.branch, row=m, rows=(a, b), point_index=float(profile.point_index[m]),
            center_offset_mm=off, depth=float(dip[m]), length_mm=float(length), across_mm=float(across),
            area_mm2=float(area), lumen_width_mm=lumen_w, enclosed=enclosed,
            bridged=bool(profile.bridged[a: b + 1].any()), cnr=float(shoulder[m] / profile.noise),
            measures=measures))
    return out


def _enclosure(smooth: np.ndarray, own: np.ndarray, core: np.ndarray, threshold: float, *,
               step: float, reach_mm: float) -> dict[str, bool]:
    """Whether lumen-bright pixels bound the core before, after, left and right of it."""
    rr, cc = np.nonzero(core)
    r_mid, c_mid = int(round(rr.mean())), int(round(cc.mean()))
    reach = max(int(reach_mm / step), 2)
    m_rows, k_cols = smooth.shape
    bright = (smooth >= threshold) & own

    def hit(rows: np.ndarray, cols: np.ndarray) -> bool:
        ok = (rows >= 0) & (rows < m_rows) & (cols >= 0) & (cols < k_cols)
        return bool(bright[rows[ok], cols[ok]].any())

    cols = np.arange(max(c_mid - 1, 0), min(c_mid + 2, k_cols))
    rows = np.arange(max(r_mid - 1, 0), min(r_mid + 2, m_rows))
    first = rr[np.isin(cc, cols)].min() if np.isin(cc, cols).any() else rr.min()
    last = rr[np.isin(cc, cols)].max() if np.isin(cc, cols).any() else rr.max()
    lo = cc[np.isin(rr, rows)].min() if np.isin(rr, rows).any() else cc.min()
    hi = cc[np.isin(rr, rows)].max() if np.isin(rr, rows).any() else cc.max()
    k = np.arange(1, reach + 1)
    return {
        "before": hit(np.repeat(first - k, len(cols)), np.tile(cols, reach)),
        "after": hit(np.repeat(last + k, len(cols)), np.tile(cols, reach)),
        "left": hit(np.tile(rows, reach), np.repeat(lo - k, len(rows))),
        "right": hit(np.tile(rows, reach), np.repeat(hi + k, len(rows))),
    }


def _ring(row: np.ndarray, o: np.ndarray, rows: LumenRows, m: int, *, dark_half: float) -> float:
    """Contrast of the dimmer side of the rim above the centre (0 when there is no rim)."""
    c = rows.centre_offset[m]
    lo = rows.left[m] if np.isfinite(rows.left[m]) else c - 3 * dark_half
    hi = rows.right[m] if np.isfinite(rows.right[m]) else c + 3 * dark_half
    centre = rows.centre[m]
    if not np.isfinite(centre):
        return 0.0
    side_l = row[(o >= lo) & (o <= c - 0.5 * dark_half)]
    side_r = row[(o <= hi) & (o >= c + 0.5 * dark_half)]
    if side_l.size == 0 or side_r.size == 0:
        return 0.0
    return float(max(min(side_l.max(), side_r.max()) - centre, 0.0))


def _asymmetry(rows: LumenRows, a: int, b: int, n_ctx: int) -> float:
    mid = 0.5 * (rows.left + rows.right)
    half = 0.5 * rows.width
    at = _nanmedian(mid[a: b + 1])
    around = _nanmedian(np.concatenate([_window(mid, a - n_ctx, a), _window(mid, b + 1, b + 1 + n_ctx)]))
    h = _nanmedian(half[a: b + 1])
    if not (np.isfinite(at) and np.isfinite(around) and np.isfinite(h) and h > 0):
        return float("nan")
    return float(abs(at - around) / h)


def _roundness(core: np.ndarray, step: float) -> float:
    """Area over the area of the circle of the core's largest extent (1: a disc)."""
    rr, cc = np.nonzero(core)
    if rr.size < 3:
        return float("nan")
    pts = np.stack([rr, cc], axis=1) * step
    d = pts - pts.mean(axis=0)
    ev = np.linalg.eigvalsh(np.cov(d.T)) if len(d) > 2 else np.array([1.0, 1.0])
    ev = np.maximum(ev, 1e-12)
    # Ratio of the principal axes: 1 for a disc, lower for an elongated or lobulated core.
    return float(np.sqrt(ev[0] / ev[1]))


def _edge_sharpness(smooth: np.ndarray, level: np.ndarray, core: np.ndarray, step: float) -> float:
    """Mean contrast gradient across the core's boundary, in duct contrasts per mm."""
    gy, gx = np.gradient(smooth, step)
    g = np.hypot(gy, gx) / np.maximum(level[:, None], 1e-9)
    ring = ndimage.binary_dilation(core, iterations=2) & ~ndimage.binary_erosion(core, iterations=1)
    return float(np.mean(g[ring])) if ring.any() else float("nan")
