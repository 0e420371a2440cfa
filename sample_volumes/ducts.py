"""Seeded duct-tree growth: one rooted tree per ductal system, in local breast mm.

Local breast coordinates (mm) are the simulator's working frame, aligned with the
volume's array axes: ``x`` runs from the chest wall (x = 0) to the nipple, ``y`` along the
chest wall (the tube's sweep direction), ``z`` from the detector up to the compression
paddle.  ``sample_volumes.generate`` maps them into the image's physical frame at the end.

Anatomical numbers (``../shared/DOMAIN.md``): main duct 1.5-2.5 mm wide with an ampulla
(2-4 mm) behind the nipple, first branch within ~15 mm, children start at 0.65-0.99 of the
parent's radius, side branches leave at 27-81 degrees, 4-7 generations, ducts running
30-90 mm back from the nipple.  Branches are graph edges (between branch points), so a
duct that gives off a side branch continues as a new branch of the next generation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reconstruction.tree import Branch, DuctSystem, DuctTree

__all__ = ["BreastGeometry", "TreeParameters", "grow_system", "grow_tree"]


@dataclass(frozen=True)
class BreastGeometry:
    """The compressed breast in local mm.

    Attributes
    ----------
    depth_mm : float
        Chest wall (x = 0) to the base of the nipple.
    half_width_mm : float
        Half the breast's extent along the chest wall.
    center_y_mm : float
        y of the nipple axis.
    thickness_mm : float
        Compressed thickness (z from 0 to thickness).
    nipple_radius_mm, nipple_length_mm : float
        The nipple as a short cylinder protruding along +x at mid-thickness.
    areola_radius_mm : float
    skin_mm : float
    """

    depth_mm: float
    half_width_mm: float
    center_y_mm: float
    thickness_mm: float
    nipple_radius_mm: float = 6.5
    nipple_length_mm: float = 5.0
    areola_radius_mm: float = 18.0
    skin_mm: float = 1.5

    @property
    def nipple_tip(self) -> np.ndarray:
        return np.array([self.depth_mm + self.nipple_length_mm, self.center_y_mm, 0.5 * self.thickness_mm])

    @property
    def nipple_base(self) -> np.ndarray:
        return np.array([self.depth_mm, self.center_y_mm, 0.5 * self.thickness_mm])

    def inside(self, p: np.ndarray, *, margin_mm: float = 0.0) -> np.ndarray:
        """True where local points lie inside the breast (shrunk by ``margin_mm``)."""
        p = np.atleast_2d(p)
        x, y, z = p[:, 0], p[:, 1] - self.center_y_mm, p[:, 2]
        a = max(self.depth_mm - margin_mm, 1e-3)
        b = max(self.half_width_mm - margin_mm, 1e-3)
        in_body = (x >= margin_mm) & ((x / a) ** 2 + (y / b) ** 2 <= 1.0)
        in_z = (z >= margin_mm) & (z <= self.thickness_mm - margin_mm)
        r_n = np.hypot(y, z - 0.5 * self.thickness_mm)
        in_nipple = (x >= self.depth_mm - 1) & (x <= self.depth_mm + self.nipple_length_mm - margin_mm) & (
            r_n <= self.nipple_radius_mm - margin_mm)
        return (in_body & in_z) | in_nipple


@dataclass(frozen=True)
class TreeParameters:
    """Knobs of the growth model; defaults follow DOMAIN.md."""

    main_radius_mm: tuple[float, float] = (0.75, 1.25)
    ampulla_factor: tuple[float, float] = (1.3, 1.7)
    first_branch_mm: tuple[float, float] = (6.0, 14.0)
    segment_mm: tuple[float, float] = (7.0, 16.0)
    terminal_mm: tuple[float, float] = (5.0, 14.0)
    continuation_ratio: tuple[float, float] = (0.85, 0.99)
    side_ratio: tuple[float, float] = (0.65, 0.90)
    side_angle_deg: tuple[float, float] = (27.0, 81.0)
    generations: tuple[int, int] = (4, 7)
    min_radius_mm: float = 0.25
    tortuosity: float = 0.05  # rad of direction noise per mm of growth
    step_mm: float = 0.4
    taper_per_mm: float = 0.004
    max_branches: int = 70
    side_branch_prob: float = 0.85


@dataclass
class _Seg:
    points: list = field(default_factory=list)
    radii: list = field(default_factory=list)
    parent: int | None = None
    generation: int = 1


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(np.linalg.norm(v), 1e-12)


def _rotate_away(direction: np.ndarray, angle: float, rng: np.random.Generator,
                 *, z_weight: float = 0.5) -> np.ndarray:
    """Rotate ``direction`` by ``angle`` about a random perpendicular axis.

    ``z_weight`` < 1 makes in-plane deflections likelier than ones toward the paddle:
    a compressed breast spreads its ducts along the detector.
    """
    d = _unit(direction)
    helper = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = _unit(np.cross(d, helper))
    e2 = _unit(np.cross(d, e1))
    phi = rng.uniform(0, 2 * np.pi)
    perp = np.cos(phi) * e1 + z_weight * np.sin(phi) * e2
    perp = _unit(perp - perp.dot(d) * d)
    return _unit(np.cos(angle) * d + np.sin(angle) * perp)


def _grow_segment(start: np.ndarray, direction: np.ndarray, radius: float, length: float,
                  breast: BreastGeometry, params: TreeParameters, rng: np.random.Generator,
                  *, radius_profile=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walk a curved duct segment; returns points, radii and the final direction."""
    pts = [np.asarray(start, float)]
    rad = [radius]
    d = _unit(direction)
    n = max(int(np.ceil(length / params.step_mm)), 2)
    posterior = np.array([-1.0, 0.0, 0.0])
    mid_z = 0.5 * breast.thickness_mm
    for i in range(1, n + 1):
        # Smooth random walk with a weak pull toward the chest wall and back toward
        # mid-thickness when the duct nears the skin or paddle.
        d = _rotate_away(d, abs(rng.normal(0, params.tortuosity * np.sqrt(params.step_mm))), rng, z_weight=0.6)
        d = _unit(d + 0.02 * posterior)
        p = pts[-1] + params.step_mm * d
        z_room = min(p[2], breast.thickness_mm - p[2])
        if z_room < 8.0:
            d = _unit(d + np.array([0, 0, 0.08 * np.sign(mid_z - p[2])]))
        # Inside the nipple and just behind it the ducts run freely (bundled together).
        near_nipple = p[0] > breast.depth_mm - 8.0
        if not near_nipple and not breast.inside(p, margin_mm=4.0)[0]:
            # Steer back inside: toward the breast's interior axis.
            inward = _unit(np.array([breast.depth_mm * 0.5, breast.center_y_mm, mid_z]) - p)
            d = _unit(d + 0.5 * inward)
            p = pts[-1] + params.step_mm * d
            if not breast.inside(p, margin_mm=2.5)[0]:
                break
        r = rad[-1] * (1.0 - params.taper_per_mm * params.step_mm)
        if radius_profile is not None:
            r = radius * radius_profile(i * params.step_mm) * (1.0 - params.taper_per_mm * i * params.step_mm)
        pts.append(p)
        rad.append(max(r, params.min_radius_mm * 0.8))
    return np.asarray(pts), np.asarray(rad), d


