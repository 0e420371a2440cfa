"""Excision geometry: the tissue the operation removes, as an exact SDF and a closed mesh.

* Microdochectomy: the affected duct from its orifice to beyond its most distal lesion,
  swept with a sleeve of tissue (duct radius + ``sleeve_mm``), swelling smoothly to
  lesion radius + margin around each lesion, plus a ball of lesion radius + margin at
  each lesion centre (the centre may sit off the centreline).
* Hadfield: a truncated cone from under the nipple (radius ``cone_apex_radius_mm``) to
  ``cone_depth_mm`` deep (radius ``cone_base_radius_mm``), axis nipple -> chest wall,
  plus a ball of lesion radius + margin around each lesion inside the cone, so that a
  lesion near the cone's wall keeps its margin.

Lesions beyond the reach of either (outside the volume, farther along the duct than
``max_duct_excision_mm``, outside the cone) are reported with advice for image-guided
localisation, and included only when ``extend_to_lesions`` is set.

The shape is a union of exact primitives (``planner.sdf``); it is sampled on a grid of
``grid_spacing_mm`` (0.5 mm by default: margins come from the SDF, so the grid only
limits how faithfully the mesh draws the shape) and meshed with marching cubes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from reconstruction.frame import ImageFrame
from reconstruction.tree import DuctTree, arc_length, resample_polyline

from .decision import beyond_reach_advice
from .lesions import Lesion
from .sdf import Frustum, RoundCone, Sphere, Union, sample_sdf
from .settings import PlanSettings
from .sites import LesionSite, locate_lesions

__all__ = ["Excision", "MeshTopology", "build_excision", "check_mesh", "mesh_sdf",
           "default_cone_axis"]

#: Sampling step (mm) of the duct path swept by the sleeve; the radius varies linearly
#: between samples, so 1 mm follows the duct and the swellings closely enough.
_PATH_STEP_MM = 1.0
#: How fast the sleeve narrows away from a lesion (mm of radius per mm of distance): a
#: spindle rather than a ball on a string, which is how the tissue is actually cut.
_TAPER = 0.5
#: Rounding of the cone's rims, in grid steps.
_CONE_RIM_GRID_STEPS = 2.0
#: Usual Hadfield cone depth (DOMAIN.md: 2-3 cm).
_USUAL_CONE_DEPTH_MM = (20.0, 30.0)


@dataclass(frozen=True)
class MeshTopology:
    """Topology report of a triangle mesh.

    Attributes
    ----------
    n_vertices, n_faces, n_edges : int
    boundary_edges : int
        Edges with one face (holes).
    nonmanifold_edges : int
        Edges with more than two faces.
    misoriented_edges : int
        Directed edges used twice (neighbouring faces wound inconsistently).
    degenerate_faces : int
        Faces of (near) zero area.
    n_components : int
    euler : int
        V - E + F; 2 per closed genus-0 component.
    volume_mm3 : float
        Enclosed volume (divergence theorem; positive for outward winding).
    """

    n_vertices: int
    n_faces: int
    n_edges: int
    boundary_edges: int
    nonmanifold_edges: int
    misoriented_edges: int
    degenerate_faces: int
    n_components: int
    euler: int
    volume_mm3: float

    @property
    def closed(self) -> bool:
        return self.n_faces > 0 and self.boundary_edges == 0

    @property
    def manifold(self) -> bool:
        """Every edge shared by exactly two faces."""
        return self.n_faces > 0 and self.boundary_edges == 0 and self.nonmanifold_edges == 0

    @property
    def watertight(self) -> bool:
        return self.manifold and self.misoriented_edges == 0

    def to_dict(self) -> dict:
        return {"n_vertices": self.n_vertices, "n_faces": self.n_faces, "n_edges": self.n_edges,
                "boundary_edges": self.boundary_edges, "nonmanifold_edges": self.nonmanifold_edges,
                "misoriented_edges": self.misoriented_edges,
                "degenerate_faces": self.degenerate_faces, "n_components": self.n_components,
                "euler": self.euler, "closed": self.closed, "manifold": self.manifold,
                "watertight": self.watertight}


def check_mesh(vertices: npt.ArrayLike, faces: npt.ArrayLike) -> MeshTopology:
    """Count holes, non-manifold and mis-wound edges, components and volume of a mesh.

    Parameters
    ----------
    vertices : (V, 3) array, mm
    faces : (F, 3) int array

    Returns
    -------
    MeshTopology

    Raises
    ------
    ValueError
        When ``faces`` is not (F, 3) or indexes missing vertices.

    Examples
    --------
    >>> v = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    >>> f = [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]       # a tetrahedron
    >>> t = check_mesh(v, f)
    >>> t.manifold, t.watertight, t.euler, round(t.volume_mm3, 4)
    (True, True, 2, 0.1667)
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    v = np.asarray(vertices, dtype=float).reshape(-1, 3)
    f = np.asarray(faces)
    if f.size == 0:
        return MeshTopology(len(v), 0, 0, 0, 0, 0, 0, 0, 0, 0.0)
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"faces must be an (F, 3) integer array, got shape {f.shape} {f.dtype}")
    if f.min() < 0 or f.max() >= len(v):
        raise ValueError(f"faces index vertices 0..{len(v) - 1}, found {f.min()}..{f.max()}")
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]).astype(np.int64)
    nv = np.int64(len(v))
    dkey = directed[:, 0] * nv + directed[:, 1]
    _, dcount = np.unique(dkey, return_counts=True)
    und = np.sort(directed, axis=1)
    ukey, ucount = np.unique(und[:, 0] * nv + und[:, 1], return_counts=True)
    used = np.unique(f)
    tri = v[f]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area2 = np.linalg.norm(cross, axis=1)
    scale = max(float(np.ptp(v[used], axis=0).max()), 1e-12)
    volume = float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)
    adj = coo_matrix((np.ones(len(directed)), (directed[:, 0], directed[:, 1])), shape=(len(v), len(v)))
    n_comp, labels = connected_components(adj, directed=False)
    n_comp_used = len(np.unique(labels[used]))
    return MeshTopology(
        n_vertices=int(len(used)), n_faces=int(len(f)), n_edges=int(len(ukey)),
        boundary_edges=int(np.sum(ucount == 1)), nonmanifold_edges=int(np.sum(ucount > 2)),
        misoriented_edges=int(np.sum(dcount > 1)),
        degenerate_faces=int(np.sum(area2 <= 1e-12 * scale * scale)),
        n_components=int(n_comp_used), euler=int(len(used) - len(ukey) + len(f)),
        volume_mm3=volume)


