"""Sampling the image along a duct: a straightened, in-plane view of the lumen.

DBT resolves a duct well in the slice plane (0.1-0.15 mm) and poorly across slices
(several mm of blur), so every shape measurement here is made *in the plane of the
slices*.  Along a centreline we build a curved planar reformation (CPR): row ``m`` is the
transverse intensity profile at arc length ``s[m]``, sampled along the in-plane normal of
the duct at the slice depth where the duct is best in focus.  Widths, voids and ends are
then read from the CPR relative to the *local* background and the *local* duct contrast,
never from absolute intensities.

Coordinates: "array mm" are numpy ``(z, y, x)`` indices times ``frame.spacing_zyx``; the
frame's direction is orthonormal, so distances there are physical millimetres, and the
in-plane (y, x) axes are the slice plane whatever the view (CC, MLO, ...).

Notation
--------
M : samples along the path (rows of the CPR), every ``step_mm``.
K : transverse samples (columns), offsets ``-half_span_mm .. +half_span_mm``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.spatial import cKDTree

from .frame import ImageFrame
from .segment import robust_sigma
from .tree import DuctTree

__all__ = ["DuctPath", "DuctProfile", "LumenRows", "duct_path", "profile_path", "lumen_rows", "refine_background",
           "running_percentile"]

#: Labels of the parts of a :class:`DuctPath`.
PARENT, OWN, CHILD, BEYOND = -1, 0, 1, 2


@contextlib.contextmanager
def _quiet():
    """All-NaN rows are expected (a crossing duct hides a row): no warnings for them."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def running_percentile(values: npt.ArrayLike, *, window: int, q: float) -> np.ndarray:
    """Percentile ``q`` of ``values`` over a centred window of ``window`` samples.

    NaNs are first filled from their nearest valid neighbours (they carry no weight of
    their own); an all-NaN input is returned unchanged.

    Examples
    --------
    >>> running_percentile([0, 0, 5, 0, 0], window=3, q=50).tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0]
    """
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v)
    if v.size == 0 or not ok.any():
        return v.copy()
    if not ok.all():
        idx = np.arange(v.size)
        v = np.interp(idx, idx[ok], v[ok])
    return ndimage.percentile_filter(v, q, size=max(int(window), 1), mode="nearest")


@dataclass
class DuctPath:
    """A branch's centreline extended by context: its parent's end, its main child, and a
    straight run beyond a tip (where an obstruction, a cut-off or a cyst shows).

    Attributes
    ----------
    branch : int
    points_mm : (N, 3) ndarray
        Physical mm, root end first.
    radius_mm : (N,) ndarray
    part : (N,) int ndarray
        -1 parent, 0 the branch itself, 1 its continuation child, 2 extrapolated beyond a tip.
    bridged : (N,) bool ndarray
        Points the reconstruction bridged across an interrupted lumen.
    point_index : (N,) ndarray
        Index of each point in its own branch (-1 outside the branch).
    """

    branch: int
    points_mm: np.ndarray
    radius_mm: np.ndarray
    part: np.ndarray
    bridged: np.ndarray
    point_index: np.ndarray


def _main_child(tree: DuctTree, branch_id: int) -> int | None:
    """The child that continues the duct: the most aligned with the branch's end direction."""
    kids = tree.children(branch_id)
    b = tree.branches[branch_id]
    if not kids or len(b.points_mm) < 2:
        return None
    d_end = _end_direction(b.points_mm, length_mm=3.0)
    best, best_cos = None, -2.0
    for k in kids:
        c = tree.branches[k].points_mm
        if len(c) < 2:
            continue
        d = _end_direction(c[::-1], length_mm=3.0) * -1.0  # start direction of the child
        cos = float(np.dot(d, d_end))
        if cos > best_cos:
            best, best_cos = k, cos
    return best


def _end_direction(points: np.ndarray, *, length_mm: float) -> np.ndarray:
    """Unit direction of the last ``length_mm`` of a polyline (pointing out of its end)."""
    p = np.asarray(points, float)
    seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    j = int(np.searchsorted(s, s[-1] - length_mm, side="right")) - 1
    j = min(max(j, 0), len(p) - 2)
    v = p[-1] - p[j]
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else np.array([1.0, 0.0, 0.0])


