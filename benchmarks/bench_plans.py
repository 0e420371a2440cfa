"""The whole job on every sample preset: is the proposed operation the expected one, are the
treated lesions inside the excision with their margin, is the excision a closed surface?

For each preset (seed 0 unless ``--seeds``) the sample is written as NRRD with its
clinical context, ``ductplan.run.run_plan`` plans it without the report (the same code
path as ``ductplan plan``), and the outputs are read back and scored against the truth:

* ``expected -> proposed``: truth's ``expected_procedure`` and ``procedure.kind``;
* ``true/plan``: true lesions and the plan's lesions;
* ``match``: true lesions with a plan lesion within max(5 mm, lesion radius + 3 mm);
* ``false``: plan lesions matching no true lesion (air bubbles and other artefacts of the
  truth count as false: they are not lesions);
* ``treated``: lesions the excision was built to remove (``beyond``: flagged beyond reach);
* ``min margin``: the smallest ``min_margin_mm`` of a treated lesion / the margin it
  required (``!`` when a treated lesion falls short);
* ``mesh margin``: the same measured on ``excision.vtp`` (VTK implicit distance from each
  treated lesion's centre, minus its radius), independent of the planner's SDF;
* ``true margin``: the smallest margin of the matched *true* lesions (their true centre
  and diameter) against ``excision.vtp``, by VTK's implicit distance (``-`` without an
  excision);
* ``closed``/``manifold``: ``excision.vtp`` has no boundary and no non-manifold edges
  (VTK feature edges) and ``pyvista``'s ``is_manifold``;
* time of ``run_plan`` (reconstruction, detection, planning, files).

Full-field (three systems, ~2000 x 1500 x 60 voxels, slow) only with ``--full-field``.

Usage::

    .venv/bin/python benchmarks/bench_plans.py
    .venv/bin/python benchmarks/bench_plans.py --presets cyst cutoff --seeds 0 1 -v
    .venv/bin/python benchmarks/bench_plans.py --cache /tmp/ductplan-samples --json out.json
    .venv/bin/python benchmarks/bench_plans.py --full-field
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ductplan.run import run_plan  # noqa: E402
from _measure import cached_sample  # noqa: E402
from sample_volumes import preset_names, write_sample  # noqa: E402

#: A plan lesion matches a true lesion within max(this, true radius + _MATCH_SLACK_MM).
_MATCH_MIN_MM = 5.0
_MATCH_SLACK_MM = 3.0


def _sample(name: str, seed: int, cache: Path | None, scanner: str | None = None):
    return cached_sample(name, seed, cache, scanner)


def mesh_topology(path: Path) -> dict:
    """Closed / manifold check of a surface with VTK (independent of the planner's own)."""
    import pyvista as pv

    mesh = pv.read(path)
    tri = mesh.triangulate().clean()
    edges = tri.extract_feature_edges(boundary_edges=True, non_manifold_edges=False,
                                      feature_edges=False, manifold_edges=False)
    nonman = tri.extract_feature_edges(boundary_edges=False, non_manifold_edges=True,
                                       feature_edges=False, manifold_edges=False)
    return {"n_faces": int(tri.n_cells), "boundary_edges": int(edges.n_cells),
            "nonmanifold_edges": int(nonman.n_cells), "is_manifold": bool(tri.is_manifold),
            "closed": edges.n_cells == 0,
            "manifold": bool(tri.is_manifold) and edges.n_cells == 0 and nonman.n_cells == 0,
            "volume_cm3": float(tri.volume) / 1000.0}


def mesh_margins(mesh_path: Path, lesions: list[dict]) -> list[float]:
    """Margin of each lesion (a sphere of its diameter) inside the excision surface:
    -signed distance of its centre - radius (negative where the lesion pokes out)."""
    import pyvista as pv

    if not lesions:
        return []
    mesh = pv.read(mesh_path).triangulate().clean()
    pts = pv.PolyData(np.array([les["center_mm"] for les in lesions], dtype=float))
    d = np.asarray(pts.compute_implicit_distance(mesh)["implicit_distance"])
    return [float(-d[i] - 0.5 * les["diameter_mm"]) for i, les in enumerate(lesions)]


def match_lesions(true: list[dict], found: list[dict]) -> tuple[list[int | None], list[int]]:
    """Greedy nearest matching: for each true lesion the plan lesion that matched it (or
    None); and the plan lesions that matched none."""
    pairs = []
    for i, t in enumerate(true):
        tol = max(_MATCH_MIN_MM, 0.5 * t["diameter_mm"] + _MATCH_SLACK_MM)
        for j, f in enumerate(found):
            d = float(np.linalg.norm(np.subtract(t["center_mm"], f["center_mm"])))
            if d <= tol:
                pairs.append((d, i, j))
    owner: list[int | None] = [None] * len(true)
    used: set[int] = set()
    for d, i, j in sorted(pairs):
        if owner[i] is None and j not in used:
            owner[i] = j
            used.add(j)
    # A second plan lesion on the same true lesion is a duplicate, not a false lesion.
    dup = {j for _, i, j in pairs if j not in used}
    false = [j for j in range(len(found)) if j not in used and j not in dup]
    return owner, false


def plan_one(name: str, seed: int, *, cache: Path | None, workdir: Path, scanner: str | None = None) -> dict:
    sample = _sample(name, seed, cache, scanner)
    truth = sample.truth
    folder = workdir / f"{name}_{seed}"
    paths = write_sample(sample, folder / "sample", fmt="nrrd", preview=False)
    clinical = folder / "sample" / "clinical.json"
    clinical.write_text(json.dumps(truth.get("clinical") or {}))
    t0 = time.perf_counter()
    out = run_plan(paths["volume"], folder / "plan", clinical_path=clinical, report=False)
    seconds = time.perf_counter() - t0
    plan = json.loads(Path(out["plan"]).read_text())
    proc = plan["procedure"]
    ex = proc["excision"]
    lesions = plan["lesions"]
    true = list(truth["lesions"])
    owner, false = match_lesions(true, lesions)
    treated = [m for m in (ex["margins"] if ex else []) if m.get("treated", True)]
    beyond = [b["lesion"] for b in (ex.get("beyond_reach", []) if ex else [])]
    row = {"preset": name, "seed": seed, "expected": truth["expected_procedure"], "proposed": proc["kind"],
           "n_true": len(true), "n_plan": len(lesions), "matched": sum(o is not None for o in owner),
           "false": len(false), "n_treated": len(treated), "beyond": beyond,
           "min_margin_mm": min((m["min_margin_mm"] for m in treated), default=None),
           "required_mm": max((m.get("required_mm", plan["settings"]["margin_mm"]) for m in treated),
                              default=plan["settings"]["margin_mm"]),
           "margins_ok": all(m["min_margin_mm"] >= m.get("required_mm", plan["settings"]["margin_mm"]) - 1e-6
                             for m in treated),
           "seconds": seconds, "warnings": plan["warnings"], "rationale": proc["rationale"],
           "lesions": [{k: les.get(k) for k in ("id", "kind", "center_mm", "diameter_mm", "system", "branch",
                                                 "confidence", "treated", "reach", "distance_along_duct_mm")}
                       for les in lesions],
           "false_ids": [lesions[j]["id"] for j in false],
           "true_matched_by": [None if o is None else lesions[o]["id"] for o in owner],
           "n_systems": len(plan["systems"]), "n_true_systems": len(truth["opacified_systems"])}
    if ex is not None and "excision" in out:
        row["mesh"] = mesh_topology(Path(out["excision"]))
        matched_true = [t for t, o in zip(true, owner) if o is not None]
        row["true_margins_mm"] = mesh_margins(Path(out["excision"]), true)
        treated_lesions = [les for les in lesions if les["id"] in {m["lesion"] for m in treated}]
        row["min_mesh_margin_mm"] = min(mesh_margins(Path(out["excision"]), treated_lesions), default=None)
        row["min_true_margin_mm"] = min((m for t, m in zip(true, row["true_margins_mm"]) if t in matched_true),
                                        default=None)
    else:
        row["mesh"] = None
    return row


def _f(v, fmt="{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def print_table(rows: list[dict]) -> None:
    head = (f"{'preset':27s} {'seed':>4s} {'expected -> proposed':33s} {'true/plan':>9s} {'match':>5s} "
            f"{'false':>5s} {'treated':>7s} {'beyond':>6s} {'min margin':>11s} {'mesh margin':>11s} "
            f"{'true margin':>11s} {'closed':>6s} {'manifold':>8s} {'time s':>6s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        ok = "  " if r["expected"] == r["proposed"] else "X "
        margin = "-" if r["min_margin_mm"] is None else \
            f"{r['min_margin_mm']:.1f}/{r['required_mm']:g}" + ("" if r["margins_ok"] else "!")
        mesh = r["mesh"]
        print(f"{r['preset']:27s} {r['seed']:4d} {ok}{r['expected'] + ' -> ' + r['proposed']:31s} "
              f"{r['n_true']:>4d}/{r['n_plan']:<4d} {r['matched']:5d} {r['false']:5d} {r['n_treated']:7d} "
              f"{len(r['beyond']):6d} {margin:>11s} {_f(r.get('min_mesh_margin_mm'), '{:.2f}'):>11s} "
              f"{_f(r.get('min_true_margin_mm')):>11s} "
              f"{'-' if mesh is None else ('yes' if mesh['closed'] else 'NO'):>6s} "
              f"{'-' if mesh is None else ('yes' if mesh['manifold'] else 'NO'):>8s} {r['seconds']:6.1f}")
    n = len(rows)
    right = sum(r["expected"] == r["proposed"] for r in rows)
    n_true = sum(r["n_true"] for r in rows)
    print(f"\nprocedure right: {right}/{n}; true lesions matched: {sum(r['matched'] for r in rows)}/{n_true}; "
          f"false lesions: {sum(r['false'] for r in rows)} ({sum(r['false'] for r in rows) / max(n, 1):.2f}/volume); "
          f"treated margins adequate: {sum(r['margins_ok'] for r in rows)}/{n}; "
          f"excisions closed+manifold: {sum(bool(r['mesh'] and r['mesh']['manifold']) for r in rows)}"
          f"/{sum(r['mesh'] is not None for r in rows)}; "
          f"time {sum(r['seconds'] for r in rows):.0f} s ({np.mean([r['seconds'] for r in rows]):.1f} s/plan)")


def print_details(r: dict) -> None:
    print(f"\n--- {r['preset']} seed {r['seed']}: {r['expected']} -> {r['proposed']} "
          f"(systems found {r['n_systems']}, true {r['n_true_systems']})")
    for line in r["rationale"]:
        print(f"    . {line}")
    for les in r["lesions"]:
        tag = "FALSE" if les["id"] in r["false_ids"] else "true "
        c = ", ".join(f"{v:.1f}" for v in les["center_mm"])
        print(f"    {tag} lesion {les['id']}: {les['kind']:14s} d={les['diameter_mm']:.1f} mm at ({c}) "
              f"sys={les['system']} br={les['branch']} conf={_f(les['confidence'], '{:.2f}')} "
              f"along={_f(les['distance_along_duct_mm'])} treated={les['treated']} reach={les['reach']}")
    for i, by in enumerate(r["true_matched_by"]):
        tm = r.get("true_margins_mm")
        print(f"    truth lesion {i}: matched by {by}" + ("" if not tm else f", margin in excision {tm[i]:.1f} mm"))
    for w in r["warnings"]:
        print(f"    ! {w[:160]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="*", default=None, help="default: every preset but full-field")
    ap.add_argument("--full-field", action="store_true", help="also plan the (slow) full-field preset")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--cache", type=Path, default=None, help="folder to keep generated samples in")
    ap.add_argument("--scanner", choices=["narrow", "medium", "wide"], default=None,
                    help="another vendor's arc than the preset's (15, 25 or 50 degrees)")
    ap.add_argument("--json", type=Path, default=None, help="write every row (with details) here")
    ap.add_argument("-v", "--verbose", action="store_true", help="rationale, lesions and warnings per plan")
    args = ap.parse_args(argv)
    presets = args.presets or [p for p in preset_names() if p != "full-field"]
    if args.full_field and "full-field" not in presets:
        presets.append("full-field")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_plans_") as tmp:
        for name in presets:
            for seed in args.seeds:
                r = plan_one(name, seed, cache=args.cache, workdir=Path(tmp), scanner=args.scanner)
                rows.append(r)
                print(f"  planned {name} seed {seed} in {r['seconds']:.1f} s: {r['proposed']}", file=sys.stderr,
                      flush=True)
    print()
    print_table(rows)
    if args.verbose:
        for r in rows:
            print_details(r)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
