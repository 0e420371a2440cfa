"""``ductplan annotate``: the radiologist's marking app in the browser (trame, Vuetify 3).

A thin layer over :class:`viewers.annotate_session.AnnotationSession`: widgets bind to
trame state, every event calls the session, then :meth:`AnnotateApp.refresh` pushes the
new picture (a PNG data URL in an ``<img>``) and the marks list.  The picture is drawn on
the server, so the page needs no WebGL and works in any browser, headless ones too.

Layout: a drawer on the left with the tools (place lesion / nipple / orifice, select,
move, centre), slice, MIP slab, window/level, zoom, the duct tree, the marks list and
the selected mark's label and diameter; the slice picture on the right.  A click on the
picture acts with the current tool; the mouse wheel over the picture scrolls slices.
Every change is saved at once to the ``.mrk.json`` (atomic write); the app bar says
where and when.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from .annotate_render import MARK_COLORS, data_url
from .annotate_session import AnnotationSession

__all__ = ["AnnotateApp", "run_annotate"]

_TOOL_BUTTONS = (("lesion", "Lesion", "mdi-circle-outline"), ("nipple", "Nipple", "mdi-rhombus-outline"),
                 ("orifice", "Orifice", "mdi-triangle-outline"))
_EDIT_BUTTONS = (("select", "Select", "mdi-cursor-default-click-outline"), ("move", "Move", "mdi-cursor-move"),
                 ("centre", "Centre", "mdi-image-filter-center-focus"))


class AnnotateApp:
    """The trame app of one :class:`AnnotationSession`.

    Parameters
    ----------
    session : AnnotationSession
    server : trame server, optional
        A new one (:func:`viewers.webapp.new_server`) when None.
    title : str
        Shown in the app bar and the browser tab.
    """

    def __init__(self, session: AnnotationSession, *, server: Any = None, title: str = "ductplan annotate") -> None:
        from .webapp import new_server

        self.session = session
        self.server = server or new_server("ductplan-annotate")
        self.title = title
        self._progress = ""
        self._busy = False
        self._init_state()
        self._build_ui()

    @property
    def state(self):
        return self.server.state

    # ---------------------------------------------------------------- state
    def _init_state(self) -> None:
        s, st = self.session.settings, self.state
        lo, hi = self.session.value_range
        span = max(hi - lo, 1e-6)
        st.update({
            "tool": "lesion", "slice_k": s.k, "n_slices": self.session.n_slices, "slab_mm": s.slab_mm,
            "slab_max": float(min(40.0, self.session.n_slices * self.session.frame.spacing[2])),
            "slab_step": float(self.session.frame.spacing[2]),
            "window": s.window, "level": s.level, "win_max": 2 * span, "lev_min": lo, "lev_max": hi,
            "wl_step": span / 500.0, "zoom": s.zoom, "show_tree": s.show_tree, "show_labels": s.show_labels,
            "marks": [], "selected_id": None, "sel_label": "", "sel_diameter": "", "sel_role": "",
            "status": "Click on the slice to place a lesion mark.", "saved": "", "slice_src": "",
            "slice_info": "", "tree_note": self.session.tree_note, "tree_busy": False,
            "marks_file": str(self.session.store.path), "mark_colors": MARK_COLORS,
        })
        for name in ("slice_k", "slab_mm", "window", "level", "show_tree", "show_labels"):
            self.state.change(name)(self._on_view_change)
        self.refresh()

    def _saved_text(self) -> str:
        t = self.session.store.saved_at
        where = self.session.store.path.name
        if t is None:
            return f"{where}: nothing saved yet" if not self.session.store.path.exists() else f"{where}: loaded"
        return f"saved {time.strftime('%H:%M:%S', time.localtime(t))} to {where}"

    def refresh(self, status: str | None = None) -> None:
        """Push the picture, the marks and the selection to the browser."""
        ses, st = self.session, self.state
        s = ses.settings
        st.slice_src = data_url(ses.render())
        st.slice_k = s.k
        st.zoom = s.zoom
        k0z = float(ses.frame.index_to_physical([0, 0, s.k])[2])
        slab = "" if s.slab_mm <= ses.frame.spacing[2] else f", MIP slab {2 * ses.half_depth_mm():g} mm"
        st.slice_info = (f"slice {s.k} / {ses.n_slices - 1} (z = {k0z:.1f} mm){slab}, zoom {s.zoom:g}x, "
                         f"{ses.view().mm_per_pixel:.3f} mm/pixel")
        st.marks = ses.mark_rows()
        st.selected_id = ses.selected
        if ses.selected is not None:
            m = ses.store.get(ses.selected)
            st.sel_label = m.label
            st.sel_diameter = "" if m.diameter_mm is None else f"{m.diameter_mm:g}"
            st.sel_role = m.role
        else:
            st.sel_label, st.sel_diameter, st.sel_role = "", "", ""
        st.saved = self._saved_text()
        if status is not None:
            st.status = status

    def _guard(self, fn, *args: Any) -> None:
        """Run a session call; a bad value becomes the status line, never a dead page."""
        try:
            status = fn(*args)
        except (ValueError, KeyError, OSError) as exc:
            self.refresh(status=f"Not done: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}")
            return
        self.refresh(status=status if isinstance(status, str) else None)

    # --------------------------------------------------------------- events
    def _on_view_change(self, **_: Any) -> None:
        ses, st = self.session, self.state
        s = ses.settings
        wanted = (int(st.slice_k), float(st.slab_mm), float(st.window), float(st.level), bool(st.show_tree),
                  bool(st.show_labels))
        if wanted == (s.k, s.slab_mm, s.window, s.level, s.show_tree, s.show_labels):
            return  # an echo of refresh(): nothing to redraw

        def apply() -> None:
            ses.set_slice(wanted[0])
            ses.set_slab(wanted[1])
            ses.set_window(wanted[2], wanted[3])
            s.show_tree, s.show_labels = wanted[4], wanted[5]

        self._guard(apply)

    def on_click(self, fx: float, fy: float) -> None:
        """A click on the picture, as fractions of its width and height."""
        self._guard(lambda: self.session.click(float(fx), float(fy), tool=str(self.state.tool)))

    def on_wheel(self, delta_y: float) -> None:
        """Mouse wheel over the picture: one slice per notch."""
        if delta_y:
            self._guard(self.session.scroll, 1 if float(delta_y) > 0 else -1)

    def on_step(self, steps: int) -> None:
        self._guard(self.session.scroll, int(steps))

    def on_select(self, mark_id: int) -> None:
        self._guard(self.session.select, int(mark_id))

    def on_zoom(self, steps: int) -> None:
        if int(steps) == 0:
            self._guard(self.session.set_zoom, 1.0)
        else:
            self._guard(self.session.zoom_step, int(steps))

    def on_auto_window(self) -> None:
        self.session.auto_window()
        self.state.window, self.state.level = self.session.settings.window, self.session.settings.level
        self.refresh(status="automatic window/level")

    def on_commit_label(self) -> None:
        """Enter or leaving the label field: rename the selected mark (saved)."""
        ses = self.session
        if ses.selected is None:
            return
        label = str(self.state.sel_label or "")
        self._guard(lambda: f"label set to {ses.store.update(ses.selected, label=label).label}")

    def on_commit_diameter(self) -> None:
        """Enter or leaving the diameter field: set (or clear) the lesion's diameter."""
        ses = self.session
        if ses.selected is None:
            return
        text = str(self.state.sel_diameter or "").strip().replace(",", ".")

        def apply() -> str:
            try:
                d = float(text) if text else None
            except ValueError:
                raise ValueError(f"diameter must be a number of mm, got {text!r}") from None
            m = ses.store.update(ses.selected, diameter_mm=d)
            return f"{m.label}: diameter {'cleared' if d is None else f'{d:g} mm'}"

        self._guard(apply)

    def on_delete(self) -> None:
        self._guard(self.session.delete_selected)

    def on_save(self) -> None:
        """Save now (every change is already saved; this says so)."""
        self._guard(lambda: f"{len(self.session.store.marks)} mark(s) saved to {self.session.store.save()}")

    def on_reconstruct(self) -> None:
        """Reconstruct the duct tree in a worker thread; the page stays usable meanwhile."""
        if self._busy:
            return
        from trame.app import asynchronous

        asynchronous.create_task(self._reconstruct())

    async def _reconstruct(self) -> None:
        self._busy = True
        with self.state:
            self.state.tree_busy = True
            self.state.tree_note = "reconstructing the duct tree (about a minute)..."
        t0 = time.perf_counter()

        def progress(stage: str, fraction: float) -> None:
            self._progress = f"reconstructing: {stage} ({time.perf_counter() - t0:.0f} s)"

        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, lambda: self.session.reconstruct_tree(progress))
        while not fut.done():
            await asyncio.sleep(0.5)
            if self._progress:
                with self.state:
                    self.state.tree_note = self._progress
        try:
            note = fut.result()
        except Exception as exc:  # the reconstruction's own one-line errors (no duct, no breast)
            note = f"reconstruction failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}"
        self._busy = False
        with self.state:
            self.state.tree_busy = False
            self.state.tree_note = note
            self.session.tree_note = note
            self.refresh(status=note)

    # ------------------------------------------------------------------- UI
    def _build_ui(self) -> None:
        from trame.ui.vuetify3 import VAppLayout
        from trame.widgets import html
        from trame.widgets import vuetify3 as v

        self.state.trame__title = self.title
        with VAppLayout(self.server, full_height=True) as layout:
            with v.VAppBar(density="compact", color="blue-grey-darken-3"):
                v.VAppBarTitle(self.title)
                v.VSpacer()
                v.VChip("{{ saved }}", size="small", color="green-lighten-3", variant="outlined",
                        prepend_icon="mdi-content-save-check", classes="mr-2", id="saved-chip")
                v.VBtn("Save", size="small", variant="tonal", click=self.on_save, id="save-btn",
                       prepend_icon="mdi-content-save", classes="mr-2")

            with v.VNavigationDrawer(permanent=True, width=360, location="left"):
                with v.VContainer(classes="pa-3", fluid=True):
                    self._tools(v, html)
                    v.VDivider(classes="my-2")
                    self._slice_controls(v, html)
                    v.VDivider(classes="my-2")
                    self._tree_controls(v, html)
                    v.VDivider(classes="my-2")
                    self._marks_panel(v, html)

            with v.VMain():
                with v.VContainer(fluid=True, classes="pa-2"):
                    with html.Div(classes="d-flex align-center mb-1", style="gap: 12px"):
                        html.Span("{{ slice_info }}", classes="text-body-2 text-medium-emphasis", id="slice-info")
                    html.Div("{{ status }}", classes="text-body-2 mb-2", id="status",
                             style=("{minHeight: '1.4em', color: status.startsWith('Not done') ? '#b71c1c' "
                                    ": '#1b5e20'}",))
                    html.Img(src=("slice_src",), id="slice-img", draggable="false",
                             style="display: block; max-width: 100%; height: auto; cursor: crosshair; "
                                   "user-select: none; border: 0; padding: 0",
                             click=(self.on_click, "[$event.offsetX / $event.target.clientWidth, "
                                                   "$event.offsetY / $event.target.clientHeight]"),
                             v_on_wheel_prevent=(self.on_wheel, "[$event.deltaY]"))
                    html.Div("Marks are saved to {{ marks_file }} after every change.",
                             classes="text-caption text-medium-emphasis mt-1")
        self.layout = layout

    def _tools(self, v, html) -> None:
        html.Div("Click on the slice to", classes="text-subtitle-2 mb-1")
        with v.VBtnToggle(v_model=("tool",), mandatory=True, density="compact", divided=True,
                          variant="outlined", color="primary", classes="mb-1"):
            for value, text, icon in _TOOL_BUTTONS:
                v.VBtn(text, value=value, prepend_icon=icon, size="small", id=f"tool-{value}")
        with v.VBtnToggle(v_model=("tool",), mandatory=True, density="compact", divided=True,
                          variant="outlined", color="primary"):
            for value, text, icon in _EDIT_BUTTONS:
                v.VBtn(text, value=value, prepend_icon=icon, size="small", id=f"tool-{value}")

    def _slice_controls(self, v, html) -> None:
        with html.Div(classes="d-flex align-center"):
            html.Span("Slice {{ slice_k }}", classes="text-subtitle-2", style="width: 72px")
            v.VBtn(icon="mdi-chevron-left", size="x-small", variant="text", click=(self.on_step, "[-1]"))
            v.VSlider(v_model=("slice_k",), min=0, max=("n_slices - 1",), step=1, hide_details=True,
                      density="compact", classes="mx-1", id="slice-slider")
            v.VBtn(icon="mdi-chevron-right", size="x-small", variant="text", click=(self.on_step, "[1]"))
        with html.Div(classes="d-flex align-center"):
            html.Span("MIP slab", classes="text-subtitle-2", style="width: 72px")
            v.VSlider(v_model=("slab_mm",), min=0, max=("slab_max",), step=("slab_step",),
                      hide_details=True, density="compact", classes="mx-1", id="slab-slider")
            html.Span("{{ slab_mm > slab_step ? slab_mm.toFixed(0) + ' mm' : 'off' }}",
                      classes="text-body-2", style="width: 48px")
        with html.Div(classes="d-flex align-center"):
            html.Span("Window", classes="text-subtitle-2", style="width: 72px")
            v.VSlider(v_model=("window",), min=("wl_step",), max=("win_max",), step=("wl_step",),
                      hide_details=True, density="compact", classes="mx-1")
            html.Span("{{ window.toFixed(0) }}", classes="text-body-2", style="width: 48px")
        with html.Div(classes="d-flex align-center"):
            html.Span("Level", classes="text-subtitle-2", style="width: 72px")
            v.VSlider(v_model=("level",), min=("lev_min",), max=("lev_max",), step=("wl_step",),
                      hide_details=True, density="compact", classes="mx-1")
            html.Span("{{ level.toFixed(0) }}", classes="text-body-2", style="width: 48px")
        with html.Div(classes="d-flex align-center flex-wrap", style="gap: 4px"):
            v.VBtn("Auto W/L", size="small", variant="tonal", click=self.on_auto_window)
            v.VBtn(icon="mdi-magnify-minus-outline", size="small", variant="tonal", click=(self.on_zoom, "[-1]"))
            v.VBtn(icon="mdi-magnify-plus-outline", size="small", variant="tonal", click=(self.on_zoom, "[1]"))
            v.VBtn("Fit", size="small", variant="tonal", click=(self.on_zoom, "[0]"))
            v.VCheckbox(v_model=("show_labels",), label="labels", density="compact", hide_details=True)

    def _tree_controls(self, v, html) -> None:
        with html.Div(classes="d-flex align-center", style="gap: 12px"):
            v.VSwitch(v_model=("show_tree",), label="Duct tree", density="compact", hide_details=True,
                      color="primary", inset=True, style="flex: none")
            v.VBtn("Reconstruct", size="small", variant="tonal", click=self.on_reconstruct, loading=("tree_busy",),
                   prepend_icon="mdi-family-tree", id="reconstruct-btn")
        html.Div("{{ tree_note }}", classes="text-caption text-medium-emphasis")

    def _marks_panel(self, v, html) -> None:
        html.Div("Marks ({{ marks.length }})", classes="text-subtitle-2")
        with v.VList(density="compact", max_height=260, classes="py-0", style="overflow-y: auto", id="marks-list"):
            with v.VListItem(v_for="m in marks", key="m.id", click=(self.on_select, "[m.id]"),
                             active=("m.id === selected_id",), color="primary", rounded=True):
                with v.VListItemTitle():
                    html.Span("\u25cf ", style=("{color: mark_colors[m.role]}",))
                    html.Span("{{ m.label }}", style=("{fontWeight: m.here ? 600 : 400}",))
                    html.Span("{{ m.diameter ? ' \u2300 ' + m.diameter + ' mm' : '' }}",
                              classes="text-medium-emphasis")
                v.VListItemSubtitle("{{ m.role }} - {{ m.where }}")
            v.VListItem(v_if="!marks.length", title="No marks yet", subtitle="pick a tool and click on the slice")
        with html.Div(v_if="selected_id !== null", classes="mt-2"):
            html.Div("Selected {{ sel_role }}", classes="text-subtitle-2 mb-1")
            v.VTextField(v_model=("sel_label",), label="Label", density="compact", hide_details=True,
                         classes="mb-2", v_on_blur=self.on_commit_label, v_on_keydown_enter=self.on_commit_label,
                         id="sel-label")
            v.VTextField(v_if="sel_role === 'lesion'", v_model=("sel_diameter",), label="Diameter (mm)",
                         density="compact", hide_details=True, classes="mb-2", v_on_blur=self.on_commit_diameter,
                         v_on_keydown_enter=self.on_commit_diameter, id="sel-diameter")
            with html.Div(classes="d-flex", style="gap: 4px"):
                v.VBtn("Move", size="small", variant="tonal", click="tool = 'move'", prepend_icon="mdi-cursor-move")
                v.VBtn("Delete", size="small", variant="tonal", color="red", click=self.on_delete,
                       prepend_icon="mdi-delete", id="delete-btn")


