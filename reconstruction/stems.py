"""The main duct's last millimetres, from where the lumen was seen to the nipple.

Behind the nipple the segmentation cannot follow a duct: the skin is bright through every
slice and is left out, and the nipple stands out of the compressed slab, so its ducts
are in focus over a few slices only.  A radiologist still sees the duct there: a band
brighter at its own depth than the tissue around it at any depth.  This module traces it
in-plane as the cheapest path through that band, within a corridor round the straight
line from the lumen to the nipple; the depth is interpolated between the two ends (DBT
cannot place it better there).

The path keeps to the band's middle, and the band's half-width along it is the stem's
radius: the ampulla behind the nipple is normally 2-4 mm wide (DOMAIN), wider when
ectatic, and a path anywhere in a bright plateau would hug one wall and report the
calibre of the lumen's first voxel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .frame import ImageFrame

__all__ = ["StemTrace", "trace_stem", "depth_peak_image"]

# The band's edge, as a fraction of its brightness.  A duct thinner than the depth blur
# images as its chord through the slab (a semicircular profile), whose half-height lies
# at sqrt(1 - 0.5**2) of the radius: the radius is the half-width over that.
_BAND_EDGE = 0.5
_CHORD = 1.0 / np.sqrt(1.0 - _BAND_EDGE ** 2)


@dataclass
class StemTrace:
    """A traced stem.

    Attributes
    ----------
    points_mm : (N, 3) ndarray
        From the start to the end (physical mm).
    radius_mm : (N,) ndarray
        The band's in-plane half-width at each point (chord-corrected); NaN where the
        path crosses no band (the skin, the nipple's tip).
    """

    points_mm: np.ndarray
    radius_mm: np.ndarray


def depth_peak_image(columns: np.ndarray) -> np.ndarray:
    """How far each column's brightest slice stands above its median slice.

    Skin and the nipple's surface are bright through the slab: their columns are flat
    and score low.  A duct is bright at its own depth: its column peaks.

    Parameters
    ----------
    columns : (nz, ny, nx) ndarray

    Returns
    -------
    (ny, nx) float32 ndarray
    """
    a = np.asarray(columns, dtype=np.float32)
    return (a.max(axis=0) - np.median(a, axis=0)).astype(np.float32)


def trace_stem(array: np.ndarray, frame: ImageFrame, start_mm: np.ndarray, end_mm: np.ndarray, *,
               corridor_mm: float | None = None, smooth_mm: float = 0.3,
               straightness: float = 0.1) -> StemTrace | None:
    """In-plane path of a duct from ``start_mm`` to ``end_mm`` through the volume.

    Parameters
    ----------
    array : (nz, ny, nx) ndarray
        The volume.
    frame : ImageFrame
    start_mm, end_mm : (3,) array
        The two ends (physical mm): where the lumen was seen, and the nipple.
    corridor_mm : float, optional
        How far the path may leave the straight line; by default a third of the ends'
        distance, and at least 1.5 mm.
    smooth_mm : float
        Gaussian sigma of the in-plane smoothing of the depth-peak image (noise only).
    straightness : float
        Cost of a step through the brightest band, as a share of a step through the
        background (1): the lower, the more the path follows the band.

    Returns
    -------
    StemTrace or None
        Points in mm from ``start_mm`` to ``end_mm``, the depth interpolated linearly
        along the path, with the band's radius; None when the ends fall outside the
        volume or are too close to trace between.
    """
    from skimage.graph import route_through_array

    start, end = np.asarray(start_mm, float), np.asarray(end_mm, float)
    length = float(np.linalg.norm(end - start))
    corridor = max(1.5, length / 3.0) if corridor_mm is None else corridor_mm
    ij = frame.physical_to_array_index(np.stack([start, end]))
    _, ny, nx = frame.shape_zyx
    sy, sx = frame.spacing_zyx[1], frame.spacing_zyx[2]
    if not np.all((ij[:, 1] >= 0) & (ij[:, 1] <= ny - 1) & (ij[:, 2] >= 0) & (ij[:, 2] <= nx - 1)):
        return None
    my, mx = int(np.ceil(corridor / sy)) + 1, int(np.ceil(corridor / sx)) + 1
    y0 = max(int(np.floor(ij[:, 1].min())) - my, 0)
    y1 = min(int(np.ceil(ij[:, 1].max())) + my + 1, ny)
    x0 = max(int(np.floor(ij[:, 2].min())) - mx, 0)
    x1 = min(int(np.ceil(ij[:, 2].max())) + mx + 1, nx)
    if min(y1 - y0, x1 - x0) < 3 or length < 2.0 * max(sy, sx):
        return None
    peak = ndimage.gaussian_filter(depth_peak_image(array[:, y0:y1, x0:x1]),
                                   (smooth_mm / sy, smooth_mm / sx))
    # Distance (mm) of each pixel from the straight line between the ends.
    a = np.array([ij[0, 1] - y0, ij[0, 2] - x0]) * (sy, sx)
    b = np.array([ij[1, 1] - y0, ij[1, 2] - x0]) * (sy, sx)
    yy, xx = np.mgrid[0:y1 - y0, 0:x1 - x0]
    p = np.stack([yy * sy, xx * sx], axis=-1)
    d = b - a
    t = np.clip(((p - a) @ d) / max(float(d @ d), 1e-12), 0.0, 1.0)
    off = np.linalg.norm(p - (a + t[..., None] * d), axis=-1)
    inside = off <= corridor
    ref = float(np.percentile(peak[inside], 95)) if inside.any() else 0.0
    if not ref > 0:
        return None
    level = np.clip(peak / ref, 0.0, 1.0)
    # Depth into the band (mm to its nearest edge): highest on the band's middle line.
    # Brightness alone is flat across a wide lumen, where any path is as cheap as another.
    depth_in = ndimage.distance_transform_edt((level >= _BAND_EDGE) & inside, sampling=(sy, sx))
    deepest = float(depth_in.max())
    centred = depth_in / deepest if deepest > 0 else np.zeros_like(depth_in)
    cost = np.where(inside, 1.0 - (1.0 - straightness) * level * (0.5 + 0.5 * centred), 1e6)
    s_px = (int(round(ij[0, 1])) - y0, int(round(ij[0, 2])) - x0)
    e_px = (int(round(ij[1, 1])) - y0, int(round(ij[1, 2])) - x0)
    path, _ = route_through_array(cost, s_px, e_px, fully_connected=True, geometric=True)
    path = np.asarray(path, float)
    yx = path + (y0, x0)
    # Depth (array z) interpolated along the path's in-plane arc length.
    seg = np.linalg.norm(np.diff(path * (sy, sx), axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    w = s / s[-1] if s[-1] > 0 else np.linspace(0.0, 1.0, len(s))
    z = ij[0, 0] + w * (ij[1, 0] - ij[0, 0])
    pts = frame.array_index_to_physical(np.column_stack([z, yx]))
    pts[0], pts[-1] = start, end          # exact ends (the path ran on pixel centres)
    # (The transform counts to the first pixel outside: the edge lies half a pixel in.)
    half = depth_in[path[:, 0].astype(int), path[:, 1].astype(int)] - 0.5 * min(sy, sx)
    radius = np.where(half > 0, _CHORD * half, np.nan)
    return StemTrace(points_mm=pts, radius_mm=radius)
