"""The trame layer of ``ductplan annotate`` without a browser: events reach the session,
the state the page shows follows, bad values become a status line, the CLI checks its
arguments."""
from __future__ import annotations

import time

import numpy as np
import pytest

from planner.markups import read_markups
from reconstruction.frame import ImageFrame
from reconstruction.volume import Volume
from viewers.annotate_session import AnnotationSession
from viewers.annotate_state import MarkStore


@pytest.fixture
def app(tmp_path):
    from viewers.annotate_app import AnnotateApp
    from viewers.webapp import new_server

    frame = ImageFrame.identity((6, 30, 40), spacing=(0.5, 0.5, 1.0))
    vol = Volume(np.random.default_rng(0).normal(100, 10, frame.shape_zyx).astype(np.float32), frame)
    session = AnnotationSession(vol, MarkStore(tmp_path / "m.mrk.json"))
    # A server of its own per test: trame keeps servers by name.
    app = AnnotateApp(session, server=new_server(f"annotate-test-{tmp_path.name}"))
    app.state.ready()  # what a started server does: from now on state changes run the listeners
    return app


def test_page_state_starts_complete(app):
    st = app.state
    assert st.slice_src.startswith("data:image/png;base64,")
    assert st.n_slices == 6 and st.slice_k == 3 and st.marks == [] and st.selected_id is None
    assert "nothing saved yet" in st.saved
    assert "slice 3 / 5" in st.slice_info


def test_click_places_a_mark_and_the_page_follows(app):
    app.state.tool = "lesion"
    app.on_click(0.5, 0.5)
    st = app.state
    assert st.status.startswith("lesion 1 placed")
    assert [m["label"] for m in st.marks] == ["lesion 1"] and st.marks[0]["here"]
    assert st.selected_id == st.marks[0]["id"] and st.sel_label == "lesion 1" and st.sel_role == "lesion"
    assert st.saved.startswith("saved ")
    st.sel_label = "papilloma"
    app.on_commit_label()
    st.sel_diameter = "4,5"
    app.on_commit_diameter()
    mark = read_markups(app.session.store.path)[0]
    assert (mark.label, mark.diameter_mm) == ("papilloma", 4.5)
    st.sel_diameter = "big"
    app.on_commit_diameter()
    assert st.status.startswith("Not done: diameter must be a number")
    app.on_delete()
    assert st.marks == [] and read_markups(app.session.store.path) == []


def test_slider_changes_reach_the_session(app):
    st = app.state
    with st:
        st.slice_k = 1
        st.slab_mm = 3.0
    assert app.session.settings.k == 1 and app.session.settings.slab_mm == 3.0
    assert "MIP slab 3 mm" in st.slice_info
    with st:
        st.window = -5.0   # refused by the session: the page says so, nothing breaks
    assert st.status.startswith("Not done: window must be positive")
    app.on_wheel(120.0)
    assert st.slice_k == 2
    app.on_step(-5)
    assert st.slice_k == 0
    app.on_zoom(1)
    assert st.zoom == 1.5
    app.on_zoom(0)
    assert st.zoom == 1.0


def test_select_from_the_list_goes_to_the_marks_slice(app):
    app.session.set_slice(5)
    app.state.tool = "orifice"
    app.on_click(0.2, 0.2)
    app.on_step(-5)
    app.on_select(app.state.marks[0]["id"])
    assert app.state.slice_k == 5 and app.state.sel_role == "orifice"


def test_annotate_cli_checks_its_arguments_before_serving(tmp_path, capsys):
    from ductplan.cli import main

    assert main(["annotate", str(tmp_path / "none.nrrd"), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ductplan: error:") and "none.nrrd" in err[0]
    assert main(["annotate", str(tmp_path / "none.nrrd"), "--port", "70000", "--no-browser"]) == 2
    assert "--port must be within" in capsys.readouterr().err


def test_reconstruct_button_runs_in_a_worker_and_reports(app, monkeypatch):
    import asyncio

    def slow(progress):
        progress("segmenting the opacified lumen", 0.1)
        time.sleep(0.6)  # long enough for one progress update on the page
        return "reconstructed tree (nipple found automatically): 3 branches"

    monkeypatch.setattr(app.session, "reconstruct_tree", slow)
    asyncio.run(app._reconstruct())
    assert app.state.tree_busy is False and app.state.tree_note.endswith("3 branches")
    assert app.state.status == app.state.tree_note

    def failing(progress):
        raise ValueError("no contrast-filled duct found\nsecond line")

    monkeypatch.setattr(app.session, "reconstruct_tree", failing)
    asyncio.run(app._reconstruct())
    assert app.state.tree_note == "reconstruction failed: no contrast-filled duct found"