def _cut_by_length(points: np.ndarray, length_mm: float, *, from_end: bool) -> slice:
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    if from_end:
        s = np.concatenate([[0.0], np.cumsum(seg[::-1])])
        k = int(np.searchsorted(s, length_mm)) + 1
        return slice(max(len(points) - k, 0), len(points))
    s = np.concatenate([[0.0], np.cumsum(seg)])
    k = int(np.searchsorted(s, length_mm)) + 1
    return slice(0, min(k, len(points)))


def duct_path(tree: DuctTree, branch_id: int, *, context_mm: float, beyond_mm: float) -> DuctPath:
    """The centreline of ``branch_id`` with ``context_mm`` of parent before it, and either
    ``context_mm`` of its main child after it or, at a tip, ``beyond_mm`` straight on.

    Parameters
    ----------
    tree : DuctTree
    branch_id : int
    context_mm : float
        Length of parent and child centreline to add (so that a lesion near a branch
        point still has duct on both sides).
    beyond_mm : float
        Straight extrapolation past a tip along its end direction (0 to skip).

    Returns
    -------
    DuctPath
    """
    b = tree.branches[branch_id]
    pts, rad, part, brd, pidx = [], [], [], [], []
    own_bridged = b.bridged_mask
    if b.parent is not None and context_mm > 0:
        pb = tree.branches[b.parent]
        sl = _cut_by_length(pb.points_mm, context_mm, from_end=True)
        # The parent's last point is the branch's first: skip it.
        p_pts, p_rad = pb.points_mm[sl][:-1], pb.radius_mm[sl][:-1]
        pts.append(p_pts), rad.append(p_rad), part.append(np.full(len(p_pts), PARENT))
        brd.append(np.zeros(len(p_pts), bool)), pidx.append(np.full(len(p_pts), -1))
    pts.append(b.points_mm), rad.append(b.radius_mm), part.append(np.full(len(b.points_mm), OWN))
    brd.append(own_bridged), pidx.append(np.arange(len(b.points_mm)))
    child = _main_child(tree, branch_id) if context_mm > 0 else None
    if child is not None:
        cb = tree.branches[child]
        sl = _cut_by_length(cb.points_mm, context_mm, from_end=False)
        c_pts, c_rad = cb.points_mm[sl][1:], cb.radius_mm[sl][1:]
        pts.append(c_pts), rad.append(c_rad), part.append(np.full(len(c_pts), CHILD))
        brd.append(np.zeros(len(c_pts), bool)), pidx.append(np.full(len(c_pts), -1))
    elif tree.is_tip(branch_id) and beyond_mm > 0 and len(b.points_mm) >= 2:
        d = _end_direction(b.points_mm, length_mm=max(2.0, 2.0 * float(b.radius_mm[-1])))
        n = max(int(np.ceil(beyond_mm / 0.25)), 1)
        ext = b.points_mm[-1] + np.outer(np.linspace(beyond_mm / n, beyond_mm, n), d)
        pts.append(ext), rad.append(np.full(n, b.radius_mm[-1])), part.append(np.full(n, BEYOND))
        brd.append(np.zeros(n, bool)), pidx.append(np.full(n, -1))
    return DuctPath(branch=branch_id, points_mm=np.concatenate(pts), radius_mm=np.concatenate(rad),
                    part=np.concatenate(part), bridged=np.concatenate(brd),
                    point_index=np.concatenate(pidx).astype(float))


