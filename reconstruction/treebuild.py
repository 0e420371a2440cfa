"""Lumen mask -> one rooted :class:`DuctTree` per ductal system, with a topology report.

Pipeline (each step in physical mm; every change goes into the :class:`TopologyReport`):

1. **Skeleton** (:mod:`reconstruction.skeleton`): crop to the lumen, resample to a
   near-isotropic grid (slice step adapted to how tall the lumen looks), curve thinning,
   map back to mm; anisotropic EDT of the original mask for radii.
2. **Graph** (:mod:`reconstruction.graph`): tips and junction clusters as nodes, voxel
   paths as edges; self-loops a few voxels round are thinning noise and go.
3. **Rooting**: each orifice takes the nearest skeleton tip within
   ``orifice_tolerance_mm`` (a tip is preferred over a nearer mid-duct point unless it is
   much farther: the main duct *ends* at the nipple); else the nearest centreline point.
   Rooting is done twice: once to separate the systems, and again after the spurs are
   pruned, so that a thinning claw at the blunt end of a main duct never becomes a root.
4. **Separating systems**: where two orifices' lumens touch (near the nipple, or where
   z-blur merges two ducts), every node goes to the orifice nearest along the centreline
   (a geodesic Voronoi partition); an edge whose ends fall to different systems is cut
   where the two geodesic distances are equal.  Each cut is reported.
5. **Spurs**: a tip edge hanging off a junction is pruned when shorter than
   ``spur_factor`` x the local lumen radius (+ half a slice spacing times its share
   along the slice axis: a lumen seen slice by slice reaches up to half a slice beyond
   its wall), or when its tip lies within that reach of the centreline kept around it
   (the junction's other edges and the edges beyond them): a wide body's spurs reach
   its far corners from a junction off its centre.  A wall bump thins into a side
   branch about one radius long, while a real
   side branch leaves the parent's wall, so it is longer than the parent's radius plus
   its own length: 1.5 x (default) prunes bumps up to half a radius high.  The local
   radius is the EDT at the junction or the duct leading to it, whichever is wider (at
   a blunt end the junction of a tip fork sits inside the cap, where the EDT is small).
6. **Cycles**: ducts do not anastomose, so each loop is broken by a maximum-weight
   spanning forest (Kruskal): an edge is weak when long and thin,
   ``w = length / (radius^2 * relative intensity)``, and each loop loses its weakest
   edge.  A weak edge that is itself a long duct (longer than ``loop_cut_factor`` local
   radii, in a loop of 8 mm or more: two ducts that touch) is cut where the loop closes,
   equally far from the orifice both ways round, and both parts are kept as tips;
   shorter ones (a hole in the mask, a bridge between touching walls) are removed.
   Loops shorter than three grid voxels are thinning noise (counted, not listed).
7. **Tips**: thinning stops a curve up to a radius inside a duct's rounded end; each tip
   is moved out to the wall along its direction and set back by the duct's radius (the
   centre of the end cap).
8. **Gap bridging**: a piece of centreline not connected to any orifice (the duct beyond
   a filling defect or an air bubble) is joined when one of its tips points at other
   centreline: the gap must be at most ``max_gap_mm``, within ``max_gap_angle_deg``
   (45) of the direction the piece runs at that tip and, when it ends on another tip (a
   *continuation*), within ``max_tip_angle_deg`` (60) of the direction that tip runs;
   otherwise it may join the side of a duct (a branch whose origin did not fill) at a
   cost penalty.  ``cost = gap * (1 + (1 - cos a_piece) + (1 - cos a_tip or 0.5))``;
   joins are accepted cheapest first between different groups (Kruskal), so a duct
   broken twice is joined piece by piece; joins in groups that reach no orifice are
   dropped.  The straight bridge is marked in ``Branch.bridged``; pieces left over are
   reported with the reason.
9. **Branch points**: each is moved to where the fitted axes of its ducts meet (the
   medial fork of ducts meeting at a narrow angle lies up to two radii downstream).
10. **Branches**: a stem joins each orifice to its root point; edges are oriented away
    from the orifice (breadth first), degree-2 nodes merged, and each edge becomes a
    branch: Gaussian-smoothed (``smoothing_mm``, end points pinned so parent and child
    still meet), resampled every ``step_mm``, radius from the EDT (interpolated across
    bridges), and a per-point z uncertainty (:func:`z_uncertainty_mm`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import gaussian_filter1d, median_filter
from scipy.spatial import cKDTree

from .frame import ImageFrame
from .graph import DuctGraph, Edge, graph_from_skeleton
from .skeleton import LumenRadius, skeletonize_lumen
from .topology import (CycleBreak, GapBridge, LoosePiece, SpurRemoval, SystemContact,
                       SystemRooting, TopologyReport)
from .tree import Branch, DuctSystem, DuctTree, arc_length, end_direction, resample_polyline

__all__ = ["build_tree", "smooth_polyline", "z_uncertainty_mm"]

# Labels on edge points (``Edge.gap``): observed lumen, or a straight stem from an orifice
# to its root point (not a lumen gap; radius copied from the nearest observed point).
_OBSERVED = -1
_STEM = -2
# Loops shorter than this are holes in the mask, bubbles or segmentation noise, never two
# ducts that touch: their weakest edge is removed whole rather than cut and kept.
_MIN_CUT_LOOP_MM = 8.0


# ---------------------------------------------------------------------- public helpers
def smooth_polyline(points: npt.ArrayLike, *, sigma_mm: float) -> np.ndarray:
    """Gaussian-smooth a polyline along its arc length with both end points pinned.

    The polyline is first resampled uniformly (so sigma is in mm), then padded at each
    end by its point reflection (``2 p0 - p_k``): a symmetric kernel then leaves the end
    points exactly where they were and keeps the end tangents, so a child branch still
    starts where its parent ends.

    Parameters
    ----------
    points : (N, 3) array_like
        Polyline in mm, uniformly sampled.
    sigma_mm : float
        Standard deviation of the Gaussian along the curve, mm.

    Returns
    -------
    (N, 3) ndarray

    Examples
    --------
    >>> p = np.array([[0, 0, 0], [1, 1, 0], [2, 0, 0], [3, 1, 0], [4, 0, 0.]])
    >>> q = smooth_polyline(p, sigma_mm=1.0)
    >>> q[0].tolist(), q[-1].tolist()
    ([0.0, 0.0, 0.0], [4.0, 0.0, 0.0])
    """
    p = np.asarray(points, float)
    n = len(p)
    if n < 3 or sigma_mm <= 0:
        return p.copy()
    step = float(np.linalg.norm(np.diff(p, axis=0), axis=1).mean())
    if step <= 0:
        return p.copy()
    sigma = sigma_mm / step
    pad = int(min(np.ceil(3 * sigma), n - 1))
    if pad < 1:
        return p.copy()
    head = 2 * p[0] - p[pad:0:-1]
    tail = 2 * p[-1] - p[-2:-pad - 2:-1]
    ext = np.concatenate([head, p, tail])
    sm = gaussian_filter1d(ext, sigma, axis=0, mode="nearest")[pad:pad + n]
    sm[0], sm[-1] = p[0], p[-1]
    return sm


def z_uncertainty_mm(points_mm: npt.ArrayLike, radius_mm: npt.ArrayLike, frame: ImageFrame, *,
                     bridged: npt.ArrayLike | None = None, thin_radius_mm: float = 1.0,
                     max_factor: float = 5.0) -> np.ndarray:
    """1-sigma position uncertainty (mm) along the slice (z) axis at each centreline point.

    A design assumption, not a calibrated model.  With ``s`` the slice spacing::

        sigma_z^2 = (s/2)^2                               slice quantisation (the floor)
                  + ((s/2) * tan(elevation))^2            duct running steeply in z
                  + ((s/2) * max(0, r_thin / r - 1))^2    duct thinner than r_thin

    * Floor ``s/2``: the lumen is only seen slice by slice.
    * Elevation (angle between the duct and the slice plane, capped at ~80 degrees): a
      steep duct crosses few slices and DBT's out-of-plane blur (3.5-10.7 mm FWHM)
      smears it along z, so *where along z* each centreline point lies is ambiguous
      by about the in-plane step per slice times tan(elevation).
    * Thin ducts (below ``thin_radius_mm``, 1 mm) carry less contrast and their depth
      profile is dominated by the blur, so their depth is less sure (0.5 mm radius:
      +s/2; 0.25 mm: +1.5 s).
    * Bridged points (a gap crossed by a straight line) are not observed: at least ``s``.

    The result is capped at ``max_factor * s``.

    Parameters
    ----------
    points_mm : (N, 3) array_like
        Centreline in physical mm.
    radius_mm : (N,) array_like
    frame : ImageFrame
        Gives the slice axis (third image axis, through ``direction``) and spacing.
    bridged : (N,) bool array_like, optional
    thin_radius_mm, max_factor : float

    Returns
    -------
    (N,) ndarray

    Examples
    --------
    >>> f = ImageFrame.identity((10, 10, 10), spacing=(0.1, 0.1, 1.0))
    >>> z_uncertainty_mm([[0, 0, 0], [10, 0, 0]], [2.0, 2.0], f).tolist()   # flat, thick
    [0.5, 0.5]
    """
    p = np.asarray(points_mm, float).reshape(-1, 3)
    r = np.maximum(np.asarray(radius_mm, float).reshape(-1), 1e-3)
    s = float(frame.spacing[2])
    if len(p) >= 2:
        t = np.gradient(p, axis=0)
        t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
        tz = np.abs(frame.vector_to_array_axes(t)[:, 0])
    else:
        tz = np.zeros(len(p))
    txy = np.sqrt(np.clip(1 - tz ** 2, 0.0, 1.0))
    tan_elev = np.minimum(tz / np.maximum(txy, 1e-6), np.tan(np.radians(80.0)))
    half = 0.5 * s
    sigma = np.sqrt(half ** 2 + (half * tan_elev) ** 2 + (half * np.maximum(0.0, thin_radius_mm / r - 1)) ** 2)
    if bridged is not None:
        sigma = np.where(np.asarray(bridged, bool).reshape(-1), np.maximum(sigma, s), sigma)
    return np.minimum(sigma, max_factor * s)


# ----------------------------------------------------------------------- the builder
@dataclass
class _Ctx:
    g: DuctGraph
    frame: ImageFrame
    radius: LumenRadius
    voxel_mm: float
    report: TopologyReport
    intensity: np.ndarray | None

    def radius_at_nodes(self, nodes: list[int]) -> np.ndarray:
        return self.radius.at(np.array([self.g.index_zyx[n] for n in nodes]).reshape(-1, 3))

    def edge_intensity(self, edge: Edge) -> float:
        assert self.intensity is not None
        shape = np.asarray(self.intensity.shape)
        j = np.clip(np.rint(edge.index_zyx).astype(np.int64), 0, shape - 1)
        return float(np.mean(self.intensity[j[:, 0], j[:, 1], j[:, 2]]))


def _as_points(p: npt.ArrayLike | list | None) -> np.ndarray:
    if p is None:
        return np.zeros((0, 3))
    if isinstance(p, (list, tuple)) and len(p) == 0:
        return np.zeros((0, 3))
    a = np.asarray(p, float)
    if a.size == 0:
        return np.zeros((0, 3))
    if a.ndim == 1 and a.shape == (3,):
        a = a[None]
    if a.ndim != 2 or a.shape[1] != 3 or not np.all(np.isfinite(a)):
        raise ValueError(f"orifices_mm must be points in mm, shape (S, 3); got shape {a.shape}")
    return a


#: A rooted lumen shorter than this is a stub of a system, not one: a system runs into
#: the breast for at least a main duct's length (see ``orifices.find_orifices``).
STUB_SYSTEM_MM = 10.0


def build_tree(mask: npt.ArrayLike, frame: ImageFrame, *,
               orifices_mm: npt.ArrayLike | list[np.ndarray],
               nipple_mm: npt.ArrayLike | None = None,
               intensity: np.ndarray | None = None,
               max_gap_mm: float = 12.0,
               smoothing_mm: float = 1.0,
               min_radius_mm: float = 0.3,
               skeleton_voxel_mm: float | None = None,
               orifice_tolerance_mm: float = 4.0,
               spur_factor: float = 1.5,
               loop_cut_factor: float = 4.0,
               max_gap_angle_deg: float = 45.0,
               max_tip_angle_deg: float = 60.0,
               step_mm: float = 0.5,
               max_foreground_fraction: float = 0.5,
               z_stretch: float | None = None,
               clean_radius_mm: float = 0.0,
               thinning: str = "subfield",
               parallel: int = 2) -> tuple[DuctTree, TopologyReport]:
    """Turn a binary lumen mask into one rooted duct tree per ductal system.

    Parameters
    ----------
    mask : (nz, ny, nx) array_like of bool
        Lumen mask, numpy ``(z, y, x)`` order, any memory order.
    frame : ImageFrame
        Where the mask's voxels sit in physical mm.
    orifices_mm : (S, 3) array_like or list of (3,) arrays
        Nipple orifice of each system, physical mm.  ``systems[s]`` of the result belongs
        to ``orifices_mm[s]`` (an orifice without lumen nearby gives an empty, not
        opacified system, reported).  May be empty when ``nipple_mm`` is given: one
        system is then rooted at the lumen tip nearest the nipple.
    nipple_mm : (3,) array_like, optional
        Nipple position; stored in the tree.
    intensity : (nz, ny, nx) ndarray, optional
        Image values; brighter (better filled) edges are kept when a loop is broken.
    max_gap_mm : float
        Longest lumen gap (filling defect, bubble) bridged within one duct.
    smoothing_mm : float
        Gaussian sigma along the centreline.
    min_radius_mm : float
        Smallest duct radius to resolve; sets the skeleton grid (see
        :func:`reconstruction.skeleton.default_voxel_mm`).
    skeleton_voxel_mm : float, optional
        Override the skeleton grid size.
    orifice_tolerance_mm : float
        How far from an orifice its root point may be.
    spur_factor : float
        Tip edges shorter than this multiple of the local lumen radius are spurs.
    loop_cut_factor : float
        A loop's weakest edge longer than this multiple of the local radius (in a loop of
        at least 8 mm) is a duct that touches another: it is cut where the loop closes
        and kept; shorter ones
        (a bridge between touching ducts, the far side of a hole in the mask) are
        removed.  ``numpy.inf`` always removes the weakest edge whole.
    max_gap_angle_deg, max_tip_angle_deg : float
        Direction limits for bridging (see the module notes).
    step_mm : float
        Spacing of the output centreline points.
    max_foreground_fraction : float
        Masks with more foreground are refused.
    z_stretch : float, optional
        How many times taller than wide the lumen looks along the slice axis; measured
        from the mask by default (see :func:`reconstruction.skeleton.estimate_z_stretch`).
    clean_radius_mm : float
        Morphological opening before thinning, for speckled full-width masks (see
        :func:`reconstruction.skeleton.open_lumen`); 0 (default) is off.
    thinning : {"subfield", "lee"}
        Thinning algorithm (see :func:`reconstruction.skeleton.thin_to_curves`).
    parallel : int
        Threads for the distance transform.

    Returns
    -------
    tree : DuctTree
        ``branches[i].id == i``, ``systems[s].id == s``; points root end first.
    report : TopologyReport

    Raises
    ------
    ValueError
        Bad shapes, an empty mask ("no lumen found ..."), a solid mask, a mask without any
        centreline, or neither orifices nor a nipple.

    Examples
    --------
    >>> from reconstruction.frame import ImageFrame
    >>> m = np.zeros((12, 40, 120), bool); m[4:8, 17:23, 10:110] = True
    >>> f = ImageFrame.identity(m.shape, spacing=(0.25, 0.25, 0.25))
    >>> tree, report = build_tree(m, f, orifices_mm=[[3.0, 5.0, 1.5]])
    >>> len(tree.branches), 23 < tree.branches[0].length_mm < 26
    (1, True)
    """
    orifices = _as_points(orifices_mm)
    nipple = None if nipple_mm is None else np.asarray(nipple_mm, float).reshape(3)
    if len(orifices) == 0 and nipple is None:
        raise ValueError("no orifices_mm and no nipple_mm given: need at least one to root the tree")
    if intensity is not None and tuple(np.shape(intensity)) != frame.shape_zyx:
        raise ValueError(f"intensity shape {np.shape(intensity)} does not match the frame's "
                         f"(z, y, x) shape {frame.shape_zyx}")
    for name, v in (("max_gap_mm", max_gap_mm), ("step_mm", step_mm),
                    ("orifice_tolerance_mm", orifice_tolerance_mm)):
        if not v > 0:
            raise ValueError(f"{name} must be positive, got {v}")

    sk = skeletonize_lumen(mask, frame, voxel_mm=skeleton_voxel_mm, min_radius_mm=min_radius_mm,
                           max_foreground_fraction=max_foreground_fraction, z_stretch=z_stretch,
                           clean_radius_mm=clean_radius_mm, thinning=thinning, parallel=parallel)
    g = graph_from_skeleton(sk.voxels, sk.points_mm, sk.index_zyx)
    report = TopologyReport()
    report.skeleton = {"grid_spacing_zyx_mm": list(sk.grid.spacing_zyx),
                       "image_spacing_zyx_mm": list(frame.spacing_zyx),
                       "crop_start_zyx": list(sk.grid.start_zyx), "grid_shape_zyx": list(sk.grid.shape_zyx),
                       "z_stretch": sk.grid.z_stretch, "n_noise_voxels_removed": sk.n_noise,
                       "n_lumen_voxels": sk.n_foreground, "n_skeleton_voxels": int(len(sk.voxels))}
    if not g.edges:
        raise ValueError(f"no lumen centreline found: the mask's {sk.n_foreground} lumen voxels thin to "
                         f"{len(sk.voxels)} isolated point(s), nothing longer than one "
                         f"{sk.grid.voxel_mm:.2f} mm grid voxel")
    ctx = _Ctx(g=g, frame=frame, radius=sk.radius, voxel_mm=sk.grid.voxel_mm, report=report,
               intensity=None if intensity is None else np.asarray(intensity))
    artefact_mm = 3.0 * ctx.voxel_mm

    for e in [e for e, edge in g.edges.items() if edge.is_loop and edge.length_mm < artefact_mm]:
        g.remove_edge(e)
        report.artefact_loops += 1
    g.merge_degree2()

    if len(orifices) == 0:
        orifices = _orifice_from_nipple(ctx, nipple)
    # rooted once to keep touching systems apart, and again once thinning claws at the
    # blunt duct ends near the nipple are pruned (a claw tip must not become the root)
    roots = _root_systems(ctx, orifices, tolerance_mm=orifice_tolerance_mm)
    first_roots_mm = [None if r is None else g.pos_mm[r].copy() for r in roots]
    _separate_systems(ctx, roots)
    # Nothing is protected yet, so only the junction test here: the main duct's stub from
    # the nipple ends inside a dilated ampulla's lumen, and must not go as a covered spur.
    _prune_spurs(ctx, set(), factor=spur_factor, min_mm=2.0 * ctx.voxel_mm, covered=False)
    report.systems.clear()
    # In a lumen wider than the stub is long (an ampulla distended round a papilloma) the
    # pruning may take the whole stub: the system then starts where the lumen leads from it.
    roots = _root_systems(ctx, orifices, tolerance_mm=orifice_tolerance_mm, pruned_roots_mm=first_roots_mm)
    protect = {r for r in roots if r is not None}
    _break_cycles(ctx, roots, artefact_mm=artefact_mm, cut_factor=loop_cut_factor)
    g.merge_degree2(protect=protect)
    _prune_spurs(ctx, protect, factor=spur_factor, min_mm=2.0 * ctx.voxel_mm)  # tips freed by cuts
    _extend_tips(ctx, protect)
    reasons = _bridge_gaps(ctx, roots, max_gap_mm=max_gap_mm, max_gap_angle_deg=max_gap_angle_deg,
                           max_tip_angle_deg=max_tip_angle_deg)
    _report_pieces(ctx, roots, reasons)
    # A bridge may join two systems' trees (a piece claimed from both sides): cut between
    # them again, so no centreline belongs to two systems.
    _separate_systems(ctx, roots)
    _refine_junctions(ctx, protect)
    tree = _extract_tree(ctx, roots, orifices, nipple=nipple, smoothing_mm=smoothing_mm, step_mm=step_mm)
    return tree, report


# ------------------------------------------------------------------------------ steps
def _all_edge_points(g: DuctGraph, edges: list[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated edge points with their edge id and point index."""
    ids = list(g.edges) if edges is None else edges
    if not ids:
        return np.zeros((0, 3)), np.zeros(0, np.int64), np.zeros(0, np.int64)
    pts = np.concatenate([g.edges[e].points_mm for e in ids])
    eid = np.concatenate([np.full(len(g.edges[e].points_mm), e) for e in ids])
    k = np.concatenate([np.arange(len(g.edges[e].points_mm)) for e in ids])
    return pts, eid, k


