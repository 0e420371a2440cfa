"""Exact signed distance functions (SDF) of the shapes an excision is made of.

Convention: negative inside, positive outside, in mm.  Each primitive's SDF is exact
everywhere (checked against brute force in the tests).  A ``Union`` takes the minimum:
exact outside, and inside never larger in magnitude than the true depth, so margins
computed from it are never optimistic.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["Sphere", "RoundCone", "Frustum", "Union", "sample_sdf"]


def _points(p: npt.ArrayLike) -> np.ndarray:
    return np.asarray(p, dtype=float).reshape(-1, 3)


@dataclass(frozen=True)
class Sphere:
    """A ball of ``radius`` mm around ``center``.

    Examples
    --------
    >>> Sphere((0, 0, 0), 2.0).sdf([[3, 0, 0], [0, 0, 0]]).tolist()
    [1.0, -2.0]
    """

    center: tuple[float, float, float]
    radius: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "center", tuple(float(v) for v in np.reshape(self.center, 3)))
        object.__setattr__(self, "radius", float(self.radius))

    def sdf(self, points: npt.ArrayLike) -> np.ndarray:
        return np.linalg.norm(_points(points) - np.asarray(self.center), axis=1) - self.radius

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        c = np.asarray(self.center)
        return c - self.radius, c + self.radius


@dataclass(frozen=True)
class RoundCone:
    """Convex hull of two balls ``(a, ra)`` and ``(b, rb)``: a capsule whose radius varies
    linearly along its axis (equal to the union of the interpolated balls).

    Examples
    --------
    >>> s = RoundCone((0, 0, 0), (10, 0, 0), 1.0, 1.0)      # a plain capsule
    >>> s.sdf([[5, 3, 0], [12, 0, 0], [5, 0, 0]]).round(6).tolist()
    [2.0, 1.0, -1.0]
    """

    a: tuple[float, float, float]
    b: tuple[float, float, float]
    ra: float
    rb: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", tuple(float(v) for v in np.reshape(self.a, 3)))
        object.__setattr__(self, "b", tuple(float(v) for v in np.reshape(self.b, 3)))
        object.__setattr__(self, "ra", float(self.ra))
        object.__setattr__(self, "rb", float(self.rb))

    def sdf(self, points: npt.ArrayLike) -> np.ndarray:
        p = _points(points)
        a, b = np.asarray(self.a), np.asarray(self.b)
        r1, r2 = self.ra, self.rb
        ba = b - a
        l2 = float(ba @ ba)
        rr = r1 - r2
        if l2 <= rr * rr:
            # One ball holds the other: the hull is the bigger ball.
            c, r = (a, r1) if r1 >= r2 else (b, r2)
            return np.linalg.norm(p - c, axis=1) - r
        # Closed form of the exact distance to the hull of two spheres (one square root
        # per point); the three cases are the two spherical caps and the conical side.
        a2 = l2 - rr * rr
        il2 = 1.0 / l2
        pa = p - a
        y = pa @ ba
        z = y - l2
        x2 = np.sum((pa * l2 - y[:, None] * ba) ** 2, axis=1)
        y2 = y * y * l2
        z2 = z * z * l2
        k = np.sign(rr) * rr * rr * x2
        out = (np.sqrt(np.maximum(x2 * a2 * il2, 0.0)) + y * rr) * il2 - r1
        out = np.where(np.sign(y) * a2 * y2 < k, np.sqrt(x2 + y2) * il2 - r1, out)
        out = np.where(np.sign(z) * a2 * z2 > k, np.sqrt(x2 + z2) * il2 - r2, out)
        return out

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        a, b = np.asarray(self.a), np.asarray(self.b)
        return np.minimum(a - self.ra, b - self.rb), np.maximum(a + self.ra, b + self.rb)


def _polygon_sdf_2d(q: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Exact SDF of a convex counter-clockwise polygon, points ``(N, 2)``."""
    d = np.full(len(q), np.inf)
    inside = np.ones(len(q), dtype=bool)
    for i in range(len(verts)):
        v0, v1 = verts[i], verts[(i + 1) % len(verts)]
        e = v1 - v0
        w = q - v0
        t = np.clip((w @ e) / float(e @ e), 0.0, 1.0)
        d = np.minimum(d, np.linalg.norm(w - t[:, None] * e, axis=1))
        inside &= (e[0] * w[:, 1] - e[1] * w[:, 0]) >= 0.0
    return np.where(inside, -d, d)


