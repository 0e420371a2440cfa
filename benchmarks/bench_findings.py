"""Benchmark the automatic findings on every sample preset: sensitivity and false positives
per kind, and time.

The detector runs on each sample's *true* duct tree (the opacified part only, as a
reconstruction would see it) and on a reconstruction-like copy of it: points jittered by
0.3 mm, radii wrong by ~20 %, and the centreline through every papilloma and bubble lost
and bridged straight across.  A finding matches a true lesion of its own kind within
max(5 mm, lesion radius); filling defects under 2 mm are not scored.  Air bubbles are
scored as artefacts (found = reported with ``is_artefact``); "all lesions" counts false
positives of the four lesion kinds.

The must-hold figures (sensitivity >= 0.95 for filling defects, cut-offs and cysts,
ectasia found, <= 0.2 false positives per volume) are over every preset but full-field,
which is reported on its own line.

Usage::

    .venv/bin/python benchmarks/bench_findings.py                  # all presets, seeds 0-1
    .venv/bin/python benchmarks/bench_findings.py --seeds 0 1 2 --presets cutoff cyst
    .venv/bin/python benchmarks/bench_findings.py --cache /tmp/ductplan-samples   # reuse samples
    .venv/bin/python benchmarks/bench_findings.py --no-full-field -v
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reconstruction.findings import FINDING_KINDS  # noqa: E402
from reconstruction.findings_detect import detect_findings  # noqa: E402
from reconstruction.lesions_eval import (KindScore, reconstruction_like, score_findings,  # noqa: E402
                                         truth_tree_input)
from _measure import cached_sample  # noqa: E402
from sample_volumes import preset_names  # noqa: E402

LESION_KINDS = ("filling_defect", "cutoff", "ectasia", "cyst")
SHORT = {"filling_defect": "defect", "cutoff": "cutoff", "ectasia": "ectasia", "cyst": "cyst",
         "air_bubble": "bubble"}


def _sample(name: str, seed: int, cache: Path | None):
    return cached_sample(name, seed, cache)


def _table(title: str, totals: dict[str, KindScore], n_vol: int, times: list[float]) -> None:
    print(f"\n{title}: {n_vol} volumes, detector {np.mean(times):.2f} s/volume (max {np.max(times):.2f} s)")
    print(f"{'kind':16s} {'true':>5s} {'found':>6s} {'sensitivity':>12s} {'FP':>4s} {'FP/volume':>10s}")
    lesion_fp = 0
    for k in FINDING_KINDS:
        s = totals[k]
        sens = "n/a" if not s.true else f"{s.sensitivity:.3f}"
        print(f"{k:16s} {s.true:5d} {s.found:6d} {sens:>12s} {s.false_positives:4d} {s.false_positives / n_vol:10.3f}")
        if k in LESION_KINDS:
            lesion_fp += s.false_positives
    print(f"{'all lesions':16s} {'':5s} {'':6s} {'':12s} {lesion_fp:4d} {lesion_fp / n_vol:10.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="*", default=list(preset_names()))
    ap.add_argument("--no-full-field", action="store_true", help="skip the (slow) full-field preset")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    ap.add_argument("--trees", nargs="*", default=["truth", "perturbed"], choices=["truth", "perturbed"])
    ap.add_argument("--cache", type=Path, default=None, help="folder to keep generated samples in")
    ap.add_argument("--min-defect-mm", type=float, default=2.0,
                    help="filling defects smaller than this are not scored (the floor is for >= 2 mm)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every miss and false positive")
    args = ap.parse_args(argv)
    presets = [p for p in args.presets if not (args.no_full_field and p == "full-field")]

    groups = {"must-hold presets (all but full-field)": [p for p in presets if p != "full-field"],
              "full-field": [p for p in presets if p == "full-field"]}
    totals = {(g, t): {k: KindScore(k) for k in FINDING_KINDS} for g in groups for t in args.trees}
    times = {(g, t): [] for g in groups for t in args.trees}
    print(f"{'preset':28s} {'seed':>4s} {'tree':9s} " + " ".join(f"{SHORT[k]:>8s}" for k in FINDING_KINDS)
          + "   (found/true +false)")
    for name in presets:
        group = "full-field" if name == "full-field" else next(iter(groups))
        for seed in args.seeds:
            sample = _sample(name, seed, args.cache)
            for which in args.trees:
                tree = truth_tree_input(sample.truth) if which == "truth" else \
                    reconstruction_like(sample.truth, rng=np.random.default_rng(1000 + seed))
                t0 = time.perf_counter()
                found = detect_findings(sample.volume, tree)
                times[group, which].append(time.perf_counter() - t0)
                sc = score_findings(found, sample.truth, min_defect_mm=args.min_defect_mm, label=f"{name}:{seed}")
                for k, v in sc.items():
                    totals[group, which][k].add(v)
                cells = [f"{v.found}/{v.true}" + (f"+{v.false_positives}" if v.false_positives else "")
                         for v in (sc[k] for k in FINDING_KINDS)]
                print(f"{name:28s} {seed:4d} {which:9s} " + " ".join(f"{c:>8s}" for c in cells))
                if args.verbose:
                    for k, v in sc.items():
                        for m in v.missed:
                            print(f"    missed {k}: {m}")
                        for fp in v.false:
                            print(f"    false  {k}: {fp}")
    for g, members in groups.items():
        if not members:
            continue
        for which in args.trees:
            _table(f"== {g}, tree: {which}", totals[g, which], len(members) * len(args.seeds), times[g, which])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"\npeak memory (whole run, incl. sample generation): {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
