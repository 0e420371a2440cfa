"""Viewers: every preset's plan renders off-screen with the right colours in the right
places; report.html is self-contained (no URL, every embedded image decodes); report.pdf
is a PDF.

Plans are made from each sample's TRUTH tree (opacified systems only), so these tests do
not depend on the reconstruction.  Images are rendered small (600 x 480) to stay fast.
"""
from __future__ import annotations

import base64
import colorsys
import dataclasses
import functools
import html
import io
import json
import re

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from planner import ClinicalContext, Lesion, PlanSettings, make_plan, plan_to_dict
from planner.localisation import localise_lesion
from reconstruction.tree import DuctTree
from sample_volumes import preset_names
from viewers import palette
from viewers.render_probe import rendering_available

PRESETS = [n for n in preset_names() if n != "full-field"]  # full-field lives in benchmarks/
SIZE = (600, 480)


def _opacified(full: DuctTree) -> DuctTree:
    """The truth tree restricted to opacified systems, ids renumbered from 0."""
    keep = [s.id for s in full.systems if s.opacified]
    smap = {s: i for i, s in enumerate(keep)}
    branches = [b for b in full.branches if b.system in smap]
    bmap = {b.id: i for i, b in enumerate(branches)}
    nb = [dataclasses.replace(b, id=bmap[b.id], system=smap[b.system],
                              parent=None if b.parent is None else bmap[b.parent]) for b in branches]
    ns = [dataclasses.replace(full.systems[s], id=smap[s],
                              root_branch=None if full.systems[s].root_branch is None
                              else bmap[full.systems[s].root_branch]) for s in keep]
    return DuctTree(nb, ns, nipple_mm=full.nipple_mm), smap, bmap


@functools.lru_cache(maxsize=None)
def _plan_of(name: str, sample_of):
    """(plan dict, excision (vertices, faces) or None, tree, volume) for a preset."""
    s = sample_of(name)
    tree, smap, bmap = _opacified(DuctTree.from_dict(s.truth["tree"]))
    nipple = np.asarray(s.truth["nipple_mm"], dtype=float)
    post = np.asarray(s.truth["breast"]["chest_wall_center_mm"], dtype=float) - nipple
    z_axis = np.asarray(s.volume.frame.direction_matrix)[:, 2]
    lesions = []
    for row in s.truth["lesions"]:
        les = Lesion(id=row["id"], kind=row["kind"], center_mm=row["center_mm"], diameter_mm=row["diameter_mm"],
                     system=smap.get(row["system"]), branch=bmap.get(row["branch"]),
                     suspected_dcis=bool(row.get("suspected_dcis", False)))
        les.localisation = localise_lesion(les, nipple_mm=nipple, laterality=s.volume.laterality,
                                           view=s.volume.view, tree=tree, chest_wall_mm=float(np.linalg.norm(post)),
                                           posterior_axis=post, z_axis_mm=z_axis)
        lesions.append(les)
    frame = s.volume.frame
    plan = make_plan(tree, lesions, ClinicalContext.from_dict(s.truth["clinical"]), PlanSettings(),
                     input_info={"path": f"{name}.nrrd", "size": list(frame.size), "spacing_mm": list(frame.spacing)},
                     nipple_mm=nipple, frame=frame)
    ex = None if plan.excision is None else (plan.excision.vertices, plan.excision.faces)
    return plan_to_dict(plan), ex, tree, s.volume


@pytest.fixture(scope="module")
def plan_of(sample_of):
    return lambda name: _plan_of(name, sample_of)


@pytest.fixture(scope="module", autouse=True)
def _needs_rendering():
    ok, why = rendering_available()
    if not ok:
        pytest.skip(why)


