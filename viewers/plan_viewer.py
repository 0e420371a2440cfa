"""``ductplan view``: the plan in 3D, in a desktop window or in the browser.

Reads what ``ductplan plan`` wrote (``plan.json``, ``tree.vtp``, ``excision.vtp``) and
shows the scene of :func:`viewers.scene.build_scene`: the tree as tubes true to scale,
the lesions, the nipple, the translucent excision and the margin lines.

* **Desktop**: where a display exists (``DISPLAY`` or ``WAYLAND_DISPLAY``) and a test
  render works, a pyvista window at full detail, with labels.
* **Browser**: otherwise (or with ``--browser``), a trame page served on localhost with
  the scene rendered by the browser (vtk.js).  The scene is lightened to a triangle
  budget first (:func:`viewers.webexport.choose_browser_mesh`) so that a large tree
  still turns smoothly; how much was removed is printed and shown on the page.  vtk.js
  draws no 2D text, so the labels become a legend beside the view.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import palette
from .render_probe import rendering_available
from .scene import build_scene, excision_mesh, lesion_label
from .webexport import DEFAULT_MAX_TRIANGLES, BrowserMesh, choose_browser_mesh

__all__ = ["PlanFiles", "load_plan_dir", "display_available", "browser_scene", "legend_rows", "plan_summary",
           "PlanViewApp", "run_view"]


@dataclass(frozen=True)
class PlanFiles:
    """What ``ductplan plan`` wrote into one folder.

    Attributes
    ----------
    outdir : Path
    plan : dict
        ``plan.json``.
    tree : Path or None
        ``tree.vtp`` (None: the plan's own branches are drawn).
    excision : Path or None
        ``excision.vtp`` (None when no excision is proposed).
    """

    outdir: Path
    plan: dict
    tree: Path | None
    excision: Path | None


def load_plan_dir(outdir: str | os.PathLike) -> PlanFiles:
    """Read a plan folder, checking it is one.

    Raises
    ------
    FileNotFoundError
        The folder does not exist.
    ValueError
        No ``plan.json`` in it, or one that is not a plan.

    Examples
    --------
    >>> load_plan_dir("/no/such/folder")
    Traceback (most recent call last):
    ...
    FileNotFoundError: /no/such/folder: no such folder (give the OUTDIR of 'ductplan plan')
    """
    d = Path(outdir)
    if not d.exists():
        raise FileNotFoundError(f"{d}: no such folder (give the OUTDIR of 'ductplan plan')")
    if not d.is_dir():
        raise ValueError(f"{d}: not a folder (give the OUTDIR of 'ductplan plan', not a file in it)")
    path = d / "plan.json"
    if not path.is_file():
        raise ValueError(f"{d}: no plan.json here (run 'ductplan plan VOLUME -o {d}' first)")
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(plan, dict) or not str(plan.get("schema", "")).startswith("ductplan.plan/"):
        raise ValueError(f"{path}: not a ductplan plan (no 'schema': 'ductplan.plan/1')")
    tree = d / "tree.vtp"
    excision_name = ((plan.get("procedure") or {}).get("excision") or {}).get("mesh") or "excision.vtp"
    excision = d / str(excision_name)
    return PlanFiles(d, plan, tree if tree.is_file() else None, excision if excision.is_file() else None)


def display_available() -> tuple[bool, str]:
    """Whether a desktop window can open here: a display and a working test render."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False, "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    ok, why = rendering_available()
    return ok, why


def plan_summary(plan: Mapping) -> str:
    """One line: the procedure, systems, lesions.

    Examples
    --------
    >>> plan_summary({"procedure": {"kind": "microdochectomy"}, "systems": [{}], "lesions": [{}, {}]})
    'microdochectomy - 1 ductal system, 2 lesions'
    """
    kind = (plan.get("procedure") or {}).get("kind", "unknown")
    ns, nl = len(plan.get("systems") or []), len(plan.get("lesions") or [])
    return (f"{kind} - {ns} ductal system{'s' if ns != 1 else ''}, "
            f"{nl} lesion{'s' if nl != 1 else ''}")


def legend_rows(plan: Mapping) -> list[dict]:
    """The scene's legend (what the browser view cannot label): colour, text, detail.

    Returns
    -------
    list of dict
        ``{"color": "#rrggbb", "text": ..., "detail": ...}``, JSON-safe.
    """
    rows = []
    for s in plan.get("systems") or []:
        rows.append({"color": palette.system_color(s.get("id")), "text": f"duct system {s.get('id')}",
                     "detail": f"{float(s.get('length_mm') or 0):.0f} mm of ducts, "
                               f"{len(s.get('branch_ids') or [])} branches"})
    margins = {m.get("lesion"): m for m in (((plan.get("procedure") or {}).get("excision") or {})
                                             .get("margins") or [])}
    for les in plan.get("lesions") or []:
        bits = []
        if les.get("clock"):
            bits.append(f"{les['clock']}")
        if les.get("distance_from_nipple_mm") is not None:
            bits.append(f"{float(les['distance_from_nipple_mm']):.0f} mm from the nipple")
        m = margins.get(les.get("id"))
        if m is not None and m.get("min_margin_mm") is not None:
            short = m.get("adequate") is False or float(m["min_margin_mm"]) < 0
            bits.append(f"margin {float(m['min_margin_mm']):.1f} mm" + (" (short)" if short else ""))
        rows.append({"color": palette.readable_on_white(palette.lesion_color(les.get("kind", ""))),
                     "text": lesion_label(les), "detail": ", ".join(bits)})
    if plan.get("nipple_mm") is not None:
        rows.append({"color": palette.NIPPLE_COLOR, "text": "nipple", "detail": "with a 20 mm ruler in front"})
    ex = (plan.get("procedure") or {}).get("excision")
    if ex:
        vol = ex.get("volume_cm3")
        rows.append({"color": palette.EXCISION_COLOR, "text": "excision (translucent)",
                     "detail": (f"{float(vol):.1f} cm3, " if vol else "")
                               + f"{float(ex.get('depth_mm') or 0):.0f} mm deep"})
    return rows


def _camera_presets(plan: Mapping, tree: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Named camera directions (from the scene towards the camera is ``-direction``) and up vectors."""
    from .snapshots import view_specs

    specs = view_specs(plan, tree=tree)
    lat = specs["lateral"]
    three_q = lat.direction + 0.6 * np.array([0.0, 1.0, 0.0]) - 0.35 * lat.up
    out = {"three-quarter": (three_q / np.linalg.norm(three_q), lat.up)}
    for name, spec in specs.items():
        out[name] = (np.asarray(spec.direction, float), np.asarray(spec.up, float))
    return out


def set_camera(plotter: Any, direction: np.ndarray, up: np.ndarray, *, zoom: float = 1.5) -> None:
    """Look along ``direction`` with ``up`` up, the whole scene in view."""
    plotter.view_vector(-np.asarray(direction, float), viewup=np.asarray(up, float))
    plotter.reset_camera()
    plotter.camera.zoom(zoom)  # reset_camera leaves a wide border


def browser_scene(files: PlanFiles, *, max_triangles: int = DEFAULT_MAX_TRIANGLES,
                  window_size: tuple[int, int] = (1000, 800)) -> tuple[Any, BrowserMesh]:
    """The plan's scene lightened to ``max_triangles``, as an off-screen plotter for vtk.js.

    Returns
    -------
    plotter : pyvista.Plotter
        Rendered once, on the three-quarter view (as in the report).
    budget : BrowserMesh
        What was removed to fit the budget (``budget.describe()``).

    Raises
    ------
    RuntimeError
        Off-screen rendering is not available.
    """
    ok, why = rendering_available()
    if not ok:
        raise RuntimeError(why)
    budget = choose_browser_mesh(files.plan, tree=files.tree, excision=files.excision, max_triangles=max_triangles)
    full_ex = excision_mesh(files.excision)
    ex = full_ex
    if ex is not None and budget.excision_decimate > 0:
        ex = ex.decimate(budget.excision_decimate)
    pl = build_scene(files.plan, tree=files.tree, excision=ex, labels=False, ruler=True, window_size=window_size,
                     tube_sides=budget.tube_sides, tube_step_mm=budget.tube_step_mm,
                     tube_decimate=budget.tube_decimate, parallel_projection=False)
    pl.show(auto_close=False, interactive=False)
    direction, up = _camera_presets(files.plan, files.tree)["three-quarter"]
    set_camera(pl, direction, up)
    pl.render()
    # Exact counts of what the browser gets, and of the full-detail scene, counted as the
    # report's export counts them (so the page and report.html say the same numbers).
    from .scene import count_triangles
    from .webexport import _actor_triangles, _fixed_triangles

    tubes, other = _actor_triangles(pl)
    full = tubes + other
    if budget.reduced:
        full_tubes = budget.triangles_full - _fixed_triangles(files.plan, full_ex)
        full = full_tubes + other - count_triangles(ex) + count_triangles(full_ex)
    budget = BrowserMesh(budget.tube_sides, budget.tube_step_mm, budget.tube_decimate, int(full),
                         int(tubes + other), budget.max_triangles, budget.excision_decimate)
    return pl, budget


class PlanViewApp:
    """The trame page of ``ductplan view``: the vtk.js scene, a legend and camera presets.

    Parameters
    ----------
    files : PlanFiles
    max_triangles : int
        Browser budget.
    server : trame server, optional
    """

    def __init__(self, files: PlanFiles, *, max_triangles: int = DEFAULT_MAX_TRIANGLES, server: Any = None) -> None:
        from .webapp import new_server

        self.files = files
        self.server = server or new_server("ductplan-view")
        self.plotter, self.budget = browser_scene(files, max_triangles=max_triangles)
        self.presets = _camera_presets(files.plan, files.tree)
        st = self.server.state
        st.trame__title = f"ductplan view - {files.outdir.name}"
        st.summary = plan_summary(files.plan)
        st.legend = legend_rows(files.plan)
        st.rationale = list((files.plan.get("procedure") or {}).get("rationale") or [])
        st.warnings = list(files.plan.get("warnings") or [])
        st.budget_text = self.budget.describe()
        st.triangles = f"{self.budget.triangles:,} triangles" + (
            f" (of {self.budget.triangles_full:,})" if self.budget.reduced else "")
        self._build_ui()

    def on_preset(self, name: str) -> None:
        """Move the camera to a named view and send it to the browser."""
        direction, up = self.presets[str(name)]
        set_camera(self.plotter, direction, up)
        self.view.push_camera()

    def _build_ui(self) -> None:
        from trame.ui.vuetify3 import VAppLayout
        from trame.widgets import html
        from trame.widgets import vtk as vtk_widgets
        from trame.widgets import vuetify3 as v

        axes = getattr(self.plotter.renderer, "axes_widget", None)
        with VAppLayout(self.server, full_height=True) as layout:
            with v.VAppBar(density="compact", color="blue-grey-darken-3"):
                v.VAppBarTitle("ductplan view - {{ summary }}")
                v.VSpacer()
                v.VChip("{{ triangles }}", size="small", variant="outlined", classes="mr-2", id="triangles-chip")
            with v.VNavigationDrawer(permanent=True, width=340, location="left"):
                with v.VContainer(classes="pa-3", fluid=True):
                    html.Div("View from", classes="text-subtitle-2 mb-1")
                    with html.Div(classes="d-flex flex-wrap mb-2", style="gap: 4px"):
                        for name in self.presets:
                            v.VBtn(name.replace("_", " "), size="small", variant="tonal",
                                   click=(self.on_preset, f"['{name}']"))
                    html.Div("Drag to rotate, scroll to zoom, right-drag or shift-drag to pan. The axes in the "
                             "lower left point to the patient's left, posterior and superior (the browser "
                             "draws them without letters).", classes="text-caption mb-1")
                    html.Div("{{ budget_text }}", classes="text-caption text-medium-emphasis", id="budget")
                    v.VDivider(classes="my-2")
                    html.Div("Legend", classes="text-subtitle-2")
                    with html.Div(id="legend"), html.Div(v_for="row in legend", key="row.text",
                                                          classes="d-flex align-start my-1"):
                        html.Span("", style=("{background: row.color, display: 'inline-block', width: '14px', "
                                             "height: '14px', borderRadius: '3px', marginTop: '3px', "
                                             "marginRight: '8px', flex: 'none'}",))
                        with html.Div():
                            html.Div("{{ row.text }}", classes="text-body-2", style=("{color: row.color}",))
                            html.Div("{{ row.detail }}", classes="text-caption text-medium-emphasis")
                    v.VDivider(classes="my-2")
                    html.Div("Why", classes="text-subtitle-2")
                    html.Div("{{ r }}", v_for="(r, i) in rationale", key="i", classes="text-caption mb-1")
                    html.Div("Warnings ({{ warnings.length }})", v_if="warnings.length",
                             classes="text-subtitle-2 mt-2")
                    html.Div("{{ w }}", v_for="(w, i) in warnings", key="i",
                             classes="text-caption mb-1 text-orange-darken-4")
            with v.VMain():
                # A positioned box of the main area's size: the canvas fills it, not the page
                # (the drawer would hide its lower-left corner, where the axes are).
                with html.Div(style="position: relative; width: 100%; height: calc(100vh - 48px)"):
                    self.view = vtk_widgets.VtkLocalView(self.plotter.render_window,
                                                         widgets=[axes] if axes is not None else [],
                                                         id="plan-view")
        self.layout = layout


def run_view(outdir: str | os.PathLike, *, mode: str = "auto", host: str = "127.0.0.1", port: int = 0,
             open_browser: bool = True, max_triangles: int = DEFAULT_MAX_TRIANGLES) -> str:
    """Show a plan folder: a desktop window where possible, else a page served on ``host:port``.

    Parameters
    ----------
    outdir : path
        The OUTDIR of ``ductplan plan``.
    mode : {"auto", "desktop", "browser"}
    host, port, open_browser
        For the browser page (:func:`viewers.webapp.serve`).
    max_triangles : int
        Browser budget.

    Returns
    -------
    str
        The mode used.

    Raises
    ------
    FileNotFoundError, ValueError
        Not a plan folder.
    RuntimeError
        Desktop mode asked for where no window can open, or no rendering at all.
    """
    from .webapp import check_host_port, serve

    files = load_plan_dir(outdir)
    if mode not in ("auto", "desktop", "browser"):
        raise ValueError(f"mode must be auto, desktop or browser, got {mode!r}")
    check_host_port(host, port)
    if not int(max_triangles) >= 10_000:
        raise ValueError(f"--max-triangles must be at least 10000 (a tree needs some), got {max_triangles}")
    if mode in ("auto", "desktop"):
        ok, why = display_available()
        if ok:
            pl = build_scene(files.plan, tree=files.tree, excision=files.excision, labels=True, off_screen=False,
                             parallel_projection=False, window_size=(1200, 900))
            direction, up = _camera_presets(files.plan, files.tree)["three-quarter"]
            set_camera(pl, direction, up)
            print(f"ductplan view: {plan_summary(files.plan)} (close the window to quit)", flush=True)
            pl.show(title=f"ductplan view - {files.outdir.name}")
            return "desktop"
        if mode == "desktop":
            raise RuntimeError(f"cannot open a desktop window: {why}; use --browser")
    app = PlanViewApp(files, max_triangles=max_triangles)
    print(f"ductplan view: {plan_summary(files.plan)}", flush=True)
    print(f"ductplan view: {app.budget.describe()}", flush=True)
    serve(app.server, host=host, port=port, open_browser=open_browser, what="ductplan view")
    return "browser"