def _node_at(g: DuctGraph, e: int, k: int) -> int:
    """The node at point ``k`` of edge ``e`` (splitting the edge when interior)."""
    edge = g.edges[e]
    if k <= 0:
        return edge.u
    if k >= len(edge.points_mm) - 1:
        return edge.v
    return g.split_edge(e, k)[0]


def _orifice_from_nipple(ctx: _Ctx, nipple: np.ndarray) -> np.ndarray:
    g = ctx.g
    leaves = [n for n in g.nodes if g.degree(n) == 1]
    cand = leaves or g.nodes
    d = [float(np.linalg.norm(g.pos_mm[n] - nipple)) for n in cand]
    best = cand[int(np.argmin(d))]
    ctx.report.notes.append(f"No orifices were given: one system was rooted at the lumen tip nearest the "
                            f"nipple, {min(d):.1f} mm from it.")
    return g.pos_mm[best][None].copy()


def _reached_through_lumen(ctx: _Ctx, start_mm: np.ndarray, pts: np.ndarray, *,
                           step_mm: float = 0.25) -> int | None:
    """Index of the point of ``pts`` nearest ``start_mm`` whose straight path from it stays
    in the lumen (None when there is none)."""
    order = np.argsort(np.linalg.norm(pts - start_mm, axis=1))
    for k in order[:50]:
        n = max(2, int(np.ceil(np.linalg.norm(pts[k] - start_mm) / step_mm)) + 1)
        line = start_mm + np.linspace(0.0, 1.0, n)[:, None] * (pts[k] - start_mm)
        if ctx.radius.inside(ctx.frame.physical_to_array_index(line)).all():
            return int(k)
    return None


