"""One annotation session: a volume, what is shown of it, its marks and its duct tree.

This is the whole logic of ``ductplan annotate`` without the browser: the trame app
(:mod:`viewers.annotate_app`) only turns widget events into calls here and shows
:meth:`AnnotationSession.render`.  Every call is plain Python, so it is tested without
a browser.

A click arrives as fractions of the picture (``fx, fy`` in 0..1, what the browser's
``offsetX / clientWidth`` gives) and is handled by the current tool:

* ``lesion``, ``nipple``, ``orifice``: place a mark of that role on the shown slice (the
  slab's centre slice for a slab MIP) and select it;
* ``select``: select the mark drawn under the click;
* ``move``: move the selected mark to the click (on the shown slice);
* ``centre``: centre the zoomed view on the click.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from reconstruction.frame import ImageFrame
>>> from reconstruction.volume import Volume
>>> vol = Volume(np.random.default_rng(0).random((4, 30, 40), dtype=np.float32),
...              ImageFrame.identity((4, 30, 40), spacing=(0.5, 0.5, 1.0)))
>>> s = AnnotationSession(vol, MarkStore(pathlib.Path(tempfile.mkdtemp()) / "m.mrk.json"))
>>> s.set_slice(2)
>>> s.click(0.5, 0.5, tool="lesion")
'lesion 1 placed at (9.8, 7.2, 2.0) mm on slice 2'
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .annotate_render import DEPTH_TOLERANCE_MM, compose
from .annotate_state import ROLES, AnnotationMark, MarkStore, default_marks_path
from .slices import ZOOM_LEVELS, SliceView, auto_window, render_gray, slab_image, slab_range

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from reconstruction.volume import Volume

    from .scene import Polyline

__all__ = ["TOOLS", "ViewSettings", "AnnotationSession", "open_session"]

#: Click tools, in the tool bar's order.
TOOLS = (*ROLES, "select", "move", "centre")
#: A click this close to a drawn mark (picture pixels) picks it.
_PICK_PX = 12.0


@dataclass
class ViewSettings:
    """What the picture shows.

    Attributes
    ----------
    k : int
        Slice (array z index); the slab's centre.
    slab_mm : float
        Slab thickness for a MIP (0: the slice itself).
    window, level : float
        Intensity window width and centre.
    zoom : float
        1: the whole slice.
    center_xy : (float, float) or None
        Centre of the zoomed view (continuous index); None: the slice's centre.
    show_tree, show_labels : bool
    """

    k: int
    window: float
    level: float
    slab_mm: float = 0.0
    zoom: float = 1.0
    center_xy: tuple[float, float] | None = None
    show_tree: bool = True
    show_labels: bool = True


def _fmt(p: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in p) + ") mm"


class AnnotationSession:
    """A volume being annotated.

    Parameters
    ----------
    volume : Volume
    store : MarkStore
        The marks and their file (saved after every change).
    polylines : sequence of Polyline, optional
        The duct tree's centrelines to draw over the slices.
    max_side : int
        Long side of the picture in pixels.

    Attributes
    ----------
    settings : ViewSettings
    selected : int or None
        Id of the selected mark.
    tree_note : str
        Where the drawn tree came from.
    """

    def __init__(self, volume: "Volume", store: MarkStore, *, polylines: Sequence["Polyline"] = (),
                 max_side: int = 900) -> None:
        self.volume = volume
        self.frame = volume.frame
        self.store = store
        self.polylines = list(polylines)
        self.max_side = int(max_side)
        window, level = auto_window(volume.array)
        self.auto = (window, level)
        nz = self.frame.shape_zyx[0]
        k = nz // 2
        lesions = store.of_role("lesion")
        if lesions:  # open where the work was left
            k = self._slice_of(lesions[0])
        self.settings = ViewSettings(k=k, window=window, level=level)
        self.selected: int | None = None
        self.tree_note = f"{len(self.polylines)} branches" if self.polylines else "no tree"
        a = np.asarray(volume.array)
        step = max(1, a.size // 2_000_000)
        flat = a.reshape(-1)[::step]
        self.value_range = (float(np.nanmin(flat)), float(np.nanmax(flat)))

    # ------------------------------------------------------------------ view
    @property
    def n_slices(self) -> int:
        return self.frame.shape_zyx[0]

    def view(self) -> SliceView:
        """The picture's geometry for the current settings."""
        s = self.settings
        return SliceView.zoomed(self.frame, zoom=s.zoom, center_xy=s.center_xy, max_side=self.max_side)

    def half_depth_mm(self) -> float:
        """Half the shown slab's thickness (half a slice for a single slice)."""
        k0, k1 = slab_range(self.frame, self.settings.k, self.settings.slab_mm)
        return 0.5 * (k1 - k0) * self.frame.spacing[2]

    def render(self) -> "PILImage.Image":
        """The picture: windowed slice or slab MIP with the tree and marks."""
        s = self.settings
        view = self.view()
        img = slab_image(self.volume.array, self.frame, s.k, s.slab_mm)
        gray = render_gray(img, view, s.window, s.level)
        return compose(gray, view, k=s.k, half_depth_mm=self.half_depth_mm(), marks=self.store.marks,
                       selected=self.selected, polylines=self.polylines, show_tree=s.show_tree,
                       show_labels=s.show_labels)

    def set_slice(self, k: int) -> None:
        """Show slice ``k`` (clipped to the volume)."""
        self.settings.k = int(np.clip(int(k), 0, self.n_slices - 1))

    def scroll(self, steps: int) -> None:
        """Move ``steps`` slices (negative: towards slice 0)."""
        self.set_slice(self.settings.k + int(steps))

    def set_slab(self, thickness_mm: float) -> None:
        """Slab thickness in mm (0: single slice), at most the whole volume."""
        t = float(thickness_mm)
        if not np.isfinite(t) or t < 0:
            raise ValueError(f"slab thickness must be a non-negative mm value, got {thickness_mm}")
        self.settings.slab_mm = min(t, self.n_slices * self.frame.spacing[2])

    def set_window(self, window: float, level: float) -> None:
        """Window width (> 0) and level."""
        if not (np.isfinite(window) and np.isfinite(level)) or window <= 0:
            raise ValueError(f"window must be positive and level finite, got {window}, {level}")
        self.settings.window, self.settings.level = float(window), float(level)

    def auto_window(self) -> None:
        """Back to the automatic window/level."""
        self.settings.window, self.settings.level = self.auto

    def set_zoom(self, zoom: float) -> None:
        """Zoom factor (>= 1), keeping the current centre."""
        z = float(zoom)
        if not np.isfinite(z) or z < 1:
            raise ValueError(f"zoom must be >= 1, got {zoom}")
        if self.settings.center_xy is None and z > 1:
            self.settings.center_xy = tuple(self.view().center_xy)
        self.settings.zoom = z
        if z == 1:
            self.settings.center_xy = None

    def zoom_step(self, steps: int) -> None:
        """One step up or down :data:`viewers.slices.ZOOM_LEVELS`."""
        levels = list(ZOOM_LEVELS)
        i = int(np.argmin([abs(v - self.settings.zoom) for v in levels]))
        self.set_zoom(levels[int(np.clip(i + int(steps), 0, len(levels) - 1))])

    # ---------------------------------------------------------------- marks
    def _slice_of(self, mark: AnnotationMark) -> int:
        kc = self.frame.physical_to_index(mark.position_mm)[2]
        return int(np.clip(round(float(kc)), 0, self.n_slices - 1))

    def _pick(self, fx: float, fy: float) -> AnnotationMark | None:
        """The mark drawn under a click: in the slab first, then any depth."""
        view = self.view()
        if not self.store.marks:
            return None
        px = view.to_pixels([m.position_mm for m in self.store.marks])
        cx, cy = fx * view.out_width, fy * view.out_height
        d = np.hypot(px[:, 0] - cx, px[:, 1] - cy)
        reach = self.half_depth_mm() + DEPTH_TOLERANCE_MM
        out_of_slab = np.abs(px[:, 2] - self.settings.k) * self.frame.spacing[2] > reach
        radius = np.array([max(_PICK_PX, 0.5 * (m.diameter_mm or 0) / view.mm_per_pixel) for m in self.store.marks])
        ok = d <= radius
        if not ok.any():
            return None
        order = np.lexsort((d, out_of_slab))  # in-slab marks first, then nearest
        return next(self.store.marks[i] for i in order if ok[i])

    def select(self, mark_id: int | None) -> str:
        """Select a mark (None: none) and show its slice, centred when zoomed in."""
        if mark_id is None:
            self.selected = None
            return "no mark selected"
        m = self.store.get(mark_id)
        self.selected = m.id
        self.set_slice(self._slice_of(m))
        if self.settings.zoom > 1:
            self.settings.center_xy = tuple(self.frame.physical_to_index(m.position_mm)[:2])
        return f"{m.label} selected (slice {self.settings.k})"

    def click(self, fx: float, fy: float, *, tool: str, label: str | None = None,
              diameter_mm: float | None = None) -> str:
        """Handle a click on the picture with ``tool``; returns a one-line status.

        Raises
        ------
        ValueError
            An unknown tool or a click outside the picture.
        """
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r} (expected one of {', '.join(TOOLS)})")
        view = self.view()
        k = self.settings.k
        if tool == "select":
            m = self._pick(fx, fy)
            if m is None:
                self.selected = None
                return "no mark under the click"
            self.selected = m.id
            return f"{m.label} selected"
        if tool == "centre":
            self.settings.center_xy = tuple(view.to_index(fx, fy))
            return "view centred"
        p = view.to_physical(fx, fy, k=k)
        if tool == "move":
            if self.selected is None:
                return "select a mark first, then click where it belongs"
            m = self.store.move(self.selected, p)
            return f"{m.label} moved to {_fmt(p)} on slice {k}"
        m = self.store.add(tool, p, label=label, diameter_mm=diameter_mm)
        self.selected = m.id
        return f"{m.label} placed at {_fmt(p)} on slice {k}"

    def delete_selected(self) -> str:
        """Delete the selected mark."""
        if self.selected is None:
            return "no mark selected"
        m = self.store.delete(self.selected)
        self.selected = None
        return f"{m.label} deleted"

    def mark_rows(self) -> list[dict]:
        """The marks as plain rows for the browser's list (JSON-safe)."""
        rows = []
        for m in self.store.marks:
            k = self._slice_of(m)
            rows.append({"id": m.id, "role": m.role, "label": m.label,
                         "diameter": "" if m.diameter_mm is None else f"{m.diameter_mm:g}",
                         "where": f"slice {k}, " + _fmt(m.position_mm),
                         "here": bool(abs(k - self.settings.k) * self.frame.spacing[2]
                                      <= self.half_depth_mm() + DEPTH_TOLERANCE_MM)})
        return rows

    # ----------------------------------------------------------------- tree
    def set_tree(self, polylines: Sequence["Polyline"], note: str) -> str:
        """Draw these centrelines; warns when most of the tree lies outside the volume."""
        self.polylines = list(polylines)
        self.tree_note = note
        if not self.polylines:
            return f"{note}: no branches"
        pts = np.concatenate([p.points_mm for p in self.polylines])
        inside = float(self.frame.contains_physical(pts, margin_vox=2.0).mean())
        msg = f"{note}: {len(self.polylines)} branches"
        if inside < 0.5:
            msg += f" - only {100 * inside:.0f} % of it lies inside this volume: is it from another one?"
        return msg

    def reconstruct_tree(self, progress: Callable[[str, float], None] | None = None) -> str:
        """Reconstruct the duct tree of the volume (slow: about a minute on a DBT volume).

        The nipple mark, when placed, is the nipple the reconstruction starts from.
        """
        from reconstruction.pipeline import reconstruct

        from .scene import tree_polylines

        nipple = self.store.of_role("nipple")
        rec = reconstruct(self.volume, nipple_mm=nipple[0].position_mm if nipple else None, progress=progress)
        how = "from the nipple mark" if nipple else "nipple found automatically"
        return self.set_tree(tree_polylines({}, rec.tree), f"reconstructed tree ({how})")


