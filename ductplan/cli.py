"""The ``ductplan`` command line: a thin layer that wires the four packages together.

Subcommands mirror the pipeline: ``sample`` -> ``reconstruct`` -> ``plan`` -> ``view`` /
``annotate``; ``demo`` runs the whole job on a built-in sample.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["main"]



class Progress:
    """Prints ``stage ... done (x.x s)`` lines on stderr: long work shows progress."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.t0 = time.perf_counter()
        self.last = None

    def __call__(self, stage: str, fraction: float) -> None:
        if self.quiet or stage == self.last:
            return
        self.last = stage
        print(f"  [{time.perf_counter() - self.t0:6.1f} s] {stage}", file=sys.stderr, flush=True)


def _cmd_sample(args: argparse.Namespace) -> int:
    from sample_volumes import PRESETS, make_sample, write_sample

    if args.list:
        width = max(len(n) for n in PRESETS)
        for name, p in PRESETS.items():
            nx, ny, nz = p.size_xyz
            print(f"{name.ljust(width)}  {p.expected_procedure:15s} {nx}x{ny}x{nz}  {p.description}")
        return 0
    if not args.name or not args.output:
        raise ValueError("give a sample name and -o OUTDIR (see 'ductplan sample --list')")
    print(f"ductplan sample {args.name} (seed {args.seed}) -> {args.output}", file=sys.stderr)
    sample = make_sample(args.name, seed=args.seed, scanner=args.scanner, progress=Progress(args.quiet))
    paths = write_sample(sample, args.output, fmt=args.format)
    for kind, path in paths.items():
        print(f"{kind:8s} {path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """Make a built-in sample, then run the whole plan on it (same code path as ``plan``)."""
    from sample_volumes import make_sample, write_sample

    from .run import run_plan

    out = Path(args.output)
    progress = Progress(args.quiet)
    print(f"ductplan demo: sample '{args.sample}' (seed {args.seed}) -> {out}", file=sys.stderr)
    sample = make_sample(args.sample, seed=args.seed, progress=progress)
    sample_paths = write_sample(sample, out / "sample", fmt="nrrd")
    clinical_path = None
    if sample.truth.get("clinical"):
        clinical_path = out / "sample" / "clinical.json"
        clinical_path.write_text(json.dumps(sample.truth["clinical"], indent=1))
    print(f"ductplan demo: planning on {sample_paths['volume']}", file=sys.stderr)
    paths = run_plan(sample_paths["volume"], out / "plan", clinical_path=clinical_path,
                     report=not args.no_report, progress=progress)
    plan = json.loads(Path(paths["plan"]).read_text())
    print(f"\nProposed: {plan['procedure']['kind']}   (this sample's truth expects: "
          f"{sample.truth['expected_procedure']})")
    for line in plan["procedure"]["rationale"]:
        print(f"  - {line}")
    for w in plan["warnings"]:
        print(f"  ! {w}")
    print("\nResults:")
    for kind, path in {**{f"sample {k}": v for k, v in sample_paths.items()}, **paths}.items():
        print(f"  {kind:15s} {path}")
    if "report_html" in paths:
        print(f"\nOpen the report: {Path(paths['report_html']).resolve().as_uri()}")
    return 0


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from .run import parse_point, run_reconstruct, staged_outdir, write_reconstruction_files

    nipple = parse_point(args.nipple)
    with staged_outdir(args.output) as stage:
        volume, rec = run_reconstruct(args.volume, nipple=nipple, laterality=args.laterality, view=args.view,
                                      progress=Progress(args.quiet))
        paths = write_reconstruction_files(rec, stage)
    print(rec.tree.summary_table())
    print()
    for line in volume.metadata.get("warnings", []):
        print(f"! reading the volume: {line}")
    for line in rec.notes + rec.topology.lines()[:10]:
        print(line)
    for kind in paths:
        print(f"{kind:13s} {Path(args.output) / paths[kind].name}")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    import json as _json

    from .run import parse_point, run_plan

    paths = run_plan(args.volume, args.output, lesions_path=args.lesions, nipple=parse_point(args.nipple),
                     clinical_path=args.clinical, laterality=args.laterality, view=args.view,
                     margin_mm=args.margin_mm, extend_to_lesions=args.extend_to_lesions,
                     report=not args.no_report, progress=Progress(args.quiet))
    plan = _json.loads(Path(paths["plan"]).read_text())
    print(f"Proposed: {plan['procedure']['kind']}")
    for line in plan["procedure"]["rationale"]:
        print(f"  - {line}")
    for w in plan["warnings"]:
        print(f"  ! {w}")
    print()
    for kind, path in paths.items():
        print(f"{kind:13s} {path}")
    return 0


def _cmd_view(args: argparse.Namespace) -> int:
    """The plan in 3D: a desktop window where a display works, else a page on localhost."""
    from viewers.plan_viewer import run_view

    mode = "browser" if args.browser else "auto"
    run_view(args.outdir, mode=mode, host=args.host, port=args.port, open_browser=not args.no_browser,
             max_triangles=args.max_triangles)
    return 0


def _cmd_annotate(args: argparse.Namespace) -> int:
    """The radiologist's marking app, served on localhost until Ctrl-C."""
    from viewers.annotate_app import run_annotate

    run_annotate(args.volume, marks=args.marks, tree=args.tree, host=args.host, port=args.port,
                 open_browser=not args.no_browser)
    return 0


def _server_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--host", default="127.0.0.1",
                    help="interface to listen on (127.0.0.1: this machine only)")
    sp.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    sp.add_argument("--no-browser", action="store_true", help="only print the URL, do not open a browser")