def _root_systems(ctx: _Ctx, orifices: np.ndarray, *, tolerance_mm: float,
                  pruned_roots_mm: list[np.ndarray | None] | None = None) -> list[int | None]:
    """Root node of each orifice (None when no lumen is near enough).

    ``pruned_roots_mm[s]``, when given, is where orifice ``s`` was rooted before pruning:
    when no centreline is left near the orifice, the root is the nearest centreline point
    reached from there in a straight line through the lumen.
    """
    g, report = ctx.g, ctx.report
    roots: list[int | None] = []
    owner: dict[int, int] = {}
    for s, o in enumerate(orifices):
        pts, eid, kk = _all_edge_points(g)
        d_all = np.linalg.norm(pts - o, axis=1)
        j = int(np.argmin(d_all))
        leaves = [n for n in g.nodes if g.degree(n) == 1 and n not in owner]
        d_leaf = np.array([np.linalg.norm(g.pos_mm[n] - o) for n in leaves]) if leaves else np.zeros(0)
        rooting = SystemRooting(system=s, orifice_mm=o.copy(), found=False)
        report.systems.append(rooting)
        before = None if pruned_roots_mm is None else pruned_roots_mm[s]
        k = None
        if d_all[j] > tolerance_mm and before is not None:
            k = _reached_through_lumen(ctx, before, pts)
        if k is not None:
            node = _node_at(g, int(eid[k]), int(kk[k]))
            how = (f"{np.linalg.norm(pts[k] - before):.1f} mm into the wide lumen its main duct's stub from "
                   "the nipple ended in (the stub, shorter than the lumen is wide, was pruned)")
        elif d_all[j] > tolerance_mm:
            rooting.how = (f"no lumen centreline within {tolerance_mm:.1f} mm (nearest {d_all[j]:.1f} mm "
                           "away): contrast did not reach this system, or the orifice is misplaced")
            roots.append(None)
            continue
        else:
            local_r = float(ctx.radius.at(g.edges[int(eid[j])].index_zyx[kk[j]][None])[0])
            slack = max(1.5, 2.0 * local_r)   # the duct *ends* at the nipple: prefer its tip
            if len(d_leaf) and d_leaf.min() <= tolerance_mm and d_leaf.min() <= d_all[j] + slack:
                node = leaves[int(np.argmin(d_leaf))]
                how = "at the tip of its main duct"
            else:
                node = _node_at(g, int(eid[j]), int(kk[j]))
                how = "at the nearest centreline point (not a duct tip)"
        if node in owner:
            rooting.how = (f"its nearest lumen is where orifice {owner[node]} joins; the two systems "
                           "could not be told apart there")
            roots.append(None)
            continue
        owner[node] = s
        rooting.found = True
        rooting.root_mm = g.pos_mm[node].copy()
        rooting.distance_mm = float(np.linalg.norm(g.pos_mm[node] - o))
        rooting.how = how
        roots.append(node)
    return roots