@dataclass
class DuctProfile:
    """The CPR of one :class:`DuctPath` and what is read from it directly.

    Attributes
    ----------
    branch : int
    s_mm : (M,) ndarray
        Arc length from the path's first point.
    q : (M, 3) ndarray
        Sample positions in array mm (z refined to the plane of best focus).
    normal_yx : (M, 2) ndarray
        In-plane unit normal (y, x) along which the row was sampled.
    inplane : (M,) ndarray
        In-plane share of the tangent (1: the duct lies in the slice; 0: it runs along z,
        where in-plane widths mean little).
    offsets_mm : (K,) ndarray
    cpr : (M, K) ndarray
        Intensity minus the local background.
    own : (M, K) bool ndarray
        False where a pixel lies nearer another branch of the tree than this path.
    background : (M,) ndarray
    noise : float
        Robust sigma of the background pixels (the image's noise and texture).
    radius_hint_mm : (M,) ndarray
        The tree's radius, interpolated.
    part, bridged, point_index : (M,) ndarrays
        Interpolated from the :class:`DuctPath` (``point_index`` is fractional).
    """

    branch: int
    s_mm: np.ndarray
    q: np.ndarray
    normal_yx: np.ndarray
    inplane: np.ndarray
    offsets_mm: np.ndarray
    cpr: np.ndarray
    own: np.ndarray
    background: np.ndarray
    noise: float
    radius_hint_mm: np.ndarray
    part: np.ndarray
    bridged: np.ndarray
    point_index: np.ndarray

    @property
    def step_mm(self) -> float:
        return float(self.s_mm[1] - self.s_mm[0]) if len(self.s_mm) > 1 else 1.0

    def samples(self, length_mm: float) -> int:
        """Number of rows spanning ``length_mm`` (at least 1)."""
        return max(int(round(length_mm / self.step_mm)), 1)

    def physical(self, frame: ImageFrame, rows: npt.ArrayLike, offsets_mm: npt.ArrayLike | None = None
                 ) -> np.ndarray:
        """Physical mm of CPR positions (fractional rows, transverse offsets in mm)."""
        rows = np.atleast_1d(np.asarray(rows, float))
        m = np.arange(len(self.s_mm))
        q = np.stack([np.interp(rows, m, self.q[:, k]) for k in range(3)], axis=-1)
        if offsets_mm is not None:
            o = np.atleast_1d(np.asarray(offsets_mm, float))
            ny = np.interp(rows, m, self.normal_yx[:, 0])
            nx = np.interp(rows, m, self.normal_yx[:, 1])
            q = q + np.stack([np.zeros_like(o), o * ny, o * nx], axis=-1)
        return frame.array_mm_to_physical(q)


def _smooth_polyline(q: np.ndarray, s: np.ndarray, sigma_mm: float) -> np.ndarray:
    """Gaussian smoothing of a resampled polyline, ends kept in place (reflect + pin)."""
    if len(q) < 3 or sigma_mm <= 0:
        return q
    step = max(float(s[1] - s[0]), 1e-6)
    out = ndimage.gaussian_filter1d(q, sigma_mm / step, axis=0, mode="nearest")
    # Pin the ends: a tip must stay where the tree says it is.
    w = np.clip(np.minimum(s - s[0], s[-1] - s) / (2 * sigma_mm), 0, 1)[:, None]
    return w * out + (1 - w) * q


