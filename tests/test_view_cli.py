"""``ductplan view``: plan folders are checked, the mode is chosen, the browser scene
keeps its triangle budget and says by how much it was lightened.

Plans here are tiny (a Y-shaped duct with one papilloma, planned by the real planner)
so nothing waits on a reconstruction.  :func:`make_plan_dir` is shared with the browser
tests.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from viewers import plan_viewer
from viewers.plan_viewer import legend_rows, load_plan_dir, plan_summary
from viewers.render_probe import rendering_available


def make_plan_dir(folder: Path, *, long_tree: bool = False) -> Path:
    """``plan.json``, ``tree.vtp`` and ``excision.vtp`` of a tiny microdochectomy in ``folder``.

    ``long_tree`` adds 24 finely sampled side branches: a tree heavy enough that a
    small browser budget must lighten it.
    """
    from planner import ClinicalContext, Lesion, PlanSettings, make_plan
    from planner.export import write_excision_vtp
    from planner.plan import write_plan_json
    from reconstruction.tree import Branch, DuctSystem, DuctTree
    from reconstruction.tree_vtp import write_tree_vtp

    folder.mkdir(parents=True, exist_ok=True)
    nipple = np.array([0.0, -2.0, 4.0])
    branches = [Branch(0, 0, None, np.linspace([0, 0, 4], [0, 20, 4], 21), np.full(21, 1.0), generation=1),
                Branch(1, 0, 0, np.linspace([0, 20, 4], [-8, 35, 4], 16), np.full(16, 0.7), generation=2),
                Branch(2, 0, 0, np.linspace([0, 20, 4], [8, 36, 5], 16), np.full(16, 0.7), generation=2)]
    if long_tree:
        for i in range(24):
            start = branches[1 + i % 2].points_mm[-1]
            angle = np.radians(20 + 3 * i)
            end = start + 30 * np.array([np.cos(angle) * (1 if i % 2 else -1), np.sin(angle), 0.1])
            branches.append(Branch(3 + i, 0, 1 + i % 2, np.linspace(start, end, 150), np.full(150, 0.4),
                                   generation=3))
    tree = DuctTree(branches, [DuctSystem(0, np.array([0, 0, 4.0]), root_branch=0)], nipple_mm=nipple)
    lesion = Lesion(id=0, kind="filling_defect", center_mm=np.array([0.0, 12.0, 4.0]), diameter_mm=3.0,
                    system=0, branch=0)
    plan = make_plan(tree, [lesion], ClinicalContext.from_dict({"discharge": "bloody", "discharging_ducts": 1}),
                     PlanSettings(), input_info={"path": "tiny.nrrd", "size": [80, 60, 10],
                                                 "spacing_mm": [0.5, 0.5, 1.0]}, nipple_mm=nipple)
    write_plan_json(plan, folder / "plan.json")
    write_tree_vtp(tree, folder / "tree.vtp")
    if plan.excision is not None:
        write_excision_vtp(plan.excision.vertices, plan.excision.faces, folder / plan.excision_mesh)
    return folder


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory) -> Path:
    return make_plan_dir(tmp_path_factory.mktemp("plan"))


def _one_error_line(capsys) -> str:
    err = [s for s in capsys.readouterr().err.splitlines() if s.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("ductplan: error: ")
    return err[0]


def test_bad_outdir_is_one_line_and_exit_2(tmp_path, capsys):
    from ductplan.cli import main

    assert main(["view", str(tmp_path / "missing"), "--no-browser"]) == 2
    assert "no such folder" in _one_error_line(capsys)
    assert main(["view", str(tmp_path), "--no-browser"]) == 2
    assert "no plan.json here" in _one_error_line(capsys)
    (tmp_path / "plan.json").write_text("{oops")
    assert main(["view", str(tmp_path), "--no-browser"]) == 2
    assert "not valid JSON" in _one_error_line(capsys)
    (tmp_path / "plan.json").write_text('{"schema": "something/else"}')
    assert main(["view", str(tmp_path), "--no-browser"]) == 2
    assert "not a ductplan plan" in _one_error_line(capsys)
    assert main(["view", str(tmp_path / "plan.json"), "--no-browser"]) == 2
    assert "not a folder" in _one_error_line(capsys)


def test_bad_server_options_are_refused(plan_dir, capsys):
    from ductplan.cli import main

    assert main(["view", str(plan_dir), "--port", "-3", "--no-browser"]) == 2
    assert "--port must be within" in _one_error_line(capsys)
    assert main(["view", str(plan_dir), "--host", "", "--no-browser"]) == 2
    assert "--host" in _one_error_line(capsys)
    assert main(["view", str(plan_dir), "--max-triangles", "10", "--no-browser"]) == 2
    assert "--max-triangles" in _one_error_line(capsys)


def test_plan_dir_legend_and_summary(plan_dir):
    files = load_plan_dir(plan_dir)
    assert files.tree == plan_dir / "tree.vtp" and files.excision == plan_dir / "excision.vtp"
    assert plan_summary(files.plan) == "microdochectomy - 1 ductal system, 1 lesion"
    rows = legend_rows(files.plan)
    texts = [r["text"] for r in rows]
    assert texts[0] == "duct system 0" and texts[1].startswith("L0 filling defect 3 mm")
    assert "nipple" in texts and "excision (translucent)" in texts
    assert "margin" in rows[1]["detail"]
    json.dumps(rows)  # the page state must be JSON


def test_mode_desktop_with_a_display_browser_without(plan_dir, monkeypatch, capsys):
    calls = []

    class FakePlotter:
        def show(self, **kw):
            calls.append(("show", kw))

    monkeypatch.setattr(plan_viewer, "build_scene", lambda plan, **kw: calls.append(("scene", kw)) or FakePlotter())
    monkeypatch.setattr(plan_viewer, "set_camera", lambda *a, **k: None)
    monkeypatch.setattr(plan_viewer, "display_available", lambda: (True, "vtkXOpenGLRenderWindow"))
    assert plan_viewer.run_view(plan_dir, open_browser=False) == "desktop"
    assert calls[0][1]["off_screen"] is False and calls[0][1]["labels"] is True and calls[1][0] == "show"

    served = []
    monkeypatch.setattr(plan_viewer, "PlanViewApp", lambda files, **kw: type(
        "App", (), {"server": "srv", "budget": type("B", (), {"describe": lambda self: "budget text"})()})())
    monkeypatch.setattr("viewers.webapp.serve", lambda server, **kw: served.append(kw))
    assert plan_viewer.run_view(plan_dir, mode="browser", port=0, open_browser=False) == "browser"
    monkeypatch.setattr(plan_viewer, "display_available", lambda: (False, "no display"))
    assert plan_viewer.run_view(plan_dir, port=0, open_browser=False) == "browser"
    assert served[0]["host"] == "127.0.0.1" and served[0]["open_browser"] is False
    assert "budget text" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="use --browser"):
        plan_viewer.run_view(plan_dir, mode="desktop")


def test_no_display_means_no_desktop(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    ok, why = plan_viewer.display_available()
    assert not ok and "no display" in why


@pytest.mark.skipif(not rendering_available()[0], reason="needs off-screen rendering (EGL/OSMesa)")
def test_browser_scene_keeps_the_budget_and_says_so(tmp_path):
    heavy = load_plan_dir(make_plan_dir(tmp_path / "heavy", long_tree=True))
    budget = 40_000
    pl, light = plan_viewer.browser_scene(heavy, max_triangles=budget)
    try:
        assert light.reduced and light.triangles <= budget < light.triangles_full
        text = light.describe()
        assert f"{light.triangles_full:,}" in text and f"{light.triangles:,}" in text and "-" in text
        assert "tree_system_0" in pl.actors and "excision" in pl.actors
    finally:
        pl.close()


@pytest.mark.skipif(not rendering_available()[0], reason="needs off-screen rendering (EGL/OSMesa)")
def test_view_page_state_tells_the_budget(plan_dir):
    from viewers.webapp import new_server

    app = plan_viewer.PlanViewApp(load_plan_dir(plan_dir), max_triangles=20_000, server=new_server("view-test"))
    try:
        st = app.server.state
        assert st.budget_text == app.budget.describe()
        assert st.summary.startswith("microdochectomy")
        assert app.budget.triangles <= 20_000 and app.budget.reduced
        assert "(of " in st.triangles
        app.on_preset("anterior")   # no browser connected: moves the camera, pushes nothing
    finally:
        app.plotter.close()


def test_doctests_of_the_view_module():
    import doctest

    assert doctest.testmod(plan_viewer, optionflags=doctest.ELLIPSIS).failed == 0
