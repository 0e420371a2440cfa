"""Benchmark the automatic findings on every sample preset: sensitivity and false positives
per kind, and time.

Runs the detector on the *true* duct tree of each sample (opacified part only, as a
reconstruction would see it), and on a perturbed copy standing in for a reconstruction:
points jittered, radii wrong by ~20 %, and the centreline through every filling defect
lost and bridged.  A finding matches a true lesion of its kind within max(5 mm, lesion
radius).

Usage::

    .venv/bin/python benchmarks/bench_findings.py                 # all presets, seeds 0-1
    .venv/bin/python benchmarks/bench_findings.py --seeds 0 1 2 --presets cutoff cyst
    .venv/bin/python benchmarks/bench_findings.py --cache /tmp/ductplan-samples   # reuse samples
"""
from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconstruction.findings import FINDING_KINDS  # noqa: E402
from reconstruction.findings_detect import detect_findings  # noqa: E402
from reconstruction.lesions_eval import (KindScore, reconstruction_like, score_findings,  # noqa: E402
                                         truth_tree_input)
from sample_volumes import make_sample, preset_names  # noqa: E402

LESION_KINDS = ("filling_defect", "cutoff", "ectasia", "cyst")


def _sample(name: str, seed: int, cache: Path | None):
    if cache is not None:
        f = cache / f"{name}_{seed}.pkl"
        if f.exists():
            with open(f, "rb") as fh:
                return pickle.load(fh)
    s = make_sample(name, seed=seed)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        with open(cache / f"{name}_{seed}.pkl", "wb") as fh:
            pickle.dump(s, fh)
    return s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="*", default=[n for n in preset_names() if n != "full-field"])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    ap.add_argument("--trees", nargs="*", default=["truth", "perturbed"], choices=["truth", "perturbed"])
    ap.add_argument("--cache", type=Path, default=None, help="folder to keep generated samples in")
    ap.add_argument("--min-defect-mm", type=float, default=2.0,
                    help="filling defects smaller than this are not scored (sensitivity floor is for >= 2 mm)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every miss and false positive")
    args = ap.parse_args(argv)

    totals = {t: {k: KindScore(k) for k in FINDING_KINDS} for t in args.trees}
    times = {t: [] for t in args.trees}
    for name in args.presets:
        for seed in args.seeds:
            sample = _sample(name, seed, args.cache)
            for which in args.trees:
                tree = truth_tree_input(sample.truth) if which == "truth" else \
                    reconstruction_like(sample.truth, rng=np.random.default_rng(1000 + seed))
                t0 = time.perf_counter()
                found = detect_findings(sample.volume, tree)
                times[which].append(time.perf_counter() - t0)
                sc = score_findings(found, sample.truth, min_defect_mm=args.min_defect_mm, label=f"{name}:{seed}")
                for k, v in sc.items():
                    totals[which][k].add(v)
                if args.verbose:
                    for k, v in sc.items():
                        for m in v.missed:
                            print(f"  [{which}] MISSED {k:15s} {m}")
                        for fp in v.false:
                            print(f"  [{which}] FALSE  {k:15s} {fp}")
    n_vol = len(args.presets) * len(args.seeds)
    print(f"\nAutomatic findings: {len(args.presets)} presets x seeds {args.seeds} = {n_vol} volumes")
    for which in args.trees:
        print(f"\n== tree: {which}  (detector {np.mean(times[which]):.2f} s/volume, "
              f"max {np.max(times[which]):.2f} s)")
        print(f"{'kind':16s} {'true':>5s} {'found':>6s} {'sensitivity':>12s} {'FP':>4s} {'FP/volume':>10s}")
        lesion_fp = 0
        for k in FINDING_KINDS:
            s = totals[which][k]
            sens = "n/a" if not s.true else f"{s.sensitivity:.3f}"
            print(f"{k:16s} {s.true:5d} {s.found:6d} {sens:>12s} {s.false_positives:4d} {s.fp_per_volume:10.3f}")
            if k in LESION_KINDS:
                lesion_fp += s.false_positives
        print(f"{'all lesions':16s} {'':5s} {'':6s} {'':12s} {lesion_fp:4d} {lesion_fp / n_vol:10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
