"""Lesions and artefacts placed on a true duct tree (local breast mm).

Each placer edits the tree in place where the lesion changes the lumen (dilation before a
papilloma, ectasia, no contrast beyond an obstruction) and returns a :class:`LesionSpec`
carrying what the renderer needs (voids inside the contrast column, contrast pools) and
what the ground truth records.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reconstruction.tree import DuctTree

__all__ = ["LesionSpec", "place_papilloma", "place_cutoff", "place_ectasia", "place_cyst",
           "place_air_bubbles", "arc_length"]


@dataclass
class LesionSpec:
    """One simulated lesion or artefact.

    Attributes
    ----------
    kind : {"filling_defect", "cutoff", "ectasia", "cyst", "air_bubble"}
    center : (3,) ndarray
        Local mm (converted to physical mm in the truth file).
    diameter_mm : float
    system, branch, point_index : int
        Where on the true tree.
    artefact : bool
        True for air bubbles: they mimic filling defects but are not lesions.
    obstructing : bool
        Contrast does not pass it.
    voids : list of (center, radius)
        Spheres of tissue inside the contrast column (papilloma lobules, bubbles).
    pools : list of (center, radius)
        Spheres of contrast (cysts).
    cut_plane : (point, normal) or None
        The blunt end of a cut-off: no contrast beyond the plane.
    """

    kind: str
    center: np.ndarray
    diameter_mm: float
    system: int
    branch: int
    point_index: int
    artefact: bool = False
    obstructing: bool = False
    suspected_dcis: bool = False
    voids: list = field(default_factory=list)
    pools: list = field(default_factory=list)
    cut_plane: tuple | None = None


def arc_length(points: np.ndarray) -> np.ndarray:
    """Cumulative arc length (mm) along a polyline."""
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def _tangent(points: np.ndarray, i: int) -> np.ndarray:
    a, b = points[max(i - 2, 0)], points[min(i + 2, len(points) - 1)]
    v = b - a
    return v / max(np.linalg.norm(v), 1e-9)


def _stop_contrast(tree: DuctTree, branch: int, from_index: int) -> None:
    """No contrast beyond ``from_index`` of ``branch`` nor in anything distal to it."""
    b = tree.branches[branch]
    if b.opacified is None:
        b.opacified = np.ones(len(b.points_mm), bool)
    b.opacified[from_index:] = False
    for d in tree.descendants(branch)[1:]:
        tree.branches[d].opacified = np.zeros(len(tree.branches[d].points_mm), bool)


def _widen(tree: DuctTree, branch: int, s_center: float, *, radius: float, half_length: float,
           proximal_mm: float = 0.0, proximal_factor: float = 1.0) -> None:
    """Raise the lumen radius to ``radius`` around arc length ``s_center`` (smooth ends),
    and dilate the duct by ``proximal_factor`` over ``proximal_mm`` before it."""
    b = tree.branches[branch]
    s = arc_length(b.points_mm)
    r = b.radius_mm.copy()
    ramp = np.clip(1.5 - np.abs(s - s_center) / max(half_length, 1e-3), 0, 1)
    ramp = 0.5 - 0.5 * np.cos(np.pi * ramp)
    r = np.maximum(r, r + (radius - r) * ramp)
    if proximal_mm > 0:
        w = np.clip((s - (s_center - proximal_mm)) / max(proximal_mm, 1e-3), 0, 1) * (s <= s_center)
        r = np.maximum(r, b.radius_mm * (1 + (proximal_factor - 1) * w))
    b.radius_mm = r


def _pick_point(tree: DuctTree, rng: np.random.Generator, *, system: int, generations: tuple[int, int],
                min_radius: float, frac: tuple[float, float] = (0.3, 0.7), avoid: list | None = None,
                min_separation_mm: float = 12.0, nipple_min_mm: float = 8.0,
                max_from_nipple_mm: float | None = None, min_from_nipple_mm: float = 0.0) -> tuple[int, int]:
    """Choose an opacified branch point satisfying the constraints (branch, index)."""
    avoid = avoid or []
    cands = []
    for b in tree.branches:
        if b.system != system or not (generations[0] <= b.generation <= generations[1]):
            continue
        if b.opacified is not None and not b.opacified.all():
            continue
        n = len(b.points_mm)
        for i in range(int(frac[0] * n), max(int(frac[1] * n), int(frac[0] * n) + 1)):
            if i >= n or b.radius_mm[i] < min_radius:
                continue
            p = b.points_mm[i]
            dn = np.linalg.norm(p - tree.nipple_mm)
            if dn < max(nipple_min_mm, min_from_nipple_mm):
                continue
            if max_from_nipple_mm is not None and dn > max_from_nipple_mm:
                continue
            if any(np.linalg.norm(p - a) < min_separation_mm for a in avoid):
                continue
            cands.append((b.id, i))
    if not cands:
        raise RuntimeError("no duct segment fits this lesion; try another seed")
    return cands[int(rng.integers(len(cands)))]


def place_papilloma(tree: DuctTree, rng: np.random.Generator, *, system: int, diameter_mm: float,
                    obstructing: bool = False, generations: tuple[int, int] = (1, 3),
                    avoid: list | None = None, max_from_nipple_mm: float | None = None,
                    min_from_nipple_mm: float = 0.0) -> LesionSpec:
    """A papilloma: a smooth lobulated filling defect, the duct dilated before it."""
    bid, i = _pick_point(tree, rng, system=system, generations=generations, min_radius=0.45,
                         avoid=avoid, max_from_nipple_mm=max_from_nipple_mm,
                         min_from_nipple_mm=min_from_nipple_mm)
    b = tree.branches[bid]
    s = arc_length(b.points_mm)
    c = b.points_mm[i].copy()
    t = _tangent(b.points_mm, i)
    rad = 0.5 * diameter_mm
    # Lobulated: a core and 2-3 lobules that stay within the stated diameter.
    voids = [(c, 0.78 * rad)]
    for _ in range(int(rng.integers(2, 4))):
        v = rng.normal(size=3)
        v -= v.dot(t) * t * 0.5
        v /= np.linalg.norm(v)
        voids.append((c + 0.38 * rad * v, 0.58 * rad))
    gap = 0.0 if obstructing else rng.uniform(0.35, 0.7)
    _widen(tree, bid, s[i], radius=rad + gap, half_length=rad + 0.8,
           proximal_mm=rng.uniform(8, 15), proximal_factor=rng.uniform(1.3, 1.7))
    if obstructing:
        # The contrast column stops at the papilloma's proximal surface (a meniscus).
        stop = int(np.searchsorted(s, s[i] - 0.3 * rad))
        _stop_contrast(tree, bid, max(stop, 1))
    return LesionSpec("filling_defect", c, diameter_mm, system, bid, i, obstructing=obstructing, voids=voids)


def place_cutoff(tree: DuctTree, rng: np.random.Generator, *, system: int,
                 avoid: list | None = None) -> LesionSpec:
    """An abrupt cut-off: the contrast ends bluntly at full calibre (suspicious)."""
    bid, i = _pick_point(tree, rng, system=system, generations=(2, 4), min_radius=0.4, avoid=avoid,
                         frac=(0.35, 0.6))
    b = tree.branches[bid]
    c = b.points_mm[i].copy()
    t = _tangent(b.points_mm, i)
    _stop_contrast(tree, bid, i + 1)
    return LesionSpec("cutoff", c, float(2 * b.radius_mm[i]), system, bid, i, obstructing=True,
                      suspected_dcis=True, cut_plane=(c, t))


def place_ectasia(tree: DuctTree, rng: np.random.Generator, *, system: int, width_mm: float) -> LesionSpec:
    """Ectasia: a segment of a central duct widened to ``width_mm`` (3-8 mm)."""
    bid, i = _pick_point(tree, rng, system=system, generations=(1, 2), min_radius=0.5, frac=(0.4, 0.6),
                         nipple_min_mm=6.0)
    b = tree.branches[bid]
    s = arc_length(b.points_mm)
    half = min(rng.uniform(5, 11), 0.45 * s[-1])
    _widen(tree, bid, s[i], radius=0.5 * width_mm, half_length=half)
    return LesionSpec("ectasia", b.points_mm[i].copy(), width_mm, system, bid, i)


def place_cyst(tree: DuctTree, rng: np.random.Generator, *, system: int, diameter_mm: float,
               avoid: list | None = None) -> LesionSpec:
    """A cyst: a round contrast pool at the end of a terminal duct."""
    tips = [b for b in tree.branches if b.system == system and tree.is_tip(b.id)
            and (b.opacified is None or b.opacified.all())]
    avoid = avoid or []
    tips = [b for b in tips if all(np.linalg.norm(b.points_mm[-1] - a) > 12 for a in avoid)]
    if not tips:
        raise RuntimeError("no terminal duct for a cyst; try another seed")
    b = tips[int(rng.integers(len(tips)))]
    t = _tangent(b.points_mm, len(b.points_mm) - 1)
    rad = 0.5 * diameter_mm
    c = b.points_mm[-1] + 0.8 * rad * t
    return LesionSpec("cyst", c, diameter_mm, system, b.id, len(b.points_mm) - 1, pools=[(c, rad)])


def place_air_bubbles(tree: DuctTree, rng: np.random.Generator, *, system: int, count: int = 1,
                      avoid: list | None = None) -> list[LesionSpec]:
    """Air bubbles: perfectly round, sharply bounded voids in a central duct (artefacts)."""
    bid, i = _pick_point(tree, rng, system=system, generations=(1, 3), min_radius=0.5, avoid=avoid,
                         frac=(0.35, 0.6))
    b = tree.branches[bid]
    s = arc_length(b.points_mm)
    out = []
    r_b = float(np.clip(b.radius_mm[i] * rng.uniform(0.85, 1.0), 0.6, 1.4))
    for k in range(count):
        target = s[i] + k * (2 * r_b + rng.uniform(1.0, 3.0))
        j = int(min(np.searchsorted(s, target), len(s) - 1))
        c = b.points_mm[j].copy()
        # Contrast wraps the bubble in a thin rim: the lumen yields a little around it.
        _widen(tree, bid, s[j], radius=r_b + 0.25, half_length=r_b + 0.3)
        out.append(LesionSpec("air_bubble", c, 2 * r_b, system, bid, j, artefact=True, voids=[(c, r_b)]))
    return out
