"""The whole job on every sample preset (issue 5): the operation, the margins, the surface.

Each preset (all but full-field, which is for benchmarks) is written as NRRD with its
clinical context and planned by ``ductplan.run.run_plan`` without the report, exactly as
``ductplan demo`` does.  Every preset is planned once per module; three tests read it:

* the excision (when there is one) is a closed, manifold surface: checked on
  ``excision.vtp`` with VTK (no boundary or non-manifold edges, ``is_manifold``), not
  only by the planner's own mesh report;
* every lesion the plan treats lies inside the excision with at least its margin
  (``min_margin_mm`` from the exact SDF, and the mesh itself around the lesion centre);
  every lesion it does not treat is flagged in the warnings as beyond reach, with the
  advice for image-guided localisation;
* ``procedure.kind`` is the truth's ``expected_procedure``.

Where the procedure is still wrong because of the reconstruction, the preset is marked
``xfail(strict=True)`` with the reason measured by ``benchmarks/bench_plans.py``; the
test flips (and fails, strict) as soon as the reconstruction gets it right, so the marks
cannot go stale silently.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sample_volumes import preset_names

PRESETS = [n for n in preset_names() if n != "full-field"]

#: Presets whose proposed procedure is still wrong because of the reconstruction, and
#: why (measured with ``benchmarks/bench_plans.py -v`` on seed 0, and on the tree itself).
WRONG_PROCEDURE: dict[str, str] = {
    "cutoff":
        "reconstruction: the cut-off duct is a 2 mm stub (radius 0.5 mm off a 0.7 mm duct); DBT smears "
        "it along z into a column, its depth is decided 1.5 mm off and it is pruned as a tip running "
        "along the slice axis (so on the 25 and 50 degree arcs too). No tip ends at the cut-off "
        "(nearest 3.1 mm: a 3 mm branch of another duct), nothing is found: 'none' (seed 1's is found)",
}


def _kind_param(name: str):
    if name in WRONG_PROCEDURE:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=WRONG_PROCEDURE[name]))
    return name


@pytest.fixture(scope="module")
def planned(tmp_path_factory, sample_of):
    """``planned(name)``: run_plan's outputs for a preset (seed 0), computed once."""
    from ductplan.run import run_plan
    from sample_volumes import write_sample

    root = tmp_path_factory.mktemp("preset_plans")
    done: dict[str, dict] = {}

    def plan(name: str) -> dict:
        if name not in done:
            sample = sample_of(name)
            folder = root / name
            paths = write_sample(sample, folder / "sample", fmt="nrrd", preview=False)
            clinical = folder / "sample" / "clinical.json"
            clinical.write_text(json.dumps(sample.truth["clinical"]))
            out = run_plan(paths["volume"], folder / "plan", clinical_path=clinical, report=False)
            done[name] = {"truth": sample.truth, "paths": out,
                          "plan": json.loads(Path(out["plan"]).read_text())}
        return done[name]

    return plan


def _surface(path: Path):
    import pyvista as pv

    return pv.read(path).triangulate().clean()


@pytest.mark.parametrize("name", PRESETS)
def test_excision_is_a_closed_manifold_surface(planned, name):
    from planner import validate_plan_dict

    r = planned(name)
    plan = r["plan"]
    validate_plan_dict(plan)
    ex = plan["procedure"]["excision"]
    if ex is None:
        assert plan["procedure"]["kind"] in ("none", "contraindicated")
        assert "excision" not in r["paths"]
        return
    mesh = _surface(r["paths"]["excision"])
    assert mesh.n_cells > 0
    open_edges = mesh.extract_feature_edges(boundary_edges=True, non_manifold_edges=True,
                                            feature_edges=False, manifold_edges=False)
    assert open_edges.n_cells == 0, f"{name}: {open_edges.n_cells} boundary or non-manifold edges"
    assert mesh.is_manifold
    assert ex["topology"]["closed"] and ex["topology"]["manifold"]
    # Outward wound, and the volume the plan reports.
    assert mesh.volume > 0
    assert mesh.volume / 1000.0 == pytest.approx(ex["volume_cm3"], rel=0.02)


@pytest.mark.parametrize("name", PRESETS)
def test_treated_lesions_keep_their_margin_and_the_others_are_flagged(planned, name):
    import pyvista as pv

    r = planned(name)
    plan = r["plan"]
    ex = plan["procedure"]["excision"]
    lesions = {les["id"]: les for les in plan["lesions"]}
    if ex is None:
        assert all(not les["treated"] for les in lesions.values())
        return
    margins = {m["lesion"]: m for m in ex["margins"]}
    assert set(margins) == set(lesions)
    treated = [m for m in margins.values() if m["treated"]]
    beyond = {b["lesion"]: b["reason"] for b in ex["beyond_reach"]}
    for m in treated:
        assert m["min_margin_mm"] >= m["required_mm"] - 1e-6, (name, m)
        assert m["adequate"]
    for lid, les in lesions.items():
        if not margins[lid]["treated"]:
            assert lid in beyond, (name, les)
            assert any(w.startswith(f"Lesion {lid} ") and "localise it under imaging guidance" in w
                       for w in plan["warnings"]), (name, lid, plan["warnings"])
    if treated:
        # The mesh drawn from the SDF keeps the margin too (to within the marching-cubes
        # chord error, a fraction of the grid step).
        mesh = _surface(r["paths"]["excision"])
        centres = pv.PolyData(np.array([lesions[m["lesion"]]["center_mm"] for m in treated], float))
        d = np.asarray(centres.compute_implicit_distance(mesh)["implicit_distance"])
        tol = 0.5 * ex["grid_spacing_mm"]
        for m, di in zip(treated, d):
            les = lesions[m["lesion"]]
            assert di < 0, (name, les["id"], "centre outside the mesh")
            assert -di - 0.5 * les["diameter_mm"] >= m["required_mm"] - tol, (name, les["id"], -di)


@pytest.mark.parametrize("name", [_kind_param(n) for n in PRESETS])
def test_proposed_procedure_is_the_expected_one(planned, name):
    r = planned(name)
    kind = r["plan"]["procedure"]["kind"]
    assert kind == r["truth"]["expected_procedure"], (name, kind, r["plan"]["procedure"]["rationale"])
