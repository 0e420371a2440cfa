"""Key views of the plan as PNG images: anterior, lateral, and along the duct.

* **anterior**: as the surgeon faces the patient (camera in front, looking posterior,
  superior up): the patient's right is on the left of the image, as in the clock face.
* **lateral**: from the lateral side of the breast (the patient's right for a right
  breast), superior up; from the patient's right when the side is unknown (and the
  title says so).
* **along the duct**: from in front of the nipple, looking along the line from the
  nipple to the first lesion the excision treats (any lesion, else the centre of the
  target system): the way the surgeon follows the duct.  Perspective; its scale bar is
  true at the lesion's depth.

The anterior and lateral views use parallel projection, so their scale bars are exact.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import palette
from .scene import (KIND_WORDS, ExcisionInput, TreeInput, build_scene, excision_mesh, lesion_label,
                    margin_segments, nice_length_mm, scene_points, show_ghosts, tree_polylines,
                    world_to_pixels)

if TYPE_CHECKING:
    import pyvista

    from reconstruction.volume import Volume

__all__ = ["VIEW_NAMES", "ViewSpec", "RenderedView", "view_specs", "render_view_images", "compose_views",
           "render_views", "laterality_of", "legend_entries"]

#: The key views, in report order.
VIEW_NAMES = ("anterior", "lateral", "along_duct")

_LPS = {"L": np.array([1.0, 0.0, 0.0]), "P": np.array([0.0, 1.0, 0.0]), "S": np.array([0.0, 0.0, 1.0])}


@dataclass(frozen=True)
class ViewSpec:
    """Where the camera looks from, for one key view.

    Attributes
    ----------
    name : str
    title : str
        Caption drawn on the image and used by the report.
    direction : (3,) ndarray
        Unit vector from the camera toward the scene (LPS).
    up : (3,) ndarray
    focal_mm : (3,) ndarray or None
        Point to look at (None: the centre of the scene).
    parallel : bool
    scale_note : str
        Appended to the scale bar label.
    target_mm : (3,) ndarray or None
        What a perspective view looks at (its scale bar is true at that depth).
    """

    name: str
    title: str
    direction: np.ndarray
    up: np.ndarray
    focal_mm: np.ndarray | None = None
    parallel: bool = True
    scale_note: str = ""
    target_mm: np.ndarray | None = None


def laterality_of(plan_dict: Mapping) -> str | None:
    """``"L"``/``"R"`` as the plan states it (input or lesion localisation), else None."""
    for key in ("laterality", "side"):
        v = (plan_dict.get("input") or {}).get(key)
        if isinstance(v, str) and v.upper()[:1] in ("L", "R"):
            return v.upper()[:1]
    for les in plan_dict.get("lesions") or []:
        v = (les.get("localisation") or {}).get("side")
        if isinstance(v, str) and v.upper()[:1] in ("L", "R"):
            return v.upper()[:1]
    return None


def _duct_axis(plan_dict: Mapping, tree: TreeInput) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(nipple, unit axis toward the target, the target, what the target is)."""
    nipple = np.asarray(plan_dict.get("nipple_mm") or [0, 0, 0], dtype=float)
    lesions = plan_dict.get("lesions") or []
    target, what = None, ""
    for pick in (lambda le: le.get("treated"), lambda le: True):
        for les in lesions:
            if pick(les):
                target, what = np.asarray(les["center_mm"], dtype=float), f"lesion L{les['id']}"
                break
        if target is not None:
            break
    if target is None:
        polylines = tree_polylines(plan_dict, tree)
        sys_id = (plan_dict.get("procedure") or {}).get("target_system")
        pts = [p.points_mm for p in polylines if sys_id is None or p.system == sys_id] or \
              [p.points_mm for p in polylines]
        if pts:
            target, what = np.concatenate(pts).mean(axis=0), "the centre of the duct system"
    if target is None or np.linalg.norm(target - nipple) < 1e-6:
        return nipple, _LPS["P"].copy(), nipple + 40.0 * _LPS["P"], "posterior"
    axis = (target - nipple) / np.linalg.norm(target - nipple)
    return nipple, axis, target, what


def _depth_note(what: str) -> str:
    if what.startswith("lesion "):
        return f"at {what[len('lesion '):]}"
    if what == "posterior":
        return "40 mm behind the nipple"
    return "at the centre of the system"