def profile_path(array: np.ndarray, frame: ImageFrame, path: DuctPath, *, step_mm: float,
                 half_span_mm: float, z_search_mm: float, smooth_mm: float = 0.8,
                 other_points_q: np.ndarray | None = None, other_branch: np.ndarray | None = None,
                 other_radius: np.ndarray | None = None, path_branches: set[int] | None = None,
                 background_window_mm: float = 2.0, z_weight: float = 0.35, focus_mm: float = 2.5,
                 other_kdtree=None) -> DuctProfile:
    """Straightened in-plane view of a duct path.

    Parameters
    ----------
    array : (nz, ny, nx) ndarray
        The volume's voxels.
    frame : ImageFrame
    path : DuctPath
    step_mm : float
        Sample spacing along and across the duct (about the in-plane voxel size).
    half_span_mm : float
        Transverse half-width of the CPR.
    z_search_mm : float
        Each point may move this far along z to the depth where the duct is brightest
        (reconstructed centrelines carry several mm of z uncertainty).
    smooth_mm : float
        Gaussian smoothing of the centreline (reconstruction jitter).
    other_points_q, other_branch, other_radius : ndarray, optional
        Array-mm centreline samples of the whole tree, their branch ids and radii: pixels
        inside (or just beside) another branch's lumen, and nearer its surface than this
        path's, are marked not ``own`` (distances weigh z by ``z_weight``).
    path_branches : set of int, optional
        Branch ids that make up this path (never "other").
    background_window_mm : float
        Length of the running median that gives the background along the duct (short:
        the background changes abruptly where the duct crosses the skin or the nipple).
    z_weight : float
        Weight of z separations when deciding which duct a pixel belongs to (DBT blurs a
        duct over several mm of z, so one a little above or below still shows).
    focus_mm : float
        Beside the lumen and past a tip, bright pixels that are brighter this far above or
        below are out-of-focus blur of something else and are set aside (0 to keep all).
    other_kdtree : scipy.spatial.cKDTree, optional
        Prebuilt tree of ``other_points_q`` scaled by ``(z_weight, 1, 1)`` (build it once
        per volume when profiling many branches).

    Returns
    -------
    DuctProfile
    """
    spacing = np.asarray(frame.spacing_zyx)
    q0 = frame.physical_to_array_mm(path.points_mm)
    seg = np.linalg.norm(np.diff(q0, axis=0), axis=1)
    s0 = np.concatenate([[0.0], np.cumsum(seg)])
    total = float(s0[-1])
    n = max(int(np.ceil(total / step_mm)), 1)
    s = np.linspace(0.0, total, n + 1)
    q = np.stack([np.interp(s, s0, q0[:, k]) for k in range(3)], axis=1)
    q = _smooth_polyline(q, s, smooth_mm)
    interp = lambda v: np.interp(s, s0, np.asarray(v, float))  # noqa: E731
    radius = interp(path.radius_mm)
    part = path.part[np.clip(np.searchsorted(s0, s, side="right") - 1, 0, len(s0) - 1)].astype(int)
    bridged = interp(path.bridged.astype(float)) > 0.5
    pidx = interp(path.point_index)

    # Tangents and in-plane normals.
    t = np.gradient(q, axis=0) if len(q) > 1 else np.array([[0.0, 0.0, 1.0]])
    t = ndimage.gaussian_filter1d(t, max(0.5 / step_mm, 1.0), axis=0, mode="nearest") if len(t) > 2 else t
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)
    txy = t[:, 1:]
    inplane = np.linalg.norm(txy, axis=1)
    safe = np.where(inplane[:, None] > 1e-3, txy / np.maximum(inplane[:, None], 1e-9), [[1.0, 0.0]])
    normal = np.stack([-safe[:, 1], safe[:, 0]], axis=1)

    # Plane of best focus: the z offset that maximises the (along-duct smoothed) centre
    # intensity, then smoothed again so that a void cannot pull the path off its duct.
    if z_search_mm > 0 and array.shape[0] > 1:
        dz = np.arange(-z_search_mm, z_search_mm + 1e-9, min(0.5, spacing[0] / 2))
        stack = np.stack([_sample(array, spacing, q + [d, 0.0, 0.0]) for d in dz])
        stack = ndimage.gaussian_filter1d(stack, max(1.0 / step_mm, 1.0), axis=1, mode="nearest")
        # Prefer small moves: a mild penalty keeps a flat profile where it was.
        score = stack - 0.02 * np.abs(dz)[:, None] * (np.nanstd(stack) + 1e-6)
        best = dz[np.argmax(score, axis=0)]
        # Past a tip there is no duct to focus on: keep the tip's depth (the straight
        # extension would otherwise wander to whatever is brightest above or below).
        beyond = part == BEYOND
        if beyond.any() and (~beyond).any():
            best[beyond] = best[np.flatnonzero(~beyond)[-1]]
        best = ndimage.median_filter(best, size=max(int(3.0 / step_mm) | 1, 3), mode="nearest")
        best = ndimage.gaussian_filter1d(best, max(1.0 / step_mm, 1.0), mode="nearest")
        q = q.copy()
        q[:, 0] += best
    zmax = (array.shape[0] - 1) * spacing[0]
    q[:, 0] = np.clip(q[:, 0], 0.0, zmax)

    offsets = np.arange(-half_span_mm, half_span_mm + 1e-9, step_mm)
    grid = q[:, None, :] + offsets[None, :, None] * np.concatenate(
        [np.zeros((len(q), 1)), normal], axis=1)[:, None, :]
    raw = _sample(array, spacing, grid.reshape(-1, 3)).reshape(len(q), len(offsets))
    inside = np.all((grid >= -0.5 * spacing) & (grid <= (np.asarray(array.shape) - 0.5) * spacing), axis=-1)

    own = inside.copy()
    if other_points_q is not None and len(other_points_q):
        # Distances count z at about a third: a duct a few mm above or below still
        # shows (blurred) in this slice, one far away in z does not.
        zw = np.array([z_weight, 1.0, 1.0])
        kd = other_kdtree if other_kdtree is not None else cKDTree(other_points_q * zw)
        r_other = np.zeros(len(other_points_q)) if other_radius is None else np.asarray(other_radius, float)
        # Nearest few centreline samples; a pixel is foreign when it lies in another
        # duct's lumen and that lumen's surface is nearer than this duct's.
        reach = 1.5 * float(r_other.max(initial=0.0)) + 0.5
        # Ownership is decided on every other row and column (0.3 mm is plenty for
        # where one lumen ends and the next begins) and spread back to the full grid.
        sub = grid[::2, ::2]
        d_other, i_other = kd.query((sub * zw).reshape(-1, 3), k=4, distance_upper_bound=reach)
        hit = np.isfinite(d_other)
        i_other = np.where(hit, i_other, 0)
        members = np.zeros(int(other_branch.max(initial=0)) + 2, bool)
        members[[b for b in (path_branches or {path.branch}) if 0 <= b < len(members)]] = True
        foreign = hit & ~members[other_branch[i_other]]
        # Only pixels in or right next to another lumen are claimed: the rest of the
        # plane stays this duct's, however wide it turns out to be (a pool, a dilation).
        near_other = foreign & (d_other <= 1.5 * r_other[i_other] + 0.5)
        surf_other = np.where(near_other, d_other - r_other[i_other], np.inf).min(axis=1)
        surf_own = (np.abs(offsets[::2])[None, :] - radius[::2, None]).ravel()
        claimed = (surf_other < surf_own - 0.1).reshape(sub.shape[:2])
        claimed = np.repeat(np.repeat(claimed, 2, axis=0), 2, axis=1)[: own.shape[0], : own.shape[1]]
        own &= ~claimed

    # Background: pixels well clear of the lumen (and of other ducts), running median.
    clear = np.abs(offsets)[None, :] >= (1.6 * radius[:, None] + 1.0)
    bg_pix = np.where(clear & own, raw, np.nan)
    with _quiet():
        row_bg = np.nanmedian(bg_pix, axis=1)
    if np.all(~np.isfinite(row_bg)):
        row_bg = np.full(len(q), np.nanmedian(raw))
    row_bg = np.where(np.isfinite(row_bg), row_bg, np.nanmedian(row_bg))
    background = running_percentile(row_bg, window=max(int(background_window_mm / step_mm), 1), q=50)
    cpr = raw - background[:, None]
    noise = _pixel_noise(raw, clear & own)

    # In focus or not: beside the duct (and anywhere past a tip) a bright structure that
    # is brighter a few mm above or below is another structure's out-of-focus blur (a
    # duct at another depth, the skin), not this lumen; it is set aside like another
    # duct.  The lumen itself, and any void in it, is left alone.
    if focus_mm > 0 and array.shape[0] > 1:
        # Past a tip the duct's own lumen (a meniscus, a pool) may go on for a few radii:
        # only beyond that is everything off the axis fair game.
        beyond = part == BEYOND
        far = beyond & (s - (s[~beyond][-1] if (~beyond).any() else 0.0) > 2.0 * radius + 2.0)
        outside = (np.abs(offsets)[None, :] > radius[:, None] + 0.3) | far[:, None]
        dz = np.array([focus_mm, 0.0, 0.0])
        g = grid[outside]
        other_depth = np.maximum(_sample(array, spacing, g + dz), _sample(array, spacing, g - dz))
        at = raw[outside]
        above = at - np.broadcast_to(background[:, None], raw.shape)[outside]
        # Clearly brighter elsewhere: by more than the noise and than a fifth of its own
        # contrast (a thick pool centred here is nearly as bright 2-3 mm off).
        blurred = (other_depth - at > np.maximum(2.0 * noise, 0.2 * above)) & (above > 2.0 * noise)
        own[outside] &= ~blurred
    return DuctProfile(branch=path.branch, s_mm=s, q=q, normal_yx=normal, inplane=inplane,
                       offsets_mm=offsets, cpr=cpr, own=own, background=background, noise=max(noise, 1e-6),
                       radius_hint_mm=radius, part=part, bridged=bridged, point_index=pidx)


