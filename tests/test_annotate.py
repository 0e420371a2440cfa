"""The annotation logic without a browser: slices in mm, marks, saving, the picture.

Volumes here are tiny synthetic arrays with a rotated direction and anisotropic spacing,
so that every screen <-> mm conversion goes through the image frame for real.
"""
from __future__ import annotations

import doctest
import json
import time

import numpy as np
import pytest
from PIL import Image

from planner.markups import read_markups
from reconstruction.frame import ImageFrame
from reconstruction.volume import Volume
from viewers import annotate_render, annotate_session, annotate_state, slices, webapp
from viewers.annotate_render import MARK_COLORS, SELECTED_COLOR, compose
from viewers.annotate_session import AnnotationSession, open_session
from viewers.annotate_state import AnnotationMark, MarkStore, default_marks_path, role_of
from viewers.palette import hex_to_rgb, system_color
from viewers.scene import Polyline
from viewers.slices import SliceView, apply_window, auto_window, render_gray, slab_image, slab_range

# Rotated 90 degrees in-plane (as the samples are) and anisotropic: x 0.5 mm, y 0.4 mm, z 1.5 mm.
ROT = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
FRAME = ImageFrame(origin=(-10.0, 5.0, 40.0), spacing=(0.5, 0.4, 1.5), direction=ROT, size=(60, 40, 8))


def _volume(frame: ImageFrame = FRAME) -> Volume:
    rng = np.random.default_rng(1)
    a = rng.normal(100.0, 5.0, frame.shape_zyx).astype(np.float32)
    a[5, 10, 30] = 900.0  # one bright voxel: slice 5, row 10, column 30
    return Volume(a, frame)


@pytest.fixture
def session(tmp_path) -> AnnotationSession:
    return AnnotationSession(_volume(), MarkStore(tmp_path / "marks.mrk.json"))


def test_doctests_of_the_annotation_modules():
    for mod in (slices, annotate_state, annotate_session, annotate_render, webapp):
        result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, mod.__name__


# ---------------------------------------------------------------------- slices
def test_slab_range_is_centred_and_clipped():
    assert slab_range(FRAME, 3, 0.0) == (3, 4)
    assert slab_range(FRAME, 3, 1.5) == (3, 4)          # one slice spacing: the slice
    assert slab_range(FRAME, 3, 4.5) == (2, 5)          # three slices
    assert slab_range(FRAME, 0, 4.5) == (0, 2)
    assert slab_range(FRAME, 7, 100.0) == (0, 8)
    with pytest.raises(ValueError, match="outside the volume"):
        slab_range(FRAME, 8, 0.0)
    with pytest.raises(ValueError, match="thickness"):
        slab_range(FRAME, 2, -1.0)


def test_slab_image_is_the_slice_or_the_slab_maximum():
    vol = _volume()
    assert slab_image(vol.array, FRAME, 4)[10, 30] < 200
    assert slab_image(vol.array, FRAME, 5)[10, 30] == 900.0
    assert slab_image(vol.array, FRAME, 4, 4.5)[10, 30] == 900.0   # slices 3..5
    assert slab_image(vol.array, FRAME, 2, 4.5)[10, 30] < 200      # slices 1..3
    with pytest.raises(ValueError, match="does not match"):
        slab_image(vol.array[:, :, :-1], FRAME, 2)


def test_window_level():
    assert apply_window(np.array([-10.0, 0.0, 10.0, 20.0]), 20.0, 0.0).tolist() == [0, 128, 255, 255]
    # The breast, not the air, sets the automatic window.
    a = np.concatenate([np.zeros(5000), np.random.default_rng(0).normal(200, 20, 5000)])
    w, lev = auto_window(a)
    assert 120 < lev - w / 2 < 180 and 220 < lev + w / 2 < 280
    assert auto_window(np.full(10, 3.0)) == (1.0, 3.5)   # constant: a window of 1, no division by 0
    assert auto_window(np.array([np.nan, np.nan])) == (1.0, 0.0)


