"""Plan, plan.json (the contract) and atomic output."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from test_planner_fixtures import (BLOODY_ONE, INFO, lesion, long_duct, on_branch, shared_junction,
                                   two_systems)

from planner import (ClinicalContext, Localisation, PlanSettings, make_plan, plan_to_dict,
                     validate_plan_dict, write_excision_vtp, write_plan_json)

CONTRACT_TOP = {"schema", "input", "nipple_mm", "systems", "branches", "lesions", "procedure", "warnings"}
CONTRACT_LESION = {"id", "kind", "center_mm", "diameter_mm", "system", "branch",
                   "distance_from_nipple_mm", "clock", "source"}


def _scenarios():
    """(name, plan) for every procedure kind and the edge cases."""
    t, ld, sj = two_systems(), long_duct(), shared_junction()
    micro = [lesion(0, on_branch(t, 1, 15.0), source="auto+annotated", label="papilloma?"),
             lesion(1, on_branch(t, 2, 20.0), 6.0, suspected_dcis=True, source="auto",
                    localisation=Localisation(side="R", clock="10:00", distance_from_nipple_mm=31.0,
                                              z_uncertainty_mm=0.4))]
    both = micro + [lesion(2, on_branch(t, 4, 12.0), kind="cyst")]
    far = [lesion(0, on_branch(ld, 1, 10.0)), lesion(1, on_branch(ld, 1, 70.0))]
    return [
        ("micro", make_plan(t, micro, BLOODY_ONE, input_info=INFO)),
        ("hadfield", make_plan(t, both, ClinicalContext(discharge="bloody", age=64), input_info=INFO)),
        ("hadfield_extended", make_plan(t, both, ClinicalContext(discharge="bloody", age=64),
                                        PlanSettings(extend_to_lesions=True), input_info=INFO)),
        ("micro_far", make_plan(ld, far, BLOODY_ONE, input_info=INFO)),
        ("micro_far_extended", make_plan(ld, far, BLOODY_ONE, PlanSettings(extend_to_lesions=True),
                                         input_info=INFO)),
        ("junction", make_plan(sj, [lesion(0, [0, 0, 8])], BLOODY_ONE, input_info=INFO)),
        ("annotated_only", make_plan(t, [lesion(0, on_branch(t, 1, 20.0), kind="annotated",
                                                source="annotated")], BLOODY_ONE, input_info=INFO)),
        ("none", make_plan(t, [], BLOODY_ONE, input_info=INFO)),
        ("contraindicated", make_plan(t, micro, ClinicalContext(discharge="purulent"), input_info=INFO)),
    ]


@pytest.fixture(scope="module")
def scenarios():
    return _scenarios()


def test_every_treated_lesion_is_inside_with_at_least_its_margin(scenarios):
    for name, plan in scenarios:
        if plan.excision is None:
            assert plan.kind in ("none", "contraindicated") and plan.margins == []
            continue
        treated = [m for m in plan.margins if m.treated]
        assert treated, name
        by_id = {les.id: les for les in plan.lesions}
        for m in treated:
            les = by_id[m.lesion]
            assert m.min_margin_mm >= plan.settings.margin_for(les) - 1e-6, (name, m)
            # and the lesion's whole surface is inside the exact shape
            assert plan.excision.sdf([les.center_mm])[0] + les.radius_mm < 0
        t = plan.excision.topology
        assert t.closed and t.manifold and t.watertight, (name, t)


def test_plan_json_follows_the_contract(scenarios, tmp_path):
    for name, plan in scenarios:
        path = tmp_path / f"{name}.json"
        write_plan_json(plan, path)
        d = json.loads(path.read_text())
        validate_plan_dict(d)
        assert CONTRACT_TOP <= set(d)
        assert d["schema"] == "ductplan.plan/1"
        assert d["input"] == {"path": "hand_built.nrrd", "size": [400, 400, 80],
                              "spacing_mm": [0.25, 0.25, 1.0]}
        assert len(d["branches"]) == len(plan.tree.branches)
        for s in d["systems"]:
            assert {"id", "orifice_mm", "branch_ids", "length_mm"} <= set(s)
            assert all(d["branches"][b]["system"] == s["id"] for b in s["branch_ids"])
        for b in d["branches"]:
            assert {"id", "system", "parent", "points_mm", "radius_mm"} <= set(b)
        for les in d["lesions"]:
            assert CONTRACT_LESION <= set(les)
            assert les["source"] in ("auto", "annotated")
            assert isinstance(les["treated"], bool)
        proc = d["procedure"]
        assert {"kind", "rationale", "excision"} <= set(proc) and proc["rationale"]
        if proc["kind"] in ("none", "contraindicated"):
            assert proc["excision"] is None
        else:
            ex = proc["excision"]
            assert ex["mesh"] == "excision.vtp" and ex["depth_mm"] > 0 and ex["volume_cm3"] > 0
            assert [m["lesion"] for m in ex["margins"]] == [les["id"] for les in d["lesions"]]
            assert ex["topology"]["manifold"] is True
        assert all(isinstance(w, str) for w in d["warnings"])


def test_lesion_fields_in_plan_json(scenarios):
    plan = dict(scenarios)["micro"]
    d = plan_to_dict(plan)
    l0, l1 = d["lesions"]
    assert l0["source"] == "annotated" and l0["source_detail"] == "auto+annotated"
    assert l0["label"] == "papilloma?" and l0["clock"] is None
    assert (l0["system"], l0["branch"]) == (0, 1)
    assert l0["distance_from_nipple_mm"] == pytest.approx(np.linalg.norm(plan.lesions[0].center_mm), abs=0.01)
    assert l1["clock"] == "10:00" and l1["distance_from_nipple_mm"] == 31.0
    assert l1["required_margin_mm"] == 2.0 and l1["suspected_dcis"] is True
    assert l0["treated"] and l1["treated"] and l0["reach"] == "within reach"
    assert d["procedure"]["excision"]["margin_setting_mm"] == 5.0


def test_beyond_reach_lesions_in_plan_json(scenarios):
    d = plan_to_dict(dict(scenarios)["micro_far"])
    assert d["lesions"][1]["treated"] is False and "beyond" in d["lesions"][1]["reach"]
    assert d["procedure"]["excision"]["beyond_reach"][0]["lesion"] == 1
    assert any("wire" in w for w in d["warnings"])
    m = {x["lesion"]: x for x in d["procedure"]["excision"]["margins"]}
    assert m[1]["min_margin_mm"] < 0 and m[0]["min_margin_mm"] >= 5.0


def test_validate_plan_dict_catches_broken_plans(scenarios):
    d = plan_to_dict(dict(scenarios)["micro"])
    broken = json.loads(json.dumps(d))
    broken["lesions"][0]["source"] = "auto+annotated"
    broken["procedure"]["kind"] = "mastectomy"
    del broken["nipple_mm"]
    broken["systems"][0]["branch_ids"] = [0]
    with pytest.raises(ValueError) as e:
        validate_plan_dict(broken)
    msg = str(e.value)
    assert "source" in msg and "mastectomy" in msg and "nipple_mm" in msg and "branch_ids" in msg
    none = plan_to_dict(dict(scenarios)["none"])
    none["procedure"]["excision"] = {"mesh": "x.vtp", "depth_mm": 1.0, "margins": []}
    with pytest.raises(ValueError, match="null"):
        validate_plan_dict(none)


def test_json_has_no_nan(scenarios, tmp_path):
    plan = dict(scenarios)["micro"]
    plan.lesions[1].localisation.distance_from_nipple_mm = float("nan")
    path = tmp_path / "plan.json"
    write_plan_json(plan, path)  # allow_nan=False would raise on NaN
    d = json.loads(path.read_text())
    assert d["lesions"][1]["distance_from_nipple_mm"] > 0
    plan.lesions[1].localisation.distance_from_nipple_mm = 31.0


def test_earlier_warnings_come_first_and_are_deduplicated():
    t = two_systems()
    p = make_plan(t, [], BLOODY_ONE, input_info=INFO, warnings=["nipple found by hand", "nipple found by hand"])
    assert p.warnings[0] == "nipple found by hand" and p.warnings.count("nipple found by hand") == 1
    assert any("does not rule out" in w for w in p.warnings)


def test_input_info_is_checked():
    t = two_systems()
    with pytest.raises(ValueError, match="spacing_mm"):
        make_plan(t, [], BLOODY_ONE, input_info={"path": "x", "size": [1, 1, 1]})


# ------------------------------------------------------------------ atomic output
def test_unwritable_folder_is_a_clear_error_and_leaves_nothing(scenarios, tmp_path):
    plan = dict(scenarios)["micro"]
    with pytest.raises(OSError, match="cannot write .*plan.json.*folder"):
        write_plan_json(plan, tmp_path / "missing" / "plan.json")
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot write"):
        write_plan_json(plan, blocker / "plan.json")
    assert sorted(os.listdir(tmp_path)) == ["afile"]


def test_failure_while_writing_leaves_no_temp_file_and_keeps_the_old_plan(scenarios, tmp_path, monkeypatch):
    plan = dict(scenarios)["micro"]
    path = tmp_path / "plan.json"
    write_plan_json(plan, path)
    before = path.read_text()

    def boom(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(PermissionError, match="cannot write"):
        write_plan_json(dict(scenarios)["hadfield"], path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["plan.json"] and path.read_text() == before


def test_write_excision_vtp_round_trip(scenarios, tmp_path):
    import pyvista as pv

    ex = dict(scenarios)["hadfield"].excision
    path = tmp_path / "excision.vtp"
    write_excision_vtp(ex.vertices, ex.faces, path, field_data={"volume_cm3": ex.volume_cm3})
    assert os.listdir(tmp_path) == ["excision.vtp"]
    mesh = pv.read(path)
    assert mesh.n_cells == len(ex.faces) and mesh.n_points == len(ex.vertices)
    assert mesh.n_open_edges == 0 and mesh.is_manifold
    assert mesh.volume / 1000 == pytest.approx(ex.volume_cm3, rel=1e-3)
    assert np.allclose(mesh.points, ex.vertices, atol=1e-4)


def test_write_excision_vtp_rejects_bad_input_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match=".vtp"):
        write_excision_vtp([[0, 0, 0]] * 3, [[0, 1, 2]], tmp_path / "excision.stl")
    with pytest.raises(ValueError, match="faces"):
        write_excision_vtp([[0, 0, 0]] * 3, [[0, 1, 5]], tmp_path / "excision.vtp")
    with pytest.raises(OSError, match="cannot write"):
        write_excision_vtp([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]],
                           tmp_path / "nope" / "excision.vtp")
    assert os.listdir(tmp_path) == []


def test_planner_imports_no_viewer_and_no_vtk_at_import():
    import subprocess
    import sys

    code = ("import sys, planner; bad = [m for m in sys.modules if m.startswith(('viewers', 'vtk', "
            "'pyvista'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.stdout.strip() == "[]"
