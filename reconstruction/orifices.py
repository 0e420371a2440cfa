"""Where each opacified system drains: its orifice on the nipple.

Each ductal system drains through its own orifice on the nipple face; systems do not
anastomose.  In a DBT galactogram the last few millimetres of a main duct, inside the
nipple and across the skin, are the hardest to see: the nipple is a small dense body
next to air, reconstructed with little of its own contrast, and the skin line is bright
through every slice.  The opacified lumen therefore often starts several millimetres
behind the nipple.  Two consequences, handled here:

- a system is a lumen piece that reaches the nipple region *and* runs into the breast
  for at least a main duct's length; fragments near the nipple (a piece of the duct
  inside the nipple, a bright speck on the skin), pieces along the skin, and pieces that
  start beside a system's duct (its branch, the junction unseen) are not systems of
  their own;
- the orifice is on the nipple, not where the visible lumen starts: each system's root
  is extended along a stem from the lumen to the nipple face, traced in-plane along the
  duct where the image shows it (:mod:`reconstruction.stems`), straight otherwise.  Its
  depth is a reconstruction, not an observation, and the tree says so (the stem in the
  notes and a doubled z-uncertainty along it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .frame import ImageFrame
from .segment import Segmentation
from .stems import trace_stem
from .topology import TopologyReport
from .tree import Branch, DuctTree, resample_polyline

__all__ = ["OrificeSearch", "find_orifices", "drop_stub_systems", "extend_to_nipple"]


@dataclass
class OrificeSearch:
    """Lumen pieces that reach the nipple, one per opacified system.

    Attributes
    ----------
    lumen_starts_mm : (S, 3) ndarray
        Each system's lumen point nearest the nipple (where the tree is rooted).
    notes : list of str
        Pieces left out, and why.
    """

    lumen_starts_mm: np.ndarray
    notes: list[str] = field(default_factory=list)


class _Piece(NamedTuple):
    """A lumen piece long enough to be a system: where it starts, and its voxels."""

    start_distance_mm: float
    start_mm: np.ndarray
    points_mm: np.ndarray
    voxels: np.ndarray          # array indices (z, y, x) of the same voxels


def find_orifices(seg: Segmentation, nipple_mm: np.ndarray, *, reach_mm: float = 15.0,
                  min_separation_mm: float = 2.0, min_system_mm: float = 10.0,
                  branch_ratio: float = 1.0 / 3.0, min_depth_mm: float = 5.0) -> OrificeSearch:
    """One lumen start per opacified system: the piece's point nearest the nipple.

    Parameters
    ----------
    seg : Segmentation
    nipple_mm : (3,) array
    reach_mm : float
        A piece of lumen must come this close to the nipple to drain through it.
    min_separation_mm : float
        Two starts closer than this are one system seen twice.
    min_system_mm : float
        A piece must run at least this far into the breast from its start to be a system
        of its own (a main duct runs ~8 mm or more before its first branch).  Shorter
        pieces stay in the mask: the tree builder bridges them to a neighbouring duct when
        they line up with one, and reports them otherwise.
    branch_ratio : float
        A piece whose start is closer to an earlier system's lumen than ``branch_ratio``
        times its own distance from the nipple is a branch of that system.
    min_depth_mm : float
        A system runs into the breast: a piece that stays within this distance of the skin
        (in the slice plane; skin 1-2.5 mm thick, plus its blur) is the skin line.

    Returns
    -------
    OrificeSearch
        Starts sorted nearest the nipple first (system 0 is the most central).
    """
    import cc3d

    nipple = np.asarray(nipple_mm, float)
    labels = cc3d.connected_components(seg.mask, connectivity=26)
    idx = np.argwhere(labels > 0)
    if len(idx) == 0:
        return OrificeSearch(np.zeros((0, 3)))
    pts = seg.frame.array_index_to_physical(idx)
    d = np.linalg.norm(pts - nipple, axis=1)
    lab = labels[tuple(idx.T)]
    notes: list[str] = []
    short: list[tuple[float, np.ndarray]] = []   # (extent, start) of pieces too short
    long: list[_Piece] = []
    for value in np.unique(lab[d <= reach_mm]):
        sel = lab == value
        piece = pts[sel]
        start = piece[np.argmin(d[sel])]
        extent = float(np.max(np.linalg.norm(piece - start, axis=1)))
        if extent < min_system_mm:
            short.append((extent, start))
        else:
            long.append(_Piece(float(d[sel].min()), start, piece, idx[sel]))
    long.sort(key=lambda p: p.start_distance_mm)
    # A system runs into the breast; a piece along the skin (the skin line, the areola's
    # edge) does not, however long.  Judged only among several pieces: when every piece
    # is shallow, they stay (the breast footprint may be wrong, the ducts are not).
    skin_depth = _skin_depth_map(seg) if len(long) > 1 else None
    deep = [p for p in long
            if skin_depth is None or skin_depth[p.voxels[:, 1], p.voxels[:, 2]].max() >= min_depth_mm]
    if len(deep) < len(long) and deep:
        notes.append(f"{len(long) - len(deep)} lumen piece(s) at the nipple staying within {min_depth_mm:g} mm "
                     "of the skin (skin line or areolar edge) are not systems")
        long = deep
    # Nearest the nipple first: a piece whose start lies beside a duct already taken, much
    # nearer to it than to the nipple, is that system's branch whose junction was not
    # seen (systems do not anastomose; a system of its own runs to the nipple by itself).
    starts: list[np.ndarray] = []
    taken: list[cKDTree] = []
    for p in long:
        if any(np.linalg.norm(p.start_mm - o) < min_separation_mm for o in starts):
            continue
        gaps = [float(t.query(p.start_mm)[0]) for t in taken]
        if gaps and min(gaps) <= branch_ratio * p.start_distance_mm:
            k = int(np.argmin(gaps))
            notes.append(f"a lumen piece starting {p.start_distance_mm:.1f} mm from the nipple lies {gaps[k]:.1f} mm "
                         f"from system {k}'s duct: taken as its branch (junction not seen), not a system of its own")
            continue
        starts.append(p.start_mm)
        taken.append(cKDTree(p.points_mm))
    if short:
        longest, start = max(short, key=lambda item: item[0])
        notes.append(f"{len(short)} lumen piece(s) near the nipple shorter than {min_system_mm:g} mm "
                     f"(longest {longest:.1f} mm) are not systems of their own")
        if not starts:
            # Only fragments reach the nipple: the longest one is the best evidence of a system.
            starts.append(start)
            notes.append("only short lumen pieces reach the nipple; the longest was taken for the system")
    starts.sort(key=lambda p: float(np.linalg.norm(p - nipple)))
    return OrificeSearch(np.asarray(starts).reshape(-1, 3), notes)


def _skin_depth_map(seg: Segmentation) -> np.ndarray | None:
    """In-plane distance (mm) from the skin, the edge of the breast footprint; None
    without a footprint."""
    if seg.breast is None or not seg.breast.any() or seg.breast.all():
        return None   # no skin edge in view
    return ndimage.distance_transform_edt(seg.breast, sampling=seg.frame.spacing_zyx[1:])


def drop_stub_systems(tree: DuctTree, report: TopologyReport, *,
                      min_system_mm: float = 10.0) -> tuple[DuctTree, list[str]]:
    """Remove systems with less than ``min_system_mm`` of centreline when a longer one exists.

    Two lumen pieces may each reach the nipple, yet be one system: a branch whose junction
    with the main duct was not seen.  The tree builder bridges such a piece to the duct it
    continues and cuts it from the other orifice where both claim it, which leaves that
    orifice with a stub.  A stub is not an opacified system: its branches go and its
    orifice is kept as not opacified (reported).  The only system is never dropped.
    """
    lengths = {s.id: tree.system_length_mm(s.id) for s in tree.systems}
    longest = max(lengths.values(), default=0.0)
    stubs = [s for s in tree.systems
             if s.root_branch is not None and lengths[s.id] < min_system_mm <= longest]
    if not stubs:
        return tree, []
    ids = {s.id for s in stubs}
    out = tree.with_branches([b.id for b in tree.branches if b.system not in ids])
    notes = []
    for s in out.systems:
        if s.id in ids:
            s.opacified = False
            notes.append(f"system {s.id}: only {lengths[s.id]:.1f} mm of duct at its orifice, cut from a "
                         "longer system it touches: not counted as an opacified system")
            for rooting in report.systems:
                if rooting.system == s.id:
                    rooting.found = False
                    rooting.how += f"; {notes[-1]}"
    return out, notes


def _stem_radius(band_radius_mm: np.ndarray, *, fallback: float, smooth_points: int = 5) -> np.ndarray:
    """Radius along a traced stem: the band's half-width, gaps (the path crossing the skin
    or the nipple's tip, no band) filled from the neighbours, a running median over
    ``smooth_points`` (pixel steps) against the odd pixel; ``fallback`` when no band at all."""
    r = np.asarray(band_radius_mm, float)
    ok = np.isfinite(r)
    if not ok.any():
        return np.full(len(r), fallback)
    r = np.interp(np.arange(len(r)), np.flatnonzero(ok), r[ok])
    return ndimage.median_filter(r, size=min(smooth_points, len(r)) | 1, mode="nearest")


def extend_to_nipple(tree: DuctTree, report: TopologyReport, nipple_mm: np.ndarray, *,
                     ring_mm: float = 2.0, step_mm: float = 0.5, min_stem_mm: float = 1.0,
                     volume: np.ndarray | None = None, frame: ImageFrame | None = None) -> list[str]:
    """Move each system's orifice onto the nipple face with a stem (in place).

    With ``volume`` and its ``frame`` the stem follows the duct in-plane from the system's
    lumen start to the nipple (:func:`reconstruction.stems.trace_stem`), and the orifice
    is where it comes within ``ring_mm`` of the nipple.  Otherwise the stem is straight
    and the orifice is ``nipple + u * ring_mm``, ``u`` pointing from the nipple to the
    lumen start.  Either way systems draining side by side keep distinct orifices.  The
    stem is prepended to the root branch; its radius is the traced band's half-width (the
    root's first radius where the band is not seen, and for a straight stem), its
    z-uncertainty twice the root's first value (its depth was not observed).

    Returns
    -------
    list of str
        One note per extended system.
    """
    nipple = np.asarray(nipple_mm, float)
    notes: list[str] = []
    for system in tree.systems:
        if system.root_branch is None:
            continue
        root: Branch = tree.branches[system.root_branch]
        start = root.points_mm[0]
        offset = start - nipple
        d = float(np.linalg.norm(offset))
        if d <= ring_mm + min_stem_mm:
            continue
        trace = None if volume is None or frame is None else trace_stem(volume, frame, start, nipple)
        traced = None
        if trace is not None:
            # The duct runs to the nipple's tip; its orifice is where it comes within
            # ring_mm of it (the path's last step into the tip is the tip's own bright
            # surface, not the duct).
            near = np.nonzero(np.linalg.norm(trace.points_mm - nipple, axis=1) <= ring_mm)[0]
            if len(near) and near[0] >= 1:
                traced = trace.points_mm[: near[0] + 1]
                band_r = _stem_radius(trace.radius_mm[: near[0] + 1], fallback=float(root.radius_mm[0]))
        if traced is not None:
            orifice = traced[-1].copy()
            path, r = resample_polyline(traced[::-1], step_mm=step_mm, values=band_r[::-1])
            stem, stem_r = path[:-1], r[:-1]        # the root's first point closes it
            length = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())
        else:
            orifice = nipple + offset / d * ring_mm
            length = float(np.linalg.norm(start - orifice))
            t = np.linspace(0.0, 1.0, max(1, int(np.ceil(length / step_mm))) + 1)[:-1, None]
            stem = orifice + t * (start - orifice)
            stem_r = np.full(len(stem), root.radius_mm[0])
        n_new = len(stem)
        root.points_mm = np.concatenate([stem, root.points_mm])
        root.radius_mm = np.concatenate([stem_r, root.radius_mm])
        if root.z_uncertainty_mm is not None:
            root.z_uncertainty_mm = np.concatenate([np.full(n_new, 2.0 * root.z_uncertainty_mm[0]),
                                                    root.z_uncertainty_mm])
        root.bridged = [(a + n_new, b + n_new) for a, b in root.bridged]
        for gap in report.gaps:
            if gap.branch == root.id and gap.point_range is not None:
                gap.point_range = (gap.point_range[0] + n_new, gap.point_range[1] + n_new)
        system.orifice_mm = orifice
        for rooting in report.systems:
            if rooting.system == system.id:
                rooting.orifice_mm = orifice.copy()
                rooting.length_mm += length
        how = "traced in-plane along the duct, its depth not observed" if traced is not None else "not observed"
        notes.append(f"system {system.id}: lumen seen from {d:.1f} mm behind the nipple; a {length:.1f} mm "
                     f"stem to the nipple face was added ({how})")
    return notes