def _volume_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("volume", help="NRRD/NIfTI/MHA file, a DICOM series folder, or a multi-frame DBT DICOM")
    sp.add_argument("-o", "--output", required=True, help="output folder")
    sp.add_argument("--nipple", help="nipple position X,Y,Z in physical mm (default: found on the skin line)")
    sp.add_argument("--laterality", choices=["L", "R"], help="override the file's laterality")
    sp.add_argument("--view", choices=["CC", "MLO", "ML", "LM"], help="override the file's view")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = argparse.ArgumentParser(prog="ductplan", formatter_class=fmt,
                                description="From a tomosynthesis galactogram to a 3D duct tree and a "
                                            "surgical plan.")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("sample", formatter_class=fmt, help="make a seeded sample volume with its ground truth",
                       description="Make a simulated DBT galactogram (volume, truth.json, preview.png).")
    s.add_argument("name", nargs="?", help="preset name (see --list)")
    s.add_argument("-o", "--output", help="output folder")
    s.add_argument("--seed", type=int, default=0, help="random seed: same seed, same voxels")
    s.add_argument("--format", choices=["nrrd", "nifti", "mha", "dicom", "dicom-series"], default="nrrd", help="volume file format")
    s.add_argument("--scanner", choices=["narrow", "medium", "wide"], default=None,
                   help="override the preset's arc: narrow 15x15 deg, medium 9x25, wide 25x50")
    s.add_argument("--list", action="store_true", help="list the presets and exit")
    s.set_defaults(func=_cmd_sample)

    r = sub.add_parser("reconstruct", formatter_class=fmt, help="reconstruct the duct tree of a volume",
                       description="Volume -> tree.vtp, segmentation.seg.nrrd, topology.json.")
    _volume_options(r)
    r.set_defaults(func=_cmd_reconstruct)

    pl = sub.add_parser("plan", formatter_class=fmt, help="the whole job: tree, lesions, proposed operation",
                        description="Volume -> plan.json, tree.vtp, excision.vtp, lesions.mrk.json, "
                                    "report.html (see CONTRACT.md).")
    _volume_options(pl)
    pl.add_argument("--lesions", help="lesions marked by a radiologist (3D Slicer .mrk.json or .fcsv)")
    pl.add_argument("--clinical", help="clinical context JSON (discharge, discharging_ducts, ...)")
    pl.add_argument("--margin-mm", type=float, default=None, help="margin around benign lesions (default 5)")
    pl.add_argument("--extend-to-lesions", action="store_true",
                    help="extend the excision to lesions beyond its standard reach")
    pl.add_argument("--no-report", action="store_true", help="skip report.html / views")
    pl.set_defaults(func=_cmd_plan)

    d = sub.add_parser("demo", formatter_class=fmt, help="run the main job on a built-in sample")
    d.add_argument("-o", "--output", default="demo_output", help="output folder")
    d.add_argument("--sample", default="single-papilloma", help="preset to run on")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--no-report", action="store_true", help="skip report.html / views")
    d.set_defaults(func=_cmd_demo)

    vw = sub.add_parser("view", formatter_class=fmt, help="the plan in 3D (desktop window or browser)",
                        description="Show a plan folder in 3D: tree tubes, lesions, the translucent excision "
                                    "and margins. A desktop window where a display works, else a page served "
                                    "on localhost (vtk.js, lightened to --max-triangles).")
    vw.add_argument("outdir", help="the OUTDIR of 'ductplan plan'")
    vw.add_argument("--browser", action="store_true", help="serve the browser page even where a display works")
    vw.add_argument("--max-triangles", type=int, default=300_000,
                    help="triangle budget of the browser view (the tree is coarsened to fit)")
    _server_options(vw)
    vw.set_defaults(func=_cmd_view)

    an = sub.add_parser("annotate", formatter_class=fmt, help="mark lesions, nipple and orifice in the browser",
                        description="Scroll DBT slices (window/level, MIP slab), see the duct tree over them, "
                                    "and place marks; every change is saved at once to a 3D Slicer .mrk.json "
                                    "(LPS mm).")
    an.add_argument("volume", help="NRRD/NIfTI/MHA file, a DICOM series folder, or a multi-frame DBT DICOM")
    an.add_argument("--marks", help="markups file to load and save to (default: VOLUME.marks.mrk.json "
                                    "beside the volume)")
    an.add_argument("--tree", help="a tree.vtp to draw over the slices (or use the app's Reconstruct button)")
    _server_options(an)
    an.set_defaults(func=_cmd_annotate)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ductplan`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, RuntimeError, json.JSONDecodeError) as exc:
        # Bad input gets one clear line, never a traceback.
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        print(f"ductplan: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ductplan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
