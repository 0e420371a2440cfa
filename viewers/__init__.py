"""Viewers: the plan as pictures, a report and an interactive 3D view.

Data flows one way: ``viewers`` reads what ``ductplan plan`` wrote (the ``plan.json``
object, the duct tree, the excision surface, optionally the volume) and shows it; it
computes no clinical fact.

* :func:`build_scene` - the 3D pyvista scene (tubes true to scale, lesions, nipple,
  translucent excision, margin lines, orientation marker, ruler).
* :func:`render_views` - anterior, lateral and along-the-duct PNGs in ``OUTDIR/views/``.
* :func:`render_mip` - the volume's MIP with the plan over it.
* :func:`write_report` / :func:`write_report_pdf` - ``report.html`` (self-contained,
  offline, with the vtk.js 3D view) and ``report.pdf``.
* :func:`render_plan_outputs` - all of the above in one call (what the CLI uses).
* :func:`rendering_available` - probe off-screen rendering in a subprocess first (a
  machine without EGL/OSMesa segfaults instead of raising).

Colours live in :mod:`viewers.palette`.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import palette
from .mip import render_mip
from .render_probe import rendering_available
from .report import write_report, write_report_pdf
from .scene import build_scene, world_to_pixels
from .snapshots import VIEW_NAMES, render_views
from .webexport import DEFAULT_MAX_TRIANGLES, BrowserMesh, choose_browser_mesh, interactive_html

if TYPE_CHECKING:
    import numpy.typing as npt

    from reconstruction.tree import DuctTree
    from reconstruction.volume import Volume

__all__ = ["palette", "rendering_available", "build_scene", "world_to_pixels", "render_views", "VIEW_NAMES",
           "render_mip", "write_report", "write_report_pdf", "interactive_html", "choose_browser_mesh",
           "BrowserMesh", "DEFAULT_MAX_TRIANGLES", "render_plan_outputs"]

_log = logging.getLogger(__name__)


def render_plan_outputs(outdir: str | os.PathLike, plan_dict: Mapping, tree: "DuctTree | Any" = None,
                        excision_vertices: "npt.ArrayLike | None" = None,
                        excision_faces: "npt.ArrayLike | None" = None, volume: "Volume | None" = None, *,
                        topology: Any = None, interactive: bool = True, pdf: bool = True,
                        slice_planes: bool = False, window_size: tuple[int, int] = (1000, 800),
                        max_triangles: int = DEFAULT_MAX_TRIANGLES) -> dict[str, Path]:
    """Write the views, the MIP, ``report.html`` and ``report.pdf`` into ``outdir``.

    Call it after ``plan.json``, ``tree.vtp`` and ``excision.vtp`` are written.  When 3D
    rendering is not available (no EGL/OSMesa), the report is still written, with the
    MIP and tables and a note saying why the 3D pictures are missing.

    Parameters
    ----------
    outdir : path
        The plan's output folder (must exist).
    plan_dict : mapping
        The ``plan.json`` object.
    tree : DuctTree, dict, PolyData, path or None
        The duct tree; the plan's own branches when None.
    excision_vertices, excision_faces : arrays, optional
        The excision surface (``Plan.excision.vertices`` / ``.faces``); None when no
        excision is proposed.
    volume : Volume, optional
        For the MIP (and the optional slice plane).
    topology : optional
        The tree builder's topology report (``TopologyReport``, its lines or dict).
    interactive : bool
        Embed the vtk.js 3D view in ``report.html``.
    pdf : bool
        Also write ``report.pdf``.
    slice_planes : bool
        Show the DBT slice through the first lesion in the 3D views.
    window_size : (int, int)
        Size of the view images in pixels.
    max_triangles : int
        Browser budget for the 3D view.

    Returns
    -------
    dict
        ``"anterior"``, ``"lateral"``, ``"along_duct"``, ``"mip"``, ``"report_html"``,
        ``"report_pdf"`` -> path, for those written.

    Raises
    ------
    FileNotFoundError
        When ``outdir`` does not exist.
    """
    outdir = Path(outdir)
    if not outdir.is_dir():
        raise FileNotFoundError(f"cannot write the report: folder {outdir} does not exist")
    excision = None
    if excision_vertices is not None and excision_faces is not None:
        excision = (excision_vertices, excision_faces)
    notes: list[str] = []
    out: dict[str, Path] = {}
    ok, why = rendering_available()
    views: dict[str, Path] = {}
    if ok:
        views = render_views(outdir, plan_dict, tree=tree, excision=excision, volume=volume,
                             slice_planes=slice_planes, window_size=window_size)
        out.update(views)
    else:
        _log.warning("%s", why)
        notes.append(f"The 3D views were not rendered: {why}.")
    mip = None
    if volume is not None:
        mip = render_mip(outdir / "views" / "mip.png", volume, plan_dict, tree=tree, excision=excision)
        out["mip"] = mip
    else:
        notes.append("No volume was given, so the report has no projection of the galactogram.")
    out["report_html"] = write_report(outdir, plan_dict, views=views, mip_png=mip,
                                      interactive_html=bool(interactive and ok), tree=tree, excision=excision,
                                      topology=topology, max_triangles=max_triangles, notes=notes)
    if pdf:
        out["report_pdf"] = write_report_pdf(outdir, plan_dict, views=views, mip_png=mip, topology=topology,
                                             notes=notes)
    return out
