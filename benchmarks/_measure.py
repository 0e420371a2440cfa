"""Timing and peak-memory helpers shared by the benchmarks."""
from __future__ import annotations

import resource
import threading
import time
from contextlib import contextmanager


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