def _quietly(fn, *args):
    """Call ``fn`` with VTK's error console and Python warnings muted (we raise one line instead)."""
    import warnings

    from vtkmodules.vtkCommonCore import vtkObject

    previous = vtkObject.GetGlobalWarningDisplay()
    vtkObject.GlobalWarningDisplayOff()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args)
    finally:
        vtkObject.SetGlobalWarningDisplay(previous)


def open_session(volume_path: str | os.PathLike, *, marks_path: str | os.PathLike | None = None,
                 tree_path: str | os.PathLike | None = None, max_side: int = 900) -> AnnotationSession:
    """Read the volume, the marks file (created on the first mark) and the tree, if given.

    Parameters
    ----------
    volume_path : path
        Anything :func:`reconstruction.io.read_volume` reads.
    marks_path : path, optional
        The ``.mrk.json`` to load and keep saving to; by default
        ``<volume>.marks.mrk.json`` beside the volume.
    tree_path : path, optional
        A ``tree.vtp`` to draw over the slices.

    Raises
    ------
    ValueError
        An unreadable volume, marks file or tree.
    FileNotFoundError
        A missing tree file or marks folder.
    """
    from reconstruction.io import read_volume

    from .scene import tree_polylines

    volume = read_volume(volume_path)
    marks_path = Path(marks_path) if marks_path else default_marks_path(volume_path)
    if not str(marks_path).lower().endswith(".json"):
        raise ValueError(f"--marks must name a .mrk.json file, got {marks_path}")
    store = MarkStore(marks_path)
    if not os.access(store.path.parent, os.W_OK) or (store.path.exists() and not os.access(store.path, os.W_OK)):
        raise OSError(f"cannot save marks to {store.path}: not writable (choose a file with --marks)")
    session = AnnotationSession(volume, store, max_side=max_side)
    if tree_path is not None:
        tree_path = Path(tree_path)
        if not tree_path.is_file():
            raise FileNotFoundError(f"{tree_path}: no such tree file")
        if tree_path.suffix.lower() != ".vtp":
            raise ValueError(f"{tree_path}: a tree must be a .vtp file (the tree.vtp of 'ductplan plan')")
        with open(tree_path, "rb") as fh:
            head = fh.read(256).lstrip()
        if not (head.startswith(b"<?xml") or head.startswith(b"<VTKFile")):
            raise ValueError(f"{tree_path}: not a VTK XML file (expected the tree.vtp of 'ductplan plan')")
        try:
            polylines = _quietly(tree_polylines, {}, tree_path)
        except ValueError as exc:
            raise ValueError(f"{tree_path}: {exc}") from None
        except Exception as exc:  # VTK's reader raises assorted errors on a bad file
            raise ValueError(f"{tree_path}: not a readable tree.vtp ({type(exc).__name__})") from None
        session.tree_note = session.set_tree(polylines, f"tree from {tree_path.name}")
    return session