def test_click_at_a_voxel_centre_gives_its_physical_position():
    view = SliceView.whole(FRAME)
    assert view.out_width / view.out_height == pytest.approx((60 * 0.5) / (40 * 0.4), rel=0.02)
    for i, j, k in [(0, 0, 0), (59, 39, 7), (30, 10, 5), (12, 33, 2)]:
        fx, fy = (i + 0.5) / 60, (j + 0.5) / 40
        p = view.to_physical(fx, fy, k=k)
        assert np.allclose(p, FRAME.index_to_physical([i, j, k]), atol=1e-9)
        back = view.to_fractions([p])[0]
        assert np.allclose(back, [fx, fy, k], atol=1e-9)


def test_zoomed_view_maps_both_ways_and_stays_inside():
    v = SliceView.zoomed(FRAME, zoom=3.0, center_xy=(30, 20))
    assert v.width == pytest.approx(20) and v.height == pytest.approx(40 / 3)
    p = v.to_physical(0.5, 0.5, k=2)
    assert np.allclose(FRAME.physical_to_index(p), [30, 20, 2])   # the centre of the view
    edge = SliceView.zoomed(FRAME, zoom=4.0, center_xy=(0, 0))       # at a corner: clamped
    assert edge.x0 == pytest.approx(-0.5) and edge.y0 == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="zoom"):
        SliceView.zoomed(FRAME, zoom=0.5)
    with pytest.raises(ValueError, match="outside the picture"):
        v.to_physical(1.2, 0.5, k=2)
    with pytest.raises(ValueError, match="outside the volume"):
        v.to_physical(0.5, 0.5, k=9)


def test_render_gray_puts_voxels_where_the_view_says():
    vol = _volume()
    view = SliceView.whole(FRAME)
    gray = render_gray(slab_image(vol.array, FRAME, 5), view, 200.0, 300.0)
    assert gray.shape == (view.out_height, view.out_width)
    row, col = np.unravel_index(np.argmax(gray), gray.shape)
    px = view.to_pixels([FRAME.index_to_physical([30, 10, 5])])[0]
    assert abs(col + 0.5 - px[0]) <= 2 and abs(row + 0.5 - px[1]) <= 2


# ----------------------------------------------------------------------- marks
def test_roles_and_default_path():
    assert role_of("nipple", "") == "nipple" and role_of("x", "role=orifice; d=2") == "orifice"
    assert role_of("Orifice 1", "") == "orifice" and role_of("papilloma near nipple", "") == "lesion"
    assert default_marks_path("/d/v.nrrd").name == "v.marks.mrk.json"
    with pytest.raises(ValueError, match="role"):
        AnnotationMark(1, "tumour", [0, 0, 0])
    with pytest.raises(ValueError, match="finite"):
        AnnotationMark(1, "lesion", [0, np.nan, 0])


def test_every_change_is_saved_and_reads_back_in_slicer_format(tmp_path):
    path = tmp_path / "m.mrk.json"
    store = MarkStore(path)
    assert not path.exists()
    a = store.add("lesion", [1.25, -2.5, 40.0], diameter_mm=4.5)
    store.add("nipple", [0.0, -30.0, 41.5])
    store.add("orifice", [0.5, -28.0, 41.5], label="cannulated orifice")
    marks = read_markups(path)
    assert [m.label for m in marks] == ["lesion 1", "nipple", "cannulated orifice"]
    assert marks[0].position_mm.tolist() == [1.25, -2.5, 40.0]      # exact: LPS mm, full precision
    assert marks[0].diameter_mm == 4.5                               # the planner reads the size
    doc = json.loads(path.read_text())["markups"][0]
    assert doc["coordinateSystem"] == "LPS"
    assert {p["positionStatus"] for p in doc["controlPoints"]} == {"defined"}
    assert [p["description"].split(";")[0] for p in doc["controlPoints"]] == ["role=lesion", "role=nipple",
                                                                              "role=orifice"]
    store.move(a.id, [2.0, -2.0, 41.5])
    store.update(a.id, label="papilloma", diameter_mm=None, note="irregular")
    m = read_markups(path)[0]
    assert (m.label, m.position_mm.tolist(), m.diameter_mm) == ("papilloma", [2.0, -2.0, 41.5], None)
    assert "irregular" in m.description
    store.delete(a.id)
    assert [m.label for m in read_markups(path)] == ["nipple", "cannulated orifice"]
    # Nothing half-written left beside the file.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mrk.json"]