def _separate_systems(ctx: _Ctx, roots: list[int | None]) -> None:
    """Cut the centreline between systems whose lumens touch (geodesic Voronoi)."""
    g = ctx.g
    rooted = [(s, r) for s, r in enumerate(roots) if r is not None]
    if len(rooted) < 2:
        return
    for comp in g.components():
        here = [(s, r) for s, r in rooted if r in comp]
        if len(here) < 2:
            continue
        dist = {s: g.dijkstra([r]) for s, r in here}
        owner = {n: min(dist, key=lambda s: dist[s].get(n, np.inf)) for n in comp}
        for e in sorted(g.component_edges(comp)):
            edge = g.edges[e]
            su, sv = owner[edge.u], owner[edge.v]
            if su == sv:
                continue
            seg = np.linalg.norm(np.diff(edge.points_mm, axis=0), axis=1)
            cum = np.concatenate([[0.0], np.cumsum(seg)])
            # the point where both systems are equally far along the centreline
            s_star = np.clip((cum[-1] + dist[sv][edge.v] - dist[su][edge.u]) / 2.0, 0.0, cum[-1])
            k = int(np.argmin(np.abs(cum - s_star)))
            point = edge.points_mm[k].copy()
            g.cut_edge(e, k)
            ctx.report.contacts.append(SystemContact(systems=(min(su, sv), max(su, sv)), point_mm=point))


def _prune_spurs(ctx: _Ctx, protect: set[int], *, factor: float, min_mm: float,
                 covered: bool = True) -> None:
    """Remove tip edges shorter than ``factor`` x the lumen radius at their junction, and
    (``covered``) tip edges ending inside the lumen around them (:func:`_covered_tips`)."""
    g = ctx.g
    while True:
        cand: dict[int, list[tuple[int, int]]] = {}   # junction -> [(edge, tip)]
        for e, edge in g.edges.items():
            if edge.is_loop:
                continue
            for tip, base in ((edge.u, edge.v), (edge.v, edge.u)):
                if tip in protect or g.degree(tip) != 1 or g.degree(base) < 3:
                    continue
                cand.setdefault(base, []).append((e, tip))
        removed = 0
        bases = list(cand)
        candidates = {e for items in cand.values() for e, _ in items}
        radii = _local_radius(ctx, bases, exclude=candidates)
        for base, r in zip(bases, radii.tolist()):
            items = cand[base]
            thr_of = {e: max(float(_lumen_reach(ctx, r, g.pos_mm[tip] - g.pos_mm[base], factor=factor)[0]), min_mm)
                      for e, tip in items}
            inside = _covered_tips(ctx, base, items, factor=factor, exclude=candidates) if covered else set()
            short = [(e, tip) for e, tip in items if g.edges[e].length_mm < thr_of[e] or tip in inside]
            if not short:
                continue
            if len(short) >= g.degree(base):  # all of a junction's edges short: keep the longest
                short.remove(max(short, key=lambda it: g.edges[it[0]].length_mm))
            for e, tip in short:
                edge = g.edges[e]
                ctx.report.spurs.append(SpurRemoval(tip_mm=g.pos_mm[tip].copy(), base_mm=g.pos_mm[base].copy(),
                                                    length_mm=edge.length_mm, local_radius_mm=r,
                                                    threshold_mm=thr_of[e],
                                                    within_lumen=bool(edge.length_mm >= thr_of[e])))
                g.remove_node(tip)
                removed += 1
        g.merge_degree2(protect=protect)
        if not removed:
            return


def _lumen_reach(ctx: _Ctx, radius: float | np.ndarray, offset: np.ndarray, *, factor: float) -> np.ndarray:
    """How far a lumen of ``radius`` reaches along ``offset`` (mm): ``factor`` radii, plus
    half a slice times the offset's share along the slice axis (a lumen seen slice by
    slice reaches up to half a slice beyond its wall)."""
    v = np.atleast_2d(offset)
    along_z = np.abs(v @ ctx.frame.direction_matrix[:, 2]) / np.maximum(np.linalg.norm(v, axis=1), 1e-9)
    return factor * np.asarray(radius, float) + 0.5 * ctx.frame.spacing[2] * along_z