def view_specs(plan_dict: Mapping, *, tree: TreeInput = None) -> dict[str, ViewSpec]:
    """The camera of each key view (see the module docstring).

    Parameters
    ----------
    plan_dict : mapping
    tree : optional
        As for :func:`viewers.scene.build_scene`.

    Returns
    -------
    dict
        ``VIEW_NAMES`` -> ViewSpec.

    Examples
    --------
    >>> v = view_specs({"nipple_mm": [0, 0, 0], "lesions": [], "input": {"laterality": "L"}})
    >>> v["anterior"].direction.tolist(), v["lateral"].direction.tolist()
    ([0.0, 1.0, 0.0], [-1.0, 0.0, 0.0])
    """
    side = laterality_of(plan_dict)
    # +x is the patient's Left: the lateral side of a left breast is +x, of a right one -x.
    if side == "L":
        lat_dir, lat_title = np.array([-1.0, 0.0, 0.0]), "Lateral view (left breast, from the patient's left)"
    elif side == "R":
        lat_dir, lat_title = _LPS["L"].copy(), "Lateral view (right breast, from the patient's right)"
    else:
        lat_dir, lat_title = _LPS["L"].copy(), "Side view from the patient's right (breast side unknown)"
    nipple, axis, target, what = _duct_axis(plan_dict, tree)
    up = _LPS["S"] - axis * float(_LPS["S"] @ axis)
    if np.linalg.norm(up) < 0.2:  # looking straight up or down: use posterior as up
        up = _LPS["P"] - axis * float(_LPS["P"] @ axis)
    up /= np.linalg.norm(up)
    return {
        "anterior": ViewSpec("anterior", "Anterior view (facing the patient)", _LPS["P"].copy(), _LPS["S"].copy()),
        "lateral": ViewSpec("lateral", lat_title, lat_dir, _LPS["S"].copy()),
        "along_duct": ViewSpec("along_duct", f"Along the duct: from the nipple toward {what}", axis, up,
                               focal_mm=nipple, parallel=False, target_mm=target,
                               scale_note=_depth_note(what)),
    }


def legend_entries(plan_dict: Mapping, *, tree: TreeInput = None,
                   has_excision: bool = True) -> list[tuple[str, str]]:
    """(label, hex colour) for everything drawn: systems, lesion kinds, excision, nipple."""
    systems = sorted({p.system for p in tree_polylines(plan_dict, tree)})
    out = [(f"duct system {s}", palette.system_color(s)) for s in systems]
    kinds = []
    for les in plan_dict.get("lesions") or []:
        if les.get("kind") not in kinds:
            kinds.append(les.get("kind"))
    out += [(KIND_WORDS.get(k, str(k)), palette.lesion_color(k)) for k in kinds]
    if has_excision and (plan_dict.get("procedure") or {}).get("excision"):
        out.append(("excision", palette.EXCISION_COLOR))
    out.append(("nipple", palette.NIPPLE_COLOR))
    return out


def _frame_parallel(pl: "pyvista.Plotter", spec: ViewSpec, pts: np.ndarray) -> None:
    """Orthographic camera along ``spec.direction`` fitting ``pts`` with a small border."""
    cam = pl.camera
    w, h = pl.window_size
    up = spec.up / np.linalg.norm(spec.up)
    right = np.cross(spec.direction, up)
    centre = pts.mean(axis=0)
    u, v = (pts - centre) @ right, (pts - centre) @ up
    # Centre the box, then leave room for the title (top) and the scale bar (bottom).
    centre = centre + right * 0.5 * (u.max() + u.min()) + up * 0.5 * (v.max() + v.min())
    half_w, half_h = 0.5 * float(np.ptp(u)), 0.5 * float(np.ptp(v))
    depth = float(np.ptp(pts @ spec.direction)) + 10.0
    pl.enable_parallel_projection()
    cam.focal_point = centre
    cam.position = centre - spec.direction * (depth + 100.0)
    cam.up = up
    cam.parallel_scale = max(half_h, half_w * h / w, 5.0) * 1.35
    pl.renderer.ResetCameraClippingRange()