@dataclass(frozen=True)
class Frustum:
    """Truncated cone: radius ``r_top`` at ``apex``, ``r_base`` at ``depth`` mm along ``axis``.

    The solid of revolution of a trapezoid, so its SDF is the exact 2D SDF of that
    trapezoid in the meridian plane (radial distance, depth along the axis).  With
    ``rounding`` > 0 the two rims are rounded with that radius (the trapezoid is eroded
    by ``rounding`` and the distance reduced by it, which is exact): the caps stay at
    depth 0 and ``depth`` and the side keeps its line, only the sharp rims go, which
    marching cubes would otherwise break into slivers.

    Examples
    --------
    >>> f = Frustum((0, 0, 0), (0, 0, 1), depth=25.0, r_top=7.0, r_base=20.0)
    >>> f.sdf([[0, 0, 30], [0, 0, 5]]).round(6).tolist()
    [5.0, -5.0]
    """

    apex: tuple[float, float, float]
    axis: tuple[float, float, float]
    depth: float
    r_top: float
    r_base: float
    rounding: float = 0.0

    def __post_init__(self) -> None:
        axis = np.asarray(self.axis, dtype=float).reshape(3)
        n = np.linalg.norm(axis)
        if n == 0 or not np.isfinite(n):
            raise ValueError(f"frustum axis must be a non-zero vector, got {self.axis}")
        object.__setattr__(self, "axis", tuple(float(v) for v in axis / n))
        object.__setattr__(self, "apex", tuple(float(v) for v in np.reshape(self.apex, 3)))
        for name in ("depth", "r_top", "r_base"):
            v = float(getattr(self, name))
            if not v > 0:
                raise ValueError(f"frustum {name} must be > 0 mm, got {v}")
            object.__setattr__(self, name, v)
        rho = float(self.rounding)
        if rho < 0 or not np.isfinite(rho):
            raise ValueError(f"frustum rounding must be >= 0 mm, got {rho}")
        if rho > 0:
            k = (self.r_base - self.r_top) / self.depth
            slack = min(self.r_top, self.r_base) - rho * np.sqrt(1.0 + k * k) - abs(k) * rho
            if 2.0 * rho >= self.depth or slack <= 0:
                raise ValueError(f"frustum rounding {rho} mm is too large for depth {self.depth} "
                                 f"mm and radii {self.r_top}/{self.r_base} mm")
        object.__setattr__(self, "rounding", rho)

    def _polygon(self) -> np.ndarray:
        """The (eroded) trapezoid, counter-clockwise in (radial, depth)."""
        rho, D = self.rounding, self.depth
        k = (self.r_base - self.r_top) / D
        shift = rho * np.sqrt(1.0 + k * k)  # the side moved inward by rho, along x

        def half_width(y: float) -> float:
            return self.r_top + k * y - shift

        y0, y1 = rho, D - rho
        return np.array([[-half_width(y0), y0], [half_width(y0), y0],
                         [half_width(y1), y1], [-half_width(y1), y1]])

    def local(self, points: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(radial distance from the axis, depth along the axis) of each point, mm."""
        p = _points(points) - np.asarray(self.apex)
        ax = np.asarray(self.axis)
        y = p @ ax
        x = np.linalg.norm(p - y[:, None] * ax, axis=1)
        return x, y

    def sdf(self, points: npt.ArrayLike) -> np.ndarray:
        x, y = self.local(points)
        return _polygon_sdf_2d(np.stack([x, y], axis=1), self._polygon()) - self.rounding

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        a = np.asarray(self.apex)
        ax = np.asarray(self.axis)
        b = a + self.depth * ax
        # A disc of radius r perpendicular to ax spans r * sqrt(1 - ax_k^2) along axis k.
        ext = np.sqrt(np.clip(1.0 - ax ** 2, 0.0, 1.0))
        lo = np.minimum(a - self.r_top * ext, b - self.r_base * ext)
        hi = np.maximum(a + self.r_top * ext, b + self.r_base * ext)
        return lo, hi


Primitive = Sphere | RoundCone | Frustum


@dataclass(frozen=True)
class Union:
    """Union of primitives; SDF is the minimum of theirs.

    Examples
    --------
    >>> u = Union((Sphere((0, 0, 0), 1.0), Sphere((5, 0, 0), 1.0)))
    >>> u.sdf([[2.5, 0, 0]]).tolist()
    [1.5]
    """

    parts: tuple = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))

    def sdf(self, points: npt.ArrayLike) -> np.ndarray:
        p = _points(points)
        if not self.parts:
            return np.full(len(p), np.inf)
        out = self.parts[0].sdf(p)
        for part in self.parts[1:]:
            out = np.minimum(out, part.sdf(p))
        return out

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.parts:
            raise ValueError("an empty union has no bounds")
        los, his = zip(*(part.bounds() for part in self.parts))
        return np.min(los, axis=0), np.max(his, axis=0)


def sample_sdf(shape: Union | Primitive, *, spacing_mm: float, pad_vox: int = 2,
               max_points: int = 40_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Sample an SDF on an axis-aligned grid of physical x, y, z covering the shape.

    Values are exact within a narrow band of ``2 * spacing_mm`` around the surface (all
    marching cubes needs) and clipped to that band farther out; every sample has the
    right sign.  Each primitive is evaluated only on the grid block around its own
    bounding box, which keeps long duct paths cheap.

    Parameters
    ----------
    shape : Union or primitive
    spacing_mm : float
        Grid step, mm (same along x, y and z).
    pad_vox : int
        Samples of padding around the bounding box; >= 1 keeps the surface closed.
    max_points : int
        Refuse grids larger than this (raise ValueError naming the spacing).

    Returns
    -------
    field : (nx, ny, nz) float32 ndarray
        Indexed ``[ix, iy, iz]``: physical x, y, z order.
    origin : (3,) ndarray
        Physical position (mm) of sample ``[0, 0, 0]``.

    Raises
    ------
    ValueError
        For a non-positive spacing or a grid above ``max_points``.

    Examples
    --------
    >>> f, o = sample_sdf(Sphere((0, 0, 0), 1.0), spacing_mm=0.5)
    >>> f.shape, bool(f.min() < 0 < f.max())
    ((9, 9, 9), True)
    """
    if not spacing_mm > 0:
        raise ValueError(f"spacing_mm must be > 0, got {spacing_mm}")
    h = float(spacing_mm)
    parts = shape.parts if isinstance(shape, Union) else (shape,)
    lo, hi = (shape if isinstance(shape, Union) else Union((shape,))).bounds()
    pad = max(int(pad_vox), 1) * h
    origin = lo - pad
    n = np.ceil((hi + pad - origin) / h).astype(int) + 1
    if int(np.prod(n)) > max_points:
        raise ValueError(f"excision grid of {n.tolist()} samples at {h} mm is too large; "
                         f"use a coarser grid_spacing_mm")
    band = 2.0 * h
    field_ = np.full(tuple(n), band, dtype=np.float32)
    axes = [origin[k] + h * np.arange(n[k]) for k in range(3)]
    for part in parts:
        plo, phi = part.bounds()
        i0 = np.clip(np.floor((plo - band - origin) / h).astype(int), 0, n - 1)
        i1 = np.clip(np.ceil((phi + band - origin) / h).astype(int) + 1, 1, n)
        sub = [axes[k][i0[k]:i1[k]] for k in range(3)]
        X, Y, Z = np.meshgrid(*sub, indexing="ij")
        vals = part.sdf(np.stack([X.ravel(), Y.ravel(), Z.ravel()], axis=1)).reshape(X.shape)
        block = field_[i0[0]:i1[0], i0[1]:i1[1], i0[2]:i1[2]]
        np.minimum(block, np.minimum(vals, band).astype(np.float32), out=block)
    return field_, origin