def _pixel_noise(raw: np.ndarray, where: np.ndarray) -> float:
    """Image noise from neighbouring background pixels (their difference / sqrt 2).

    Differences of neighbours cancel the smooth tissue texture, so this is the noise a
    lumen has to stand out from, whatever the parenchyma around it.
    """
    pair = where[:, 1:] & where[:, :-1]
    d = np.diff(raw, axis=1)[pair]
    if d.size < 10:
        d = np.diff(raw, axis=1).ravel()
    return max(robust_sigma(d) / np.sqrt(2.0), 1e-6)


def _sample(array: np.ndarray, spacing: np.ndarray, q: np.ndarray) -> np.ndarray:
    idx = (np.asarray(q, float) / spacing).T
    return ndimage.map_coordinates(array, idx, order=1, mode="nearest")


@dataclass
class LumenRows:
    """Per-row lumen measurements of a :class:`DuctProfile` (all lengths in mm).

    Attributes
    ----------
    level : (M,) ndarray
        Local duct contrast: an upper percentile of the rows' peak contrast over a window a
        few duct widths long (a void or a short gap does not pull it down).
    mask : (M, K) bool ndarray
        Lumen in the CPR: contrast above ``edge_fraction * level``, holes filled (a void
        enclosed by contrast is part of the lumen).
    left, right : (M,) ndarray
        Outer lumen edges (transverse offsets, sub-pixel), NaN where no lumen.
    width : (M,) ndarray
        ``right - left``: the in-plane calibre, NaN where no lumen.
    centre_offset : (M,) ndarray
        Mid-point of the edges, smoothed along the duct (0 where unknown).
    centre : (M,) ndarray
        Contrast above background at the lumen centre (mean over a few pixels); NaN where
        the centre is hidden by a crossing duct.
    touching : (M,) bool ndarray
        The lumen's run ends against another duct (or out-of-focus blur) rather than
        falling off on its own: its width there is a lower bound.
    """

    level: np.ndarray
    mask: np.ndarray
    left: np.ndarray
    right: np.ndarray
    width: np.ndarray
    centre_offset: np.ndarray
    centre: np.ndarray
    touching: np.ndarray