def grow_system(orifice: np.ndarray, breast: BreastGeometry, rng: np.random.Generator,
                params: TreeParameters = TreeParameters(), *,
                initial_direction: np.ndarray | None = None) -> list[_Seg]:
    """Grow one ductal system from its orifice; returns graph-edge segments (parents first)."""
    max_gen = int(rng.integers(params.generations[0], params.generations[1] + 1))
    r0 = rng.uniform(*params.main_radius_mm)
    amp = rng.uniform(*params.ampulla_factor)
    first = rng.uniform(*params.first_branch_mm)
    # The ampulla (lactiferous sinus): a widening a few mm behind the orifice.
    amp_center, amp_len = rng.uniform(0.45, 0.6) * first, 0.5 * first

    def ampulla(s: float) -> float:
        return 1.0 + (amp - 1.0) * np.exp(-0.5 * ((s - amp_center) / (0.35 * amp_len)) ** 2)

    if initial_direction is None:
        initial_direction = np.array([-1.0, rng.normal(0, 0.35), rng.normal(0, 0.12)])
    segs: list[_Seg] = []
    # Queue items: (start, direction, radius, length, parent index, generation, profile)
    queue = [(np.asarray(orifice, float), _unit(initial_direction), r0, first, None, 1, ampulla)]
    while queue and len(segs) < params.max_branches:
        start, d, r, length, parent, gen, profile = queue.pop(0)
        pts, rad, d_end = _grow_segment(start, d, r, length, breast, params, rng, radius_profile=profile)
        if len(pts) < 3:
            continue
        segs.append(_Seg(points=list(pts), radii=list(rad), parent=parent, generation=gen))
        me = len(segs) - 1
        r_end = float(rad[-1])
        reached_full = np.linalg.norm(pts[-1] - pts[0]) > 0.6 * length
        if gen >= max_gen or r_end < params.min_radius_mm / params.side_ratio[0] or not reached_full:
            continue
        # Branch point: the duct continues and gives off a side branch (sometimes two
        # near-equal daughters: a dichotomous split).
        dichotomous = rng.uniform() < 0.25
        last_gen = gen + 1 >= max_gen
        seg_len = rng.uniform(*params.terminal_mm) if last_gen else rng.uniform(*params.segment_mm) * (0.92 ** gen)
        if dichotomous:
            half = np.deg2rad(rng.uniform(params.side_angle_deg[0], params.side_angle_deg[1]) / 2)
            ra = r_end * rng.uniform(0.75, 0.95)
            rb = r_end * rng.uniform(0.70, 0.95)
            da = _rotate_away(d_end, half, rng)
            db = _unit(2 * d_end * np.cos(half) - da)  # mirror of da about d_end
            queue.append((pts[-1], da, ra, seg_len, me, gen + 1, None))
            queue.append((pts[-1], db, rb, seg_len * rng.uniform(0.8, 1.2), me, gen + 1, None))
        else:
            rc = r_end * rng.uniform(*params.continuation_ratio)
            queue.append((pts[-1], d_end, rc, seg_len, me, gen + 1, None))
            if rng.uniform() < params.side_branch_prob or gen == 1:
                rs = r_end * rng.uniform(*params.side_ratio)
                if rs >= params.min_radius_mm:
                    ang = np.deg2rad(rng.uniform(*params.side_angle_deg))
                    ds = _rotate_away(d_end, ang, rng)
                    queue.append((pts[-1], ds, rs, seg_len * rng.uniform(0.7, 1.1), me, gen + 1, None))
    return segs