def _frame_perspective(pl: "pyvista.Plotter", spec: ViewSpec, pts: np.ndarray, target: np.ndarray) -> float:
    """Perspective camera in front of the nipple looking along the duct; returns the
    distance from the camera to ``target`` along the view direction (for the scale)."""
    cam = pl.camera
    pl.disable_parallel_projection()
    nipple = spec.focal_mm
    d = spec.direction
    up = spec.up
    side = np.cross(d, up)
    radius = 0.5 * float(np.linalg.norm(np.ptp(pts, axis=0))) or 50.0
    # Behind the nipple (outside the breast), a little above and to the side, so the duct
    # is seen along its course but not exactly end-on (it would collapse to a dot).
    eye = nipple - d * 1.3 * radius + up * 0.45 * radius + side * 0.25 * radius
    look = 0.5 * (nipple + target)
    cam.position = eye
    cam.focal_point = look
    cam.up = up
    cam.view_angle = 12.0
    # Widen until everything fits (inside the title, scale bar and marker margins).
    for _ in range(20):
        px = world_to_pixels(pl, pts)
        w, h = pl.window_size
        inside = (px[:, 0] > 0.04 * w) & (px[:, 0] < 0.96 * w) & (px[:, 1] > 0.08 * h) & (px[:, 1] < 0.88 * h)
        if inside.all():
            break
        cam.view_angle = min(cam.view_angle * 1.12, 90.0)
    pl.renderer.ResetCameraClippingRange()
    view = np.asarray(cam.focal_point) - np.asarray(cam.position)
    view /= np.linalg.norm(view)
    return float((target - np.asarray(cam.position)) @ view)


def _px_per_mm(pl: "pyvista.Plotter", *, depth_mm: float | None = None) -> float:
    cam = pl.camera
    _, h = pl.window_size
    if cam.parallel_projection:
        return h / (2.0 * float(cam.parallel_scale))
    return h / (2.0 * float(depth_mm) * float(np.tan(np.radians(0.5 * cam.view_angle))))


def _labels(plan_dict: Mapping, excision_pd) -> list[tuple[np.ndarray, str, str]]:
    """(anchor point mm, text, colour) of every label of a still image."""
    out = []
    for les in plan_dict.get("lesions") or []:
        text = lesion_label(les)
        loc = les.get("localisation") or {}
        where = [str(x) for x in (loc.get("clock") or les.get("clock"), None) if x]
        dist = les.get("distance_from_nipple_mm")
        if dist is not None:
            where.append(f"{float(dist) / 10.0:.0f} cm from nipple")
        if where:
            text += "\n" + ", ".join(where)
        if les.get("treated") is False and (plan_dict.get("procedure") or {}).get("excision"):
            text += "\nNOT in the excision (see warnings)"
        out.append((np.asarray(les["center_mm"], dtype=float), text, palette.lesion_color(les.get("kind", ""))))
    for seg in margin_segments(plan_dict, excision_pd):
        short = seg.adequate is False or seg.margin_mm < 0
        out.append((0.5 * (seg.start_mm + seg.end_mm), seg.label,
                    palette.MARGIN_SHORT_COLOR if short else palette.MARGIN_OK_COLOR))
    nipple = plan_dict.get("nipple_mm")
    if nipple is not None:
        out.append((np.asarray(nipple, dtype=float), "nipple", palette.NIPPLE_COLOR))
    return out


