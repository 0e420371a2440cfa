"""The surgeon's report: ``report.html`` (self-contained, offline) and ``report.pdf``.

Everything in the report is the plan's: the procedure and its reasons, each lesion's
kind, side, clock, distance from the nipple, depth third, size, margin and system, the
warnings, the topology report.  The report only formats them (distances in whole
centimetres as reports give them, with the millimetres beside).

``report.html`` embeds every image as a ``data:`` URI and the interactive 3D view
(vtk.js, from :mod:`viewers.webexport`) as a JSON string that a small script hands to a
sandboxed ``<iframe srcdoc>``: one file, no external link, opens from ``file://``
offline.  ``report.pdf`` holds the same facts and pictures for printing (matplotlib).
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import palette
from .scene import KIND_WORDS, ExcisionInput, TreeInput

__all__ = ["write_report", "write_report_pdf", "lesion_rows", "procedure_title", "topology_lines",
           "LESION_COLUMNS", "READING_NOTES"]

#: Column titles of the lesion table (HTML and PDF).
LESION_COLUMNS = ("Lesion", "Kind", "Side", "Clock", "From nipple", "Depth third", "Size",
                  "Margin (setting)", "System", "Plan")

#: How to read positions: the reporting conventions the plan follows (DOMAIN.md).
READING_NOTES = (
    "Positions come from compressed, upright imaging; in theatre the patient lies supine. Use the "
    "clock face (as the viewer faces the patient), the distance from the nipple and the depth third, "
    "not raw scanner millimetres.",
    "Depth along the DBT slice axis is the least certain direction (several mm): confirm a lesion's "
    "position by ultrasound when its margin depends on it.",
)

_PROCEDURE_TITLES = {
    "microdochectomy": "Microdochectomy",
    "hadfield": "Hadfield's procedure (total duct excision)",
    "none": "No surgery proposed",
    "contraindicated": "Surgery contraindicated at present",
}
_VIEW_CAPTIONS = {
    "anterior": "Anterior view, as the surgeon faces the patient (patient's right on the left).",
    "lateral": "Lateral view.",
    "along_duct": "Along the duct, from the nipple toward the lesion (perspective: the scale bar is "
                  "true at the lesion's depth).",
}


# ------------------------------------------------------------------ plan -> text
def procedure_title(plan_dict: Mapping) -> str:
    """``"Microdochectomy (duct of system 0)"``, ``"No surgery proposed"``...

    Examples
    --------
    >>> procedure_title({"procedure": {"kind": "microdochectomy", "target_system": 1}})
    'Microdochectomy (duct of system 1)'
    """
    proc = plan_dict.get("procedure") or {}
    kind = str(proc.get("kind"))
    title = _PROCEDURE_TITLES.get(kind, kind)
    if kind == "microdochectomy" and proc.get("target_system") is not None:
        title += f" (duct of system {proc['target_system']})"
    return title


def _num(v: Any, fmt: str = "{:.1f}", none: str = "-") -> str:
    if v is None:
        return none
    try:
        return fmt.format(float(v))
    except (TypeError, ValueError):
        return str(v)


def lesion_rows(plan_dict: Mapping) -> list[dict[str, str]]:
    """One row of display text per lesion (keys: ``LESION_COLUMNS`` plus ``notes``, ``color``).

    Examples
    --------
    >>> plan = {"lesions": [{"id": 0, "kind": "cyst", "diameter_mm": 6.0, "system": 0,
    ...                      "distance_from_nipple_mm": 34.0, "clock": "10:00", "treated": True,
    ...                      "localisation": {"side": "R", "depth_third": "middle"}}],
    ...         "procedure": {"excision": {"margins": [{"lesion": 0, "min_margin_mm": 5.2,
    ...                                                  "required_mm": 5.0, "adequate": True}]}}}
    >>> r = lesion_rows(plan)[0]
    >>> r["From nipple"], r["Margin (setting)"], r["Clock"]
    ('3 cm (34 mm)', '5.2 mm (5)', '10:00')
    """
    ex = (plan_dict.get("procedure") or {}).get("excision") or {}
    margins = {int(m["lesion"]): m for m in ex.get("margins") or [] if "lesion" in m}
    rows = []
    for les in plan_dict.get("lesions") or []:
        loc = les.get("localisation") or {}
        dist = loc.get("distance_from_nipple_mm", les.get("distance_from_nipple_mm"))
        near = loc.get("anterior_edge_from_nipple_mm")
        if dist is None:
            from_nipple = "-"
        else:
            # Reports give whole centimetres; the millimetres stay beside for the surgeon.
            from_nipple = f"{float(dist) / 10.0:.0f} cm ({float(dist):.0f} mm)"
            if near is not None:
                from_nipple += f"; anterior edge {float(near):.0f} mm"
        m = margins.get(int(les["id"]))
        if m is None or m.get("min_margin_mm") is None:
            margin = "-"
        elif m.get("treated") is False:
            margin = "not excised"  # a margin of a lesion left out on purpose means nothing
        else:
            margin = f"{float(m['min_margin_mm']):.1f} mm"
            if m.get("required_mm") is not None:
                margin += f" ({float(m['required_mm']):g})"
            if float(m["min_margin_mm"]) < 0:
                margin += " CUT"
            elif m.get("adequate") is False:
                margin += " SHORT"
        size = _num(les.get("diameter_mm"), "{:.1f} mm")
        zu = loc.get("z_uncertainty_mm")
        if zu is not None:
            size += f" (depth \u00b1{float(zu):.1f} mm)"
        if les.get("treated"):
            plan_word = "removed"
        elif les.get("reach") and les.get("reach") != "within reach":
            plan_word = f"not removed: {les['reach']}"
        else:
            plan_word = "not in the excision" if ex else "-"
        kind = KIND_WORDS.get(str(les.get("kind")), str(les.get("kind")))
        if les.get("suspected_dcis"):
            kind += " (DCIS suspected)"
        if les.get("label"):
            kind += f" \u201c{les['label']}\u201d"
        rows.append({
            "Lesion": f"L{les['id']}", "Kind": kind,
            "Side": str(loc.get("side") or "-"),
            "Clock": str(loc.get("clock") or les.get("clock") or "-"),
            "From nipple": from_nipple,
            "Depth third": str(loc.get("depth_third") or "-"),
            "Size": size, "Margin (setting)": margin,
            "System": "-" if les.get("system") is None else str(les["system"]),
            "Plan": plan_word,
            "notes": "; ".join(str(n) for n in les.get("notes") or []),
            "color": palette.lesion_color(str(les.get("kind"))),
            "source": str(les.get("source_detail") or les.get("source") or ""),
        })
    return rows


def topology_lines(topology: Any = None, plan_dict: Mapping | None = None) -> list[str]:
    """The topology report as plain lines.

    Parameters
    ----------
    topology : TopologyReport, list of str, dict or None
        A :class:`reconstruction.topology.TopologyReport` (its ``lines()``), its lines,
        or its ``to_dict()``.  When None, ``plan_dict["topology"]`` (or
        ``plan_dict["tree_topology"]``) is used if present.
    plan_dict : mapping, optional

    Returns
    -------
    list of str
        Empty when no report is available.
    """
    if topology is None and plan_dict is not None:
        topology = plan_dict.get("topology") or plan_dict.get("tree_topology")
    if topology is None:
        return []
    if hasattr(topology, "lines"):
        return [str(s) for s in topology.lines()]
    if isinstance(topology, str):
        return topology.splitlines()
    if isinstance(topology, Mapping):
        if isinstance(topology.get("lines"), list):
            return [str(s) for s in topology["lines"]]
        out = []
        for s in topology.get("systems") or []:
            if s.get("found"):
                out.append(f"System {s.get('system')}: {s.get('n_branches')} branches, "
                           f"{_num(s.get('length_mm'))} mm of duct" + (f" ({s['how']})." if s.get("how") else "."))
            else:
                out.append(f"System {s.get('system')}: not reconstructed: {s.get('how', '')}.")
        for key, words in (("contacts", "contact(s) between systems cut"), ("cycles", "cycle(s) broken"),
                           ("spurs", "spur(s) removed"), ("gaps", "lumen gap(s) bridged"),
                           ("pieces", "piece(s) not connected to any orifice")):
            out.append(f"{len(topology.get(key) or [])} {words}.")
        out.extend(str(n) for n in topology.get("notes") or [])
        return out
    if isinstance(topology, Sequence):
        return [str(s) for s in topology]
    return [str(topology)]


def _excision_facts(plan_dict: Mapping) -> list[str]:
    ex = (plan_dict.get("procedure") or {}).get("excision")
    if not ex:
        return []
    out = []
    shape = {"duct_sleeve": "duct with a sleeve of tissue", "retroareolar_cone": "retroareolar cone"}.get(
        str(ex.get("shape")), str(ex.get("shape") or "excision"))
    facts = [f"Shape: {shape}"]
    if ex.get("depth_mm") is not None:
        facts.append(f"depth {float(ex['depth_mm']):.0f} mm")
    if ex.get("volume_cm3") is not None:
        facts.append(f"about {float(ex['volume_cm3']):.1f} cm\u00b3")
    if ex.get("max_distance_from_nipple_mm") is not None:
        facts.append(f"reaching {float(ex['max_distance_from_nipple_mm']):.0f} mm from the nipple")
    out.append(", ".join(facts) + ".")
    beyond = ex.get("beyond_reach") or []
    for b in beyond:
        out.append(f"Lesion L{b.get('lesion')} is not removed: {b.get('reason')}.")
    topo = ex.get("topology") or {}
    if topo:
        ok = all(topo.get(k) for k in ("closed", "manifold", "watertight"))
        out.append(f"Excision surface: {topo.get('n_faces', '?')} triangles, "
                   + ("closed and watertight." if ok else "NOT watertight: check excision.vtp."))
    return out


def _plain(v: Any) -> str:
    """A clinical value as a reader expects it: yes/no, 55 rather than 55.0."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _b64(path: str | os.PathLike) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