def test_nipple_and_orifice_are_single_and_ids_never_reused(tmp_path):
    store = MarkStore(tmp_path / "m.mrk.json")
    n1 = store.add("nipple", [0, 0, 0])
    n2 = store.add("nipple", [1, 1, 1])
    assert n1.id == n2.id and len(store.of_role("nipple")) == 1
    assert store.get(n1.id).position_mm.tolist() == [1, 1, 1]
    a = store.add("lesion", [5, 5, 5])
    store.delete(a.id)
    b = store.add("lesion", [6, 6, 6])
    assert b.id != a.id
    with pytest.raises(KeyError):
        store.get(a.id)
    before = (tmp_path / "m.mrk.json").read_bytes()
    with pytest.raises(ValueError, match="diameter"):
        store.update(b.id, diameter_mm=-1.0)
    assert (tmp_path / "m.mrk.json").read_bytes() == before   # a refused change saves nothing


def test_reopening_restores_marks_and_keeps_numbering(tmp_path):
    path = tmp_path / "m.mrk.json"
    s1 = MarkStore(path)
    s1.add("lesion", [1, 2, 3], diameter_mm=2.0, note="seen on MLO too")
    s1.add("orifice", [4, 5, 6])
    s2 = MarkStore(path)
    assert [(m.id, m.role, m.label, m.diameter_mm, m.note) for m in s2.marks] == [
        (1, "lesion", "lesion 1", 2.0, "seen on MLO too"), (2, "orifice", "orifice", None, "")]
    assert s2.add("lesion", [0, 0, 0]).label == "lesion 2"


def test_a_slicer_file_in_ras_with_other_markups_is_read_and_backed_up(tmp_path):
    path = tmp_path / "slicer.mrk.json"
    doc = {"@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
                      "Resources/Schema/markups-schema-v1.0.3.json#",
           "markups": [{"type": "Fiducial", "coordinateSystem": "RAS", "controlPoints": [
               {"id": "F-1", "label": "F-1", "position": [10.0, 20.0, 30.0]},
               {"id": "F-2", "label": "Nipple", "position": [1.0, 2.0, 3.0]}]},
               {"type": "Line", "coordinateSystem": "LPS", "controlPoints": []}]}
    path.write_text(json.dumps(doc))
    store = MarkStore(path)
    assert [(m.role, m.position_mm.tolist()) for m in store.marks] == [("lesion", [-10.0, -20.0, 30.0]),
                                                                       ("nipple", [-1.0, -2.0, 3.0])]
    assert store.notes and "Line" in store.notes[0]
    store.add("lesion", [0, 0, 0])
    # The line this store cannot keep survives in a backup made before the first save.
    assert json.loads((tmp_path / "slicer.orig.mrk.json").read_text()) == doc
    assert json.loads(path.read_text())["markups"][0]["coordinateSystem"] == "LPS"