# ------------------------------------------------------------------ colour helpers
def _hsv(img: np.ndarray) -> np.ndarray:
    rgb = img[..., :3].astype(float) / 255.0
    mx, mn = rgb.max(-1), rgb.min(-1)
    d = np.where(mx - mn > 1e-9, mx - mn, 1.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    h = np.where(mx == r, (g - b) / d % 6, np.where(mx == g, (b - r) / d + 2, (r - g) / d + 4)) * 60.0
    s = np.where(mx > 0, (mx - mn) / np.where(mx > 0, mx, 1), 0.0)
    return np.stack([h, s, mx], -1)


def _hue_of(color: str) -> float:
    return colorsys.rgb_to_hsv(*palette.hex_to_rgb01(color))[0] * 360.0


def _like(hsv: np.ndarray, color: str, *, tol_deg: float, min_sat: float = 0.2) -> np.ndarray:
    """Pixels of ``color``'s hue (shading, blending with white or the translucent excision
    change brightness and saturation, much less the hue)."""
    dh = np.abs((hsv[..., 0] - _hue_of(color) + 180.0) % 360.0 - 180.0)
    return (dh <= tol_deg) & (hsv[..., 1] >= min_sat) & (hsv[..., 2] >= 0.12)


def _hits(mask: np.ndarray, px: np.ndarray, radius: int) -> np.ndarray:
    """For each pixel position, whether ``mask`` is set within ``radius`` of it."""
    h, w = mask.shape
    out = np.zeros(len(px), bool)
    for i, (c, r) in enumerate(np.round(px).astype(int)):
        if 0 <= r < h and 0 <= c < w:
            out[i] = mask[max(r - radius, 0):r + radius + 1, max(c - radius, 0):c + radius + 1].any()
    return out


def _silhouette(view, ex) -> np.ndarray:
    """Pixels covered by the excision surface in a rendered view."""
    from PIL import ImageDraw

    h, w = view.image.shape[:2]
    px = view.to_pixels(np.asarray(ex[0]))
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for tri in px[np.asarray(ex[1])]:
        draw.polygon([(float(x), float(y)) for x, y in tri], fill=1)
    return np.asarray(canvas, dtype=bool)


# -------------------------------------------------------------------------- tests
def test_rendering_probe_says_how():
    ok, how = rendering_available()
    assert ok and "RenderWindow" in how


def test_probe_turns_a_crash_into_a_message(monkeypatch):
    from viewers import render_probe

    monkeypatch.setattr(render_probe, "_PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    ok, why = render_probe._try("vtkEGLRenderWindow")
    assert not ok and "SIGSEGV" in why


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_renders_its_plan(plan_of, name, tmp_path):
    from viewers.snapshots import VIEW_NAMES, compose_views, render_view_images

    plan, ex, tree, _ = plan_of(name)
    rendered = render_view_images(plan, excision=ex, window_size=SIZE)
    assert set(rendered) == set(VIEW_NAMES)

    pts = np.concatenate([np.asarray(b["points_mm"]) for b in plan["branches"]])
    sysid = np.concatenate([[b["system"]] * len(b["points_mm"]) for b in plan["branches"]])
    rad = np.concatenate([np.asarray(b["radius_mm"]) for b in plan["branches"]])
    # Tree points a viewer must show in their system's colour: not inside a lesion's
    # window, not under the nipple marker.
    away = np.linalg.norm(pts - np.asarray(plan["nipple_mm"]), axis=1) > 4.0
    for les in plan["lesions"]:
        away &= np.linalg.norm(pts - np.asarray(les["center_mm"]), axis=1) > les["diameter_mm"] + 3.0
    pick = np.flatnonzero(away)[:: max(1, int(away.sum()) // 150)]

    lesion_seen = {les["id"]: False for les in plan["lesions"]}
    for vname, view in rendered.items():
        img = view.image
        assert img.shape == (SIZE[1], SIZE[0], 3)
        drawn = np.any(np.abs(img.astype(int) - 255) > 12, axis=-1)
        assert drawn.mean() > 0.02 and img.std() > 10, f"{name}/{vname} looks blank"
        hsv = _hsv(img)
        px = view.to_pixels(pts[pick])
        # Visible: no opaque surface in front of the tube (the depth buffer says so; the
        # translucent excision does not count, its colour blends with the duct's).
        ij = np.round(px).astype(int)
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < SIZE[0]) & (ij[:, 1] >= 0) & (ij[:, 1] < SIZE[1])
        assert inside.all(), (name, vname, "part of the tree is out of the picture")
        front = view.depth[ij[:, 1], ij[:, 0]]
        visible = front >= view.depth_of(pts[pick]) - rad[pick] - 1.0
        assert visible.mean() > 0.25, (name, vname, "the tree is hidden", visible.mean())
        for s in np.unique(sysid):
            sel = (sysid[pick] == s) & visible
            ok = _hits(_like(hsv, palette.system_color(int(s)), tol_deg=30), px[sel], 1)
            assert ok.mean() >= 0.8, (name, vname, int(s), ok.mean())
        green = _like(hsv, palette.EXCISION_COLOR, tol_deg=25, min_sat=0.08)
        if ex is None:
            assert green.mean() < 0.002, (name, vname, "excision colour without an excision")
        else:
            # Where the excision covers the background (nothing opaque behind it), the
            # picture is excision green; outside its outline there is no such green.
            sil = _silhouette(view, ex)
            core = ndimage.binary_erosion(sil, iterations=2) & np.isnan(view.depth)
            # ... except under the nipple marker, translucent too (not in the depth buffer).
            yy, xx = np.mgrid[:SIZE[1], :SIZE[0]]
            nc = view.to_pixels(np.asarray(plan["nipple_mm"]))[0]
            core &= np.hypot(xx - nc[0], yy - nc[1]) > 2.5 * view.px_per_mm + 4
            assert core.sum() > 50, (name, vname, "no excision in front of the background")
            assert green[core].mean() >= 0.9, (name, vname, "excision not green where it is", green[core].mean())
            stray = green & ~ndimage.binary_dilation(sil, iterations=3)
            assert stray.sum() <= 0.01 * green.sum() + 20, (name, vname, "green outside the excision")
        for les in plan["lesions"]:
            # In some view the lesion's own surface (not only its overlay ghost) is the front
            # surface near its centre, in its kind's colour.
            centre = np.asarray(les["center_mm"])
            c = np.round(view.to_pixels(centre)[0]).astype(int)
            r_mm = 0.5 * les["diameter_mm"]
            d = view.depth_of(centre)[0]
            r = max(2, int(r_mm * view.px_per_mm))
            sl = (slice(max(c[1] - r, 0), c[1] + r + 1), slice(max(c[0] - r, 0), c[0] + r + 1))
            own = (view.depth[sl] >= d - r_mm - 0.5) & (view.depth[sl] <= d + r_mm)  # its own surface
            like = _like(hsv[sl], palette.lesion_color(les["kind"]), tol_deg=22, min_sat=0.35)
            lesion_seen[les["id"]] |= int((own & like).sum()) >= 3
    assert all(lesion_seen.values()), (name, "a lesion is hidden in every view", lesion_seen)

    paths = compose_views(tmp_path, plan, rendered, excision=ex)
    for vname, path in paths.items():
        with Image.open(path) as im:
            im.load()
            assert im.size == SIZE
            arr = np.asarray(im.convert("RGB"))
        # Annotations cover a little of the rendering, never most of it.
        assert np.mean(np.all(arr == rendered[vname].image, axis=-1)) > 0.6


def _embedded_images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"data:image/[a-z+]+;base64,([A-Za-z0-9+/=]+)", text)]


@pytest.mark.parametrize("name, max_triangles", [("single-papilloma", 300_000), ("two-systems", 40_000),
                                                 ("purulent", 300_000)])
def test_report_is_self_contained(plan_of, name, max_triangles, tmp_path):
    from viewers import render_plan_outputs

    plan, ex, tree, volume = plan_of(name)
    out = render_plan_outputs(tmp_path, plan, tree, None if ex is None else ex[0], None if ex is None else ex[1],
                              volume, window_size=SIZE, max_triangles=max_triangles)
    assert {"anterior", "lateral", "along_duct", "mip", "report_html", "report_pdf"} <= set(out)
    assert not [p for p in tmp_path.rglob("*.tmp*")], "temporary files left behind"
    text = out["report_html"].read_text(encoding="utf-8")

    # No URL a browser could fetch: no http(s):// anywhere, every src/href is data: or #.
    assert not re.search(r"https?://", text, re.IGNORECASE)
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!data:|#)""", text, re.IGNORECASE)
    assert not re.search(r"url\((?!\s*['\"]?data:)", text)
    assert "@import" not in text

    images = _embedded_images(text)
    assert len(images) >= 4  # three views and the MIP (the viewer's own CSS adds one)
    for data in images:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            assert im.size[0] > 0 and im.size[1] > 0

    # The interactive view is there, offline, and its triangles respect the budget.
    payload = re.search(r'<script id="viewer3d-src" type="application/json">(.*?)</script>', text, re.S)
    assert payload, "no embedded 3D view"
    viewer = json.loads(payload.group(1))
    assert "OfflineLocalView" in viewer and "base64Str" in viewer
    m = re.search(r"([\d,]+) triangles", text.replace("\u2009", ""))
    assert m and int(m.group(1).replace(",", "")) > 0
    numbers = [int(x.replace(",", "")) for x in re.findall(r"to ([\d,]+) triangles", text)]
    if max_triangles < 100_000:
        assert "lightened" in text and numbers and numbers[0] <= max_triangles

    # The facts of the plan are in it.
    assert plan["procedure"]["kind"] != "microdochectomy" or "Microdochectomy" in text
    for les in plan["lesions"]:
        assert f"L{les['id']}" in text
    for w in plan["warnings"]:
        assert html.escape(w) in text
    assert "Topology report" in text

    pdf = out["report_pdf"].read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) >= 4  # text, three views, MIP...