# ------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#111;
     margin:0;background:#f4f5f7}
main{max-width:1120px;margin:0 auto;padding:18px 22px 40px;background:#fff}
h1{font-size:1.6em;margin:.2em 0}
h2{font-size:1.2em;margin:1.4em 0 .5em;border-bottom:2px solid #e3e5e8;padding-bottom:.2em}
.sub{color:#555;font-size:.9em}
.procedure{border-left:6px solid #2e9e4f;background:#f1f8f3;padding:10px 16px;margin:12px 0}
.procedure.none{border-color:#888;background:#f5f5f5}
.procedure.contraindicated{border-color:#c00000;background:#fff2f2}
.procedure h2{border:none;margin:.2em 0;font-size:1.35em}
.warnings{border-left:6px solid #d99500;background:#fff8e5;padding:8px 16px;margin:12px 0}
.warnings li{margin:.25em 0}
.note{color:#444;font-size:.9em}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{border:1px solid #d6d9dd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#eef0f3}
.swatch{display:inline-block;width:.9em;height:.9em;border-radius:50%;vertical-align:-.1em;margin-right:.3em}
.short{color:#c00000;font-weight:bold}
figure{margin:10px 0 18px}
figure img{width:100%;height:auto;border:1px solid #d6d9dd}
figcaption{font-size:.88em;color:#444;margin-top:4px}
.views{display:grid;grid-template-columns:1fr;gap:6px}
@media(min-width:1000px){.views{grid-template-columns:1fr 1fr}}
.viewer3d iframe{width:100%;height:640px;border:1px solid #d6d9dd;background:#fff}
pre.topology{white-space:pre-wrap;font-size:.85em;background:#f7f7f9;padding:8px;border:1px solid #e3e5e8}
@media print{.viewer3d{display:none}body{background:#fff}main{padding:0}}
"""


def _lesion_table_html(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "<p>No lesion in the plan.</p>"
    head = "".join(f"<th>{_esc(c)}</th>" for c in LESION_COLUMNS)
    body = []
    for r in rows:
        cells = []
        for c in LESION_COLUMNS:
            v = _esc(r[c])
            if c == "Lesion":
                v = f'<span class="swatch" style="background:{r["color"]}"></span>{v}'
            if c == "Margin (setting)" and ("SHORT" in r[c] or "CUT" in r[c]):
                v = f'<span class="short">{v}</span>'
            cells.append(f"<td>{v}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
        if r.get("notes"):
            body.append(f'<tr><td></td><td colspan="{len(LESION_COLUMNS) - 1}" class="note">'
                        f"{_esc(r['notes'])}</td></tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _systems_html(plan_dict: Mapping) -> str:
    systems = plan_dict.get("systems") or []
    if not systems:
        return "<p>No duct system in the plan.</p>"
    rows = []
    for s in systems:
        color = palette.system_color(s.get("id"))
        n_branches = len(s.get("branch_ids") or [])
        rows.append(f'<tr><td><span class="swatch" style="background:{color}"></span>system {_esc(s.get("id"))}'
                    f"</td><td>{n_branches}</td><td>{_num(s.get('length_mm'), '{:.0f} mm')}</td></tr>")
    return ("<table><thead><tr><th>Duct system</th><th>Branches</th><th>Total duct length</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _embed_viewer(viewer_html: str) -> str:
    # A JSON string inside <script type="application/json">: "</" is written "<\/" so
    # the viewer's own </script> tags cannot end this one; JSON.parse reads it back.
    payload = json.dumps(viewer_html).replace("</", "<\\/").replace("<!--", "<\\u0021--")
    return ('<iframe id="viewer3d" title="Interactive 3D view" sandbox="allow-scripts"></iframe>\n'
            f'<script id="viewer3d-src" type="application/json">{payload}</script>\n'
            "<script>(function(){var f=document.getElementById('viewer3d');"
            "f.srcdoc=JSON.parse(document.getElementById('viewer3d-src').textContent);})();</script>")


def write_report(outdir: str | os.PathLike, plan_dict: Mapping, *, views: Mapping[str, str | os.PathLike],
                 mip_png: str | os.PathLike | None = None, interactive_html: bool | str = True,
                 tree: TreeInput = None, excision: ExcisionInput = None, topology: Any = None,
                 max_triangles: int | None = None, notes: Sequence[str] = (),
                 title: str | None = None) -> Path:
    """Write ``OUTDIR/report.html``: the plan for a surgeon, one self-contained file.

    Parameters
    ----------
    outdir : path
        Output folder (must exist).
    plan_dict : mapping
        The ``plan.json`` object.
    views : mapping
        View name -> PNG (from :func:`viewers.snapshots.render_views`); may be empty.
    mip_png : path, optional
        The MIP figure (from :func:`viewers.mip.render_mip`).
    interactive_html : bool or str
        True: build the vtk.js 3D view here (from ``tree`` and ``excision``); a string:
        an already exported viewer page; False: no 3D view.
    tree, excision
        As for :func:`viewers.scene.build_scene` (for the 3D view).
    topology : TopologyReport, list of str, dict, optional
        The tree builder's topology report (see :func:`topology_lines`).
    max_triangles : int, optional
        Browser budget (:data:`viewers.webexport.DEFAULT_MAX_TRIANGLES` when None).
    notes : sequence of str
        Extra lines for the reader (e.g. why 3D views are missing).
    title : str, optional
        Page title; "Surgical plan" plus the input's name when omitted.

    Returns
    -------
    Path
        ``OUTDIR/report.html`` (written atomically).

    Raises
    ------
    FileNotFoundError
        When ``outdir`` does not exist or an image is missing.
    """
    from reconstruction.atomic import atomic_write

    outdir = Path(outdir)
    if not outdir.is_dir():
        raise FileNotFoundError(f"cannot write the report: folder {outdir} does not exist")
    notes = list(notes)
    viewer_block = ""
    if interactive_html:
        from .webexport import DEFAULT_MAX_TRIANGLES, ExportUnavailable
        from .webexport import interactive_html as make_viewer

        if isinstance(interactive_html, str):
            viewer, budget_text = interactive_html, ""
        else:
            try:
                viewer, budget = make_viewer(plan_dict, tree=tree, excision=excision,
                                             max_triangles=max_triangles or DEFAULT_MAX_TRIANGLES)
                budget_text = budget.describe()
            except (ExportUnavailable, RuntimeError) as exc:
                viewer, budget_text = None, ""
                notes.append(f"The interactive 3D view is not included: {exc}")
        if viewer:
            from .webexport import make_offline

            viewer_block = (
                '<section class="viewer3d"><h2>Interactive 3D view</h2>'
                + _embed_viewer(make_offline(viewer))
                + '<p class="note">Drag to rotate, scroll to zoom, right-drag (or shift-drag) to pan. Colours as in '
                "the key views. The black ruler in front of the nipple is 20 mm long with ticks every 5 mm. "
                "The axes (lower left) point to the patient's left (red), posterior (yellow) and superior "
                "(green) (the browser draws them in its own colours, without letters). Labels are in the still "
                "images and the table above.</p>"
                + (f'<p class="note">{_esc(budget_text)}</p>' if budget_text else "") + "</section>")

    inp = plan_dict.get("input") or {}
    name = Path(str(inp.get("path", ""))).name or str(inp.get("path", ""))
    page_title = title or (f"Surgical plan \u2013 {name}" if name else "Surgical plan")
    proc = plan_dict.get("procedure") or {}
    kind = str(proc.get("kind"))
    parts = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
             f"<title>{_esc(page_title)}</title><style>{_CSS}</style></head><body><main>"]
    parts.append(f"<h1>{_esc(page_title)}</h1>")
    size = "\u00d7".join(str(v) for v in inp.get("size") or [])
    spacing = " \u00d7 ".join(f"{float(v):g}" for v in inp.get("spacing_mm") or [])
    parts.append(f'<p class="sub">Input: {_esc(inp.get("path", "?"))} ({_esc(size)} voxels of {_esc(spacing)} mm). '
                 f"Generated by ductplan on {_dt.date.today().isoformat()} from plan.json "
                 f"({_esc(plan_dict.get('schema', ''))}).</p>")

    parts.append(f'<section class="procedure {_esc(kind)}"><h2>Proposed: {_esc(procedure_title(plan_dict))}</h2><ul>')
    parts += [f"<li>{_esc(r)}</li>" for r in proc.get("rationale") or []]
    parts.append("</ul>")
    facts = _excision_facts(plan_dict)
    if facts:
        parts.append("<p>" + "<br>".join(_esc(f) for f in facts) + "</p>")
    parts.append("</section>")

    warnings = list(plan_dict.get("warnings") or [])
    if warnings:
        parts.append('<section class="warnings"><h2>Warnings</h2><ul>'
                     + "".join(f"<li>{_esc(w)}</li>" for w in warnings) + "</ul></section>")
    else:
        parts.append('<p class="note">The plan raised no warning.</p>')
    if notes:
        parts.append('<section class="warnings"><h2>About this report</h2><ul>'
                     + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul></section>")

    parts.append("<h2>Lesions</h2>" + _lesion_table_html(lesion_rows(plan_dict)))
    parts.append('<p class="note">' + " ".join(_esc(n) for n in READING_NOTES) + "</p>")

    if views:
        parts.append('<h2>Key views</h2><div class="views">')
        for vname, png in views.items():
            caption = _VIEW_CAPTIONS.get(vname, vname)
            parts.append(f'<figure><img alt="{_esc(vname)} view" src="data:image/png;base64,{_b64(png)}">'
                         f"<figcaption>{_esc(caption)} Lesions labelled with their kind, size, clock and "
                         f"distance from the nipple (a lesion hidden behind a duct shows through faintly); each "
                         f"margin line runs from the lesion to the nearest excision boundary with the plan's "
                         f"value.</figcaption></figure>")
        parts.append("</div>")
    if mip_png:
        parts.append("<h2>Projection of the galactogram</h2>"
                     f'<figure><img alt="MIP with the plan" src="data:image/png;base64,{_b64(mip_png)}">'
                     "<figcaption>Maximum intensity projection along the DBT slice axis, alone and with the "
                     "duct tree, lesions, nipple and projected excision outline over it.</figcaption></figure>")
    parts.append(viewer_block)

    parts.append("<h2>Duct systems</h2>" + _systems_html(plan_dict))
    topo = topology_lines(topology, plan_dict)
    parts.append("<h2>Topology report</h2>")
    if topo:
        parts.append('<p class="note">Every change the tree builder made to the skeleton of the lumen.</p>'
                     f'<pre class="topology">{_esc(chr(10).join(topo))}</pre>')
    else:
        parts.append('<p class="note">No topology report came with this plan (the tree was not built '
                     "from a lumen mask by ductplan, or the report was not passed on).</p>")
    clinical = plan_dict.get("clinical") or {}
    if clinical:
        items = ", ".join(f"{_esc(k.replace('_', ' '))}: {_esc(_plain(v))}" for k, v in clinical.items()
                          if v is not None)
        parts.append(f"<h2>Clinical context</h2><p>{items or 'not given'}</p>")
    parts.append('<p class="note">Files beside this report: plan.json (the plan), tree.vtp (duct tree), '
                 "excision.vtp (excision surface, when one is proposed), lesions.mrk.json (3D Slicer markups), "
                 "views/ (the images above).</p>")
    parts.append("</main></body></html>\n")
    text = "\n".join(p for p in parts if p)
    path = outdir / "report.html"
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


# -------------------------------------------------------------------------- PDF
def write_report_pdf(outdir: str | os.PathLike, plan_dict: Mapping, *, views: Mapping[str, str | os.PathLike],
                     mip_png: str | os.PathLike | None = None, topology: Any = None,
                     notes: Sequence[str] = ()) -> Path:
    """Write ``OUTDIR/report.pdf``: the same facts and pictures, A4, for printing.

    Page 1: procedure, reasons, warnings and the lesion table; then the key views and
    the MIP, two to a page; then the duct systems and the topology report.

    Parameters
    ----------
    outdir : path
    plan_dict : mapping
    views : mapping
        View name -> PNG.
    mip_png : path, optional
    topology : optional
        As for :func:`write_report`.
    notes : sequence of str

    Returns
    -------
    Path
        ``OUTDIR/report.pdf`` (written atomically).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.image as mpimg
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    from reconstruction.atomic import atomic_write

    outdir = Path(outdir)
    if not outdir.is_dir():
        raise FileNotFoundError(f"cannot write the report: folder {outdir} does not exist")
    a4 = (8.27, 11.69)
    inp = plan_dict.get("input") or {}

    def pages_of(blocks: list[tuple[str, Any, dict]]) -> list[Figure]:
        """Lay out blocks (heading, lines or a table, style) on as many pages as needed."""
        pages: list[Figure] = []
        fig, y = None, 0.0
        line_h = 0.0165
        for heading, body, style in blocks:
            is_table = isinstance(body, dict)
            if is_table:
                cols, cells = body["columns"], body["rows"]
                wrapped_rows = [[textwrap.fill(str(c), w) for c, w in zip(row, body["wrap"])] for row in cells]
                heights = [max(cell.count("\n") + 1 for cell in row) for row in wrapped_rows]
                need = 0.03 + 0.0135 * (sum(heights) + 1.5 * len(heights) + 2)
            else:
                wrapped = []
                for ln in body:
                    wrapped += textwrap.wrap(ln, width=style.get("width", 96), subsequent_indent="   ") or [""]
                need = 0.03 + line_h * len(wrapped)
            if fig is None or y - need < 0.05:
                fig = Figure(figsize=a4)
                pages.append(fig)
                y = 0.95
            if heading:
                fig.text(0.07, y, heading, fontsize=style.get("hsize", 12), fontweight="bold",
                         color=style.get("color", "#111111"), va="top")
                y -= 0.028
            if is_table:
                h = need - 0.03
                ax = fig.add_axes((0.06, y - h, 0.88, h))
                ax.axis("off")
                labels = [textwrap.fill(c, w) for c, w in zip(cols, body["wrap"])]
                table = ax.table(cellText=wrapped_rows, colLabels=labels, colWidths=body["widths"], loc="upper left",
                                 cellLoc="left", colLoc="left", bbox=(0, 0, 1, 1))
                table.auto_set_font_size(False)
                table.set_fontsize(7)
                for (r, c), cell in table.get_celld().items():
                    cell.set_edgecolor("#c8ccd0")
                    if r == 0:
                        cell.set_facecolor("#eef0f3")
                        cell.set_text_props(fontweight="bold")
                    elif c == 0:
                        cell.get_text().set_color(body["colors"][r - 1])
                        cell.set_text_props(fontweight="bold")
                    if r > 0 and c == body["flag_col"] and ("SHORT" in cells[r - 1][c] or "CUT" in cells[r - 1][c]):
                        cell.get_text().set_color(palette.MARGIN_SHORT_COLOR)
                y -= h + 0.012
                continue
            for w in wrapped:
                fig.text(0.08, y, w, fontsize=style.get("size", 9), va="top", family=style.get("family", "sans-serif"),
                         color=style.get("tcolor", "#111111"))
                y -= line_h
            y -= 0.012
        return pages

    proc = plan_dict.get("procedure") or {}
    rows = lesion_rows(plan_dict)
    blocks: list[tuple[str, Any, dict]] = [
        (f"Surgical plan \u2013 {Path(str(inp.get('path', ''))).name}",
         [f"Input {inp.get('path', '?')}; generated by ductplan on {_dt.date.today().isoformat()}."],
         {"hsize": 16}),
        (f"Proposed: {procedure_title(plan_dict)}",
         [f"\u2022 {r}" for r in proc.get("rationale") or []] + _excision_facts(plan_dict), {"hsize": 13}),
    ]
    if plan_dict.get("warnings"):
        blocks.append(("Warnings", [f"\u2022 {w}" for w in plan_dict["warnings"]], {"color": "#a06000"}))
    if notes:
        blocks.append(("About this report", [f"\u2022 {n}" for n in notes], {"color": "#a06000"}))
    if rows:
        table = {"columns": list(LESION_COLUMNS), "rows": [[r[c] for c in LESION_COLUMNS] for r in rows],
                 "widths": [0.06, 0.14, 0.05, 0.09, 0.15, 0.08, 0.11, 0.11, 0.07, 0.14],
                 "wrap": [6, 18, 5, 11, 18, 10, 14, 14, 7, 18], "colors": [r["color"] for r in rows],
                 "flag_col": LESION_COLUMNS.index("Margin (setting)")}
        blocks.append(("Lesions", table, {}))
        lesion_notes = [f"{r['Lesion']}: {r['notes']}" for r in rows if r.get("notes")]
        if lesion_notes:
            blocks.append(("", lesion_notes, {"size": 8.5}))
    else:
        blocks.append(("Lesions", ["No lesion in the plan."], {}))
    blocks.append(("How to read positions", list(READING_NOTES), {"size": 8.5}))
    systems = [f"System {s.get('id')}: {len(s.get('branch_ids') or [])} branches, "
               f"{_num(s.get('length_mm'), '{:.0f}')} mm of duct." for s in plan_dict.get("systems") or []]
    topo = topology_lines(topology, plan_dict) or ["No topology report came with this plan."]

    pictures = [(_VIEW_CAPTIONS.get(k, k), v) for k, v in views.items()]
    if mip_png:
        pictures.append(("Maximum intensity projection along the DBT slice axis, alone and with the plan over it.",
                         mip_png))
    path = outdir / "report.pdf"
    with atomic_write(path) as tmp:
        with PdfPages(tmp) as pdf:
            for fig in pages_of(blocks):
                pdf.savefig(fig)
            # Two pictures per page, each with its caption below.
            for i in range(0, len(pictures), 2):
                fig = Figure(figsize=a4)
                top = 0.96
                for caption, png in pictures[i:i + 2]:
                    img = mpimg.imread(str(png))
                    h, w = img.shape[:2]
                    width = 0.88
                    height = min(width * (h / w) * a4[0] / a4[1], 0.40)
                    width = height * (w / h) * a4[1] / a4[0]
                    ax = fig.add_axes((0.5 - width / 2, top - height, width, height))
                    ax.imshow(img)
                    ax.axis("off")
                    fig.text(0.06, top - height - 0.008, "\n".join(textwrap.wrap(caption, 110)), fontsize=8.5,
                             va="top")
                    top -= height + 0.07
                pdf.savefig(fig)
            for fig in pages_of([("Duct systems", systems or ["No duct system in the plan."], {}),
                                 ("Topology report", topo, {"size": 8, "family": "monospace", "width": 100})]):
                pdf.savefig(fig)
    return path
