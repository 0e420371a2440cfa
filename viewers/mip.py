"""Maximum intensity projection of the galactogram with the plan drawn over it.

Two panels, both cropped to the duct tree, lesions and excision (plus a border):
the MIP alone (what the radiologist saw, compressed along the DBT slice axis) and the
same MIP with the plan over it: centrelines coloured by system, lesions as circles of
their diameter, the nipple, and the outline of the excision projected along the same
axis.  The MIP is taken along the volume's slice axis (the array's z), so positions in
the picture are true in the image plane; depth along the slice axis is lost (and is the
weak axis of DBT anyway).

Matplotlib only (no OpenGL): this picture is made even where 3D rendering is not
available.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import palette
from .scene import KIND_WORDS, ExcisionInput, TreeInput, excision_mesh, nice_length_mm, tree_polylines

if TYPE_CHECKING:
    from reconstruction.volume import Volume

__all__ = ["render_mip", "mip_image", "direction_letters"]

#: Border around the drawn objects when cropping (mm).
_BORDER_MM = 12.0
_LETTERS = (("L", "R"), ("P", "A"), ("S", "I"))  # LPS: + and - along x, y, z


def direction_letters(vector) -> str:
    """Patient-direction letters of an LPS vector, strongest first (``"A"``, ``"LS"``...).

    Examples
    --------
    >>> direction_letters([0, -1, 0]), direction_letters([0.7, 0, 0.7]), direction_letters([-1, 0.1, 0])
    ('A', 'LS', 'R')
    """
    v = np.asarray(vector, dtype=float)
    v = v / (np.linalg.norm(v) or 1.0)
    order = np.argsort(-np.abs(v))
    return "".join(_LETTERS[i][0 if v[i] > 0 else 1] for i in order if abs(v[i]) > 0.3)


def mip_image(volume: "Volume") -> np.ndarray:
    """The (ny, nx) maximum along the slice axis (array axis 0), as float32."""
    return np.asarray(volume.array).max(axis=0).astype(np.float32)


def _to_plane(frame, points_mm: np.ndarray) -> np.ndarray:
    """Physical mm -> (x_mm, y_mm) in the image plane, from voxel (0, 0)'s centre."""
    idx = frame.physical_to_index(np.atleast_2d(points_mm))
    return idx[:, :2] * np.asarray(frame.spacing[:2])


def _excision_mask(frame, mesh, shape_yx: tuple[int, int], step: int) -> np.ndarray | None:
    """Where the excision covers the image plane (projected along z), at 1/step resolution."""
    if mesh is None:
        return None
    from PIL import Image, ImageDraw

    faces = np.asarray(mesh.faces).reshape(-1, 4)[:, 1:]
    ij = frame.physical_to_index(np.asarray(mesh.points, dtype=float))[:, :2] / step
    h, w = shape_yx
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for tri in ij[faces]:
        draw.polygon([tuple(map(float, p)) for p in tri], fill=1)
    return np.asarray(canvas, dtype=bool)


