"""The interactive 3D view for the browser: one self-contained vtk.js HTML page.

The page is trame-vtk's offline viewer (vtk.js inlined) with the scene embedded as
base64, the same file ``plotter.trame.export_html()`` writes.  It is produced here
without starting a trame server: trame-pyvista's ``export_html`` launches one (it needs
``nest_asyncio2`` outside Jupyter, binds a local port and, on first use, tries to
download a WASM build), while the scene description it exports comes from trame-vtk's
serializers, which this module calls directly.  Nothing touches the network.

Two things keep the page light and offline:

* **Budget**: :func:`choose_browser_mesh` coarsens the duct tubes (fewer sides, coarser
  centreline sampling, then decimation) until the whole scene is at most
  ``max_triangles`` (300 000 by default, which a workstation's browser turns smoothly),
  and says by how much.
* **No URL**: the viewer's code adds favicon links to kitware.github.io; they are
  removed, and the remaining ``http(s)://`` texts (licence comments, documentation
  strings, a URL-parsing base) are written ``http:\\/\\/`` which means the same to
  JavaScript but is no link a browser could fetch or a scanner could mistake.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .scene import ExcisionInput, TreeInput, build_scene, count_triangles, excision_mesh, tree_polylines, tube_meshes

if TYPE_CHECKING:
    import pyvista

__all__ = ["BrowserMesh", "choose_browser_mesh", "scene_html", "make_offline", "interactive_html",
           "DEFAULT_MAX_TRIANGLES", "ExportUnavailable"]

#: Triangles a workstation browser (WebGL, integrated GPU) rotates smoothly.
DEFAULT_MAX_TRIANGLES = 300_000
#: Tube resolutions tried in order: (sides, centreline step in mm or None for as given).
_LADDER = ((20, None), (12, None), (8, None), (8, 1.0), (6, 2.0), (5, 3.0))
_STILL = _LADDER[0]
#: Largest share of the budget the excision surface keeps before it is decimated.
_EXCISION_SHARE = 0.4


class ExportUnavailable(RuntimeError):
    """The vtk.js export could not be made (trame-vtk missing or incompatible)."""


@dataclass(frozen=True)
class BrowserMesh:
    """How the browser's scene was lightened.

    Attributes
    ----------
    tube_sides : int
    tube_step_mm : float or None
        Centreline resampling step (None: the plan's own points).
    tube_decimate : float
        Fraction of the tube triangles removed by decimation (0: none).
    excision_decimate : float
        Fraction of the excision surface's triangles removed (0: none; only when the
        excision alone would take more than 40 % of the budget).
    triangles_full : int
        Triangles of the scene as the still images draw it.
    triangles : int
        Triangles of the browser scene.
    max_triangles : int
    """

    tube_sides: int
    tube_step_mm: float | None
    tube_decimate: float
    triangles_full: int
    triangles: int
    max_triangles: int
    excision_decimate: float = 0.0

    @property
    def reduced(self) -> bool:
        """Whether the browser's tubes are coarser than the still images' ones."""
        return (self.tube_sides < _STILL[0] or self.tube_step_mm is not None or self.tube_decimate > 0
                or self.excision_decimate > 0)

    def describe(self) -> str:
        """One sentence for the report."""
        if not self.reduced:
            return (f"The 3D view holds {self.triangles:,} triangles, the full detail of the still "
                    f"images (within the {self.max_triangles:,}-triangle budget for smooth rotation).")
        how = []
        if self.tube_sides < _STILL[0]:
            how.append(f"duct tubes drawn with {self.tube_sides} sides instead of {_STILL[0]}")
        if self.tube_step_mm:
            how.append(f"centrelines sampled every {self.tube_step_mm:g} mm")
        if self.tube_decimate > 0:
            how.append(f"tubes decimated by {100 * self.tube_decimate:.0f} %")
        if self.excision_decimate > 0:
            how.append(f"excision surface decimated by {100 * self.excision_decimate:.0f} %")
        pct = 100.0 * (1.0 - self.triangles / max(self.triangles_full, 1))
        kept = "Lesions and nipple keep" + ("" if self.excision_decimate > 0 else ", like the excision,")
        return (f"To rotate smoothly in a browser the 3D view was lightened from {self.triangles_full:,} to "
                f"{self.triangles:,} triangles (-{pct:.0f} %; budget {self.max_triangles:,}): "
                + ", ".join(how) + f". {kept} their full detail; duct radii stay true to scale; "
                "the still images and all numbers use the full-detail geometry.")


def _fixed_triangles(plan_dict: Mapping, mesh) -> int:
    """Triangles of everything but the tubes (spheres, excision, ruler), as build_scene draws them."""
    n_spheres = len(plan_dict.get("lesions") or []) + 1
    return count_triangles(mesh) + n_spheres * 2 * 32 * 30 + 4000


def _actor_triangles(pl: "pyvista.Plotter") -> tuple[int, int]:
    """(tube triangles, other triangles) of the meshes in a plotter."""
    import pyvista as pv

    tubes = other = 0
    for name, actor in pl.actors.items():
        ds = getattr(getattr(actor, "mapper", None), "dataset", None)
        if isinstance(ds, pv.PolyData) and ds.GetNumberOfPolys() + ds.GetNumberOfStrips() > 0:
            n = count_triangles(ds)
            if str(name).startswith("tree_system_"):
                tubes += n
            else:
                other += n
    return tubes, other


def choose_browser_mesh(plan_dict: Mapping, *, tree: TreeInput = None, excision: ExcisionInput = None,
                        max_triangles: int = DEFAULT_MAX_TRIANGLES) -> BrowserMesh:
    """The finest tube resolution that keeps the scene within ``max_triangles``.

    Parameters
    ----------
    plan_dict : mapping
    tree, excision
        As for :func:`viewers.scene.build_scene`.
    max_triangles : int
        Budget for the whole scene.

    Returns
    -------
    BrowserMesh

    Examples
    --------
    >>> plan = {"lesions": [], "branches": [{"id": 0, "system": 0, "radius_mm": [1, 1],
    ...          "points_mm": [[0, 0, 0], [0, 0, 50]]}]}
    >>> choose_browser_mesh(plan).reduced
    False
    """
    polylines = tree_polylines(plan_dict, tree)
    mesh = excision_mesh(excision)
    fixed_full = _fixed_triangles(plan_dict, mesh)
    ex_tri = count_triangles(mesh)
    # The excision is one smooth surface: it may take up to 40 % of the budget.
    ex_frac = 0.0
    if ex_tri > _EXCISION_SHARE * max_triangles:
        ex_frac = float(min(1.0 - _EXCISION_SHARE * max_triangles / ex_tri, 0.95))
    fixed = fixed_full - ex_tri + int(ex_tri * (1.0 - ex_frac))
    full = None
    for sides, step in _LADDER:
        tubes = sum(count_triangles(t) for t in tube_meshes(polylines, n_sides=sides, step_mm=step).values())
        if full is None:
            full = tubes + fixed_full
        if tubes + fixed <= max_triangles:
            return BrowserMesh(sides, step, 0.0, full, tubes + fixed, max_triangles, ex_frac)
    # Still too heavy: decimate the coarsest tubes to fit what is left of the budget.
    room = max(max_triangles - fixed, 0.05 * tubes)
    frac = float(np.clip(1.0 - room / max(tubes, 1), 0.0, 0.95))
    sides, step = _LADDER[-1]
    return BrowserMesh(sides, step, frac, int(full), int(tubes * (1.0 - frac)) + fixed, max_triangles, ex_frac)


def scene_html(plotter: "pyvista.Plotter") -> str:
    """The plotter's scene as one self-contained vtk.js HTML page (no server, no network).

    Parameters
    ----------
    plotter : pyvista.Plotter
        Rendered at least once (its camera is the page's initial view).

    Returns
    -------
    str
        The HTML text (not yet made offline-clean: see :func:`make_offline`).

    Raises
    ------
    ExportUnavailable
        When trame-vtk is not installed or its serializers changed.
    """
    try:
        from trame_vtk.modules.vtk.serializers import (SynchronizationContext, extract_array_hash,
                                                       initialize_serializers, reference_id, serialize,
                                                       serialize_widget)
        from trame_vtk.tools.vtksz2html import write_html
    except ImportError as exc:
        raise ExportUnavailable(f"the interactive 3D view needs trame-vtk ({exc}); "
                                "pip install trame-vtk") from None
    try:
        initialize_serializers()
        context = SynchronizationContext()
        # As trame-vtk's "viewport.geometry.view.get.export" does for a new subscription.
        context.set_ignore_last_dependencies(True)
        window = plotter.render_window
        renderer = window.GetRenderers().GetFirstRenderer()
        camera = renderer.GetActiveCamera()
        state = serialize(None, window, reference_id(window), context, 1)
        state["extra"] = {"vtkRefId": reference_id(window), "centerOfRotation": camera.GetFocalPoint(),
                          "camera": reference_id(camera)}
        behaviors: dict = {}
        for ren in plotter.renderers:  # the orientation marker follows the camera
            if getattr(ren, "axes_widget", None) is not None:
                serialize_widget(behaviors, ren.axes_widget)
        if behaviors:
            state["behaviors"] = behaviors
        context.set_ignore_last_dependencies(False)
        hashes = {}
        for entry in extract_array_hash(state):
            key = entry.get("hash")
            hashes[key] = dict(**entry, content=context.get_cached_data_array(key, False))
        payload = json.dumps({"hashes": hashes, "scene": state})
    except Exception as exc:  # a changed private API must cost the 3D view, not the report
        raise ExportUnavailable(f"the vtk.js export failed ({type(exc).__name__}: {exc})") from exc
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("index.json", payload)
    out = io.StringIO()
    write_html(buf.getvalue(), out)
    return out.getvalue()


# The viewer adds <link rel="icon" href="https://kitware.github.io/...">: a fetch.
_FAVICON = re.compile(r"`https?://[^`]*favicon[^`]*`")
_URL = re.compile(r"(https?):(//)", re.IGNORECASE)


def make_offline(html: str) -> str:
    """Remove every URL a browser could fetch from the exported viewer page.

    Favicon links become empty ``data:`` URIs; other ``http(s)://`` texts (comments,
    strings) are written ``http:\\/\\/``, the same string to JavaScript.

    Examples
    --------
    >>> make_offline('h(`https://kitware.github.io/vtk-js/icon/favicon-${t}.png`); u="http://any"')
    'h("data:,"); u="http:\\\\/\\\\/any"'
    """
    html = _FAVICON.sub('"data:,"', html)
    return _URL.sub(lambda m: m.group(1) + r":\/\/", html)


def interactive_html(plan_dict: Mapping, *, tree: TreeInput = None, excision: ExcisionInput = None,
                     max_triangles: int = DEFAULT_MAX_TRIANGLES,
                     window_size: tuple[int, int] = (1000, 800)) -> tuple[str, BrowserMesh]:
    """The plan's 3D scene as an offline vtk.js page, lightened to ``max_triangles``.

    The scene is :func:`viewers.scene.build_scene` without 2D text (vtk.js does not show
    it) and with the 20 mm ruler beside the nipple for scale; it opens on the lateral
    view.

    Returns
    -------
    html : str
    budget : BrowserMesh
        What was done to fit the budget (``budget.describe()`` for the report).

    Raises
    ------
    ExportUnavailable
    RuntimeError
        When off-screen rendering is not available.
    """
    from .render_probe import rendering_available
    from .snapshots import view_specs

    ok, why = rendering_available()
    if not ok:
        raise RuntimeError(why)
    budget = choose_browser_mesh(plan_dict, tree=tree, excision=excision, max_triangles=max_triangles)
    full_ex = excision_mesh(excision)
    ex = full_ex
    if ex is not None and budget.excision_decimate > 0:
        ex = ex.decimate(budget.excision_decimate)
    pl = build_scene(plan_dict, tree=tree, excision=ex, labels=False, ruler=True, window_size=window_size,
                     tube_sides=budget.tube_sides, tube_step_mm=budget.tube_step_mm,
                     tube_decimate=budget.tube_decimate, parallel_projection=False)
    try:
        pl.show(auto_close=False, interactive=False)
        spec = view_specs(plan_dict, tree=tree)["lateral"]
        # Three-quarter view from the lateral side, slightly anterior and above: shows
        # the tree's branching and the excision's depth at once.
        direction = spec.direction + 0.6 * np.array([0.0, 1.0, 0.0]) - 0.35 * spec.up
        pl.view_vector(-direction / np.linalg.norm(direction), viewup=spec.up)
        pl.reset_camera()
        pl.camera.zoom(1.3)  # reset_camera leaves a wide border
        pl.render()
        # Report exact counts of what the browser gets.  The full-detail count swaps in
        # the still images' tubes (estimated by choose_browser_mesh) and the full excision.
        tubes, other = _actor_triangles(pl)
        if budget.reduced:
            full_tubes = budget.triangles_full - _fixed_triangles(plan_dict, full_ex)
            full = full_tubes + other - count_triangles(ex) + count_triangles(full_ex)
        else:
            full = tubes + other
        budget = BrowserMesh(budget.tube_sides, budget.tube_step_mm, budget.tube_decimate,
                             full, tubes + other, budget.max_triangles, budget.excision_decimate)
        return make_offline(scene_html(pl)), budget
    finally:
        pl.close()