def _place_labels(anchors_px: np.ndarray, sizes_px: list[tuple[float, float]], content: np.ndarray,
                  *, blocked: list[tuple[float, float, float, float]]) -> list[tuple[float, float]]:
    """Greedy placement of label boxes near their anchors, off the drawing and each other.

    Each label tries positions on rings around its anchor and takes the one covering the
    fewest drawn pixels (``content`` mask) and no other box; ``blocked`` boxes (title,
    legend, scale bar) are avoided too.  Returns each box's centre.
    """
    h, w = content.shape
    integral = np.pad(content.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))

    def covered(x0, y0, x1, y1):
        x0, x1 = int(np.clip(x0, 0, w)), int(np.clip(x1, 0, w))
        y0, y1 = int(np.clip(y0, 0, h)), int(np.clip(y1, 0, h))
        if x1 <= x0 or y1 <= y0:
            return 0
        return int(integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0])

    def overlaps(b, boxes):
        return any(not (b[2] <= o[0] or b[0] >= o[2] or b[3] <= o[1] or b[1] >= o[3]) for o in boxes)

    def crossings(p0, p1, boxes):
        # How many boxes the leader line p0 -> p1 passes through (sampled).
        t = np.linspace(0.0, 1.0, 24)[:, None]
        seg = np.asarray(p0) + t * (np.asarray(p1) - np.asarray(p0))
        return sum(bool(np.any((seg[:, 0] > b[0]) & (seg[:, 0] < b[2]) & (seg[:, 1] > b[1]) & (seg[:, 1] < b[3])))
                   for b in boxes)

    placed: list[tuple[float, float, float, float]] = []
    leaders: list[tuple[tuple[float, float], tuple[float, float]]] = []
    centres = []
    angles = np.radians(np.arange(0, 360, 30))
    for (ax, ay), (bw, bh) in zip(anchors_px, sizes_px):
        best, best_cost = None, np.inf
        for ring in (70.0, 110.0, 160.0, 220.0):
            for a in angles:
                cx, cy = ax + ring * np.cos(a), ay - ring * np.sin(a)
                box = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
                if box[0] < 4 or box[1] < 4 or box[2] > w - 4 or box[3] > h - 4:
                    continue
                if overlaps(box, placed) or overlaps(box, blocked):
                    continue
                cost = covered(*box) + 0.5 * ring
                # Leader lines must not run through other labels, nor others through this one.
                cost += 5000 * crossings((ax, ay), (cx, cy), placed)
                cost += 5000 * sum(crossings(a, b, [box]) for a, b in leaders)
                if cost < best_cost:
                    best, best_cost = (cx, cy), cost
            if best is not None and best_cost < 0.5 * ring + 0.02 * bw * bh:
                break
        if best is None:  # crowded: sit on the anchor rather than vanish
            best = (float(np.clip(ax, bw / 2 + 4, w - bw / 2 - 4)), float(np.clip(ay - 30, bh / 2 + 4, h - bh / 2 - 4)))
        centres.append(best)
        leaders.append(((float(ax), float(ay)), best))
        placed.append((best[0] - bw / 2, best[1] - bh / 2, best[0] + bw / 2, best[1] + bh / 2))
    return centres


