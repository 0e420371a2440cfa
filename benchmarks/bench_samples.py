"""Sample generation speed: a default preset (<= 800 x 600 x 60) and full-field.

Targets (2 cores): default <= 20 s, full-field (~2000 x 1500 x 60) <= 180 s.
Run: .venv/bin/python benchmarks/bench_samples.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import measured  # noqa: E402

from sample_volumes import make_sample  # noqa: E402

TARGETS = {"single-papilloma": 20.0, "full-field": 180.0}


def main() -> int:
    results: dict = {}
    ok = True
    for name, target in TARGETS.items():
        with measured(name, results):
            s = make_sample(name, seed=0)
        r = results[name]
        shape = "x".join(map(str, s.volume.frame.size))
        verdict = "OK" if r["seconds"] <= target else "TOO SLOW"
        ok &= r["seconds"] <= target
        print(f"sample {name:18s} {shape:>14s}  {r['seconds']:6.1f} s (target <= {target:.0f} s)  "
              f"peak RSS {r['peak_rss_mb']:7.0f} MB  {verdict}", flush=True)
        del s
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
