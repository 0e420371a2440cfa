"""Reconstruction accuracy and speed against truth, and the naive pipeline beside it.

For every preset (and full-field): ductplan's reconstruction and the pipeline a
researcher would write first (global threshold -> scikit-image skeletonize -> skan graph),
on the same volume in the same run.  Prints centreline recall/precision within 1 mm
(0.25 mm resampling), share of branches detected (>= 80 % covered), systems found,
time and peak RSS; and the time ratio.

Targets (issue 3): recall and precision >= 0.95, branches >= 0.90, systems exact;
800 x 600 x 60 in <= 10 s; full-field in <= 45 s and <= 3 GB.
ductplan runs in a child process that reads the volume from NRRD, so its time includes
reading and its peak RSS is its own (not the sample generator's).
Run: .venv/bin/python benchmarks/bench_reconstruction.py [PRESET ...] [--scanner narrow|medium|wide]
     [--ducts standard|thin-tortuous]
(``--scanner``: every preset through another vendor's arc, 15, 25 or 50 degrees;
``--ducts thin-tortuous``: every preset grown with thinner, more tortuous ducts).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _measure import measured  # noqa: E402

from reconstruction.pipeline import reconstruct  # noqa: E402
from reconstruction.tree import Branch, DuctSystem, DuctTree  # noqa: E402
from sample_volumes import make_sample, preset_names  # noqa: E402
from sample_volumes.generate import DUCT_MODELS  # noqa: E402
from sample_volumes.scoring import score_tree  # noqa: E402


def naive_tree(volume) -> DuctTree:
    """Otsu-above-background threshold, 3D skeletonize, skan paths as branches (no rooting)."""
    from skan import Skeleton
    from skimage.filters import threshold_otsu
    from skimage.morphology import skeletonize

    a = volume.array
    inside = a[a > np.percentile(a, 5)]
    t = threshold_otsu(inside)
    t = t + 2.0 * (np.percentile(inside, 99.5) - t) / 3.0  # keep the brightest: the contrast
    skel = skeletonize(a > t)
    branches = []
    if skel.any():
        sk = Skeleton(skel, spacing=1)
        for i in range(sk.n_paths):
            coords = sk.path_coordinates(i)
            if len(coords) < 2:
                continue
            branches.append(Branch(id=len(branches), system=0, parent=None,
                                   points_mm=volume.frame.array_index_to_physical(coords),
                                   radius_mm=np.full(len(coords), 0.5)))
    return DuctTree(branches=branches, systems=[DuctSystem(0, np.zeros(3))])


def _child(volume_path: str, out_json: str) -> int:
    """Read and reconstruct in a fresh process: its peak RSS is the reconstruction's own."""
    import json
    import resource

    from reconstruction.io import read_volume

    t0 = time.perf_counter()
    rec = reconstruct(read_volume(volume_path))
    seconds = time.perf_counter() - t0
    # VmHWM is this process's own high-water mark; ru_maxrss would carry over the parent's
    # size at fork (Linux keeps it across exec), the naive run's included.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        with open("/proc/self/status") as fh:
            peak_mb = next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        pass
    Path(out_json).write_text(json.dumps({"tree": rec.tree.to_dict(), "seconds": seconds, "peak_rss_mb": peak_mb}))
    return 0


def reconstruct_in_child(volume) -> tuple[DuctTree, dict]:
    """Write ``volume`` to NRRD and time ``read_volume`` + ``reconstruct`` in a child process
    (wall time from reading the file to the tree, and that process's peak RSS)."""
    import json
    import subprocess
    import tempfile

    from sample_volumes.writers import write_volume

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "volume.nrrd"
        write_volume(volume, path)
        out = Path(tmp) / "result.json"
        subprocess.run([sys.executable, __file__, "--child", str(path), str(out)], check=True)
        res = json.loads(out.read_text())
    return DuctTree.from_dict(res["tree"]), {"seconds": res["seconds"], "peak_rss_mb": res["peak_rss_mb"]}


def main(names: list[str], scanner: str | None = None, ducts: str | None = None) -> int:
    rows = []
    for name in names:
        try:
            s = make_sample(name, seed=0, scanner=scanner, ducts=ducts)
        except RuntimeError as exc:   # a lesion that fits none of this duct model's ducts
            print(f"{name:28s} not grown with these ducts: {exc}", flush=True)
            continue
        res: dict = {}
        tree, res["ductplan"] = reconstruct_in_child(s.volume)
        with measured("naive", res):
            try:
                naive = naive_tree(s.volume)
            except ImportError:
                naive = None
        sd = score_tree(tree, s.truth)
        sn = score_tree(naive, s.truth) if naive is not None else None
        shape = "x".join(map(str, s.volume.frame.size))
        print(f"{name:28s} {shape:>13s} ductplan {res['ductplan']['seconds']:5.1f} s "
              f"{res['ductplan']['peak_rss_mb']:6.0f} MB  {sd.line()}", flush=True)
        if sn is not None:
            ratio = res["naive"]["seconds"] / max(res["ductplan"]["seconds"], 1e-9)
            print(f"{'':28s} {'':>13s} naive    {res['naive']['seconds']:5.1f} s "
                  f"{res['naive']['peak_rss_mb']:6.0f} MB  {sn.line()}  (naive/ductplan time {ratio:.2f})",
                  flush=True)
        rows.append((sd, sn))
    if not rows:
        return 1
    d = np.array([[r[0].recall, r[0].precision, r[0].branches_detected] for r in rows])
    print(f"\nmean ductplan: recall {d[:, 0].mean():.3f} precision {d[:, 1].mean():.3f} "
          f"branches {d[:, 2].mean():.3f}; systems exact on "
          f"{sum(r[0].n_found_systems == r[0].n_true_systems for r in rows)}/{len(rows)}")
    if all(r[1] is not None for r in rows):
        n = np.array([[r[1].recall, r[1].precision, r[1].branches_detected] for r in rows])
        print(f"mean naive:    recall {n[:, 0].mean():.3f} precision {n[:, 1].mean():.3f} "
              f"branches {n[:, 2].mean():.3f}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(_child(sys.argv[2], sys.argv[3]))
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("presets", nargs="*", default=None)
    ap.add_argument("--scanner", choices=["narrow", "medium", "wide"], default=None)
    ap.add_argument("--ducts", choices=sorted(DUCT_MODELS), default=None,
                    help="duct-tree model of the samples (default: each preset's standard one)")
    args = ap.parse_args()
    sys.exit(main(args.presets or preset_names(), scanner=args.scanner, ducts=args.ducts))