def test_store_refuses_bad_places(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MarkStore(tmp_path / "no" / "m.mrk.json")
    with pytest.raises(IsADirectoryError):
        MarkStore(tmp_path)
    bad = tmp_path / "bad.mrk.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="invalid JSON"):
        MarkStore(bad)


# --------------------------------------------------------------------- session
def test_click_tools_place_select_move_and_centre(session):
    s = session
    s.set_slice(5)
    fx, fy = (30 + 0.5) / 60, (10 + 0.5) / 40
    msg = s.click(fx, fy, tool="lesion")
    assert msg.startswith("lesion 1 placed") and "slice 5" in msg
    m = s.store.marks[0]
    assert np.allclose(m.position_mm, FRAME.index_to_physical([30, 10, 5]))
    assert s.selected == m.id
    s.click(0.1, 0.1, tool="nipple")
    assert s.selected == s.store.of_role("nipple")[0].id
    # Select: a click within the pick radius of the lesion picks it.
    assert s.click(fx + 3 / s.view().out_width, fy, tool="select") == "lesion 1 selected"
    assert s.click(0.9, 0.9, tool="select") == "no mark under the click" and s.selected is None
    assert "select a mark first" in s.click(0.5, 0.5, tool="move")
    s.select(m.id)
    s.set_slice(2)
    s.click(0.25, 0.75, tool="move")
    assert np.allclose(s.store.get(m.id).position_mm, s.view().to_physical(0.25, 0.75, k=2))
    s.set_zoom(2.0)
    s.click(0.0 + 1e-9, 0.0, tool="centre")
    assert s.view().x0 == pytest.approx(-0.5)   # centred on the corner: clamped inside the slice
    with pytest.raises(ValueError, match="unknown tool"):
        s.click(0.5, 0.5, tool="erase")
    assert s.delete_selected() == "lesion 1 deleted"
    assert [role_of(m.label, m.description) for m in read_markups(s.store.path)] == ["nipple"]


def test_selecting_a_mark_shows_its_slice(session):
    s = session
    s.set_slice(6)
    m = s.click(0.5, 0.5, tool="lesion")
    s.set_slice(0)
    s.set_zoom(4.0)
    s.select(s.store.marks[0].id)
    assert s.settings.k == 6 and "slice 6" in m
    assert np.allclose(s.view().center_xy, [29.5, 19.5])


def test_view_settings_are_checked_and_clipped(session):
    s = session
    s.scroll(-100)
    assert s.settings.k == 0
    s.scroll(100)
    assert s.settings.k == 7
    s.set_slab(1000.0)
    assert s.settings.slab_mm == 8 * 1.5
    with pytest.raises(ValueError):
        s.set_slab(-1)
    with pytest.raises(ValueError):
        s.set_window(0.0, 10.0)
    s.set_window(50.0, 100.0)
    s.auto_window()
    assert (s.settings.window, s.settings.level) == s.auto
    s.zoom_step(2)
    assert s.settings.zoom == 2.0
    s.zoom_step(-10)
    assert s.settings.zoom == 1.0 and s.settings.center_xy is None


def _color_near(img: np.ndarray, xy, color: str, radius: int = 14, tol: int = 40) -> int:
    x, y = int(round(xy[0])), int(round(xy[1]))
    patch = img[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1].astype(int)
    return int((np.abs(patch - np.array(hex_to_rgb(color))).max(axis=-1) < tol).sum())


def test_picture_shows_marks_where_they_are_and_faint_at_other_depths(session):
    s = session
    s.set_slice(5)
    s.click(0.3, 0.4, tool="lesion")
    s.click(0.7, 0.6, tool="orifice")
    s.select(None)
    view = s.view()
    img = np.asarray(s.render())
    assert img.shape == (view.out_height, view.out_width, 3)
    xy = [(0.3 * view.out_width, 0.4 * view.out_height), (0.7 * view.out_width, 0.6 * view.out_height)]
    assert _color_near(img, xy[0], MARK_COLORS["lesion"]) > 20
    assert _color_near(img, xy[1], MARK_COLORS["orifice"]) > 20
    s.select(s.store.marks[0].id)
    img = np.asarray(s.render())
    assert _color_near(img, xy[0], SELECTED_COLOR) > 20
    # Five slices (7.5 mm) away: still drawn, but faint.
    s.set_slice(0)
    s.select(None)
    faint = np.asarray(s.render())
    assert _color_near(faint, xy[0], MARK_COLORS["lesion"]) < _color_near(img, xy[0], SELECTED_COLOR)


def test_picture_draws_the_tree_in_its_system_colour(tmp_path):
    vol = _volume()
    pts = FRAME.index_to_physical(np.array([[5.0, 20.0, 4.0], [55.0, 20.0, 4.0]]))
    line = Polyline(1, 0, np.linspace(pts[0], pts[1], 20), np.full(20, 0.5))
    s = AnnotationSession(vol, MarkStore(tmp_path / "m.mrk.json"), polylines=[line])
    s.set_slice(4)
    s.set_window(1000.0, 0.0)   # the background turns almost white: only the line is coloured
    img = np.asarray(s.render())
    view = s.view()
    mid = view.to_pixels([0.5 * (pts[0] + pts[1])])[0]
    assert _color_near(img, mid[:2], system_color(1), radius=4, tol=70) > 3
    s.settings.show_tree = False
    assert _color_near(np.asarray(s.render()), mid[:2], system_color(1), radius=4, tol=70) == 0


def test_compose_refuses_a_picture_of_the_wrong_size():
    view = SliceView.whole(FRAME)
    with pytest.raises(ValueError, match="the view says"):
        compose(np.zeros((10, 10), np.uint8), view, k=0, half_depth_mm=0.75)


def test_reconstruct_starts_from_the_nipple_mark(session, monkeypatch):
    from reconstruction.tree import Branch, DuctSystem, DuctTree

    seen = {}

    class Rec:
        tree = DuctTree([Branch(0, 0, None, [[0, 0, 40], [5, 0, 40]], [1.0, 1.0])],
                        [DuctSystem(0, np.array([0.0, 0.0, 40.0]), root_branch=0)])

    def fake(volume, *, nipple_mm=None, progress=None):
        seen["nipple"] = nipple_mm
        return Rec()

    monkeypatch.setattr("reconstruction.pipeline.reconstruct", fake)
    assert "nipple found automatically" in session.reconstruct_tree()
    assert seen["nipple"] is None
    session.store.add("nipple", [1.0, 2.0, 40.0])
    note = session.reconstruct_tree()
    assert seen["nipple"].tolist() == [1.0, 2.0, 40.0] and "(from the nipple mark): 1 branches" in note


def test_open_session_reads_volume_marks_and_tree(tmp_path):
    import SimpleITK as sitk

    from reconstruction.tree import Branch, DuctSystem, DuctTree
    from reconstruction.tree_vtp import write_tree_vtp

    vol = _volume()
    path = tmp_path / "v.nrrd"
    sitk.WriteImage(FRAME.to_sitk(vol.array), str(path))
    far = DuctTree([Branch(0, 0, None, [[500, 500, 500], [510, 500, 500]], [1.0, 1.0])],
                   [DuctSystem(0, np.array([500.0, 500, 500]), root_branch=0)])
    write_tree_vtp(far, tmp_path / "tree.vtp")
    s = open_session(path, tree_path=tmp_path / "tree.vtp")
    assert s.store.path == tmp_path / "v.marks.mrk.json" and not s.store.marks
    assert "another one" in s.tree_note          # a tree that is not this volume's is flagged
    assert s.frame == FRAME
    s.click(0.5, 0.5, tool="lesion")
    assert len(open_session(path).store.marks) == 1
    with pytest.raises(ValueError, match="mrk.json"):
        open_session(path, marks_path=tmp_path / "marks.txt")
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(ValueError, match=".vtp"):
        open_session(path, tree_path=tmp_path / "t.json")
    with pytest.raises(FileNotFoundError):
        open_session(path, tree_path=tmp_path / "none.vtp")


def test_render_is_fast_enough_for_scrolling(tmp_path):
    frame = ImageFrame.identity((50, 600, 800), spacing=(0.15, 0.15, 1.0))
    vol = Volume(np.random.default_rng(0).random(frame.shape_zyx, dtype=np.float32), frame)
    s = AnnotationSession(vol, MarkStore(tmp_path / "m.mrk.json"))
    s.set_slab(10.0)
    t0 = time.perf_counter()
    for k in range(5):
        s.set_slice(20 + k)
        annotate_render.png_bytes(s.render())
    per_frame = (time.perf_counter() - t0) / 5
    assert per_frame < 0.5, f"{per_frame:.2f} s per picture"
    assert Image.open(__import__("io").BytesIO(annotate_render.png_bytes(s.render()))).size == (900, 675)


def test_a_failed_save_leaves_no_mark_on_screen(tmp_path, monkeypatch):
    store = MarkStore(tmp_path / "m.mrk.json")
    kept = store.add("lesion", [1, 2, 3])

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("planner.markups.write_markups", full_disk)
    with pytest.raises(OSError, match="No space"):
        store.add("lesion", [4, 5, 6])
    with pytest.raises(OSError):
        store.move(kept.id, [9, 9, 9])
    with pytest.raises(OSError):
        store.delete(kept.id)
    assert [(m.id, m.position_mm.tolist()) for m in store.marks] == [(kept.id, [1.0, 2.0, 3.0])]
    monkeypatch.undo()
    assert store.add("lesion", [4, 5, 6]).id == kept.id + 1


def test_open_session_refuses_a_read_only_marks_folder(tmp_path, monkeypatch):
    import os

    import SimpleITK as sitk

    path = tmp_path / "v.nrrd"
    sitk.WriteImage(FRAME.to_sitk(_volume().array), str(path))
    # As root every folder is writable: ask os.access to answer as for a read-only one.
    monkeypatch.setattr(os, "access", lambda p, mode: mode != os.W_OK)
    with pytest.raises(OSError, match="not writable"):
        open_session(path, marks_path=tmp_path / "m.mrk.json")