def test_inputs_from_files_match_the_plan(plan_of, tmp_path):
    """tree.vtp and excision.vtp as the CLI writes them give the same scene inputs."""
    import pyvista as pv

    from planner import write_excision_vtp
    from viewers.scene import excision_mesh, margin_segments, tree_polylines

    plan, ex, tree, _ = plan_of("single-papilloma")
    lines, pts, rad, sysv, bra = [], [], [], [], []
    for b in tree.branches:
        n0 = len(pts)
        pts.extend(b.points_mm)
        rad.extend(b.radius_mm)
        sysv.extend([b.system] * len(b.points_mm))
        bra.extend([b.id] * len(b.points_mm))
        lines.extend([len(b.points_mm), *range(n0, n0 + len(b.points_mm))])
    poly = pv.PolyData(np.asarray(pts, dtype=float), lines=np.asarray(lines))
    poly.point_data["radius_mm"] = np.asarray(rad)
    poly.point_data["system"] = np.asarray(sysv)
    poly.point_data["branch"] = np.asarray(bra)
    poly.save(tmp_path / "tree.vtp")
    write_excision_vtp(ex[0], ex[1], tmp_path / "excision.vtp")

    from_file = tree_polylines(plan, tmp_path / "tree.vtp")
    from_plan = tree_polylines(plan)
    assert len(from_file) == len(from_plan)
    assert np.allclose(np.concatenate([p.radius_mm for p in from_file]),
                       np.concatenate([p.radius_mm for p in from_plan]), atol=1e-3)

    mesh = excision_mesh(tmp_path / "excision.vtp")
    assert mesh.n_cells == len(ex[1])
    segs = margin_segments(plan, mesh)
    margins = {m["lesion"]: m for m in plan["procedure"]["excision"]["margins"] if m.get("treated", True)}
    assert [s.lesion for s in segs] == sorted(margins)
    for s in segs:
        # The label carries the plan's value; the line ends on the excision boundary.
        assert f"{margins[s.lesion]['min_margin_mm']:.1f} mm" in s.label
        _, q = mesh.find_closest_cell(s.end_mm, return_closest_point=True)
        assert np.linalg.norm(np.asarray(q) - s.end_mm) < 1e-6


