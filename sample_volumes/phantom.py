"""The breast phantom: tissue attenuation and the contrast-filled lumen, in local mm.

Attenuation coefficients (1/mm) are typical of a ~20 keV effective mammographic beam:
adipose 0.045, fibroglandular 0.080, skin 0.080; diluted iodinated contrast in the ducts
~0.60 (undiluted 300 mgI/mL iodine: mu/rho ~22 cm^2/g at 20 keV).  Tissue is a 1/f^beta Gaussian random field of glandular fraction (beta ~3,
Engstrom/Cockmartin); it is generated on a coarse grid (its power sits at low spatial
frequencies) and projected there, while the lumen is rendered on the detector's fine grid.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reconstruction.tree import DuctTree

from .ducts import BreastGeometry
from .lesion_models import LesionSpec

__all__ = ["Materials", "GridSpec", "power_law_field", "tissue_attenuation", "render_lumen"]


@dataclass(frozen=True)
class Materials:
    """Linear attenuation coefficients, 1/mm."""

    fat: float = 0.045
    gland: float = 0.080
    skin: float = 0.080
    contrast: float = 0.60


@dataclass(frozen=True)
class GridSpec:
    """A regular local-mm grid: voxel centres at ``origin + index * spacing`` (z, y, x)."""

    origin: tuple[float, float, float]  # local (z, y, x) mm of voxel (0, 0, 0)
    spacing: tuple[float, float, float]  # (dz, dy, dx) mm
    shape: tuple[int, int, int]

    def axes(self) -> list[np.ndarray]:
        return [self.origin[k] + self.spacing[k] * np.arange(self.shape[k]) for k in range(3)]


def power_law_field(shape: tuple[int, ...], spacing: tuple[float, ...], *, beta: float,
                    rng: np.random.Generator, f_min: float = 0.01) -> np.ndarray:
    """A zero-mean, unit-variance Gaussian random field with power spectrum ``1/f^beta``.

    Parameters
    ----------
    shape, spacing : tuples
        Grid shape and voxel size (mm), any dimension.
    beta : float
        Spectral exponent of the field in its own dimension.
    f_min : float
        Frequency (cycles/mm) below which the spectrum is flattened (keeps the field finite).

    Returns
    -------
    ndarray of float32
    """
    freqs = np.meshgrid(*[np.fft.fftfreq(n, d) for n, d in zip(shape[:-1], spacing[:-1])],
                        np.fft.rfftfreq(shape[-1], spacing[-1]), indexing="ij", sparse=True)
    f2 = sum(f ** 2 for f in freqs)
    amp = (np.maximum(f2, f_min ** 2)) ** (-beta / 4.0)
    noise = rng.standard_normal(shape).astype(np.float32)
    field = np.fft.irfftn(np.fft.rfftn(noise) * amp, s=shape, axes=range(len(shape))).astype(np.float32)
    field -= field.mean()
    field /= max(float(field.std()), 1e-12)
    return field


def tissue_attenuation(grid: GridSpec, breast: BreastGeometry, rng: np.random.Generator, *,
                       materials: Materials = Materials(), beta: float = 3.0,
                       glandularity: float = 0.35) -> np.ndarray:
    """Attenuation (1/mm) of the compressed breast on ``grid``: fat, gland texture, skin, nipple."""
    z, y, x = grid.axes()
    g = power_law_field(grid.shape, grid.spacing, beta=beta, rng=rng)
    # Glandular fraction: continuous (keeps the power law), denser behind the nipple.
    Z, Y, X = np.meshgrid(z, y, x, indexing="ij", sparse=True)
    yy = (Y - breast.center_y_mm) / breast.half_width_mm
    xx = X / breast.depth_mm
    central = np.exp(-((yy / 0.6) ** 2) - ((xx - 0.55) / 0.45) ** 2)
    frac = np.clip(glandularity * (0.6 + 0.8 * central) + 0.22 * g, 0.0, 1.0)
    mu = materials.fat + (materials.gland - materials.fat) * frac
    # Breast outline (semi-ellipse in x-y, full compressed thickness) with its skin.
    rho = np.sqrt(xx ** 2 + yy ** 2)
    inside = (X >= 0) & (rho <= 1.0) & (Z >= 0) & (Z <= breast.thickness_mm)
    skin_depth = (1.0 - rho) * min(breast.depth_mm, breast.half_width_mm)
    in_skin = inside & ((skin_depth < breast.skin_mm) | (Z < breast.skin_mm) |
                        (Z > breast.thickness_mm - breast.skin_mm))
    # Nipple: a short cylinder along +x at mid-thickness.
    rn = np.sqrt((Y - breast.center_y_mm) ** 2 + (Z - 0.5 * breast.thickness_mm) ** 2)
    nipple = (X >= breast.depth_mm - 2) & (X <= breast.depth_mm + breast.nipple_length_mm) & (
        rn <= breast.nipple_radius_mm)
    out = np.where(inside, mu, 0.0)
    out = np.where(in_skin, materials.skin, out)
    out = np.where(nipple & ~inside, materials.gland, out)
    return out.astype(np.float32)


def _grid_box(grid: GridSpec, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, ...] | None:
    """Index slices of the grid covering local-mm box [lo, hi] given as (x, y, z)."""
    sl = []
    for k_np, k_loc in zip(range(3), (2, 1, 0)):
        a = int(np.floor((lo[k_loc] - grid.origin[k_np]) / grid.spacing[k_np]))
        b = int(np.ceil((hi[k_loc] - grid.origin[k_np]) / grid.spacing[k_np])) + 1
        a, b = max(a, 0), min(b, grid.shape[k_np])
        if a >= b:
            return None
        sl.append(slice(a, b))
    return tuple(sl)


def _box_coords(grid: GridSpec, sl: tuple[slice, ...]) -> np.ndarray:
    """Local (x, y, z) mm coordinates of a grid box, shape (nz, ny, nx, 3)."""
    z, y, x = [grid.origin[k] + grid.spacing[k] * np.arange(sl[k].start, sl[k].stop) for k in range(3)]
    Z, Y, X = np.meshgrid(z, y, x, indexing="ij")
    return np.stack([X, Y, Z], axis=-1)


def _soft(d: np.ndarray, h: float) -> np.ndarray:
    """Partial-volume occupancy of a signed distance (positive inside), edge width ``h``."""
    return np.clip(0.5 + d / h, 0.0, 1.0)


def render_lumen(tree: DuctTree, lesions: list[LesionSpec], grid: GridSpec, *,
                 chunk: int = 10) -> np.ndarray:
    """Contrast occupancy (0..1) of the opacified lumen on ``grid``.

    The lumen is a union of tapered capsules along every opacified centreline; papilloma
    lobules and air bubbles are carved out of it, cysts are added as contrast pools, and a
    cut-off truncates its duct with a flat end.
    """
    occ = np.zeros(grid.shape, np.float32)
    h = float(max(grid.spacing))  # edge width ~ one (coarsest) voxel: area-preserving ramp
    for b in tree.branches:
        keep = np.ones(len(b.points_mm), bool) if b.opacified is None else b.opacified
        n_keep = int(np.argmin(keep)) if not keep.all() else len(keep)
        if n_keep < 1:
            continue
        # One point past the last opacified one: the column reaches the obstruction.
        pts = b.points_mm[: min(n_keep + 1, len(keep))]
        rad = b.radius_mm[: len(pts)]
        if len(pts) == 1:
            pts, rad = np.vstack([pts, pts]), np.concatenate([rad, rad])
        for s0 in range(0, len(pts) - 1, chunk):
            P = pts[s0: s0 + chunk + 1]
            R = rad[s0: s0 + chunk + 1]
            pad = R.max() + 2 * h
            sl = _grid_box(grid, P.min(0) - pad, P.max(0) + pad)
            if sl is None:
                continue
            X = _box_coords(grid, sl)
            best = np.full(X.shape[:3], -np.inf, np.float32)
            for a, bb, ra, rb in zip(P[:-1], P[1:], R[:-1], R[1:]):
                ab = bb - a
                t = np.clip(((X - a) @ ab) / max(ab @ ab, 1e-12), 0, 1)
                d = np.linalg.norm(X - (a + t[..., None] * ab), axis=-1)
                best = np.maximum(best, (ra + t * (rb - ra)) - d)
            occ[sl] = np.maximum(occ[sl], _soft(best, h))
    for les in lesions:
        for c, r in les.pools:
            sl = _grid_box(grid, c - r - 2 * h, c + r + 2 * h)
            if sl is not None:
                d = r - np.linalg.norm(_box_coords(grid, sl) - c, axis=-1)
                occ[sl] = np.maximum(occ[sl], _soft(d, h))
    for les in lesions:
        if les.voids:
            lo = np.min([c - r for c, r in les.voids], axis=0) - 2 * h
            hi = np.max([c + r for c, r in les.voids], axis=0) + 2 * h
            sl = _grid_box(grid, lo, hi)
            if sl is None:
                continue
            X = _box_coords(grid, sl)
            v = np.zeros(X.shape[:3], np.float32)
            for c, r in les.voids:
                v = np.maximum(v, _soft(r - np.linalg.norm(X - c, axis=-1), h))
            occ[sl] *= 1.0 - v
        if les.cut_plane is not None:
            c, n = les.cut_plane
            r = les.diameter_mm + 1.0  # just the rounded cap of the cut duct
            sl = _grid_box(grid, c - r, c + r)
            if sl is not None:
                occ[sl] *= _soft(-((_box_coords(grid, sl) - c) @ n), h)
    return occ