def _compose(img: np.ndarray, path: Path, *, title: str, labels: list[tuple[np.ndarray, str, str]],
             anchors_px: np.ndarray, legend: list[tuple[str, str]], px_per_mm: float, scale_note: str) -> None:
    """Draw title, legend, labels with leader lines and the scale bar over a rendering."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from reconstruction.atomic import atomic_write

    h, w = img.shape[:2]
    k = max(0.65, min(w / 1000.0, 1.5))  # font scale with the image size
    fs = 10.5 * k
    fig = Figure(figsize=(w / 100.0, h / 100.0), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(img, interpolation="nearest")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.axis("off")
    ax.text(0.012 * w, 0.02 * h, title, fontsize=fs * 1.25, fontweight="bold", va="top", ha="left",
            color=palette.TEXT_COLOR)
    handles = [Line2D([], [], marker="o", linestyle="", markersize=9 * k, markerfacecolor=c, markeredgecolor="none",
                      label=t) for t, c in legend]
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=fs, frameon=True, framealpha=0.85,
                  borderaxespad=0.6)
    # Scale bar, lower right: exact for parallel views, at the target's depth otherwise.
    span = nice_length_mm(0.8 * w / px_per_mm)
    bar_px = span * px_per_mm
    x1, y = 0.96 * w, 0.92 * h
    ax.plot([x1 - bar_px, x1], [y, y], color=palette.TEXT_COLOR, linewidth=3.5 * k, solid_capstyle="butt")
    for x in (x1 - bar_px, x1):
        ax.plot([x, x], [y - 6 * k, y + 6 * k], color=palette.TEXT_COLOR, linewidth=2 * k)
    ax.text(x1 - bar_px / 2, y - 10 * k, f"{span:g} mm", ha="center", va="bottom", fontsize=fs,
            color=palette.TEXT_COLOR)
    if scale_note:  # perspective: say at which depth the bar is true
        ax.text(x1, y + 10 * k, f"(true {scale_note})", ha="right", va="top", fontsize=fs * 0.85,
                color=palette.TEXT_COLOR)

    content = np.any(np.abs(img[..., :3].astype(int) - np.array(palette.hex_to_rgb(palette.BACKGROUND_COLOR))) > 12,
                     axis=-1)
    sizes = []
    for _, text, _ in labels:
        lines = text.split("\n")
        sizes.append((max(len(s) for s in lines) * fs * 0.62 * 1.39 + 10, len(lines) * fs * 1.39 * 1.25 + 8))
    n_leg = len(legend)
    blocked = [(0, 0, 0.75 * w, 0.07 * h),                                  # title
               (w - 0.27 * w, 0, w, (0.03 + 0.045 * n_leg) * h + 10),        # legend
               (x1 - max(bar_px, 260 * k) - 10, y - 40 * k, w, h),           # scale bar
               (0, h - 0.22 * h, 0.18 * w, h)]                              # orientation marker
    centres = _place_labels(anchors_px, sizes, content, blocked=blocked)
    for (lp, text, color), (cx, cy), (ax_, ay_) in zip(labels, centres, anchors_px):
        ax.annotate(text, xy=(ax_, ay_), xytext=(cx, cy), ha="center", va="center", fontsize=fs,
                    color=palette.readable_on_white(color),
                    fontweight="bold",
                    bbox=dict(boxstyle="round,pad=0.3", facecolor="white", edgecolor=color, alpha=0.9, linewidth=1),
                    arrowprops=dict(arrowstyle="-", color=color, linewidth=1.2 * k, shrinkA=0, shrinkB=2))
    with atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")


@dataclass
class RenderedView:
    """One key view as rendered, before its annotations are drawn.

    Attributes
    ----------
    name, title : str
    image : (H, W, 3) uint8 ndarray
        The 3D rendering (scene and orientation marker, no text).
    world_to_ndc : (4, 4) ndarray
        The camera's transform from mm to normalised device coordinates.
    px_per_mm : float
        Image pixels per mm (at the target's depth for perspective views).
    scale_note : str
    depth : (H, W) ndarray or None
        Distance (mm, along the view direction) of the nearest opaque surface at each
        pixel; NaN where nothing was drawn.  For tests and picking.
    camera_mm, view_dir : (3,) ndarray or None
        Camera position and unit view direction.
    """

    name: str
    title: str
    image: np.ndarray
    world_to_ndc: np.ndarray
    px_per_mm: float
    scale_note: str = ""
    depth: np.ndarray | None = None
    camera_mm: np.ndarray | None = None
    view_dir: np.ndarray | None = None

    def depth_of(self, points_mm) -> np.ndarray:
        """Distance (mm) of points from the camera along the view direction."""
        pts = np.atleast_2d(np.asarray(points_mm, dtype=float))
        return (pts - self.camera_mm) @ self.view_dir

    def to_pixels(self, points_mm) -> np.ndarray:
        """Image ``(column, row)`` of points in mm (row 0 at the top)."""
        h, w = self.image.shape[:2]
        pts = np.atleast_2d(np.asarray(points_mm, dtype=float))
        hom = np.c_[pts, np.ones(len(pts))] @ self.world_to_ndc.T
        ndc = hom[:, :2] / hom[:, 3:4]
        return np.c_[(ndc[:, 0] + 1.0) * 0.5 * w - 0.5, h - 0.5 - (ndc[:, 1] + 1.0) * 0.5 * h]


def render_view_images(plan_dict: Mapping, *, tree: TreeInput = None, excision: ExcisionInput = None,
                       volume: "Volume | None" = None, slice_planes: bool = False,
                       window_size: tuple[int, int] = (1000, 800),
                       views: tuple[str, ...] = VIEW_NAMES) -> dict[str, RenderedView]:
    """Render the key views off-screen (no annotation yet; see :func:`compose_views`).

    Parameters
    ----------
    plan_dict : mapping
        The ``plan.json`` object.
    tree, excision, volume, slice_planes
        As for :func:`viewers.scene.build_scene`.
    window_size : (int, int)
        Image width and height in pixels.
    views : tuple of str
        Which of ``VIEW_NAMES`` to render.

    Returns
    -------
    dict
        View name -> RenderedView.

    Raises
    ------
    ValueError
        An unknown view name, or a plan with nothing to draw.
    RuntimeError
        When off-screen rendering is not available (checked in a subprocess first:
        see :func:`viewers.render_probe.rendering_available`).
    """
    from .render_probe import rendering_available

    bad = [v for v in views if v not in VIEW_NAMES]
    if bad:
        raise ValueError(f"unknown view(s) {bad}; choose from {VIEW_NAMES}")
    ok, why = rendering_available()
    if not ok:
        raise RuntimeError(why)
    ex_pd = excision_mesh(excision)
    pts = scene_points(plan_dict, tree=tree, excision=ex_pd)
    if len(pts) == 0:
        raise ValueError("the plan has no tree, lesion, excision or nipple to draw")
    specs = view_specs(plan_dict, tree=tree)
    pl = build_scene(plan_dict, tree=tree, excision=ex_pd, volume=volume, slice_planes=slice_planes,
                     window_size=window_size, labels=False, ruler=False, ghost_lesions=True)
    try:
        # The first render of a pyvista plotter resets its camera: get it over with before
        # placing the cameras of the views.
        pl.show(auto_close=False, interactive=False)
        out = {}
        for name in views:
            spec = specs[name]
            if spec.parallel:
                _frame_parallel(pl, spec, pts)
                ppm = _px_per_mm(pl)
            else:
                ppm = _px_per_mm(pl, depth_mm=_frame_perspective(pl, spec, pts, spec.target_mm))
            pl.render()
            img = np.asarray(pl.screenshot(return_img=True))[..., :3].copy()
            w, h = pl.window_size
            m = pl.camera.GetCompositeProjectionTransformMatrix(w / h, -1.0, 1.0)
            mat = np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])
            # The scene's own depth (for picking and tests): without the lesion overlay,
            # whose layer would replace it.
            show_ghosts(pl, False)
            pl.render()
            depth = -np.asarray(pl.get_image_depth(fill_value=np.nan, reset_camera_clipping_range=False),
                                dtype=float)
            show_ghosts(pl, True)
            cam = np.asarray(pl.camera.position, dtype=float)
            vdir = np.asarray(pl.camera.focal_point, dtype=float) - cam
            out[name] = RenderedView(name, spec.title, img, mat, ppm, spec.scale_note, depth, cam,
                                     vdir / np.linalg.norm(vdir))
        return out
    finally:
        pl.close()


def compose_views(outdir: str | os.PathLike, plan_dict: Mapping, rendered: Mapping[str, RenderedView], *,
                  tree: TreeInput = None, excision: ExcisionInput = None) -> dict[str, Path]:
    """Annotate rendered views and write them as ``OUTDIR/views/<name>.png``.

    Each image gets a title, a legend of colours, labelled lesions (kind, size, clock,
    distance from the nipple as the plan gives them), each margin's value on its line and
    a scale bar in mm.

    Returns
    -------
    dict
        View name -> PNG path (each written atomically).
    """
    folder = Path(outdir) / "views"
    folder.mkdir(parents=True, exist_ok=True)
    ex_pd = excision_mesh(excision)
    legend = legend_entries(plan_dict, tree=tree, has_excision=ex_pd is not None)
    labels = _labels(plan_dict, ex_pd)
    out = {}
    for name, view in rendered.items():
        anchors = view.to_pixels(np.array([a for a, _, _ in labels])) if labels else np.zeros((0, 2))
        path = folder / f"{name}.png"
        _compose(view.image, path, title=view.title, labels=labels, anchors_px=anchors, legend=legend,
                 px_per_mm=view.px_per_mm, scale_note=view.scale_note)
        out[name] = path
    return out


def render_views(outdir: str | os.PathLike, plan_dict: Mapping, *, tree: TreeInput = None,
                 excision: ExcisionInput = None, volume: "Volume | None" = None,
                 slice_planes: bool = False, window_size: tuple[int, int] = (1000, 800),
                 views: tuple[str, ...] = VIEW_NAMES) -> dict[str, Path]:
    """Render the key views into ``OUTDIR/views/<name>.png`` (anterior, lateral, along the duct).

    :func:`render_view_images` then :func:`compose_views`: the 3D scene with a title, a
    legend of colours, labelled lesions, each margin's value on its line, a scale bar in
    mm and the orientation marker (L, P, S).

    Parameters
    ----------
    outdir : path
        Output folder (``views/`` is created inside it).
    plan_dict : mapping
        The ``plan.json`` object.
    tree, excision, volume, slice_planes
        As for :func:`viewers.scene.build_scene`.
    window_size : (int, int)
        Image width and height in pixels.
    views : tuple of str
        Which of ``VIEW_NAMES`` to render.

    Returns
    -------
    dict
        View name -> PNG path.

    Raises
    ------
    ValueError
        An unknown view name, or a plan with nothing to draw.
    RuntimeError
        When off-screen rendering is not available.
    """
    ex_pd = excision_mesh(excision)
    rendered = render_view_images(plan_dict, tree=tree, excision=ex_pd, volume=volume, slice_planes=slice_planes,
                                  window_size=window_size, views=views)
    return compose_views(outdir, plan_dict, rendered, tree=tree, excision=ex_pd)