def run_annotate(volume: str | Path, *, marks: str | Path | None = None, tree: str | Path | None = None,
                 host: str = "127.0.0.1", port: int = 0, open_browser: bool = True) -> None:
    """Open a volume for marking and serve the app until Ctrl-C.

    Parameters
    ----------
    volume : path
    marks : path, optional
        The ``.mrk.json`` to load and save to (default: beside the volume).
    tree : path, optional
        A ``tree.vtp`` to draw over the slices.
    host, port, open_browser
        As for :func:`viewers.webapp.serve`.

    Raises
    ------
    ValueError, OSError
        Bad inputs, a port that is taken.
    """
    from .annotate_session import open_session
    from .webapp import check_host_port, serve

    check_host_port(host, port)  # before reading a large volume
    session = open_session(volume, marks_path=marks, tree_path=tree)
    n = len(session.store.marks)
    print(f"ductplan annotate: {Path(volume).name}, {session.n_slices} slices; marks file "
          f"{session.store.path} ({n} mark(s) loaded)" + (f"; {session.tree_note}" if tree else ""), flush=True)
    for note in session.store.notes:
        print(f"ductplan annotate: note: {note}", flush=True)
    app = AnnotateApp(session, title=f"ductplan annotate - {Path(volume).name}")
    serve(app.server, host=host, port=port, open_browser=open_browser, what="ductplan annotate")