def test_browser_budget_is_kept_and_said(plan_of):
    from viewers.webexport import choose_browser_mesh

    plan, ex, tree, _ = plan_of("two-systems")
    full = choose_browser_mesh(plan, excision=ex)
    assert not full.reduced and full.triangles <= 300_000
    small = choose_browser_mesh(plan, excision=ex, max_triangles=60_000)
    assert small.reduced and small.triangles <= 60_000 < small.triangles_full
    assert "lightened" in small.describe() and "%" in small.describe()


def test_hand_built_scene_with_labels_slice_and_scale_bar():
    """The interactive path (3D labels, slice plane, camera-dependent scale bar) on a tiny plan."""
    from reconstruction.frame import ImageFrame
    from reconstruction.volume import Volume
    from viewers.scene import add_scale_bar, build_scene

    plan = {"nipple_mm": [0.0, 0.0, 0.0], "procedure": {"kind": "none", "excision": None},
            "branches": [{"id": 0, "system": 0, "points_mm": [[0, 0, 0], [0, 30, 0]], "radius_mm": [1.5, 1.0]},
                         {"id": 1, "system": 1, "points_mm": [[2, 0, 0], [15, 25, 5]], "radius_mm": [1.0, 0.5]}],
            "lesions": [{"id": 0, "kind": "cyst", "center_mm": [0, 15, 0], "diameter_mm": 4.0}]}
    frame = ImageFrame(origin=(-20.0, -5.0, -10.0), spacing=(1.0, 1.0, 2.0), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
                       size=(40, 40, 10))
    vol = Volume(array=np.random.default_rng(0).random((10, 40, 40)).astype(np.float32), frame=frame)
    pl = build_scene(plan, volume=vol, slice_planes=True, window_size=(320, 240))
    try:
        assert {"tree_system_0", "tree_system_1", "lesion_0", "nipple", "ruler", "slice"} <= set(pl.actors)
        pl.view_xy()
        length = add_scale_bar(pl)
        assert length in (1, 2, 5, 10, 20, 50)
        img = pl.screenshot(return_img=True)
        hsv = _hsv(np.asarray(img))
        assert _like(hsv, palette.system_color(0), tol_deg=30).sum() > 50
        assert _like(hsv, palette.system_color(1), tol_deg=30).sum() > 20
    finally:
        pl.close()