def _covered_tips(ctx: _Ctx, base: int, items: list[tuple[int, int]], *, factor: float,
                  exclude: set[int]) -> set[int]:
    """Tips of ``items`` lying inside the lumen the nearby ducts already describe.

    The junction-ball test (a spur shorter than ``factor`` radii at its junction) misses
    the spurs of a wide body whose junction is off its centre: thinning an ectatic
    segment or a duct dilated behind a papilloma gives a star of 2-4 mm spurs reaching
    the body's far corners.  A tip is covered when it lies within ``factor`` x the local
    radius (plus half a slice along the slice axis, as at the junction) of a centreline
    point of the ducts kept around it (the edges at the junction and the edges beyond
    their other ends), and the spur is no longer than twice that reach (a spur stays
    within its body; a duct cut where a loop closed ends inside the other duct too, but
    is many radii long).  A wall bump ``h`` high is covered when ``h`` is below half a
    radius, as the junction test has it; a real side branch leaves the lumen and is not.
    """
    g = ctx.g
    near: set[int] = set()
    for e in g.incident[base]:
        if e in exclude or g.edges[e].is_loop:
            continue
        near.add(e)
        other = g.edges[e].v if g.edges[e].u == base else g.edges[e].u
        near.update(f for f in g.incident[other] if f not in exclude)
    if not near:
        return set()
    edges = sorted(near)
    pts = np.concatenate([g.edges[e].points_mm for e in edges])
    obs = np.concatenate([g.edges[e].gap == _OBSERVED for e in edges])
    if not obs.any():
        return set()
    pts = pts[obs]
    rad = ctx.radius.at(np.concatenate([g.edges[e].index_zyx for e in edges])[obs])
    out: set[int] = set()
    for e, tip in items:
        v = g.pos_mm[tip] - pts
        inside = np.linalg.norm(v, axis=1) < _lumen_reach(ctx, rad, v, factor=factor)
        # A spur stays within the body: no longer than the body is wide.  A duct cut where
        # a loop closed also ends inside the other duct, but is many radii long.
        if inside.any() and g.edges[e].length_mm <= 2.0 * factor * float(rad[inside].max()):
            out.add(tip)
    return out


def _edge_radii(ctx: _Ctx, edges: list[int]) -> dict[int, float]:
    """Mean lumen radius along each edge (observed points only), in one EDT look-up."""
    g = ctx.g
    idx, owner = [], []
    for i, e in enumerate(edges):
        edge = g.edges[e]
        obs = edge.gap == _OBSERVED
        pts = edge.index_zyx[obs] if obs.any() else edge.index_zyx
        idx.append(pts)
        owner.append(np.full(len(pts), i))
    if not idx:
        return {}
    r = ctx.radius.at(np.concatenate(idx))
    own = np.concatenate(owner)
    sums = np.bincount(own, weights=r, minlength=len(edges))
    counts = np.maximum(np.bincount(own, minlength=len(edges)), 1)
    return {e: float(v) for e, v in zip(edges, sums / counts)}


def _local_radius(ctx: _Ctx, nodes: list[int], *, exclude: set[int], reach_mm: float = 3.0) -> np.ndarray:
    """Lumen radius at each node: the EDT there, or the duct leading to it if wider.

    Near a blunt duct end the junction of a tip fork sits inside the end cap, where the
    EDT is small; the duct it ends (the median radius over its last ``reach_mm``) says
    how wide the lumen really is there.  Edges in ``exclude`` (the spur candidates) do
    not count.
    """
    g = ctx.g
    if not nodes:
        return np.zeros(0)
    r = ctx.radius_at_nodes(nodes)
    idx, owner = [], []
    for i, n in enumerate(nodes):
        for e in g.incident[n]:
            if e in exclude:
                continue
            edge = g.edge_from(e, n)
            seg = np.linalg.norm(np.diff(edge.points_mm, axis=0), axis=1)
            k = int(np.searchsorted(np.cumsum(seg), reach_mm)) + 1
            near = edge.index_zyx[:k + 1][edge.gap[:k + 1] == _OBSERVED]
            idx.append(near)
            owner.append(np.full(len(near), i))
    if idx:
        rad = ctx.radius.at(np.concatenate(idx))
        own = np.concatenate(owner)
        for i in np.unique(own):
            r[i] = max(r[i], float(np.median(rad[own == i])))
    return r


def _break_cycles(ctx: _Ctx, roots: list[int | None], *, artefact_mm: float,
                  cut_factor: float = 4.0) -> None:
    """Maximum-weight spanning forest: every loop loses its longest, thinnest edge."""
    g = ctx.g
    comp_system: dict[int, int] = {}
    for comp in g.components():
        for s, r in enumerate(roots):
            if r is not None and r in comp:
                comp_system.update({n: s for n in comp})
    weights = {}
    inten = {}
    if ctx.intensity is not None and g.edges:
        inten = {e: ctx.edge_intensity(edge) for e, edge in g.edges.items()}
        ref = float(np.median(list(inten.values()))) or 1.0
        inten = {e: float(np.clip(v / ref, 0.1, 10.0)) if ref > 0 else 1.0 for e, v in inten.items()}
    radius = _edge_radii(ctx, list(g.edges))
    for e, edge in g.edges.items():
        weights[e] = edge.length_mm / (radius[e] ** 2 * inten.get(e, 1.0))
    parent = {n: n for n in g.nodes}

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    removed = []
    for e in sorted(g.edges, key=lambda e: (weights[e], e)):
        edge = g.edges[e]
        a, b = find(edge.u), find(edge.v)
        if a == b:
            removed.append(e)
        else:
            parent[a] = b
    gone = {e: g.remove_edge(e) for e in removed}
    live_roots = [r for r in roots if r is not None and r in g.incident]
    from_root = g.dijkstra(live_roots) if live_roots else {}
    weak = ("its longest, thinnest" + (", dimmest" if ctx.intensity is not None else "")
            + " edge (weight length / radius^2)")
    for e, edge in gone.items():
        other = g.dijkstra([edge.u], target=edge.v).get(edge.v, 0.0)
        loop = edge.length_mm + other
        if loop < artefact_mm:
            ctx.report.artefact_loops += 1
            continue
        r_local = float(_local_radius(ctx, [edge.u, edge.v], exclude=set()).max())
        if edge.length_mm > cut_factor * r_local and loop >= _MIN_CUT_LOOP_MM:
            # a long way round is a duct in its own right that touches another one: keep
            # it, cut where the loop closes (equally far from the orifice both ways round)
            seg = np.linalg.norm(np.diff(edge.points_mm, axis=0), axis=1)
            cum = np.concatenate([[0.0], np.cumsum(seg)])
            du, dv = from_root.get(edge.u), from_root.get(edge.v)
            s_star = cum[-1] / 2 if du is None or dv is None else (cum[-1] + dv - du) / 2
            k = int(np.argmin(np.abs(cum - np.clip(s_star, 0.0, cum[-1]))))
            g.cut_edge(g.add_edge(edge.u, edge.v, edge.points_mm, edge.index_zyx, edge.gap), k)
            point, removed_mm = edge.points_mm[k].copy(), 0.0
            why = f"cut {weak} where the loop closes, keeping both ducts as tips"
        else:
            point, removed_mm = edge.midpoint_mm(), edge.length_mm
            why = f"removed {weak}"
        ctx.report.cycles.append(CycleBreak(point_mm=point, cycle_length_mm=loop,
                                            removed_length_mm=removed_mm,
                                            removed_radius_mm=radius[e],
                                            system=comp_system.get(edge.u), reason=why))