def grow_tree(breast: BreastGeometry, rng: np.random.Generator, *, n_systems: int,
              params: TreeParameters = TreeParameters(),
              orifice_ring_mm: float = 3.0) -> DuctTree:
    """Grow ``n_systems`` systems with orifices spread over the nipple face (local mm)."""
    tip = breast.nipple_tip
    branches: list[Branch] = []
    systems: list[DuctSystem] = []
    # Orifices on a ring around the nipple axis; each system heads off in its own
    # direction so that lobes fan out behind the nipple, as they do.
    phase = rng.uniform(0, 2 * np.pi)
    for s in range(n_systems):
        ang = phase + 2 * np.pi * s / max(n_systems, 1) + rng.normal(0, 0.2)
        ring = orifice_ring_mm * (0.5 + 0.5 * rng.uniform()) if n_systems > 1 else rng.uniform(0, 1.0)
        orifice = tip + np.array([-0.3, ring * np.cos(ang), 0.6 * ring * np.sin(ang)])
        fan = np.array([-1.0, 0.55 * np.cos(ang) + rng.normal(0, 0.15), 0.25 * np.sin(ang) + rng.normal(0, 0.05)])
        segs = grow_system(orifice, breast, rng, params, initial_direction=fan)
        offset = len(branches)
        sys_id = s
        for k, seg in enumerate(segs):
            branches.append(Branch(id=offset + k, system=sys_id,
                                   parent=None if seg.parent is None else offset + seg.parent,
                                   points_mm=np.asarray(seg.points), radius_mm=np.asarray(seg.radii),
                                   generation=seg.generation))
        systems.append(DuctSystem(id=sys_id, orifice_mm=orifice, root_branch=offset if segs else None))
    return DuctTree(branches=branches, systems=systems, nipple_mm=tip)