def test_report_without_3d_rendering_still_tells_the_plan(monkeypatch, tmp_path):
    """No EGL/OSMesa: no 3D pictures, but the report and its PDF are written and say why."""
    import viewers

    monkeypatch.setattr(viewers, "rendering_available", lambda: (False, "3D rendering is not available (test)"))
    plan = {"schema": "ductplan.plan/1", "input": {"path": "x.nrrd", "size": [1, 1, 1], "spacing_mm": [1, 1, 1]},
            "nipple_mm": [0.0, 0.0, 0.0], "systems": [], "branches": [], "warnings": ["Check the nipple."],
            "lesions": [{"id": 3, "kind": "cutoff", "center_mm": [0, 10, 0], "diameter_mm": 2.0,
                         "distance_from_nipple_mm": 10.0, "clock": None, "system": None, "branch": None,
                         "suspected_dcis": True}],
            "procedure": {"kind": "none", "rationale": ["Nothing to remove <yet>."], "excision": None}}
    out = viewers.render_plan_outputs(tmp_path, plan)
    assert set(out) == {"report_html", "report_pdf"}
    text = out["report_html"].read_text(encoding="utf-8")
    assert "not rendered: 3D rendering is not available (test)" in text
    assert "Nothing to remove &lt;yet&gt;." in text and "Check the nipple." in text
    assert "L3" in text and "DCIS suspected" in text and "1 cm (10 mm)" in text
    assert out["report_pdf"].read_bytes().startswith(b"%PDF")