def _fill_short_gaps(v: np.ndarray, *, max_gap: int) -> np.ndarray:
    """Linear interpolation over runs of at most ``max_gap`` NaNs (longer runs stay NaN)."""
    v = np.asarray(v, float).copy()
    bad = ~np.isfinite(v)
    if not bad.any() or bad.all():
        return v
    lab, n = ndimage.label(bad)
    good = np.flatnonzero(~bad)
    filled = np.interp(np.arange(len(v)), good, v[good])
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        run = sl[0]
        inner = run.start > 0 and run.stop < len(v)
        if inner and (run.stop - run.start) <= max_gap:
            v[run] = filled[run]
    return v


def lumen_rows(profile: DuctProfile, *, edge_fraction: float = 0.4, level_window_mm: float = 3.0,
               level_percentile: float = 85.0, max_half_width_mm: float = 5.0,
               chord_model: bool = True) -> LumenRows:
    """Edges, calibre and centre contrast of the lumen in every row of a CPR.

    Parameters
    ----------
    profile : DuctProfile
    edge_fraction : float
        Edges sit where the contrast falls to this fraction of the local duct contrast.
        A duct much thinner than the DBT depth blur images as its chord length
        (a semicircular profile): 0.4 puts the edge at ~0.92 of the true radius (see
        ``chord_model``), 0.5 at 0.87.
    level_window_mm : float
        Minimum length of the window giving the local duct contrast (it grows with the
        duct: four local radii).
    level_percentile : float
    max_half_width_mm : float
        A lumen edge further than this beyond the tree's radius from the centreline is
        not this duct's (rows left unknown).
    chord_model : bool
        Correct the edges for the chord-length profile of a lumen thinner than the depth
        blur (true for ducts and most lesions in DBT); False reports the raw edges.

    Returns
    -------
    LumenRows
    """
    cpr = np.where(profile.own, profile.cpr, np.nan)
    o = profile.offsets_mm
    m_rows, k_cols = cpr.shape
    step = profile.step_mm
    c0 = int(np.argmin(np.abs(o)))
    r_hint = np.maximum(profile.radius_hint_mm, step)
    # Row peak near the centreline (a lumen, not a neighbour).
    near = np.abs(o)[None, :] <= (r_hint[:, None] * 1.5 + 0.5)
    with _quiet():
        # Foreign pixels count as background (0) in the small transverse smoothing.
        peak = np.nanmax(np.where(near & np.isfinite(cpr),
                                  ndimage.uniform_filter1d(np.nan_to_num(cpr, nan=0.0), 3, axis=1),
                                  np.nan), axis=1)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    win = max(int(max(level_window_mm, 4.0 * float(np.median(r_hint))) / step), 3)
    level = running_percentile(peak, window=win, q=level_percentile)
    level = np.maximum(level, 3.0 * profile.noise)

    smooth = ndimage.gaussian_filter(np.nan_to_num(cpr, nan=0.0), (0.7, 0.7))
    smooth = np.where(np.isfinite(cpr), smooth, -np.inf)
    above = smooth >= edge_fraction * level[:, None]
    # The lumen is the component that holds the centreline (holes = enclosed voids).
    filled = ndimage.binary_fill_holes(above)
    lab, _ = ndimage.label(filled)
    central = np.abs(o) <= np.maximum(0.6 * r_hint, 2 * step)[:, None]
    keep = np.unique(lab[central & (lab > 0)])
    mask = np.isin(lab, keep[keep > 0])

    # Vectorised over rows: the run holding the centre column; when the centre is dark
    # (a void open at one end, a bubble with faint rims), the span from the nearest lumen
    # on its left to the nearest on its right (within reach of the centreline).
    cols = np.arange(k_cols)
    tol = 1.5 * r_hint + 0.5
    last_left = np.maximum.accumulate(np.where(mask, cols[None, :], -1), axis=1)[:, c0]
    first_right = np.minimum.accumulate(np.where(mask, cols[None, :], k_cols)[:, ::-1], axis=1)[:, ::-1][:, c0]
    has_l = (last_left >= 0) & (o[np.clip(last_left, 0, k_cols - 1)] >= -tol)
    has_r = (first_right < k_cols) & (o[np.clip(first_right, 0, k_cols - 1)] <= tol)
    jl = np.where(has_l, last_left, first_right)
    jr = np.where(has_r, first_right, last_left)
    valid = has_l | has_r
    # Run bounds: the last gap before jl and the first gap after jr.
    gap_before = np.maximum.accumulate(np.where(~mask, cols[None, :], -1), axis=1)
    gap_after = np.minimum.accumulate(np.where(~mask, cols[None, :], k_cols)[:, ::-1], axis=1)[:, ::-1]
    rr = np.arange(m_rows)
    jl_c = np.clip(jl, 0, k_cols - 1)
    jr_c = np.clip(jr, 0, k_cols - 1)
    a = gap_before[rr, jl_c] + 1
    b = gap_after[rr, jr_c] - 1
    # Wider than any duct, pool or papilloma around this centreline could be, or reaching
    # the end of the sampled span: the lumen has merged with something else (skin, the
    # nipple).  Leave such rows unknown rather than wrong.
    a_c = np.clip(a, 0, k_cols - 1)
    b_c = np.clip(b, 0, k_cols - 1)
    valid &= (a > 0) & (b < k_cols - 1)
    valid &= np.maximum(-o[a_c], o[b_c]) <= r_hint + max_half_width_mm
    lv = edge_fraction * level
    am1 = np.clip(a - 1, 0, k_cols - 1)
    bp1 = np.clip(b + 1, 0, k_cols - 1)
    va, vam = smooth[rr, a_c], smooth[rr, am1]
    vb, vbp = smooth[rr, b_c], smooth[rr, bp1]
    with np.errstate(all="ignore"):
        fa = np.clip((va - lv) / (va - vam), 0.0, 1.0)
        fb = np.clip((vb - lv) / (vb - vbp), 0.0, 1.0)
    # Next to another duct's lumen (a foreign pixel) the edge is where that lumen starts.
    left = np.where(np.isfinite(vam) & np.isfinite(fa), o[a_c] - fa * step, o[a_c])
    right = np.where(np.isfinite(vbp) & np.isfinite(fb), o[b_c] + fb * step, o[b_c])
    left = np.where(valid, left, np.nan)
    right = np.where(valid, right, np.nan)
    if chord_model:
        # A lumen much thinner than the depth blur images as its chord length (a
        # semicircular profile): the edge found at ``edge_fraction`` of the peak lies at
        # sqrt(1 - f^2) of the true radius.  Undo that bias.
        mid0 = 0.5 * (left + right)
        k = 1.0 / np.sqrt(1.0 - edge_fraction ** 2)
        left, right = mid0 + k * (left - mid0), mid0 + k * (right - mid0)
    # Edges set by another duct's lumen (or blur) rather than by this lumen's own fall.
    touching = valid & (~np.isfinite(vam) | ~np.isfinite(vbp))
    width = right - left
    mid = 0.5 * (left + right)
    ok = np.isfinite(mid)
    if ok.any():
        mid_f = np.interp(np.arange(m_rows), np.flatnonzero(ok), mid[ok])
        mid_f = ndimage.median_filter(mid_f, size=max(int(1.0 / step) | 1, 3), mode="nearest")
    else:
        mid_f = np.zeros(m_rows)
    # Centre contrast, read where the lumen's centre actually is (the tree's centreline
    # may run along one side of a lumen, e.g. around a void).
    half = np.maximum(0.25 * r_hint, 1.5 * step)
    sel = np.abs(o[None, :] - mid_f[:, None]) <= half[:, None]
    with _quiet():
        centre = np.nanmean(np.where(sel & np.isfinite(smooth), smooth, np.nan), axis=1)
    # Rows whose centre is hidden (a crossing duct claims it) borrow from their
    # neighbours across short gaps; longer gaps stay unknown (NaN), never "dark".
    centre = _fill_short_gaps(centre, max_gap=max(int(1.0 / step), 1))
    return LumenRows(level=level, mask=mask, left=left, right=right, width=width, centre_offset=mid_f,
                     centre=centre, touching=touching)


