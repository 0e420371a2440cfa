"""A preview picture of a sample: MIP, a slice, a depth section, and the truth overlaid."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from reconstruction.atomic import atomic_write
from reconstruction.tree import DuctTree
from reconstruction.volume import Volume

__all__ = ["render_preview"]

_KIND_COLOURS = {"filling_defect": "#ff3b30", "cutoff": "#ff9500", "ectasia": "#ffcc00", "cyst": "#34c759",
                 "air_bubble": "#5ac8fa"}


def _window(img: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(img, [1.0, 99.7])
    return float(lo), float(hi)


def render_preview(volume: Volume, truth: dict, path: str | Path, *, dpi: int = 80) -> Path:
    """Write a PNG: MIP with the true tree and lesions, the slice through the first lesion
    (or the main duct), and an x-z section showing the out-of-plane blur.

    Parameters
    ----------
    volume : Volume
    truth : dict
        ``truth.json`` content.
    path : path-like
        PNG to write (atomically).

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a, frame = volume.array, volume.frame
    tree = DuctTree.from_dict(truth["tree"])
    opac = set(truth["opacified_systems"])
    focus = truth["lesions"][0] if truth["lesions"] else (truth["artefacts"][0] if truth["artefacts"] else None)
    if focus is not None:
        fz, fy, fx = frame.physical_to_array_index(np.asarray(focus["center_mm"]))
    else:
        root = tree.branches[tree.systems[0].root_branch]
        fz, fy, fx = frame.physical_to_array_index(root.points_mm[len(root.points_mm) // 2])
    fz, fy = int(np.clip(round(fz), 0, a.shape[0] - 1)), int(np.clip(round(fy), 0, a.shape[1] - 1))
    sx, sy, sz = frame.spacing
    ext_xy = [-0.5 * sx, (a.shape[2] - 0.5) * sx, (a.shape[1] - 0.5) * sy, -0.5 * sy]

    fig = plt.figure(figsize=(15, 10), facecolor="black")
    gs = fig.add_gridspec(2, 2, height_ratios=[3, 1.3])
    ax_mip, ax_sl, ax_xz = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1]), fig.add_subplot(gs[1, :])
    mip = a.max(axis=0)
    ax_mip.imshow(mip, cmap="gray", vmin=_window(mip)[0], vmax=_window(mip)[1], extent=ext_xy)
    for b in tree.branches:
        if b.system not in opac:
            continue
        keep = b.opacified if b.opacified is not None else np.ones(len(b.points_mm), bool)
        idx = frame.physical_to_array_index(b.points_mm[keep])
        ax_mip.plot(idx[:, 2] * sx, idx[:, 1] * sy, lw=0.8, color=f"C{b.system}", alpha=0.8)
    for row in truth["lesions"] + truth["artefacts"]:
        z, y, x = frame.physical_to_array_index(np.asarray(row["center_mm"]))
        r = 0.5 * row["diameter_mm"] + 1.5
        ax_mip.add_patch(plt.Circle((x * sx, y * sy), r, fill=False, lw=1.5, color=_KIND_COLOURS[row["kind"]],
                                    ls="--" if row["kind"] == "air_bubble" else "-"))
        ax_mip.text(x * sx + r, y * sy - r, row["kind"].replace("_", " "), color=_KIND_COLOURS[row["kind"]],
                    fontsize=9)
    ax_mip.set_title(f"{truth['preset']}: MIP with truth ({truth['laterality']} {truth['view']}, "
                     f"{truth['scanner']['n_projections']} proj / {truth['scanner']['arc_deg']:.0f} deg)",
                     color="white")
    sl = a[fz]
    ax_sl.imshow(sl, cmap="gray", vmin=_window(sl)[0], vmax=_window(sl)[1], extent=ext_xy)
    ax_sl.set_title(f"slice {fz} of {a.shape[0]} (no overlay)", color="white")
    xz = a[:, fy, :]
    ax_xz.imshow(xz, cmap="gray", vmin=_window(xz)[0], vmax=_window(xz)[1], aspect="auto",
                 extent=[-0.5 * sx, (a.shape[2] - 0.5) * sx, (a.shape[0] - 0.5) * sz, -0.5 * sz])
    ax_xz.set_title(f"depth section at row {fy}: blur and ripple along z (mm)", color="white")
    for ax in (ax_mip, ax_sl, ax_xz):
        ax.tick_params(colors="gray", labelsize=8)
        ax.set_xlabel("mm", color="gray", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=dpi, facecolor="black", format="png")
    plt.close(fig)
    return path