def mesh_sdf(shape, *, spacing_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed triangle mesh of the zero level of an SDF, outward wound, in mm.

    Parameters
    ----------
    shape : Union or primitive of ``planner.sdf``
    spacing_mm : float
        Grid step.

    Returns
    -------
    vertices : (V, 3) float ndarray
        Physical x, y, z in mm.
    faces : (F, 3) int64 ndarray
        Counter-clockwise seen from outside.

    Examples
    --------
    >>> v, f = mesh_sdf(Sphere((0, 0, 0), 5.0), spacing_mm=0.5)
    >>> t = check_mesh(v, f)
    >>> t.manifold, abs(t.volume_mm3 / (4 / 3 * np.pi * 125) - 1) < 0.02
    (True, True)
    """
    from skimage.measure import marching_cubes

    h = float(spacing_mm)
    grid, origin = sample_sdf(shape, spacing_mm=h)
    # A sample exactly on the level makes marching cubes emit coincident vertices on
    # different cube edges and pinched (non-manifold) edges; nudging such samples by a
    # thousandth of a voxel removes that without moving the surface visibly.
    eps = np.float32(1e-3 * h)
    grid = np.where(np.abs(grid) < eps, np.where(grid < 0, -eps, eps), grid).astype(np.float32)
    if not (grid < 0).any():
        raise ValueError("the excision shape is empty at this grid spacing")
    # marching_cubes wants the object brighter than the background: march on -SDF.
    verts, faces, _, _ = marching_cubes(-grid, 0.0, spacing=(h, h, h), allow_degenerate=True)
    verts = verts.astype(float) + origin
    faces = faces.astype(np.int64)
    tri = verts[faces]
    vol = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum()
    if vol < 0:
        faces = faces[:, ::-1].copy()
    return verts, faces


@dataclass
class Excision:
    """The proposed excision: exact shape, mesh and what it does to each lesion.

    Attributes
    ----------
    kind : {"microdochectomy", "hadfield"}
    shape : planner.sdf.Union
        Exact SDF of the excised volume (``sdf``).
    vertices, faces : ndarray
        Closed mesh of ``shape`` (physical mm).
    topology : MeshTopology
    volume_cm3 : float
        Excised volume from the mesh.
    depth_mm : float
        Hadfield: cone depth from the nipple.  Microdochectomy: length of duct removed,
        measured along the duct from the orifice.
    max_distance_from_nipple_mm : float
        Farthest point of the excision from the nipple (straight line).
    treated : tuple of int
        Lesions the excision is built to remove with their margin.
    beyond_reach : dict of int -> str
        Lesions out of the operation's reach and why (plain words).
    extended : tuple of int
        Beyond-reach lesions included because ``extend_to_lesions`` is set.
    warnings : list of str
    cone : dict or None
        Hadfield cone (apex_mm, axis, depth_mm, apex_radius_mm, base_radius_mm).
    duct : dict or None
        Microdochectomy duct (system, branches, length_mm).
    grid_spacing_mm : float
    """

    kind: str
    shape: Union
    vertices: np.ndarray
    faces: np.ndarray
    topology: MeshTopology
    volume_cm3: float
    depth_mm: float
    max_distance_from_nipple_mm: float
    treated: tuple[int, ...] = ()
    beyond_reach: dict[int, str] = field(default_factory=dict)
    extended: tuple[int, ...] = ()
    warnings: list[str] = field(default_factory=list)
    cone: dict | None = None
    duct: dict | None = None
    grid_spacing_mm: float = 0.5

    def sdf(self, points: npt.ArrayLike) -> np.ndarray:
        """Signed distance (mm) to the excision boundary; negative inside."""
        return self.shape.sdf(points)


def default_cone_axis(tree: DuctTree, nipple_mm: npt.ArrayLike,
                      lesions: list[Lesion] | None = None) -> np.ndarray:
    """Unit vector from the nipple toward the centroid of the tree's points.

    Falls back on the lesions' centroid when the tree is empty.

    Raises
    ------
    ValueError
        When neither gives a direction (everything sits on the nipple).

    Examples
    --------
    >>> from reconstruction.tree import Branch, DuctSystem
    >>> t = DuctTree([Branch(0, 0, None, [[0, 0, 0], [0, 0, 40]], [1, 1])],
    ...              [DuctSystem(0, [0, 0, 0], root_branch=0)])
    >>> default_cone_axis(t, [0, 0, 0]).tolist()
    [0.0, 0.0, 1.0]
    """
    nip = np.asarray(nipple_mm, dtype=float).reshape(3)
    pts, _, _ = tree.all_points()
    if len(pts) == 0 and lesions:
        pts = np.array([les.center_mm for les in lesions])
    if len(pts):
        v = pts.mean(axis=0) - nip
        n = np.linalg.norm(v)
        if n > 1.0:
            return v / n
    raise ValueError("cannot tell the nipple -> chest-wall direction from the tree; "
                     "set PlanSettings.cone_axis")


# --------------------------------------------------------------------- duct paths
class _DuctPath:
    """Which part of each branch a duct excision removes: ``end[b]`` mm from its root end."""

    def __init__(self, tree: DuctTree) -> None:
        self.tree = tree
        self.length = {b.id: b.length_mm for b in tree.branches}
        self.offset = {b.id: sum(self.length[p] for p in tree.path_to_root(b.id)[1:])
                       for b in tree.branches}
        self.end: dict[int, float] = {}

    def _take(self, bid: int, end: float) -> None:
        self.end[bid] = max(self.end.get(bid, 0.0), min(end, self.length[bid]))

    def _distal(self, bid: int, remaining: float) -> None:
        self._take(bid, remaining)
        if remaining > self.length[bid]:
            for c in self.tree.children(bid):
                self._distal(c, remaining - self.length[bid])

    def to_arc(self, bid: int, arc_mm: float) -> None:
        """Excise from the orifice of ``bid``'s system to ``arc_mm`` along the duct through
        ``bid``; past the end of ``bid``, into all of its children."""
        for b in reversed(self.tree.path_to_root(bid)):
            local = arc_mm - self.offset[b]
            if local <= 0:
                return
            if b == bid:
                self._take(b, local)
                if local > self.length[b]:
                    for c in self.tree.children(b):
                        self._distal(c, local - self.length[b])
            else:
                self._take(b, local)

    @property
    def depth_mm(self) -> float:
        return max((self.offset[b] + e for b, e in self.end.items()), default=0.0)

    def samples(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(points, duct radii) of each excised branch piece, every ~1 mm."""
        out = []
        for bid, e in sorted(self.end.items()):
            br = self.tree.branches[bid]
            if e <= 0 or len(br.points_mm) < 2:
                continue
            s = arc_length(br.points_mm)
            keep = s < e
            end_pt = np.array([np.interp(e, s, br.points_mm[:, k]) for k in range(3)])
            pts = np.vstack([br.points_mm[keep], end_pt])
            rad = np.concatenate([br.radius_mm[keep], [np.interp(e, s, br.radius_mm)]])
            pts, rad = resample_polyline(pts, step_mm=_PATH_STEP_MM, values=rad)
            out.append((pts, rad))
        return out


def _sleeve(pieces: list[tuple[np.ndarray, np.ndarray]], swell: list[tuple[np.ndarray, float]],
            sleeve_mm: float) -> list:
    """Round cones along the duct pieces, radius = duct + sleeve, swollen near lesions."""
    parts = []
    for pts, rad in pieces:
        r = rad + sleeve_mm
        for c, rmax in swell:
            r = np.maximum(r, rmax - _TAPER * np.linalg.norm(pts - c, axis=1))
        if len(pts) == 1:
            parts.append(Sphere(pts[0], r[0]))
        for i in range(len(pts) - 1):
            parts.append(RoundCone(pts[i], pts[i + 1], r[i], r[i + 1]))
    return parts


# ---------------------------------------------------------------------- the builder
def build_excision(kind: str, tree: DuctTree, lesions: list[Lesion], *,
                   nipple_mm: npt.ArrayLike, settings: PlanSettings | None = None,
                   sites: list[LesionSite] | None = None, target_system: int | None = None,
                   frame: ImageFrame | None = None,
                   areolar_radius_mm: float | None = None) -> Excision:
    """Build the excision volume of a microdochectomy or a Hadfield procedure.

    Parameters
    ----------
    kind : {"microdochectomy", "hadfield"}
    tree : DuctTree
    lesions : list of Lesion
    nipple_mm : (3,) array
        Nipple position, physical mm.
    settings : PlanSettings, optional
    sites : list of LesionSite, optional
        From ``locate_lesions``; computed when omitted.
    target_system : int, optional
        Microdochectomy: the system to excise (default: the system of the lesions, which
        must then be unique).
    frame : ImageFrame, optional
        The volume's frame; lesions outside it are beyond reach.
    areolar_radius_mm : float, optional
        Default cone base radius when ``settings.cone_base_radius_mm`` is None.

    Returns
    -------
    Excision

    Raises
    ------
    ValueError
        For another ``kind``, a microdochectomy without a target system, or a cone axis
        that cannot be determined.

    Examples
    --------
    >>> from reconstruction.tree import Branch, DuctSystem
    >>> t = DuctTree([Branch(0, 0, None, [[0, 0, 0], [0, 0, 40]], [1, 1])],
    ...              [DuctSystem(0, [0, 0, 0], root_branch=0)], nipple_mm=[0, 0, 0])
    >>> ex = build_excision("hadfield", t, [], nipple_mm=[0, 0, 0])
    >>> ex.depth_mm, ex.topology.manifold
    (25.0, True)
    """
    if kind not in ("microdochectomy", "hadfield"):
        raise ValueError(f"no excision for procedure {kind!r}; expected microdochectomy or hadfield")
    settings = settings or PlanSettings()
    nipple = np.asarray(nipple_mm, dtype=float).reshape(3)
    if sites is None:
        sites = locate_lesions(tree, lesions, snap_mm=settings.duct_snap_mm,
                               min_system_length_mm=settings.min_system_length_mm)
    site_of = {s.lesion: s for s in sites}
    margin = {les.id: settings.margin_for(les) for les in lesions}
    inside_volume = ({les.id: bool(frame.contains_physical(les.center_mm)) for les in lesions}
                     if frame is not None else {les.id: True for les in lesions})

    path = _DuctPath(tree)
    parts: list = []
    treated: list[int] = []
    beyond: dict[int, str] = {}
    swell: list[tuple[np.ndarray, float]] = []
    cone = duct = None
    warnings: list[str] = []

    if kind == "microdochectomy":
        if target_system is None:
            systems = {s.system for s in sites if s.system is not None}
            if len(systems) != 1:
                raise ValueError("a microdochectomy needs one target system; lesions lie in "
                                 f"{sorted(systems) or 'no system'}")
            target_system = systems.pop()
        limit = settings.max_duct_excision_mm
        for les in lesions:
            site = site_of[les.id]
            if not inside_volume[les.id]:
                beyond[les.id] = "lies outside the imaged volume"
            elif site.system == target_system and site.branch is not None:
                if site.arc_mm > limit:
                    beyond[les.id] = (f"lies {site.arc_mm:.0f} mm along the duct, beyond the "
                                      f"{limit:g} mm a microdochectomy reaches")
                    if not settings.extend_to_lesions:
                        # The discharging duct is still removed as far as usual; the distal
                        # lesion needs its own localisation.
                        path.to_arc(site.branch, limit)
                else:
                    treated.append(les.id)
            elif site.branch is None or not site.systems_touched:
                beyond[les.id] = "lies on no opacified duct"
            else:
                beyond[les.id] = f"lies in ductal system {_ids(site.systems_touched)}, not the one excised"
    else:
        axis = (np.asarray(settings.cone_axis, dtype=float) if settings.cone_axis is not None
                else default_cone_axis(tree, nipple, lesions))
        r_base = settings.cone_base_radius(areolar_radius_mm)
        r_top = min(settings.cone_apex_radius_mm, r_base)
        # Rims rounded by two grid steps (at most a quarter of the smaller radius): marching
        # cubes breaks a sharp rim into slivers; caps, side line and radii stay as set.
        rounding = min(_CONE_RIM_GRID_STEPS * settings.grid_spacing_mm, 0.25 * r_top,
                       0.25 * settings.cone_depth_mm)
        frustum = Frustum(nipple, axis, depth=settings.cone_depth_mm, r_top=r_top, r_base=r_base,
                          rounding=rounding)
        parts.append(frustum)
        cone = {"apex_mm": nipple.tolist(), "axis": list(frustum.axis),
                "depth_mm": frustum.depth, "apex_radius_mm": frustum.r_top,
                "base_radius_mm": frustum.r_base, "rim_rounding_mm": frustum.rounding}
        pts, _, _ = tree.all_points()
        if len(pts) and float((pts.mean(axis=0) - nipple) @ frustum.axis) < 0:
            warnings.append("The cone axis points away from the ducts (the tree lies behind the "
                            "nipple along it): check cone_axis.")
        lo, hi = _USUAL_CONE_DEPTH_MM
        if not lo <= settings.cone_depth_mm <= hi:
            warnings.append(f"Cone depth {settings.cone_depth_mm:g} mm is outside the usual "
                            f"{lo:g}-{hi:g} mm of a Hadfield procedure.")
        for les in lesions:
            x, y = frustum.local(les.center_mm)
            if not inside_volume[les.id]:
                beyond[les.id] = "lies outside the imaged volume"
            elif frustum.sdf(les.center_mm)[0] <= 0:
                treated.append(les.id)
            elif y[0] < 0:
                beyond[les.id] = (f"lies {-y[0]:.0f} mm in front of the nipple along the cone's "
                                  "axis, outside the retroareolar cone")
            elif y[0] > frustum.depth:
                beyond[les.id] = (f"lies {y[0]:.0f} mm deep from the nipple, deeper than the "
                                  f"{frustum.depth:g} mm retroareolar cone")
            else:
                beyond[les.id] = (f"lies {x[0]:.0f} mm from the cone's axis, outside the "
                                  f"retroareolar cone")

    extended = []
    if settings.extend_to_lesions:
        extended = [lid for lid in beyond]
        treated.extend(extended)

    by_id = {les.id: les for les in lesions}
    off_duct = []
    for lid in treated:
        les, site = by_id[lid], site_of[lid]
        reach = les.radius_mm + margin[lid]
        if site.branch is not None and (kind == "microdochectomy" or lid in extended):
            # Beyond the lesion's projection by its radius + margin, so the duct is also
            # cut clean distal to it.
            path.to_arc(site.branch, site.arc_mm + reach)
            swell.append((les.center_mm, reach))
        elif kind == "microdochectomy" or lid in extended:
            off_duct.append(lid)
        parts.append(Sphere(les.center_mm, reach))

    pieces = path.samples()
    parts.extend(_sleeve(pieces, swell, settings.sleeve_mm))
    for lid in off_duct:
        # A lesion on no duct: a tapered bridge of tissue from the nearest excised duct
        # point (or the nipple) to the lesion, so the specimen stays in one piece.
        les = by_id[lid]
        anchors = np.vstack([p for p, _ in pieces]) if pieces else nipple[None]
        a = anchors[np.argmin(np.linalg.norm(anchors - les.center_mm, axis=1))]
        parts.append(RoundCone(a, les.center_mm, settings.sleeve_mm + 1.0,
                               les.radius_mm + margin[lid]))

    if not parts:
        # Nothing within reach and nothing extended: excise the duct as far as usual.
        roots = [b.id for b in tree.branches if b.system == target_system and b.parent is None]
        for root in roots:
            path.to_arc(root, settings.max_duct_excision_mm)
        parts.extend(_sleeve(path.samples(), [], settings.sleeve_mm))
        if not parts:
            raise ValueError("nothing to excise: no lesion within reach and no duct to follow")

    if kind == "microdochectomy":
        duct = {"system": int(target_system), "branches": sorted(int(b) for b in path.end),
                "length_mm": float(path.depth_mm)}
    for lid, reason in beyond.items():
        advice = beyond_reach_advice(lid, reason)
        if lid in extended:
            advice += " The excision was extended to include it (extend_to_lesions)."
        else:
            advice += " It is not included in the excision."
        warnings.append(advice)

    shape = Union(tuple(parts))
    spacing = settings.grid_spacing_mm
    lo_b, hi_b = shape.bounds()
    # Keep the grid affordable for very extended excisions: coarsen, and say so.
    n_pts = np.prod(np.ceil((hi_b - lo_b) / spacing) + 5)
    while n_pts > 30_000_000:
        spacing *= 1.5
        n_pts = np.prod(np.ceil((hi_b - lo_b) / spacing) + 5)
    if spacing != settings.grid_spacing_mm:
        warnings.append(f"The excision is large; its mesh was sampled at {spacing:.2f} mm instead "
                        f"of {settings.grid_spacing_mm:g} mm (margins are exact regardless).")
    verts, faces = mesh_sdf(shape, spacing_mm=spacing)
    topo = check_mesh(verts, faces)
    if not topo.manifold:
        warnings.append(f"The excision mesh is not a closed manifold surface "
                        f"({topo.boundary_edges} open and {topo.nonmanifold_edges} non-manifold "
                        "edges): check it before use.")
    depth = float(settings.cone_depth_mm) if kind == "hadfield" else float(path.depth_mm)
    return Excision(kind=kind, shape=shape, vertices=verts, faces=faces, topology=topo,
                    volume_cm3=abs(topo.volume_mm3) / 1000.0, depth_mm=depth,
                    max_distance_from_nipple_mm=float(np.linalg.norm(verts - nipple, axis=1).max()),
                    treated=tuple(sorted(set(treated))), beyond_reach=beyond,
                    extended=tuple(sorted(extended)), warnings=warnings, cone=cone, duct=duct,
                    grid_spacing_mm=spacing)


def _ids(values) -> str:
    return ", ".join(str(v) for v in values)