def _extend_tips(ctx: _Ctx, protect: set[int]) -> None:
    """Move each duct tip out to where the lumen ends, less the duct's radius.

    Thinning stops a curve somewhere inside the rounded end of a duct, by up to about a
    radius, and differently for each voxel arrangement.  The centreline of a duct that
    ends in a rounded cap ends at the cap's centre, one radius short of the wall, so
    each tip is marched on along its direction to the wall (at most three radii) and
    set back by the duct's radius there (the median over its last 1-4 mm).  Tips are
    only ever lengthened.
    """
    g = ctx.g
    frame = ctx.frame
    step = 0.5 * float(min(frame.spacing))
    tips = []
    for n in [n for n in g.nodes if n not in protect and g.degree(n) == 1]:
        (e,) = g.incident[n]
        edge = g.edge_from(e, g.other(e, n))            # ends at the tip
        d = _tip_direction(edge)
        p = edge.points_mm[::-1]
        back = arc_length(p)
        sel = (back >= 1.0) & (back <= 4.0) & (edge.gap[::-1] == _OBSERVED)
        if np.any(d) and sel.any():
            tips.append((n, e, edge, d, edge.index_zyx[::-1][sel]))
    if not tips:
        return
    r_all = ctx.radius.at(np.concatenate([t[4] for t in tips]))
    bounds = np.cumsum([0] + [len(t[4]) for t in tips])
    r_ref = np.array([np.median(r_all[bounds[i]:bounds[i + 1]]) for i in range(len(tips))])
    n_steps = int(np.ceil(3.0 * r_ref.max() / step))
    t = np.arange(1, n_steps + 1) * step
    rays = np.stack([g.pos_mm[tp[0]] for tp in tips])[:, None, :] + t[None, :, None] * \
        np.stack([tp[3] for tp in tips])[:, None, :]
    inside = ctx.radius.inside(frame.physical_to_array_index(rays.reshape(-1, 3))).reshape(len(tips), -1)
    inside &= t[None, :] <= 3.0 * r_ref[:, None]
    n_in = np.where(inside.all(axis=1), inside.shape[1], np.argmin(inside, axis=1))
    for (n, _, _, d, _), r, k_in in zip(tips, r_ref.tolist(), n_in.tolist()):
        wall = t[k_in - 1] + 0.5 * step if k_in > 0 else 0.0
        ext = wall - r
        if ext < step:
            continue
        k = max(2, int(np.ceil(ext / ctx.voxel_mm)) + 1)
        new_pts = g.pos_mm[n] + np.linspace(0.0, ext, k)[1:, None] * d
        new_idx = frame.physical_to_array_index(new_pts)
        (e,) = g.incident[n]        # fetched afresh: both ends of a lone edge may move
        edge = g.edge_from(e, g.other(e, n))
        g.remove_edge(e)
        g.pos_mm[n] = new_pts[-1].copy()
        g.index_zyx[n] = new_idx[-1].copy()
        g.add_edge(edge.u, n, np.concatenate([edge.points_mm, new_pts]),
                   np.concatenate([edge.index_zyx, new_idx]),
                   np.concatenate([edge.gap, np.full(len(new_pts), _OBSERVED)]))


def _refine_junctions(ctx: _Ctx, protect: set[int]) -> None:
    """Move each branch point to where the axes of its ducts meet.

    A thinned skeleton puts a branch point where the medial axis forks, which for
    ducts meeting at a narrow angle lies up to a radius or two downstream of where
    their axes cross (their walls still overlap there).  Each incident duct's axis is
    fitted by a line over the stretch from 1 to 4 radii away from the branch point
    (where it no longer feels the others); the point nearest to all these lines (least
    squares) becomes the branch point, if it lies within two radii of the old one.
    """
    g = ctx.g
    nodes = [n for n in g.nodes if n not in protect and len(g.incident[n]) >= 3]
    if not nodes:
        return
    radii = ctx.radius_at_nodes(nodes)
    for n, r in zip(nodes, radii.tolist()):
        a, b = max(r, 0.5), max(4.0 * r, 2.0)
        A = np.zeros((3, 3))
        rhs = np.zeros(3)
        fits = 0
        for e in g.incident[n]:
            edge = g.edge_from(e, n)
            p = edge.points_mm
            s = arc_length(p)
            sel = (s >= a) & (s <= min(b, 0.75 * s[-1]))
            if sel.sum() < 3:
                continue
            q = p[sel]
            c = q.mean(axis=0)
            u = np.linalg.svd(q - c, full_matrices=False)[2][0]
            P = np.eye(3) - np.outer(u, u)
            A += P
            rhs += P @ c
            fits += 1
        if fits < 2 or np.linalg.cond(A) > 1e6:
            continue
        x = np.linalg.solve(A, rhs)
        if np.linalg.norm(x - g.pos_mm[n]) > 2.0 * r:
            continue
        x_idx = ctx.frame.physical_to_array_index(x)
        for e in list(g.incident[n]):
            edge = g.edge_from(e, n)
            p = edge.points_mm
            s = arc_length(p)
            drop = int(np.searchsorted(s, min(a, 0.5 * s[-1])))
            drop = min(max(drop, 1), len(p) - 1)
            lab = np.concatenate([[edge.gap[:drop].max()], edge.gap[drop:]])
            pts = np.concatenate([x[None], p[drop:]])
            idx = np.concatenate([x_idx[None], edge.index_zyx[drop:]])
            g.remove_edge(e)
            g.add_edge(n, edge.v, pts, idx, lab)
        g.pos_mm[n] = x
        g.index_zyx[n] = x_idx


def _tip_direction(edge: Edge, *, length_mm: float = 3.0) -> np.ndarray:
    """Unit vector along ``edge`` pointing out of its last point (averaged over ~3 mm)."""
    return end_direction(edge.points_mm, reach_mm=length_mm)


