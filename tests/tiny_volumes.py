"""Tiny hand-drawn lumen masks with the duct trees they should give.

Each fixture draws tubes as capsules (segment + hemispherical caps) in *physical* mm into
a bool array of a chosen frame, so the same anatomy can be drawn at any spacing, memory
order or direction.  ``TinyVolume.branches`` is the tree expected after topology repair
(spur pruned, loop broken, gap bridged), root end first.

Physical layout shared by all fixtures: ducts run along +x from orifices near x = 2 mm,
in a box 0-36 x 0-21 x 0-8 mm, mostly near the mid-depth z = 4 mm (DBT slices are
the z axis).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reconstruction.frame import ImageFrame
from reconstruction.tree import polyline_length

__all__ = ["DrawnBranch", "TinyVolume", "box_frame", "draw_capsules", "y_fork", "loop",
           "broken_duct", "two_systems", "spur", "dilated", "wide_ampulla", "stub_at_orifice",
           "duct_beyond_a_side_gap",
           "ALL_FIXTURES", "DBT_FIXTURES"]

BOX_LO = (0.0, 0.0, 0.0)
BOX_HI = (36.0, 21.0, 8.0)


@dataclass
class DrawnBranch:
    """An expected branch: drawn centreline (root end first), radius, parent, generation."""

    points_mm: np.ndarray
    radius_mm: float
    parent: int | None
    generation: int
    system: int = 0

    def __post_init__(self) -> None:
        self.points_mm = np.asarray(self.points_mm, float).reshape(-1, 3)

    @property
    def length_mm(self) -> float:
        return polyline_length(self.points_mm)


@dataclass
class TinyVolume:
    """A drawn mask, its frame, its orifices and the tree it should give."""

    name: str
    mask: np.ndarray
    frame: ImageFrame
    orifices_mm: np.ndarray
    branches: list[DrawnBranch]
    extra: dict = field(default_factory=dict)

    @property
    def n_systems(self) -> int:
        return len(self.orifices_mm)


def box_frame(*, spacing_xyz: tuple[float, float, float] = (0.2, 0.2, 1.0),
              flip_xyz: tuple[bool, bool, bool] = (False, False, False),
              lo: tuple[float, float, float] = BOX_LO, hi: tuple[float, float, float] = BOX_HI) -> ImageFrame:
    """A frame whose voxel centres cover the physical box ``lo``-``hi``.

    ``flip_xyz`` reverses image axes (direction -1 on the diagonal); the origin moves to
    the box's far corner so the same physical box is covered.
    """
    lo_a, hi_a, sp = np.asarray(lo, float), np.asarray(hi, float), np.asarray(spacing_xyz, float)
    size = np.floor((hi_a - lo_a) / sp + 1e-9).astype(int) + 1
    signs = np.where(flip_xyz, -1.0, 1.0)
    origin = np.where(flip_xyz, lo_a + (size - 1) * sp, lo_a)
    return ImageFrame(origin=tuple(origin), spacing=tuple(sp), direction=tuple(np.diag(signs).ravel()),
                      size=tuple(int(s) for s in size))


def draw_capsules(frame: ImageFrame, capsules: list[tuple], *, order: str = "C") -> np.ndarray:
    """Bool mask (z, y, x) with every voxel centre within ``r`` of a segment ``p0-p1``.

    Parameters
    ----------
    frame : ImageFrame
    capsules : list of (p0_mm, p1_mm, r_mm)
        Segments in physical mm.
    order : {"C", "F"}
        Memory order of the returned array.
    """
    mask = np.zeros(frame.shape_zyx, bool, order=order)
    shape = np.asarray(frame.shape_zyx)
    for p0, p1, r in capsules:
        p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
        lo, hi = np.minimum(p0, p1) - r, np.maximum(p0, p1) + r
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        idx = frame.physical_to_array_index(corners)
        a = np.clip(np.floor(idx.min(axis=0)).astype(int), 0, shape - 1)
        b = np.clip(np.ceil(idx.max(axis=0)).astype(int) + 1, 1, shape)
        zz, yy, xx = np.meshgrid(*[np.arange(a[k], b[k]) for k in range(3)], indexing="ij")
        pts = frame.array_index_to_physical(np.stack([zz, yy, xx], axis=-1))
        d = p1 - p0
        t = np.clip(((pts - p0) @ d) / max(float(d @ d), 1e-12), 0.0, 1.0)
        inside = np.sum((pts - (p0 + t[..., None] * d)) ** 2, axis=-1) <= r * r
        mask[a[0]:b[0], a[1]:b[1], a[2]:b[2]] |= inside
    return mask


def _volume(name: str, capsules: list[tuple], orifices: list, branches: list[DrawnBranch], *,
            spacing_xyz, flip_xyz, order, extra=None) -> TinyVolume:
    frame = box_frame(spacing_xyz=spacing_xyz, flip_xyz=flip_xyz)
    return TinyVolume(name=name, mask=draw_capsules(frame, capsules, order=order), frame=frame,
                      orifices_mm=np.asarray(orifices, float), branches=branches, extra=extra or {})


def _chain(points: list, r: float) -> list[tuple]:
    return [(points[i], points[i + 1], r) for i in range(len(points) - 1)]


def y_fork(*, spacing_xyz=(0.2, 0.2, 1.0), flip_xyz=(False, False, False), order="C") -> TinyVolume:
    """A main duct forking into two children that leave the plane a little (3 branches)."""
    o, j = (2.0, 10.0, 4.0), (14.0, 10.0, 4.0)
    a, b = (26.0, 16.0, 5.5), (26.0, 4.5, 3.0)
    caps = [(o, j, 1.2), (j, a, 1.0), (j, b, 0.9)]
    br = [DrawnBranch([o, j], 1.2, None, 1), DrawnBranch([j, a], 1.0, 0, 2), DrawnBranch([j, b], 0.9, 0, 2)]
    return _volume("y_fork", caps, [o], br, spacing_xyz=spacing_xyz, flip_xyz=flip_xyz, order=order)


def loop(*, spacing_xyz=(0.2, 0.2, 1.0), flip_xyz=(False, False, False), order="C") -> TinyVolume:
    """A duct that splits round a ring and rejoins; the thin arm must go (1 branch)."""
    o, j1, j2, end = (2.0, 10.0, 4.0), (12.0, 10.0, 4.0), (24.0, 10.0, 4.0), (34.0, 10.0, 4.0)
    thick, thin = (18.0, 14.0, 4.0), (18.0, 6.0, 4.0)
    caps = [(o, j1, 1.1), *_chain([j1, thick, j2], 1.0), *_chain([j1, thin, j2], 0.6), (j2, end, 0.9)]
    br = [DrawnBranch([o, j1, thick, j2, end], 1.0, None, 1)]
    return _volume("loop", caps, [o], br, spacing_xyz=spacing_xyz, flip_xyz=flip_xyz, order=order,
                   extra={"thin_arm_mm": np.asarray(thin)})


def broken_duct(*, spacing_xyz=(0.2, 0.2, 1.0), flip_xyz=(False, False, False), order="C",
                gap_mm: float = 4.0) -> TinyVolume:
    """A duct interrupted by a ``gap_mm`` filling defect, forking beyond it (3 branches)."""
    o, stop = (2.0, 10.0, 4.0), (14.0, 10.0, 4.0)
    restart = (14.0 + gap_mm, 10.0, 4.0)
    j = (26.0, 10.0, 4.0)
    a, b = (33.0, 14.0, 4.0), (33.0, 6.0, 4.0)
    caps = [(o, stop, 1.0), (restart, j, 1.0), (j, a, 0.8), (j, b, 0.8)]
    br = [DrawnBranch([o, j], 1.0, None, 1), DrawnBranch([j, a], 0.8, 0, 2), DrawnBranch([j, b], 0.8, 0, 2)]
    return _volume("broken_duct", caps, [o], br, spacing_xyz=spacing_xyz, flip_xyz=flip_xyz, order=order,
                   extra={"gap_from_mm": np.asarray(stop), "gap_to_mm": np.asarray(restart), "gap_mm": gap_mm})


def two_systems(*, spacing_xyz=(0.2, 0.2, 1.0), flip_xyz=(False, False, False), order="C") -> TinyVolume:
    """Two systems with orifices 3 mm apart whose main ducts touch near the nipple.

    System 0: one duct.  System 1: a duct that forks (3 branches).
    """
    oa, ob = (2.0, 8.5, 4.0), (2.0, 11.5, 4.0)
    ka, kb = (7.0, 9.1, 4.0), (7.0, 10.9, 4.0)       # 1.8 mm apart: radius-1.0 lumens overlap
    ea = (26.0, 3.0, 4.0)
    jb = (15.0, 13.5, 4.0)
    b1, b2 = (24.0, 19.5, 4.0), (26.0, 8.5, 5.0)     # 58 degrees apart, 5 mm clear of system 0
    caps = [*_chain([oa, ka, ea], 1.0), *_chain([ob, kb, jb], 1.0), (jb, b1, 0.8), (jb, b2, 0.8)]
    br = [DrawnBranch([oa, ka, ea], 1.0, None, 1, system=0),
          DrawnBranch([ob, kb, jb], 1.0, None, 1, system=1),
          DrawnBranch([jb, b1], 0.8, 1, 2, system=1), DrawnBranch([jb, b2], 0.8, 1, 2, system=1)]
    return _volume("two_systems", caps, [oa, ob], br, spacing_xyz=spacing_xyz, flip_xyz=flip_xyz,
                   order=order, extra={"contact_mm": np.array([7.0, 10.0, 4.0])})


def spur(*, spacing_xyz=(0.2, 0.2, 1.0), flip_xyz=(False, False, False), order="C") -> TinyVolume:
    """A duct with a short wall bump (a spur to prune) and a real side branch (3 branches)."""
    o, j, end = (2.0, 10.0, 4.0), (22.0, 10.0, 4.0), (31.0, 10.0, 4.0)
    side = (28.0, 17.0, 4.0)
    bump_base, bump_tip = (12.0, 10.0, 4.0), (12.0, 11.5, 4.0)
    caps = [(o, j, 1.2), (j, end, 1.1), (j, side, 0.8), (bump_base, bump_tip, 0.8)]
    br = [DrawnBranch([o, j], 1.2, None, 1), DrawnBranch([j, end], 1.1, 0, 2), DrawnBranch([j, side], 0.8, 0, 2)]
    return _volume("spur", caps, [o], br, spacing_xyz=spacing_xyz, flip_xyz=flip_xyz, order=order,
                   extra={"spur_tip_mm": np.asarray(bump_tip), "spur_base_mm": np.asarray(bump_base)})


def dilated(*, spacing_xyz=(0.2, 0.2, 1.0), flip_xyz=(False, False, False), order="C") -> TinyVolume:
    """A duct through a lobulated dilation (ectasia, a duct widened around a papilloma).

    Four overlapping balls 2.2-2.5 mm in radius, their centres up to 1.6 mm off the duct's
    axis: thinning such a body gives a star of spurs reaching its lobes.  Expected: one
    branch, as wide as the body where it crosses it (``extra["body_radius_mm"]``).
    """
    o, end = (2.0, 10.0, 4.0), (32.0, 10.0, 4.0)
    balls = [((14.0, 10.0, 4.0), 2.5), ((16.5, 11.6, 4.0), 2.2), ((18.5, 8.6, 4.0), 2.2), ((20.5, 10.5, 4.0), 2.4)]
    caps = [(o, end, 0.7)] + [(c, c, r) for c, r in balls]
    br = [DrawnBranch([o, end], 0.7, None, 1)]
    return _volume("dilated", caps, [o], br, spacing_xyz=spacing_xyz, flip_xyz=flip_xyz, order=order,
                   extra={"body_radius_mm": 2.4, "body_x_mm": (12.0, 22.0)})


def wide_ampulla(*, spacing_xyz=(0.2, 0.2, 1.0), flip_xyz=(False, False, False), order="C") -> TinyVolume:
    """A duct leaving a flat dilation 13 mm across and 3 mm deep right at its orifice
    (the subareolar duct distended round a papilloma, compressed in the slab).

    Thinning the flat body gives a sheet of short spurs, the stub reaching the orifice
    among them.  Expected: one system, one branch from the body to the duct's end
    (``extra["body_x_mm"]``: the body's extent along x).
    """
    o, c, half, thick = (2.0, 10.0, 4.0), 9.0, 6.5, 1.5
    caps = []
    for x in np.arange(c - half + thick, c + half - thick + 1e-6, 0.5):
        h = np.sqrt(half ** 2 - (x - c) ** 2) - thick      # a rounded disc of capsules
        if h > 0:
            caps.append(((x, 10.0 - h, 4.0), (x, 10.0 + h, 4.0), thick))
    end = (32.0, 10.0, 4.0)
    caps.append(((c, 10.0, 4.0), end, 0.7))
    br = [DrawnBranch([o, end], 0.7, None, 1)]
    return _volume("wide_ampulla", caps, [o], br, spacing_xyz=spacing_xyz, flip_xyz=flip_xyz, order=order,
                   extra={"body_x_mm": (c - half, c + half)})


ALL_FIXTURES = {"y_fork": y_fork, "loop": loop, "broken_duct": broken_duct,
                "two_systems": two_systems, "spur": spur, "dilated": dilated}
def stub_at_orifice(*, spacing_xyz=(0.2, 0.2, 1.0), flip_xyz=(False, False, False), order="C") -> TinyVolume:
    """A 6 mm stub of lumen at the orifice, and beside it, across a 5 mm gap, the system's
    duct running alongside: no tip of either points at the other (contrast seen where it
    entered, then not until the duct).  Expected: one system holding both."""
    o, stub_end = (2.0, 10.0, 4.0), (2.0, 4.0, 4.0)
    duct = ((7.1, 8.0, 4.0), (7.1, 20.0, 4.0), 0.7)
    br = [DrawnBranch([o, stub_end], 0.6, None, 1), DrawnBranch([duct[0], duct[1]], 0.7, 0, 2)]
    return _volume("stub_at_orifice", [(o, stub_end, 0.6), duct], [o], br, spacing_xyz=spacing_xyz,
                   flip_xyz=flip_xyz, order=order, extra={"duct_mm": 12.0})


def duct_beyond_a_side_gap(*, spacing_xyz=(0.2, 0.2, 1.0), flip_xyz=(False, False, False),
                           order="C") -> TinyVolume:
    """A 12 mm main duct from the orifice whose end points across a 5 mm gap at the side
    of a longer duct running across it, both of whose tips point away.  Expected: the
    longer duct joins the system across the gap."""
    o, end = (2.0, 10.0, 4.0), (14.0, 10.0, 4.0)
    across = ((19.1, 2.0, 4.0), (19.1, 20.0, 4.0), 0.7)
    br = [DrawnBranch([o, end], 0.7, None, 1), DrawnBranch([across[0], across[1]], 0.7, 0, 2)]
    return _volume("duct_beyond_a_side_gap", [(o, end, 0.7), across], [o], br, spacing_xyz=spacing_xyz,
                   flip_xyz=flip_xyz, order=order, extra={"duct_mm": 18.0})


#: Fixtures of DBT geometry only: a body 3 mm deep sampled at 0.2 mm along z thins to a
#: sheet, not a line, so the anisotropic-versus-isotropic invariant does not apply.
DBT_FIXTURES = {"wide_ampulla": wide_ampulla, "stub_at_orifice": stub_at_orifice,
                "duct_beyond_a_side_gap": duct_beyond_a_side_gap}
