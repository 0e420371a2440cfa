"""Measurements of a sample volume against its truth: is it a believable DBT galactogram?

These read the volume and ``truth.json`` only (never reconstruction's algorithms).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from reconstruction.frame import ImageFrame
from reconstruction.tree import DuctTree, resample_polyline

__all__ = ["truth_tree", "lumen_contrast_to_noise", "thin_duct_z_fwhm", "background_spectrum_slope"]


def truth_tree(truth: dict) -> DuctTree:
    """The true duct tree (physical mm) of a ``truth.json`` dict."""
    return DuctTree.from_dict(truth["tree"])


def _opacified_points(truth: dict, step_mm: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    pts, rad = [], []
    for b in truth_tree(truth).branches:
        keep = b.opacified if b.opacified is not None else np.ones(len(b.points_mm), bool)
        if keep.sum() < 2:
            continue
        p, r = resample_polyline(b.points_mm[keep], step_mm=step_mm, values=b.radius_mm[keep])
        pts.append(p)
        rad.append(r)
    if not pts:
        return np.zeros((0, 3)), np.zeros(0)
    return np.concatenate(pts), np.concatenate(rad)


def _sample(array: np.ndarray, frame: ImageFrame, points_mm: np.ndarray) -> np.ndarray:
    idx = frame.physical_to_array_index(points_mm)
    return ndimage.map_coordinates(array, idx.T, order=1, mode="nearest")


def lumen_contrast_to_noise(array: np.ndarray, frame: ImageFrame, truth: dict, *,
                            min_radius_mm: float = 0.6, ring_mm: float = 4.0) -> float:
    """Contrast-to-noise ratio of the opacified lumen against its local background.

    At centreline points of ducts at least ``min_radius_mm`` in radius, the lumen value is
    compared with the mean of a ring of in-slice samples ``ring_mm`` away (skipping samples
    near any duct); noise is the pooled standard deviation of those ring samples about
    their own ring mean.  CNR = median(lumen - ring mean) / noise.
    """
    pts, rad = _opacified_points(truth, step_mm=1.0)
    kd = cKDTree(pts)
    ex, ey = frame.direction_matrix[:, 0], frame.direction_matrix[:, 1]
    ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    ring = ring_mm * (np.cos(ang)[:, None] * ex + np.sin(ang)[:, None] * ey)
    contrast, resid = [], []
    for p in pts[rad >= min_radius_mm]:
        around = p + ring
        clear = kd.query(around)[0] >= 0.75 * ring_mm
        around = around[clear & frame.contains_physical(around)]
        if len(around) < 6:
            continue
        bg = _sample(array, frame, around)
        contrast.append(_sample(array, frame, p[None])[0] - bg.mean())
        resid.append(bg - bg.mean())
    if not contrast:
        return float("nan")
    return float(np.median(contrast) / max(np.std(np.concatenate(resid)), 1e-9))


def thin_duct_z_fwhm(array: np.ndarray, frame: ImageFrame, truth: dict, *,
                     radius_range_mm: tuple[float, float] = (0.25, 0.5), isolation_mm: float = 4.0) -> float:
    """Median full width at half maximum (mm) along the slice axis through thin ducts.

    At true centreline points of thin ducts (radius in ``radius_range_mm``, no other duct
    within ``isolation_mm``), the profile along the image's z axis is taken and its FWHM
    above the local minimum measured.
    """
    pts, rad = _opacified_points(truth, step_mm=1.0)
    kd = cKDTree(pts)
    idx = frame.physical_to_array_index(pts)
    widths = []
    for p, r, (z, y, x) in zip(pts, rad, idx):
        if not (radius_range_mm[0] <= r <= radius_range_mm[1]):
            continue
        # Points 1 mm apart along one duct: more than that within the radius means
        # another duct or a branch point is close and would widen the profile.
        if len(kd.query_ball_point(p, isolation_mm)) > 2 * isolation_mm + 3:
            continue
        yi, xi = int(round(y)), int(round(x))
        if not (0 <= yi < array.shape[1] and 0 <= xi < array.shape[2]):
            continue
        prof = array[:, yi, xi].astype(float)
        zi = int(np.clip(round(z), 0, len(prof) - 1))
        lo = prof.min()
        peak = prof[max(zi - 1, 0): zi + 2].max()
        half = lo + 0.5 * (peak - lo)
        k0 = int(np.argmax(prof[max(zi - 1, 0): zi + 2])) + max(zi - 1, 0)
        a = k0
        while a > 0 and prof[a - 1] >= half:
            a -= 1
        b = k0
        while b < len(prof) - 1 and prof[b + 1] >= half:
            b += 1
        widths.append((b - a + 1) * frame.spacing[2])
    return float(np.median(widths)) if widths else float("nan")


def background_spectrum_slope(array: np.ndarray, frame: ImageFrame, truth: dict, *,
                              box_mm: float = 25.0, band_cyc_per_mm: tuple[float, float] = (0.12, 0.8),
                              keep_out_mm: float = 5.0) -> float:
    """Slope beta of the background's in-plane power spectrum, P(f) ~ 1/f^beta.

    Square regions of the central slice, inside the breast and at least ``keep_out_mm``
    from every opacified duct, are Hann-windowed; their periodograms are averaged, radially
    binned and fitted on log-log axes over ``band_cyc_per_mm``.
    """
    pts, _ = _opacified_points(truth, step_mm=1.0)
    kd = cKDTree(pts) if len(pts) else None
    dy, dx = frame.spacing[1], frame.spacing[0]
    n = int(box_mm / dx) // 2 * 2
    z = array.shape[0] // 2
    sl = array[z]
    air = np.percentile(array, 1)
    tissue_level = np.median(sl[sl > air + 0.5 * (np.median(sl) - air)])
    spectra = []
    for y0 in range(0, sl.shape[0] - n, n // 2):
        for x0 in range(0, sl.shape[1] - n, n // 2):
            patch = sl[y0:y0 + n, x0:x0 + n]
            if patch.min() < air + 0.5 * (tissue_level - air):
                continue  # touches air or the skin edge
            centre = frame.array_index_to_physical(np.array([z, y0 + n / 2, x0 + n / 2], float))
            # The whole box must be clear of ducts: its centre far enough from all of them.
            if kd is not None and kd.query(centre)[0] < keep_out_mm + box_mm / np.sqrt(2):
                continue
            w = np.hanning(n)[:, None] * np.hanning(n)[None, :]
            p = patch - patch.mean()
            spectra.append(np.abs(np.fft.fft2(p * w)) ** 2)
    if not spectra:
        return float("nan")
    ps = np.fft.fftshift(np.mean(spectra, axis=0))
    fy = np.fft.fftshift(np.fft.fftfreq(n, dy))
    fx = np.fft.fftshift(np.fft.fftfreq(n, dx))
    f = np.hypot(*np.meshgrid(fy, fx, indexing="ij"))
    sel = (f >= band_cyc_per_mm[0]) & (f <= band_cyc_per_mm[1])
    bins = np.logspace(np.log10(band_cyc_per_mm[0]), np.log10(band_cyc_per_mm[1]), 12)
    which = np.digitize(f[sel], bins)
    fb = np.array([f[sel][which == k].mean() for k in range(1, len(bins)) if np.any(which == k)])
    pb = np.array([ps[sel][which == k].mean() for k in range(1, len(bins)) if np.any(which == k)])
    slope = np.polyfit(np.log(fb), np.log(pb), 1)[0]
    return float(-slope)