def _bridge_gaps(ctx: _Ctx, roots: list[int | None], *, max_gap_mm: float,
                 max_gap_angle_deg: float, max_tip_angle_deg: float) -> dict[frozenset, str]:
    """Join loose pieces to the rooted tree across lumen gaps; return why others stayed loose.

    Every tip of every loose piece proposes joins to centreline of *other* components
    within ``max_gap_mm`` in the direction it runs; the joins are then accepted cheapest
    first as long as they link two different groups (Kruskal), so a piece beyond two
    gaps joins the piece before it, which joins the tree.  Joins inside groups that never
    reach an orifice are dropped again, and each tip is used at most once.
    """
    g = ctx.g
    root_set = {r for r in roots if r is not None}
    reasons: dict[frozenset, str] = {}
    comps = g.components()
    comp_of = {n: i for i, c in enumerate(comps) for n in c}
    rooted = [bool(c & root_set) for c in comps]
    pieces = [i for i, r in enumerate(rooted) if not r]
    if not pieces or not root_set:
        return reasons
    cos_piece = np.cos(np.radians(max_gap_angle_deg))
    cos_tip = np.cos(np.radians(max_tip_angle_deg))
    min_piece_mm = max(1.0, 3.0 * ctx.voxel_mm)   # shorter pieces give no direction
    pts, eid, kk = _all_edge_points(g)
    pt_comp = np.array([comp_of[g.edges[e].u] for e in eid.tolist()], np.int64)
    kd = cKDTree(pts)
    tip_dir: dict[int, np.ndarray] = {}
    for n in g.nodes:
        if n not in root_set and g.degree(n) == 1:
            (e,) = g.incident[n]
            tip_dir[n] = _tip_direction(g.edge_from(e, g.other(e, n)))

    def propose(c: int, leaf: int, targets: np.ndarray) -> tuple[bool, float]:
        """Joins from tip ``leaf`` of component ``c`` to points of ``targets`` components
        within ``max_gap_mm`` in the direction it runs (cheapest per target component);
        whether it had centreline within reach, and the nearest."""
        p, d_p = g.pos_mm[leaf], tip_dir[leaf]
        idx = np.asarray(kd.query_ball_point(p, max_gap_mm), np.int64)
        idx = idx[np.isin(pt_comp[idx], targets)] if len(idx) else idx
        if not len(idx):
            return False, np.inf
        gvec = pts[idx] - p
        dist = np.linalg.norm(gvec, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos_p = np.where(dist > ctx.voxel_mm, (gvec @ d_p) / dist, 1.0)
        best: dict[int, tuple] = {}        # cheapest join per target component
        for j in np.flatnonzero(cos_p >= cos_piece):
            e_t, k_t = int(eid[idx[j]]), int(kk[idx[j]])
            edge_t = g.edges[e_t]
            node_t = edge_t.u if k_t == 0 else (edge_t.v if k_t == len(edge_t.points_mm) - 1 else None)
            cos_t = None
            if node_t in tip_dir:
                c_t = 1.0 if dist[j] <= ctx.voxel_mm else float((-gvec[j] @ tip_dir[node_t]) / dist[j])
                cos_t = c_t if c_t >= cos_tip else None
            kind = "continuation" if cos_t is not None else "side"
            cost = dist[j] * (1.0 + (1.0 - cos_p[j]) + ((1.0 - cos_t) if cos_t is not None else 0.5))
            t_comp = int(pt_comp[idx[j]])
            if t_comp not in best or cost < best[t_comp][0]:
                best[t_comp] = (float(cost), c, leaf, t_comp, e_t, k_t,
                                node_t if kind == "continuation" else None,
                                kind, float(dist[j]), float(cos_p[j]), cos_t,
                                float(comp_length[t_comp] if rooted[c] else comp_length[c]))  # the piece's
        cands.extend(best.values())
        return True, float(dist.min())

    comp_length = [sum(g.edges[e].length_mm for e in g.component_edges(comp)) for comp in comps]
    all_comps = np.arange(len(comps))
    cands: list[tuple] = []
    for c in pieces:
        comp = comps[c]
        key = frozenset(comp)
        edges = g.component_edges(comp)
        length = comp_length[c]
        if not edges:
            reasons[key] = "a speck without centreline"
            continue
        if length < min_piece_mm:
            reasons[key] = f"too short ({length:.1f} mm) to give a direction"
            continue
        n_before = len(cands)
        near, nearest = False, np.inf
        for leaf in (n for n in comp if n in tip_dir):
            reach, d_min = propose(c, leaf, all_comps[all_comps != c])
            near |= reach
            nearest = min(nearest, d_min)
        if not near:
            reasons[key] = f"no other centreline within {max_gap_mm:.0f} mm of its tips"
        elif len(cands) == n_before:
            reasons[key] = (f"nothing within {max_gap_mm:.0f} mm in the direction it runs (limit "
                            f"{max_gap_angle_deg:.0f} degrees; nearest centreline {nearest:.1f} mm)")
        else:
            reasons[key] = "it joins only other pieces that reach no orifice"
    # A piece whose tips all point elsewhere (a duct crossing ahead of the tree's end, a
    # tree seen only beyond a gap at its orifice) is reached from the rooted side: its
    # tips look across too, toward pieces longer than the whole rooted component.
    for c in (i for i, r in enumerate(rooted) if r):
        longer = np.array([i for i in pieces if comp_length[i] > comp_length[c]], np.int64)
        if len(longer):
            for leaf in (n for n in comps[c] if n in tip_dir):
                propose(c, leaf, longer)
        if comp_length[c] < STUB_SYSTEM_MM:
            _propose_stub_joins(ctx, c, comps, root_set, [i for i in longer if comp_length[i] >= STUB_SYSTEM_MM],
                                comp_length, max_gap_mm=max_gap_mm, cands=cands)

    parent = list(range(len(comps)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    group_rooted = list(rooted)
    used_tips: set[int] = set()
    accepted = []
    for cand in sorted(cands, key=lambda t: (t[0], t[1], t[2])):
        _, c, leaf, t_comp, e_t, k_t, t_tip, *_ = cand
        a, b = find(c), find(t_comp)
        if a == b or (group_rooted[a] and group_rooted[b]) or leaf in used_tips or t_tip in used_tips:
            continue
        parent[a] = b
        group_rooted[b] = group_rooted[a] or group_rooted[b]
        used_tips.add(leaf)
        if t_tip is not None:
            used_tips.add(t_tip)
        accepted.append(cand)
    accepted = [a for a in accepted if group_rooted[find(a[1])]]

    # target points become nodes; several joins may land on one edge: split from the far end
    by_edge: dict[int, list[int]] = {}
    for a in accepted:
        by_edge.setdefault(a[4], []).append(a[5])
    node_at: dict[tuple[int, int], int] = {}
    for e, ks in by_edge.items():
        cur = e
        for k in sorted(set(ks), reverse=True):
            edge = g.edges[cur]
            if k <= 0:
                node_at[(e, k)] = edge.u
            elif k >= len(edge.points_mm) - 1:
                node_at[(e, k)] = edge.v
            else:
                node_at[(e, k)], cur, _ = g.split_edge(cur, k)
    for a in accepted:
        _, c, leaf, t_comp, e_t, k_t, t_tip, kind, dist, cos_p, cos_t, length = a
        reasons.pop(frozenset(comps[c]), None)
        q = node_at[(e_t, k_t)]
        n_pts = max(2, int(np.ceil(dist / ctx.voxel_mm)) + 1)
        t = np.linspace(0.0, 1.0, n_pts)[:, None]
        gap_id = len(ctx.report.gaps)
        g.add_edge(q, leaf, g.pos_mm[q] + t * (g.pos_mm[leaf] - g.pos_mm[q]),
                   g.index_zyx[q] + t * (g.index_zyx[leaf] - g.index_zyx[q]), np.full(n_pts, gap_id))
        # start on the rooted side: the tip is the piece's unless the rooted side reached out
        ends = (g.pos_mm[leaf], g.pos_mm[q]) if rooted[c] else (g.pos_mm[q], g.pos_mm[leaf])
        ctx.report.gaps.append(GapBridge(
            gap=gap_id, start_mm=ends[0].copy(), end_mm=ends[1].copy(), length_mm=dist,
            kind=kind, piece_angle_deg=(float(np.degrees(np.arccos(np.clip(cos_p, -1, 1))))
                                        if np.isfinite(cos_p) else None),
            tree_angle_deg=None if cos_t is None else float(np.degrees(np.arccos(np.clip(cos_t, -1, 1)))),
            piece_length_mm=length))
    # pieces joined through other pieces keep no stale reason
    for c in pieces:
        if group_rooted[find(c)]:
            reasons.pop(frozenset(comps[c]), None)
    return reasons


def _propose_stub_joins(ctx: _Ctx, c: int, comps: list[set[int]], root_set: set[int], pieces: list[int],
                        comp_length: list[float], *, max_gap_mm: float, cands: list[tuple]) -> None:
    """Joins from a rooted stub (component ``c``, shorter than a main duct) to each of
    ``pieces`` within ``max_gap_mm`` of it, whatever their direction: a stub is where the
    contrast was seen entering, too short to say where its duct runs.  From the stub's
    node nearest the piece (its root only when it has no other) to the piece's nearest
    centreline point; dearer than any aimed join of the same length."""
    g = ctx.g
    nodes = [n for n in comps[c] if n not in root_set] or list(comps[c])
    for t in pieces:
        tp, te, tk = _all_edge_points(g, list(g.component_edges(comps[t])))
        dist, j = cKDTree(tp).query(np.array([g.pos_mm[n] for n in nodes]))
        i = int(np.argmin(dist))
        if dist[i] > max_gap_mm:
            continue
        cands.append((float(3.0 * dist[i]), c, nodes[i], t, int(te[j[i]]), int(tk[j[i]]), None, "stub",
                      float(dist[i]), float("nan"), None, float(comp_length[t])))


def _gap_runs(labels: np.ndarray) -> dict[int, tuple[int, int]]:
    out = {}
    for lab in np.unique(labels[labels >= 0]):
        w = np.flatnonzero(labels == lab)
        out[int(lab)] = (int(w[0]), int(w[-1]))
    return out


def _branch_geometry(ctx: _Ctx, edge: Edge, *, smoothing_mm: float, step_mm: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed, resampled points, radii, z uncertainty and point labels of one branch."""
    p, lab = edge.points_mm, edge.gap
    seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    total = s[-1]
    if total <= 1e-9:
        pts = p[[0, -1]].copy()
        labels = lab[[0, -1]].copy()
    else:
        # 1. uniform samples no coarser than the grid, so sigma is in mm
        h = min(ctx.voxel_mm, step_mm)
        n = max(int(np.ceil(total / h)), 1)
        t = np.linspace(0.0, total, n + 1)
        u = np.stack([np.interp(t, s, p[:, k]) for k in range(3)], axis=1)
        near = np.clip(np.searchsorted(s, t), 0, len(s) - 1)
        prev = np.clip(near - 1, 0, len(s) - 1)
        near = np.where(np.abs(s[prev] - t) < np.abs(s[near] - t), prev, near)
        ulab = lab[near]
        # 2. smooth, ends pinned; 3. resample every step_mm
        u = smooth_polyline(u, sigma_mm=smoothing_mm)
        pts, _ = resample_polyline(u, step_mm=step_mm)
        su = arc_length(u)
        sp = arc_length(pts)
        j = np.clip(np.rint(np.interp(sp, su, np.arange(len(su)))).astype(int), 0, len(su) - 1)
        labels = ulab[j]
        for g_id in np.unique(ulab[ulab >= 0]):   # a gap shorter than a step keeps one point
            if not np.any(labels == g_id):
                w = np.flatnonzero(ulab == g_id)
                labels[int(np.argmin(np.abs(sp - su[w].mean())))] = g_id
    radius = ctx.radius.at(ctx.frame.physical_to_array_index(pts))
    obs = labels == _OBSERVED
    if obs.any() and not obs.all():
        sp = arc_length(pts)
        radius[~obs] = np.interp(sp[~obs], sp[obs], radius[obs])   # lumen gap: EDT says ~0
    if len(radius) >= 3:
        radius = median_filter(radius, size=3, mode="nearest")
    zunc = z_uncertainty_mm(pts, radius, ctx.frame, bridged=labels >= 0)
    return pts, radius, zunc, labels


def _extract_tree(ctx: _Ctx, roots: list[int | None], orifices: np.ndarray, *,
                  nipple: np.ndarray | None, smoothing_mm: float, step_mm: float) -> DuctTree:
    g, report = ctx.g, ctx.report
    # stems: each system starts exactly at its orifice, and with one root branch
    tops: list[int | None] = []
    for s, r in enumerate(roots):
        if r is None:
            tops.append(None)
            continue
        o = orifices[s]
        d = float(np.linalg.norm(g.pos_mm[r] - o))
        if g.degree(r) >= 2 or d > 0.5 * ctx.voxel_mm:
            top = g.add_node(o, ctx.frame.physical_to_array_index(o))
            n_pts = max(2, int(np.ceil(d / ctx.voxel_mm)) + 1)
            t = np.linspace(0.0, 1.0, n_pts)[:, None]
            g.add_edge(top, r, o + t * (g.pos_mm[r] - o),
                       g.index_zyx[top] + t * (g.index_zyx[r] - g.index_zyx[top]), np.full(n_pts, _STEM))
            tops.append(top)
        else:
            tops.append(r)
    g.merge_degree2(protect={t for t in tops if t is not None})

    branches: list[Branch] = []
    systems: list[DuctSystem] = []
    used: set[int] = set()   # across systems: an edge belongs to one system only
    for s, top in enumerate(tops):
        system = DuctSystem(id=s, orifice_mm=orifices[s], root_branch=None, opacified=top is not None)
        systems.append(system)
        if top is None:
            continue
        if not g.incident[top]:
            report.systems[s].how += "; the lumen there is a speck without centreline"
            system.opacified = False
            continue
        queue: list[tuple[int, int | None, int]] = [(top, None, 0)]
        while queue:
            node, parent, gen = queue.pop(0)
            for e in sorted(g.incident[node]):
                if e in used:
                    continue
                used.add(e)
                edge = g.edge_from(e, node)
                pts, rad, zunc, labels = _branch_geometry(ctx, edge, smoothing_mm=smoothing_mm, step_mm=step_mm)
                bid = len(branches)
                runs = _gap_runs(labels)
                for gap_id, rng in runs.items():
                    gap = report.gaps[gap_id]
                    gap.branch, gap.point_range, gap.system = bid, rng, s
                branches.append(Branch(id=bid, system=s, parent=parent, points_mm=pts, radius_mm=rad,
                                       generation=gen + 1, z_uncertainty_mm=zunc,
                                       bridged=[runs[k] for k in sorted(runs)]))
                if parent is None:
                    system.root_branch = bid
                queue.append((edge.v, bid, gen + 1))
        rooting = report.systems[s]
        ids = [b.id for b in branches if b.system == s]
        rooting.n_branches = len(ids)
        rooting.length_mm = float(sum(branches[i].length_mm for i in ids))
    return DuctTree(branches=branches, systems=systems, nipple_mm=nipple)


def _report_pieces(ctx: _Ctx, roots: list[int | None], reasons: dict[frozenset, str]) -> None:
    """Every piece of centreline left unconnected, with why."""
    g = ctx.g
    root_set = {r for r in roots if r is not None}
    comps = g.components()
    rooted = [c for c in comps if c & root_set]
    r_edges = sorted({e for c in rooted for n in c for e in g.incident[n]})
    pts, _, _ = _all_edge_points(g, r_edges)
    kd = cKDTree(pts) if len(pts) else None
    for comp in comps:
        if comp & root_set:
            continue
        edges = g.component_edges(comp)
        if edges:
            allp = np.concatenate([g.edges[e].points_mm for e in edges])
        else:
            allp = np.array([g.pos_mm[n] for n in comp])
        dist = None if kd is None else float(kd.query(allp)[0].min())
        reason = reasons.get(frozenset(comp))
        if reason is None:
            reason = "no system was rooted" if not root_set else "not joined"
        ctx.report.pieces.append(LoosePiece(length_mm=float(sum(g.edges[e].length_mm for e in edges)),
                                            centroid_mm=allp.mean(axis=0),
                                            n_tips=sum(1 for n in comp if g.degree(n) == 1),
                                            distance_to_tree_mm=dist, reason=reason))
