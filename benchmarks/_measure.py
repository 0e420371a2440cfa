"""Timing and peak-memory helpers shared by the benchmarks."""
from __future__ import annotations

import resource
import threading
import time
from contextlib import contextmanager
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20


@contextmanager
def measured(label: str, results: dict):
    """Record wall time and peak RSS (sampled every 20 ms) of the block into ``results[label]``."""
    peak = [_rss_mb()]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.02)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    t0 = time.perf_counter()
    try:
        yield
    finally:
        stop.set()
        t.join()
        results[label] = {"seconds": time.perf_counter() - t0, "peak_rss_mb": peak[0]}


def cached_sample(name: str, seed: int, cache: Path | None, scanner: str | None = None):
    """``make_sample(name, seed, scanner=scanner)``, pickled in ``cache`` (a folder) when one is given."""
    import pickle

    from sample_volumes import make_sample

    key = f"{name}_{seed}" + (f"_{scanner}" if scanner else "")
    if cache is not None:
        f = cache / f"{key}.pkl"
        if f.exists():
            with open(f, "rb") as fh:
                return pickle.load(fh)
    s = make_sample(name, seed=seed, scanner=scanner)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        with open(cache / f"{key}.pkl", "wb") as fh:
            pickle.dump(s, fh)
    return s