def render_mip(path: str | os.PathLike, volume: "Volume", plan_dict: Mapping, *, tree: TreeInput = None,
               excision: ExcisionInput = None, dpi: int = 110) -> Path:
    """Write the MIP figure (raw and with the plan over it) as a PNG.

    Parameters
    ----------
    path : path
        Output PNG (written atomically).
    volume : Volume
        The galactogram.
    plan_dict : mapping
        The ``plan.json`` object.
    tree, excision
        As for :func:`viewers.scene.build_scene` (the plan's branches when ``tree`` is None).
    dpi : int
        Resolution of the PNG (the figure is 13 x 6.5 inches).

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle

    from reconstruction.atomic import atomic_write

    frame = volume.frame
    mip = mip_image(volume)
    ny, nx = mip.shape
    sx, sy = float(frame.spacing[0]), float(frame.spacing[1])
    polylines = tree_polylines(plan_dict, tree)
    mesh = excision_mesh(excision)
    lesions = plan_dict.get("lesions") or []

    # Crop to what the plan draws (the whole field when it draws nothing).
    pts = [_to_plane(frame, p.points_mm) for p in polylines]
    pts += [_to_plane(frame, np.asarray(le["center_mm"], dtype=float)) for le in lesions]
    if mesh is not None:
        pts.append(_to_plane(frame, np.asarray(mesh.points)))
    nipple = plan_dict.get("nipple_mm")
    if nipple is not None:
        pts.append(_to_plane(frame, np.asarray(nipple, dtype=float)))
    if pts:
        allp = np.concatenate(pts)
        x0, y0 = np.maximum(allp.min(axis=0) - _BORDER_MM, [-0.5 * sx, -0.5 * sy])
        x1, y1 = np.minimum(allp.max(axis=0) + _BORDER_MM, [(nx - 0.5) * sx, (ny - 0.5) * sy])
    else:
        x0, y0, x1, y1 = -0.5 * sx, -0.5 * sy, (nx - 0.5) * sx, (ny - 0.5) * sy
    c0, c1 = int(max(np.floor(x0 / sx), 0)), int(min(np.ceil(x1 / sx) + 1, nx))
    r0, r1 = int(max(np.floor(y0 / sy), 0)), int(min(np.ceil(y1 / sy) + 1, ny))
    if c1 <= c0 or r1 <= r0:  # the plan lies outside the image: show the whole field
        c0, c1, r0, r1 = 0, nx, 0, ny
    crop = mip[r0:r1, c0:c1]
    extent = ((c0 - 0.5) * sx, (c1 - 0.5) * sx, (r1 - 0.5) * sy, (r0 - 0.5) * sy)
    lo, hi = np.percentile(crop, [1.0, 99.8]) if crop.size else (0.0, 1.0)

    fig = Figure(figsize=(13, 6.5), dpi=dpi)
    axes = fig.subplots(1, 2)
    dirm = np.asarray(frame.direction_matrix)
    right, down = direction_letters(dirm[:, 0]), direction_letters(dirm[:, 1])
    left, up = direction_letters(-dirm[:, 0]), direction_letters(-dirm[:, 1])
    for ax, title in zip(axes, ("Maximum intensity projection along the DBT slice axis",
                                "The plan over the MIP")):
        ax.imshow(crop, cmap="gray", vmin=lo, vmax=hi, extent=extent, interpolation="bilinear")
        ax.set_title(title, fontsize=11)
        ax.set_xlabel(f"mm along the image x axis ({left} \u2192 {right})", fontsize=9)
        ax.set_ylabel(f"mm along the image y axis ({up} \u2192 {down})", fontsize=9)
        ax.tick_params(labelsize=8)
        for text, xy, ha, va in ((left, (0.01, 0.5), "left", "center"), (right, (0.99, 0.5), "right", "center"),
                                 (up, (0.5, 0.99), "center", "top"), (down, (0.5, 0.01), "center", "bottom")):
            if text:
                ax.text(*xy, text, transform=ax.transAxes, ha=ha, va=va, color="yellow", fontsize=12,
                        fontweight="bold")
        span = nice_length_mm(extent[1] - extent[0])
        bx = extent[1] - 0.05 * (extent[1] - extent[0]) - span
        by = extent[2] - 0.06 * (extent[2] - extent[3])
        ax.plot([bx, bx + span], [by, by], color="white", linewidth=3)
        ax.text(bx + span / 2, by - 0.015 * (extent[2] - extent[3]), f"{span:g} mm", color="white",
                ha="center", va="bottom", fontsize=9)

    ax = axes[1]
    step = max(1, int(np.ceil(max(nx, ny) / 1500)))
    mask = _excision_mask(frame, mesh, (int(np.ceil(ny / step)), int(np.ceil(nx / step))), step)
    if mask is not None and mask.any():
        ys = (np.arange(mask.shape[0]) * step) * sy
        xs = (np.arange(mask.shape[1]) * step) * sx
        ax.contourf(xs, ys, mask.astype(float), levels=[0.5, 1.5], colors=[palette.EXCISION_COLOR], alpha=0.25)
        ax.contour(xs, ys, mask.astype(float), levels=[0.5], colors=[palette.EXCISION_COLOR], linewidths=1.8)
    for p in polylines:
        xy = _to_plane(frame, p.points_mm)
        ax.plot(xy[:, 0], xy[:, 1], color=palette.system_color(p.system), linewidth=1.3, alpha=0.95,
                solid_capstyle="round")
    for le in lesions:
        cxy = _to_plane(frame, np.asarray(le["center_mm"], dtype=float))[0]
        r = max(0.5 * float(le.get("diameter_mm") or 0.0), 0.5)
        color = palette.lesion_color(le.get("kind", ""))
        ax.add_patch(Circle(tuple(cxy), r, fill=False, edgecolor=color, linewidth=2.2))
        ax.annotate(f"L{le['id']}", xy=(cxy[0] + r * 0.7, cxy[1] - r * 0.7), xytext=(8, -8),
                    textcoords="offset points", color=palette.readable_on_white(color), fontsize=10,
                    fontweight="bold",
                    bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor=color, alpha=0.85))
    if nipple is not None:
        nxy = _to_plane(frame, np.asarray(nipple, dtype=float))[0]
        ax.plot([nxy[0]], [nxy[1]], marker="o", markersize=9, markerfacecolor=palette.NIPPLE_COLOR,
                markeredgecolor="white")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    handles = [Line2D([], [], color=palette.system_color(s), linewidth=2, label=f"duct system {s}")
               for s in sorted({p.system for p in polylines})]
    kinds = list(dict.fromkeys(le.get("kind") for le in lesions))
    handles += [Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markersize=9,
                       markeredgecolor=palette.lesion_color(k), markeredgewidth=2, label=KIND_WORDS.get(k, str(k)))
                for k in kinds]
    if mask is not None and mask.any():
        handles.append(Line2D([], [], color=palette.EXCISION_COLOR, linewidth=2, label="excision (projected)"))
    if nipple is not None:
        handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor=palette.NIPPLE_COLOR,
                              markeredgecolor="white", markersize=9, label="nipple"))
    if handles:
        ax.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.85)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return out
