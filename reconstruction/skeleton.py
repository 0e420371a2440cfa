"""Lumen mask -> centreline voxels on a near-isotropic grid, and lumen radius from an EDT.

DBT voxels are ~10:1 anisotropic (0.1 mm in-plane, 1 mm slices) and scikit-image's 3D
thinning (Lee 1994) counts voxels, not millimetres: thinned as is, the skeleton of a duct
running obliquely through the slices sits wherever the voxel staircase puts it, and
junctions drift along z.  So the cropped mask is first brought to a near-isotropic *grid*
(``voxel_mm`` ~ the smallest duct radius, 0.25-0.35 mm for DBT):

* axes finer than ``voxel_mm`` are pooled by an integer factor with a logical OR
  (a thin duct never breaks; it widens by less than one grid voxel, and the radius is
  measured on the original voxels anyway);
* axes coarser than ``voxel_mm`` (the slices) are repeated by an integer factor
  (nearest neighbour: each slice keeps its full thickness, so 26-connectivity across
  slices survives and the skeleton sits midway through a slice stack, not at its edge).

Grid voxel ``g`` maps back to the continuous array index ``start + (g + 0.5) * pool /
repeat - 0.5`` (the centre of the fine voxels it stands for), and from there to physical
millimetres through :class:`~reconstruction.frame.ImageFrame`.

The lumen radius comes from an anisotropic Euclidean distance transform (``edt``) of the
cropped mask at its *original* resolution, in mm.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .frame import ImageFrame

__all__ = ["SkeletonGrid", "LumenRadius", "LumenSkeleton", "check_lumen_mask",
           "lumen_bounding_box", "choose_grid", "resample_to_grid", "skeletonize_lumen"]


# --------------------------------------------------------------------------- checks
def check_lumen_mask(mask: npt.ArrayLike, frame: ImageFrame, *,
                     max_foreground_fraction: float = 0.5) -> np.ndarray:
    """Validate a lumen mask against its frame and return it as a bool array.

    Parameters
    ----------
    mask : (nz, ny, nx) array_like
        Lumen mask, numpy ``(z, y, x)`` order; nonzero is lumen.
    frame : ImageFrame
        Frame the mask lives in; ``frame.shape_zyx`` must equal ``mask.shape``.
    max_foreground_fraction : float
        A lumen mask is thin tubes: more foreground than this share of the volume means
        a wrong threshold or an inverted mask, not ducts.

    Returns
    -------
    ndarray of bool
        The mask (no copy when it already is bool).

    Raises
    ------
    ValueError
        Wrong dimensionality or shape, an empty mask ("no lumen found"), or a mask that is
        mostly foreground.
    """
    m = np.asarray(mask)
    if m.ndim != 3:
        raise ValueError(f"lumen mask must be 3D (z, y, x), got {m.ndim}D with shape {m.shape}")
    if tuple(m.shape) != frame.shape_zyx:
        raise ValueError(f"lumen mask shape {m.shape} does not match the frame's (z, y, x) "
                         f"shape {frame.shape_zyx}")
    if m.dtype != bool:
        m = m != 0
    n = int(np.count_nonzero(m))
    if n == 0:
        raise ValueError("no lumen found: the lumen mask is empty (0 foreground voxels); "
                         "check the segmentation threshold or that contrast reached the ducts")
    frac = n / m.size
    if frac > max_foreground_fraction:
        raise ValueError(f"lumen mask is {100 * frac:.0f}% foreground (more than "
                         f"{100 * max_foreground_fraction:.0f}%): expected thin ducts, got a solid "
                         "block; is the mask inverted or the threshold too low?")
    return m


def lumen_bounding_box(mask: np.ndarray) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """``(start_zyx, stop_zyx)`` of the foreground of a non-empty bool mask.

    Two reductions (over z, then over the in-plane projection) instead of ``nonzero``,
    which would list every foreground voxel of a full-field volume.
    """
    zs = np.flatnonzero(mask.any(axis=(1, 2)))
    proj = mask.any(axis=0)
    ys = np.flatnonzero(proj.any(axis=1))
    xs = np.flatnonzero(proj.any(axis=0))
    return (int(zs[0]), int(ys[0]), int(xs[0])), (int(zs[-1]) + 1, int(ys[-1]) + 1, int(xs[-1]) + 1)


# ----------------------------------------------------------------------------- grid
def choose_grid(spacing_zyx: npt.ArrayLike, *, voxel_mm: float) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Integer pool and repeat factors that bring each axis closest to ``voxel_mm``.

    Returns
    -------
    pool_zyx, repeat_zyx : tuple of 3 int
        Per axis exactly one of the two is 1.

    Examples
    --------
    >>> choose_grid((1.0, 0.1, 0.1), voxel_mm=0.3)
    ((1, 3, 3), (3, 1, 1))
    """
    if not voxel_mm > 0:
        raise ValueError(f"voxel_mm must be positive, got {voxel_mm}")
    pool, repeat = [], []
    for s in np.asarray(spacing_zyx, dtype=float):
        if s <= voxel_mm:
            pool.append(max(1, int(np.floor(voxel_mm / s + 0.5))))
            repeat.append(1)
        else:
            pool.append(1)
            repeat.append(max(1, int(np.floor(s / voxel_mm + 0.5))))
    return tuple(pool), tuple(repeat)


