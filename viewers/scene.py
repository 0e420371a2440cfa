"""The 3D scene of a plan: duct tree, lesions, nipple, excision and margins (pyvista).

The scene shows what the plan says; it computes no clinical fact.  Its inputs are what
``ductplan plan`` writes: the ``plan.json`` object, the tree (the plan's own branches,
a :class:`~reconstruction.tree.DuctTree` or ``tree.vtp``) and the excision surface
(``(vertices, faces)`` arrays or ``excision.vtp``).

What is drawn, and how (colours in :mod:`viewers.palette`):

* each ductal system as tubes whose radius is the lumen radius at each centreline point
  (true to scale), one colour per system;
* each lesion as a sphere of its diameter, coloured by kind, labelled ``L<id> <kind>
  <size>``;
* the nipple as a small skin-coloured sphere;
* the excision volume, translucent green;
* each lesion's margin as a line from the lesion's surface to the nearest point of the
  excision boundary, labelled with the plan's ``min_margin_mm`` (red when the plan says
  the margin falls short of its setting);
* an orientation marker in patient axes (L, P, S: the plan's LPS millimetres), a scale
  bar (:func:`add_scale_bar`, for parallel projections) and a 20 mm ruler beside the
  nipple that stays true in any view, including the browser's;
* optionally a DBT slice plane of the volume through the first lesion.

The nearest boundary point of a margin line is display geometry (where to draw the line);
the number written on it is the plan's.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np
import numpy.typing as npt

from . import palette
from .render_probe import headless_env

if TYPE_CHECKING:
    import pyvista

    from reconstruction.tree import DuctTree
    from reconstruction.volume import Volume

__all__ = ["Polyline", "MarginSegment", "tree_polylines", "tube_meshes", "excision_mesh", "margin_segments",
           "build_scene", "add_scale_bar", "show_ghosts", "world_to_pixels", "scene_points", "nice_length_mm",
           "count_triangles", "lesion_label", "KIND_WORDS"]

#: A tree as the scene accepts it: None (the plan's own branches), a DuctTree, a
#: DuctTree-like dict, a polyline PolyData or a path to ``tree.vtp``.
TreeInput = Union[None, "DuctTree", Mapping, "pyvista.PolyData", str, os.PathLike]
#: An excision as the scene accepts it: None, ``(vertices, faces)``, a PolyData or a path.
ExcisionInput = Union[None, tuple, "pyvista.PolyData", str, os.PathLike]

#: Plain words for the contract's lesion kinds (labels, legends and the report).
KIND_WORDS = {"filling_defect": "filling defect", "cutoff": "cut-off", "ectasia": "ectasia",
              "cyst": "cyst", "annotated": "marked lesion"}

#: Sides of the tubes in still images: round enough at 1000 px.
_STILL_SIDES = 20
#: Length of the fixed ruler beside the nipple (mm) and its tick spacing.
_RULER_MM, _RULER_TICK_MM = 20.0, 5.0
#: Nipple marker radius (mm): visible at breast scale, small beside the ~14 mm nipple.
_NIPPLE_MARK_MM = 2.0


@dataclass(frozen=True)
class Polyline:
    """One branch centreline: system id, (N, 3) points in mm and (N,) radii in mm."""

    system: int
    branch: int
    points_mm: np.ndarray
    radius_mm: np.ndarray


@dataclass(frozen=True)
class MarginSegment:
    """Where to draw one lesion's margin, and the plan's value to write on it.

    Attributes
    ----------
    lesion : int
    start_mm, end_mm : (3,) ndarray
        From the lesion's surface (its centre when the lesion is cut) to the nearest
        point of the excision boundary.
    margin_mm : float
        The plan's ``min_margin_mm``.
    adequate : bool or None
        The plan's verdict against the margin setting (None when the plan gives none).
    label : str
    """

    lesion: int
    start_mm: np.ndarray
    end_mm: np.ndarray
    margin_mm: float
    adequate: bool | None
    label: str


# ------------------------------------------------------------------------ inputs
def _as_polyline(system, branch, pts, rad) -> Polyline | None:
    p = np.asarray(pts, dtype=float).reshape(-1, 3)
    r = np.asarray(rad, dtype=float).reshape(-1)
    if len(p) < 2 or len(r) != len(p):
        return None
    # A radius of 0 makes a degenerate tube; the thinnest duct still shows as a thread.
    r = np.where(np.isfinite(r) & (r > 0.05), r, 0.05)
    return Polyline(int(system), int(branch), p, r)


def tree_polylines(plan_dict: Mapping, tree: TreeInput = None) -> list[Polyline]:
    """The centrelines to draw, from the plan or from a tree given beside it.

    Parameters
    ----------
    plan_dict : mapping
        The ``plan.json`` object (its ``branches`` are used when ``tree`` is None).
    tree : DuctTree, dict, pyvista.PolyData, path or None
        A DuctTree (or its ``to_dict()``), a polyline PolyData with point data
        ``radius_mm`` and ``system`` (``tree.vtp``), or a path to such a file.

    Returns
    -------
    list of Polyline
        Branches with fewer than two points are skipped.

    Raises
    ------
    ValueError
        A ``tree.vtp`` without ``radius_mm`` point data.

    Examples
    --------
    >>> plan = {"branches": [{"id": 0, "system": 0, "points_mm": [[0, 0, 0], [0, 0, 10]],
    ...                       "radius_mm": [1.0, 0.8]}]}
    >>> [(p.system, len(p.points_mm)) for p in tree_polylines(plan)]
    [(0, 2)]
    """
    out: list[Polyline] = []
    if tree is None:
        branches = plan_dict.get("branches") or []
        for b in branches:
            pl = _as_polyline(b.get("system", -1), b.get("id", -1), b.get("points_mm", []), b.get("radius_mm", []))
            if pl is not None:
                out.append(pl)
        return out
    if isinstance(tree, (str, os.PathLike)):
        import pyvista as pv

        tree = pv.read(str(tree))
    if isinstance(tree, Mapping):
        return tree_polylines({"branches": tree.get("branches", [])})
    if hasattr(tree, "branches"):  # a DuctTree
        for b in tree.branches:
            pl = _as_polyline(b.system, b.id, b.points_mm, b.radius_mm)
            if pl is not None:
                out.append(pl)
        return out
    return _polylines_from_polydata(tree)


def _polylines_from_polydata(mesh: "pyvista.PolyData") -> list[Polyline]:
    if "radius_mm" not in mesh.point_data:
        raise ValueError("tree.vtp has no 'radius_mm' point data: cannot draw tubes true to scale")
    radius = np.asarray(mesh.point_data["radius_mm"], dtype=float)
    system = (np.asarray(mesh.point_data["system"]).astype(int) if "system" in mesh.point_data
              else np.zeros(mesh.n_points, int))
    branch = (np.asarray(mesh.point_data["branch"]).astype(int) if "branch" in mesh.point_data
              else np.full(mesh.n_points, -1))
    pts = np.asarray(mesh.points, dtype=float)
    lines = np.asarray(mesh.lines)
    out, i = [], 0
    while i < len(lines):
        n = int(lines[i])
        ids = lines[i + 1:i + 1 + n]
        i += n + 1
        pl = _as_polyline(system[ids[0]], branch[ids[0]], pts[ids], radius[ids])
        if pl is not None:
            out.append(pl)
    return out


def excision_mesh(excision: ExcisionInput) -> "pyvista.PolyData | None":
    """The excision surface as a triangle PolyData (None when there is none).

    Parameters
    ----------
    excision : (vertices, faces), pyvista.PolyData, path or None
        ``vertices`` (V, 3) mm and ``faces`` (F, 3) int (``Excision.vertices``/``.faces``),
        a mesh, or ``excision.vtp``.

    Returns
    -------
    pyvista.PolyData or None

    Raises
    ------
    ValueError
        Malformed arrays.
    """
    import pyvista as pv

    if excision is None:
        return None
    if isinstance(excision, (str, os.PathLike)):
        mesh = pv.read(str(excision))
    elif isinstance(excision, pv.PolyData):
        mesh = excision
    else:
        try:
            vertices, faces = excision
        except (TypeError, ValueError):
            raise ValueError("excision must be (vertices, faces), a PolyData or a .vtp path, "
                             f"got {type(excision).__name__}") from None
        if vertices is None or faces is None:
            return None
        v = np.asarray(vertices, dtype=float)
        f = np.asarray(faces)
        if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
            raise ValueError(f"excision vertices must be (V, 3) and faces (F, 3); got {v.shape} and {f.shape}")
        if len(f) == 0:
            return None
        cells = np.hstack([np.full((len(f), 1), 3, dtype=np.int64), f.astype(np.int64)]).ravel()
        mesh = pv.PolyData(v, cells)
    if not mesh.n_cells:
        return None
    return _outward(mesh.triangulate())


def _outward(mesh: "pyvista.PolyData") -> "pyvista.PolyData":
    """The same surface with faces wound outward (the scene culls back faces)."""
    faces = np.asarray(mesh.faces).reshape(-1, 4)[:, 1:]
    v = np.asarray(mesh.points, dtype=float)
    v = v - v.mean(axis=0)
    signed = float(np.einsum("ij,ij->i", v[faces[:, 0]], np.cross(v[faces[:, 1]], v[faces[:, 2]])).sum())
    if signed < 0:
        flipped = np.hstack([np.full((len(faces), 1), 3), faces[:, ::-1]]).ravel()
        mesh = mesh.copy()
        mesh.faces = flipped
    return mesh


def tube_meshes(polylines: Sequence[Polyline], *, n_sides: int = _STILL_SIDES,
                step_mm: float | None = None) -> dict[int, "pyvista.PolyData"]:
    """One triangulated tube surface per system, radius true to scale.

    Parameters
    ----------
    polylines : sequence of Polyline
    n_sides : int
        Sides of each tube's cross-section (fewer: lighter meshes).
    step_mm : float, optional
        Resample centrelines to about this spacing first (coarser: lighter meshes);
        the end points of every branch are kept.

    Returns
    -------
    dict
        System id -> triangle PolyData with point data ``radius_mm``.

    Examples
    --------
    >>> t = tube_meshes([Polyline(0, 0, np.array([[0., 0, 0], [0, 0, 10]]), np.array([1.0, 1.0]))],
    ...                 n_sides=8)
    >>> sorted(t), t[0].bounds[0] < -0.9
    ([0], True)
    """
    import pyvista as pv

    from reconstruction.tree import resample_polyline

    by_system: dict[int, list[Polyline]] = {}
    for p in polylines:
        by_system.setdefault(p.system, []).append(p)
    out = {}
    for system, lines in sorted(by_system.items()):
        pts, rad, cells, offset = [], [], [], 0
        for p in lines:
            q, r = p.points_mm, p.radius_mm
            if step_mm is not None:
                q, r = resample_polyline(q, step_mm=step_mm, values=r)
                if len(q) < 2:
                    continue
            pts.append(q)
            rad.append(r)
            cells.append(np.concatenate([[len(q)], offset + np.arange(len(q))]))
            offset += len(q)
        if not pts:
            continue
        poly = pv.PolyData(np.concatenate(pts))
        poly.lines = np.concatenate(cells).astype(np.int64)
        poly.point_data["radius_mm"] = np.concatenate(rad)
        # Absolute scalars: the tube radius IS the lumen radius, in mm.
        tube = poly.tube(scalars="radius_mm", absolute=True, n_sides=int(n_sides), capping=True)
        out[system] = tube.triangulate().clean()
    return out


def count_triangles(mesh: "pyvista.PolyData") -> int:
    """Number of triangles a renderer draws for ``mesh`` (strips and polygons expanded)."""
    return int(mesh.triangulate().n_cells) if mesh is not None and mesh.n_cells else 0


# ----------------------------------------------------------------------- margins
def _margins_by_lesion(plan_dict: Mapping) -> dict[int, dict]:
    ex = (plan_dict.get("procedure") or {}).get("excision") or {}
    return {int(m["lesion"]): m for m in ex.get("margins") or [] if "lesion" in m}


def margin_segments(plan_dict: Mapping, mesh: "pyvista.PolyData | None") -> list[MarginSegment]:
    """Where to draw each margin the plan reports (none without an excision mesh).

    Parameters
    ----------
    plan_dict : mapping
    mesh : pyvista.PolyData or None
        The excision surface.

    Returns
    -------
    list of MarginSegment
        One per margin in ``procedure.excision.margins`` whose lesion is in the plan and
        which the excision treats (``treated`` is not False).
    """
    if mesh is None:
        return []
    margins = _margins_by_lesion(plan_dict)
    lesions = {int(le["id"]): le for le in plan_dict.get("lesions") or []}
    out = []
    for lid, m in sorted(margins.items()):
        les = lesions.get(lid)
        if les is None or m.get("min_margin_mm") is None:
            continue
        if m.get("treated") is False:
            # Left out of the excision on purpose (beyond reach, another procedure): its
            # "margin" is no margin; the warnings and the lesion's label say why.
            continue
        c = np.asarray(les["center_mm"], dtype=float)
        r = 0.5 * float(les.get("diameter_mm") or 0.0)
        _, closest = mesh.find_closest_cell(c, return_closest_point=True)
        q = np.asarray(closest, dtype=float).reshape(3)
        d = q - c
        dist = float(np.linalg.norm(d))
        value = float(m["min_margin_mm"])
        # Start at the lesion's surface when it lies inside the boundary; from the
        # centre when the lesion reaches the boundary (cut: the line shows where).
        start = c + d / dist * r if dist > r and dist > 1e-9 else c
        adequate = m.get("adequate")
        text = f"{value:.1f} mm"
        if value < 0:
            text = f"{value:.1f} mm (cut)"
        elif adequate is False:
            text += f" < {float(m.get('required_mm', 0)):g}"
        out.append(MarginSegment(lid, start, q, value, None if adequate is None else bool(adequate),
                                 f"L{lid} margin {text}"))
    return out


# ------------------------------------------------------------------------ labels
def nice_length_mm(span_mm: float) -> float:
    """A round scale-bar length (1, 2, 5 x 10^k mm) of about a fifth of ``span_mm``.

    Examples
    --------
    >>> nice_length_mm(100.0), nice_length_mm(40.0), nice_length_mm(3.0)
    (20.0, 5.0, 0.5)
    """
    target = max(float(span_mm), 1e-6) / 5.0
    k = np.floor(np.log10(target))
    for m in (5.0, 2.0, 1.0):
        if m * 10 ** k <= target:
            return float(m * 10 ** k)
    return float(10 ** k)


def lesion_label(les: Mapping) -> str:
    """``"L0 filling defect 6 mm"``: id, kind and diameter as the plan gives them."""
    kind = KIND_WORDS.get(str(les.get("kind")), str(les.get("kind")))
    d = les.get("diameter_mm")
    size = "" if d is None else f" {float(d):.0f} mm" if float(d) >= 2 else f" {float(d):.1f} mm"
    return f"L{les.get('id')} {kind}{size}"


# ------------------------------------------------------------------------- scene
def _ruler(origin: np.ndarray, direction: np.ndarray, normal: np.ndarray, *,
           length_mm: float, tick_mm: float, width_mm: float) -> "pyvista.PolyData":
    """A flat bar with ticks, as a mesh: true to scale from any viewpoint."""
    import pyvista as pv

    d = direction / np.linalg.norm(direction)
    n = np.cross(d, normal)
    n = n / np.linalg.norm(n)
    parts = [pv.Tube(pointa=origin, pointb=origin + length_mm * d, radius=0.5 * width_mm, n_sides=8)]
    tick = 3.0 * width_mm
    for k in range(int(round(length_mm / tick_mm)) + 1):
        p = origin + k * tick_mm * d
        big = k in (0, int(round(length_mm / tick_mm)))
        parts.append(pv.Tube(pointa=p, pointb=p + (2.0 if big else 1.0) * tick * n,
                             radius=0.35 * width_mm, n_sides=8))
    return pv.merge(parts).triangulate()


def _anterior_axis(plan_dict: Mapping, polylines: Sequence[Polyline]) -> np.ndarray:
    """Unit vector from the ducts toward the nipple (the breast's anterior direction)."""
    nipple = np.asarray(plan_dict.get("nipple_mm") or [0, 0, 0], dtype=float)
    if polylines:
        centroid = np.concatenate([p.points_mm for p in polylines]).mean(axis=0)
        v = nipple - centroid
        if np.linalg.norm(v) > 1e-6:
            return v / np.linalg.norm(v)
    return np.array([0.0, -1.0, 0.0])  # LPS anterior


def _slice_plane(volume: "Volume", plan_dict: Mapping, *, max_pixels: int = 400_000) -> "pyvista.StructuredGrid":
    """The DBT slice through the first lesion (or the middle slice), as a textured grid."""
    import pyvista as pv

    frame = volume.frame
    nz, ny, nx = frame.shape_zyx
    k = nz // 2
    lesions = plan_dict.get("lesions") or []
    if lesions:
        z = frame.physical_to_array_index(np.asarray(lesions[0]["center_mm"], dtype=float))[0]
        k = int(np.clip(round(float(z)), 0, nz - 1))
    step = max(1, int(np.ceil(np.sqrt(nx * ny / max_pixels))))
    img = np.asarray(volume.array[k, ::step, ::step], dtype=np.float32)
    jj, ii = np.meshgrid(np.arange(0, ny, step, dtype=float), np.arange(0, nx, step, dtype=float), indexing="ij")
    ijk = np.stack([ii, jj, np.full_like(ii, k)], axis=-1)
    pts = frame.index_to_physical(ijk)  # (ny', nx', 3)
    grid = pv.StructuredGrid(pts[..., 0].T, pts[..., 1].T, pts[..., 2].T)
    grid.point_data["intensity"] = img.T.ravel(order="F")
    grid.field_data["slice_index"] = np.array([k])
    return grid


def _lesion_windows(plan_dict: Mapping, polylines: Sequence[Polyline]) -> list[tuple[np.ndarray, float]]:
    """(centre, radius) of the window to open in the tubes around each lesion.

    Wide enough to clear the duct wall: the lumen around a lesion is often dilated to
    about the lesion's size or more.
    """
    if not polylines:
        return []
    pts = np.concatenate([p.points_mm for p in polylines])
    rad = np.concatenate([p.radius_mm for p in polylines])
    out = []
    for les in plan_dict.get("lesions") or []:
        c = np.asarray(les["center_mm"], dtype=float)
        r = 0.5 * float(les.get("diameter_mm") or 0.0)
        near = np.linalg.norm(pts - c, axis=1) <= r + 2.0
        wall = float(rad[near].max()) if near.any() else 0.0
        out.append((c, max(r, wall) + 0.5))
    return out


def _cut_windows(tube: "pyvista.PolyData", windows: Sequence[tuple[np.ndarray, float]]) -> "pyvista.PolyData":
    if not windows or tube.n_points == 0:
        return tube
    p = np.asarray(tube.points, dtype=float)
    # Signed distance to the union of the windows: negative inside one.
    d = np.min([np.linalg.norm(p - c, axis=1) - r for c, r in windows], axis=0)
    if d.min() >= 0:
        return tube
    tube = tube.copy()
    tube.point_data["_window"] = d
    cut = tube.clip_scalar(scalars="_window", value=0.0, invert=False)
    cut = cut.extract_surface() if not isinstance(cut, type(tube)) else cut
    cut.point_data.pop("_window", None)
    return cut


def build_scene(plan_dict: Mapping, *, tree: TreeInput = None, excision: ExcisionInput = None,
                volume: "Volume | None" = None, slice_planes: bool = False,
                window_size: tuple[int, int] = (1000, 800), labels: bool = True,
                tube_sides: int = _STILL_SIDES, tube_step_mm: float | None = None,
                tube_decimate: float = 0.0, cutaway_lesions: bool = True, ghost_lesions: bool = False,
                ruler: bool = True, off_screen: bool = True,
                parallel_projection: bool = True) -> "pyvista.Plotter":
    """A pyvista scene of the plan: tubes, lesions, nipple, excision, margins, markers.

    Parameters
    ----------
    plan_dict : mapping
        The ``plan.json`` object (``nipple_mm``, ``lesions``, ``procedure``, ...).
    tree : DuctTree, dict, PolyData, path or None
        The duct tree; the plan's own ``branches`` when None.
    excision : (vertices, faces), PolyData, path or None
        The excision surface (``excision.vtp``); nothing drawn when None.
    volume : Volume, optional
        Needed only for ``slice_planes``.
    slice_planes : bool
        Add the DBT slice through the first lesion, semi-transparent grey.
    window_size : (int, int)
        Width and height in pixels.
    labels : bool
        Text labels (lesions, margins, nipple).  The browser export drops 2D text.
    tube_sides : int
        Sides of the tubes' cross-section.
    tube_step_mm : float, optional
        Resample centrelines to this spacing before making tubes.
    tube_decimate : float
        Fraction of the tube triangles to remove after building them (0: none).
    cutaway_lesions : bool
        Open a window in the duct tubes around each lesion.  A lesion sits in the
        lumen (a filling defect is where contrast is missing), so the tube would hide
        it; the window shows it where it is, at its true size.
    ghost_lesions : bool
        Also draw each lesion faintly over everything (an overlay layer sharing the
        camera), so a lesion hidden behind a duct still shows where it is.  For still
        images; the browser export ignores overlay layers.
    ruler : bool
        A 20 mm ruler (ticks every 5 mm) just in front of the nipple: a scale that stays
        true from any viewpoint, including the browser's.
    off_screen : bool
        Render without a window (the default: snapshots and reports).
    parallel_projection : bool
        Orthographic camera, so that :func:`add_scale_bar` is exact.

    Returns
    -------
    pyvista.Plotter
        Actors are named (``tree_system_<s>``, ``lesion_<id>``, ``nipple``, ``excision``,
        ``margin_<id>``, ``ruler``, ``slice``) so callers can find or replace them.

    Raises
    ------
    ValueError
        Malformed tree or excision input.

    Examples
    --------
    >>> plan = {"nipple_mm": [0, 0, 0], "lesions": [], "procedure": {"kind": "none"},
    ...         "branches": [{"id": 0, "system": 0, "points_mm": [[0, 0, 0], [0, 30, 0]],
    ...                       "radius_mm": [1.0, 0.8]}]}
    >>> pl = build_scene(plan, window_size=(200, 160))   # doctest: +SKIP
    >>> "tree_system_0" in pl.actors                      # doctest: +SKIP
    True
    """
    headless_env()
    import pyvista as pv

    polylines = tree_polylines(plan_dict, tree)
    mesh = excision_mesh(excision)
    pl = pv.Plotter(off_screen=off_screen, window_size=list(window_size))
    pl.set_background(palette.BACKGROUND_COLOR)
    # No depth peeling: on Mesa llvmpipe (EGL) it drops translucent surfaces entirely.
    # Without it VTK draws opaque actors first and blends the one translucent surface
    # over them, which is what this scene needs.

    windows = _lesion_windows(plan_dict, polylines) if cutaway_lesions else []
    for system, tube in tube_meshes(polylines, n_sides=tube_sides, step_mm=tube_step_mm).items():
        if tube_decimate > 0 and tube.n_cells > 1000:
            tube = tube.decimate(min(float(tube_decimate), 0.95))
        tube = _cut_windows(tube, windows)
        pl.add_mesh(tube, color=palette.system_color(system), smooth_shading=True, specular=0.2,
                    name=f"tree_system_{system}")

    nipple = np.asarray(plan_dict.get("nipple_mm") or [np.nan] * 3, dtype=float)
    has_nipple = bool(np.all(np.isfinite(nipple)))
    if has_nipple:
        pl.add_mesh(pv.Sphere(radius=_NIPPLE_MARK_MM, center=nipple, theta_resolution=24, phi_resolution=24),
                    color=palette.NIPPLE_COLOR, opacity=0.5, smooth_shading=True, name="nipple")

    label_pts, label_txt, label_col = [], [], []
    for les in plan_dict.get("lesions") or []:
        c = np.asarray(les["center_mm"], dtype=float)
        r = max(0.5 * float(les.get("diameter_mm") or 0.0), 0.5)
        color = palette.lesion_color(les.get("kind", ""))
        pl.add_mesh(pv.Sphere(radius=r, center=c, theta_resolution=32, phi_resolution=32), color=color,
                    smooth_shading=True, specular=0.3, name=f"lesion_{les['id']}")
        label_pts.append(c + np.array([0.0, 0.0, r]))
        label_txt.append(lesion_label(les))
        label_col.append(color)

    if mesh is not None:
        # Front faces only: seen through two translucent layers (front and back) the ducts
        # inside lose their colour (a purple system turns the grey-blue of a blue one).
        pl.add_mesh(mesh, color=palette.EXCISION_COLOR, opacity=palette.EXCISION_OPACITY,
                    smooth_shading=True, ambient=0.5, diffuse=0.55, specular=0.0, culling="back",
                    name="excision")  # mostly ambient: the same green on every side
    for seg in margin_segments(plan_dict, mesh):
        color = palette.MARGIN_SHORT_COLOR if (seg.adequate is False or seg.margin_mm < 0) else palette.MARGIN_OK_COLOR
        line = pv.Line(seg.start_mm, seg.end_mm) if np.linalg.norm(seg.end_mm - seg.start_mm) > 1e-6 else None
        if line is not None:
            pl.add_mesh(line, color=color, line_width=3, name=f"margin_{seg.lesion}")
        pl.add_mesh(pv.Sphere(radius=0.5, center=seg.end_mm), color=color, name=f"margin_end_{seg.lesion}")
        label_pts.append(0.5 * (seg.start_mm + seg.end_mm))
        label_txt.append(seg.label)
        label_col.append(color)

    if has_nipple and ruler:
        ant = _anterior_axis(plan_dict, polylines)
        # Lay the ruler across the breast, just in front of the nipple, so it never
        # hides a duct: along the axis least aligned with the anterior direction.
        axes = np.eye(3)
        across = axes[int(np.argmin(np.abs(axes @ ant)))]
        across = across - ant * float(across @ ant)
        origin = nipple + 8.0 * ant - 0.5 * _RULER_MM * across / np.linalg.norm(across)
        pl.add_mesh(_ruler(origin, across, ant, length_mm=_RULER_MM, tick_mm=_RULER_TICK_MM, width_mm=0.5),
                    color=palette.TEXT_COLOR, name="ruler")
        if labels:
            label_pts.append(origin + 0.5 * _RULER_MM * across / np.linalg.norm(across) + 4.0 * ant)
            label_txt.append(f"ruler {_RULER_MM:.0f} mm")
            label_col.append(palette.TEXT_COLOR)
            label_pts.append(nipple - 1.2 * _NIPPLE_MARK_MM * ant)
            label_txt.append("nipple")
            label_col.append(palette.NIPPLE_COLOR)

    if slice_planes and volume is not None:
        grid = _slice_plane(volume, plan_dict)
        lo, hi = np.percentile(grid.point_data["intensity"], [1.0, 99.7])
        pl.add_mesh(grid, scalars="intensity", cmap="gray", clim=(float(lo), float(hi)), opacity=0.55,
                    show_scalar_bar=False, lighting=False, name="slice")

    if labels and label_pts:
        for i, (p, t, c) in enumerate(zip(label_pts, label_txt, label_col)):
            pl.add_point_labels(np.asarray([p], dtype=float), [t], font_size=14, text_color=c,
                                shape_color="white", shape_opacity=0.75, show_points=False,
                                always_visible=True, name=f"label_{i}", margin=2)

    if ghost_lesions and plan_dict.get("lesions"):
        _add_ghosts(pl, plan_dict)

    # Orientation marker in the plan's own axes: +x Left, +y Posterior, +z Superior (LPS).
    # Grey arrows told apart by their letters: coloured ones would borrow the hues that
    # mean systems, lesions and the excision.
    pl.add_axes(xlabel="L", ylabel="P", zlabel="S", line_width=4, viewport=(0.0, 0.0, 0.2, 0.25),
                label_size=(0.4, 0.16), color=palette.TEXT_COLOR, x_color=palette.AXES_COLOR,
                y_color=palette.AXES_COLOR, z_color=palette.AXES_COLOR)
    if parallel_projection:
        pl.enable_parallel_projection()
    return pl


def _add_ghosts(pl: "pyvista.Plotter", plan_dict: Mapping) -> None:
    """Lesions again, translucent, in a layer drawn over the scene with the same camera."""
    import pyvista as pv
    from vtkmodules.vtkRenderingCore import vtkRenderer

    over = vtkRenderer()
    over.SetLayer(1)
    over.InteractiveOff()
    over.SetActiveCamera(pl.renderer.GetActiveCamera())
    window = pl.render_window
    window.SetNumberOfLayers(max(window.GetNumberOfLayers(), 2))
    window.AddRenderer(over)
    for les in plan_dict.get("lesions") or []:
        r = max(0.5 * float(les.get("diameter_mm") or 0.0), 0.5)
        sphere = pv.Sphere(radius=r, center=np.asarray(les["center_mm"], dtype=float), theta_resolution=24,
                           phi_resolution=24)
        actor = pv.Actor(mapper=pv.DataSetMapper(sphere))
        actor.prop.color = palette.lesion_color(les.get("kind", ""))
        actor.prop.opacity = 0.4
        actor.prop.lighting = False
        over.AddActor(actor)


def show_ghosts(plotter: "pyvista.Plotter", visible: bool) -> None:
    """Show or hide the lesion overlay layer of ``build_scene(ghost_lesions=True)``.

    Hide it to read the scene's own depth buffer (the overlay would replace it).
    """
    renderers = plotter.render_window.GetRenderers()
    renderers.InitTraversal()
    for _ in range(renderers.GetNumberOfItems()):
        ren = renderers.GetNextItem()
        if ren is not None and ren.GetLayer() >= 1:
            ren.SetDraw(bool(visible))


def add_scale_bar(plotter: "pyvista.Plotter", *, length_mm: float | None = None,
                  note: str = "", name: str = "scale_bar") -> float:
    """Draw a scale bar in the lower right corner of the current view.

    Call it after the camera is placed.  The bar is a 3D segment lying in the plane
    through the focal point facing the camera: with parallel projection it is exact
    everywhere; with perspective it is exact at the focal point's depth (say so in
    ``note``).

    Parameters
    ----------
    plotter : pyvista.Plotter
        With the camera set.
    length_mm : float, optional
        Bar length; a round number of about a fifth of the view width when omitted.
    note : str
        Appended to the label (e.g. ``"at the lesion"``).
    name : str
        Actor name (a later call replaces the bar).

    Returns
    -------
    float
        The bar length in mm.
    """
    import pyvista as pv

    cam = plotter.camera
    w, h = plotter.window_size
    fp = np.asarray(cam.focal_point, dtype=float)
    pos = np.asarray(cam.position, dtype=float)
    view = fp - pos
    dist = float(np.linalg.norm(view))
    view /= dist
    if cam.parallel_projection:
        half_h = float(cam.parallel_scale)
    else:
        half_h = dist * float(np.tan(np.radians(0.5 * cam.view_angle)))
    half_w = half_h * w / h
    up = np.asarray(cam.up, dtype=float)
    up = up - view * float(up @ view)
    up /= np.linalg.norm(up)
    right = np.cross(view, up)
    length = float(length_mm) if length_mm else nice_length_mm(2.0 * half_w)
    end = fp + right * (half_w * 0.90) - up * (half_h * 0.86)
    start = end - right * length
    tick = up * half_h * 0.03
    bar = pv.merge([pv.Line(start, end), pv.Line(start - tick, start + tick), pv.Line(end - tick, end + tick)])
    actor = plotter.add_mesh(bar, color=palette.TEXT_COLOR, line_width=4, name=name, lighting=False,
                             reset_camera=False)
    # Drawn over everything: a scale bar hidden behind a duct is no scale bar.
    mapper = actor.GetMapper()
    mapper.SetResolveCoincidentTopologyToPolygonOffset()
    mapper.SetRelativeCoincidentTopologyLineOffsetParameters(0, -66000)
    text = f"{length:g} mm" + (f" {note}" if note else "")
    plotter.add_point_labels(np.asarray([0.5 * (start + end) + up * half_h * 0.07]), [text],
                             font_size=16, text_color=palette.TEXT_COLOR, show_points=False,
                             shape_opacity=0.0, always_visible=True, name=f"{name}_label",
                             reset_camera=False, justification_horizontal="center")
    return length


def world_to_pixels(plotter: "pyvista.Plotter", points_mm: npt.ArrayLike) -> np.ndarray:
    """Project points (mm) to image pixels ``(column, row)`` of the plotter's screenshot.

    Row 0 is the top of the image, as in the array ``screenshot()`` returns.

    Parameters
    ----------
    plotter : pyvista.Plotter
        With its camera set.
    points_mm : (N, 3) array

    Returns
    -------
    (N, 2) ndarray of float
    """
    w, h = plotter.window_size
    pts = np.atleast_2d(np.asarray(points_mm, dtype=float))
    if len(pts) == 0:
        return np.zeros((0, 2))
    # The camera's world -> normalised-device transform, applied to all points at once
    # (renderer.WorldToDisplay works one point per call).
    m = plotter.camera.GetCompositeProjectionTransformMatrix(w / h, -1.0, 1.0)
    mat = np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])
    hom = np.c_[pts, np.ones(len(pts))] @ mat.T
    ndc = hom[:, :2] / hom[:, 3:4]
    x = (ndc[:, 0] + 1.0) * 0.5 * w
    y = (ndc[:, 1] + 1.0) * 0.5 * h
    return np.c_[x - 0.5, h - 0.5 - y]


def scene_points(plan_dict: Mapping, *, tree: TreeInput = None, excision: ExcisionInput = None) -> np.ndarray:
    """Points whose extent is the scene's content (tree, lesions, excision, nipple), for framing.

    Returns
    -------
    (M, 3) ndarray
        Empty (0, 3) when the plan holds nothing to draw.
    """
    parts = []
    for p in tree_polylines(plan_dict, tree):
        parts.append(p.points_mm)
    for les in plan_dict.get("lesions") or []:
        c = np.asarray(les["center_mm"], dtype=float)
        r = 0.5 * float(les.get("diameter_mm") or 0.0)
        parts.append(c + r * np.vstack([np.eye(3), -np.eye(3)]))
    mesh = excision_mesh(excision)
    if mesh is not None:
        parts.append(np.asarray(mesh.points, dtype=float))
    nipple = plan_dict.get("nipple_mm")
    if nipple is not None and np.all(np.isfinite(np.asarray(nipple, dtype=float))):
        parts.append(np.asarray(nipple, dtype=float).reshape(1, 3))
    return np.concatenate(parts) if parts else np.zeros((0, 3))