def refine_background(profile: DuctProfile, rows: LumenRows, *, margin_mm: float = 1.0,
                      window_mm: float = 2.0) -> DuctProfile:
    """Re-estimate the background outside the *measured* lumen (not the tree's radius).

    A pool or a dilated segment much wider than the tree's radius says would otherwise
    lend its own contrast to the background and hide itself.

    Parameters
    ----------
    profile : DuctProfile
    rows : LumenRows
        Lumen edges from a first pass.
    margin_mm : float
        Clearance between the lumen's edges and the background pixels.
    window_mm : float
        Running median length along the duct.

    Returns
    -------
    DuctProfile
        A copy with ``cpr``, ``background`` and ``noise`` recomputed.
    """
    o = profile.offsets_mm
    raw = profile.cpr + profile.background[:, None]
    step = profile.step_mm
    # Edges where measured; elsewhere the widest of the tree radius and nearby edges.
    left = np.where(np.isfinite(rows.left), rows.left, np.nan)
    right = np.where(np.isfinite(rows.right), rows.right, np.nan)
    k = max(int(2.0 / step), 1)
    with _quiet():
        lo_env = -ndimage.maximum_filter1d(np.nan_to_num(-left, nan=-np.inf), 2 * k + 1)
        hi_env = ndimage.maximum_filter1d(np.nan_to_num(right, nan=-np.inf), 2 * k + 1)
    r = 1.6 * profile.radius_hint_mm
    lo_env = np.where(np.isfinite(lo_env), np.minimum(lo_env, -r), -r)
    hi_env = np.where(np.isfinite(hi_env), np.maximum(hi_env, r), r)
    clear = (o[None, :] < (lo_env - margin_mm)[:, None]) | (o[None, :] > (hi_env + margin_mm)[:, None])
    bg_pix = np.where(clear & profile.own, raw, np.nan)
    with _quiet():
        row_bg = np.nanmedian(bg_pix, axis=1)
    if not np.isfinite(row_bg).any():
        return profile
    row_bg = np.where(np.isfinite(row_bg), row_bg, np.nanmedian(row_bg))
    background = running_percentile(row_bg, window=max(int(window_mm / step), 1), q=50)
    cpr = raw - background[:, None]
    noise = _pixel_noise(raw, clear & profile.own)
    if not noise > 0:
        noise = profile.noise
    return dataclasses.replace(profile, cpr=cpr, background=background, noise=noise)