def _pool_axis(a: np.ndarray, f: int, axis: int) -> np.ndarray:
    """Logical OR of every ``f`` consecutive voxels along ``axis`` (zero-padded end)."""
    if f == 1:
        return a
    m = -(-a.shape[axis] // f)
    out = None
    for k in range(f):
        sl = [slice(None)] * a.ndim
        sl[axis] = slice(k, None, f)
        v = a[tuple(sl)]
        if v.shape[axis] < m:
            pad = [(0, 0)] * a.ndim
            pad[axis] = (0, m - v.shape[axis])
            v = np.pad(v, pad)
        # strided OR of views: ~5x faster than reshape(...).any() on bool
        out = v.copy() if out is None else np.logical_or(out, v, out=out)
    return out


def resample_to_grid(mask: np.ndarray, *, pool_zyx: tuple[int, int, int],
                     repeat_zyx: tuple[int, int, int]) -> np.ndarray:
    """Pool (OR) and repeat (nearest) a bool mask onto the skeleton grid.

    Examples
    --------
    >>> m = np.zeros((2, 4, 4), bool); m[0, 1, 1] = True
    >>> resample_to_grid(m, pool_zyx=(1, 2, 2), repeat_zyx=(2, 1, 1)).astype(int)[:, 0, 0].tolist()
    [1, 1, 0, 0]
    """
    g = mask
    for axis in (2, 1, 0):  # pool the long in-plane axes first: later steps see less data
        g = _pool_axis(g, pool_zyx[axis], axis)
    for axis in range(3):
        if repeat_zyx[axis] > 1:
            g = np.repeat(g, repeat_zyx[axis], axis=axis)
    return np.ascontiguousarray(g)


@dataclass(frozen=True)
class SkeletonGrid:
    """Where the near-isotropic skeleton grid sits in the image array.

    Attributes
    ----------
    start_zyx : tuple of 3 int
        Array index of the crop the grid was made from.
    pool_zyx, repeat_zyx : tuple of 3 int
        Fine voxels OR-ed into one grid voxel / grid voxels per fine voxel, per axis.
    spacing_zyx : tuple of 3 float
        Grid voxel size in mm.
    shape_zyx : tuple of 3 int
        Grid shape.
    """

    start_zyx: tuple[int, int, int]
    pool_zyx: tuple[int, int, int]
    repeat_zyx: tuple[int, int, int]
    spacing_zyx: tuple[float, float, float]
    shape_zyx: tuple[int, int, int]

    @property
    def voxel_mm(self) -> float:
        """Smallest grid spacing: the resolution of the centreline paths."""
        return float(min(self.spacing_zyx))

    def to_array_index(self, grid_zyx: npt.ArrayLike) -> np.ndarray:
        """Grid index ``(..., 3)`` -> continuous array index ``(z, y, x)`` of the full image."""
        ratio = np.asarray(self.pool_zyx, float) / np.asarray(self.repeat_zyx, float)
        return np.asarray(self.start_zyx, float) + (np.asarray(grid_zyx, float) + 0.5) * ratio - 0.5


# --------------------------------------------------------------------------- radius
@dataclass
class LumenRadius:
    """Lumen radius (mm) looked up in an anisotropic EDT of the cropped mask.

    The EDT gives, at each lumen voxel, the distance (mm) to the centre of the nearest
    background voxel; the wall lies half a voxel nearer on average, so half the finest
    spacing is subtracted.  A centreline point rarely sits exactly on the EDT ridge (the
    grid is coarser than the image, and smoothing moves points), so the value is the
    maximum over a window as wide as one grid voxel along the pooled axes.

    Attributes
    ----------
    edt_mm : ndarray, float32
        Distance transform of the crop, mm.
    start_zyx : tuple of 3 int
        Array index of the crop.
    spacing_zyx : tuple of 3 float
        Image spacing, mm.
    window_zyx : tuple of 3 int
        Half-widths (voxels) of the local-maximum window.
    """

    edt_mm: np.ndarray
    start_zyx: tuple[int, int, int]
    spacing_zyx: tuple[float, float, float]
    window_zyx: tuple[int, int, int]

    @property
    def floor_mm(self) -> float:
        return 0.5 * float(min(self.spacing_zyx))

    def at(self, index_zyx: npt.ArrayLike) -> np.ndarray:
        """Radius (mm) at continuous array indices ``(N, 3)`` of the full image."""
        idx = np.rint(np.asarray(index_zyx, float).reshape(-1, 3) - np.asarray(self.start_zyx)).astype(np.int64)
        shape = np.asarray(self.edt_mm.shape)
        best = np.zeros(len(idx), np.float32)
        ranges = [range(-w, w + 1) for w in self.window_zyx]
        for off in itertools.product(*ranges):
            j = np.clip(idx + np.asarray(off), 0, shape - 1)
            np.maximum(best, self.edt_mm[j[:, 0], j[:, 1], j[:, 2]], out=best)
        return np.maximum(best.astype(float) - self.floor_mm, self.floor_mm)


def lumen_edt_mm(mask_crop: np.ndarray, spacing_zyx: npt.ArrayLike, *, parallel: int = 2) -> np.ndarray:
    """Anisotropic EDT (mm) of a bool crop; outside the crop counts as background.

    ``edt`` takes anisotropy in numpy axis order whatever the memory order.  A bool
    array is passed as a ``uint8`` view: measured 1.0 s instead of 5.0 s on
    60 x 1500 x 2000 (edt 3.1 takes a much slower path for bool).
    """
    import edt

    m = np.ascontiguousarray(mask_crop, dtype=bool)
    return edt.edt(m.view(np.uint8), anisotropy=tuple(float(s) for s in spacing_zyx),
                   black_border=True, parallel=parallel)


# ------------------------------------------------------------------------- skeleton
@dataclass
class LumenSkeleton:
    """Centreline voxels of a lumen mask and what is needed to map and measure them.

    Attributes
    ----------
    grid : SkeletonGrid
    voxels : (N, 3) int ndarray
        Skeleton voxels, grid index ``(z, y, x)``.
    index_zyx : (N, 3) float ndarray
        The same voxels as continuous array indices of the full image.
    points_mm : (N, 3) float ndarray
        The same voxels in physical mm.
    radius : LumenRadius
    n_foreground : int
        Lumen voxels in the input mask.
    """

    grid: SkeletonGrid
    voxels: np.ndarray
    index_zyx: np.ndarray
    points_mm: np.ndarray
    radius: LumenRadius
    n_foreground: int


def default_voxel_mm(spacing_zyx: npt.ArrayLike, *, min_radius_mm: float) -> float:
    """Skeleton grid size: the smallest duct radius, never finer than the finest spacing.

    One grid voxel per smallest radius keeps the thinnest duct at least two grid voxels
    wide (so thinning sees a tube, not noise) while a 0.1 mm in-plane image is pooled
    3 x 3, which keeps full-field volumes fast.
    """
    return float(max(min(spacing_zyx), min_radius_mm))


def skeletonize_lumen(mask: npt.ArrayLike, frame: ImageFrame, *, voxel_mm: float | None = None,
                      min_radius_mm: float = 0.3, max_foreground_fraction: float = 0.5,
                      parallel: int = 2) -> LumenSkeleton:
    """Thin a lumen mask to centreline voxels on a near-isotropic grid.

    Parameters
    ----------
    mask : (nz, ny, nx) array_like of bool
        Lumen mask in ``frame``.
    frame : ImageFrame
    voxel_mm : float, optional
        Skeleton grid size in mm; default ``max(finest spacing, min_radius_mm)``.
    min_radius_mm : float
        Smallest duct radius the skeleton must resolve.
    max_foreground_fraction : float
        See :func:`check_lumen_mask`.
    parallel : int
        Threads for the EDT.

    Returns
    -------
    LumenSkeleton

    Raises
    ------
    ValueError
        See :func:`check_lumen_mask`.

    Examples
    --------
    >>> from reconstruction.frame import ImageFrame
    >>> m = np.zeros((5, 9, 30), bool); m[1:4, 3:6, 3:27] = True
    >>> sk = skeletonize_lumen(m, ImageFrame.identity(m.shape, spacing=(0.1, 0.1, 0.3)))
    >>> bool(len(sk.points_mm) > 5)
    True
    """
    from skimage.morphology import skeletonize

    m = check_lumen_mask(mask, frame, max_foreground_fraction=max_foreground_fraction)
    spacing = frame.spacing_zyx
    if voxel_mm is None:
        voxel_mm = default_voxel_mm(spacing, min_radius_mm=min_radius_mm)
    start, stop = lumen_bounding_box(m)
    crop = np.ascontiguousarray(m[start[0]:stop[0], start[1]:stop[1], start[2]:stop[2]])
    n_fg = int(np.count_nonzero(crop))

    pool, repeat = choose_grid(spacing, voxel_mm=voxel_mm)
    g = resample_to_grid(crop, pool_zyx=pool, repeat_zyx=repeat)
    grid = SkeletonGrid(start_zyx=start, pool_zyx=pool, repeat_zyx=repeat,
                        spacing_zyx=tuple(float(s) * p / r for s, p, r in zip(spacing, pool, repeat)),
                        shape_zyx=tuple(int(v) for v in g.shape))
    skel = skeletonize(g)  # 3D Lee thinning; pads by one voxel itself
    del g
    vox = np.argwhere(skel).astype(np.int64)
    index = grid.to_array_index(vox)
    points = frame.array_index_to_physical(index)

    edt_mm = lumen_edt_mm(crop, spacing, parallel=parallel)
    window = tuple(int(p // 2) for p in pool)
    radius = LumenRadius(edt_mm=edt_mm, start_zyx=start, spacing_zyx=tuple(spacing), window_zyx=window)
    return LumenSkeleton(grid=grid, voxels=vox, index_zyx=index, points_mm=points,
                         radius=radius, n_foreground=n_fg)
