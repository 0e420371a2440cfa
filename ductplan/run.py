"""The whole job, wired: volume -> reconstruction -> lesions -> plan -> files.

This is the only module that knows all four packages.  Outputs are written into a hidden
sibling folder first and moved into OUTDIR only when everything succeeded, so a failed
run leaves OUTDIR as it was.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["run_plan", "run_reconstruct", "staged_outdir", "parse_point", "split_marks_by_role"]

Progress = Callable[[str, float], None]


def parse_point(text: str | None) -> np.ndarray | None:
    """``"x,y,z"`` (mm) -> array; None passes through."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        raise ValueError(f"--nipple must be three numbers in mm like 12.5,-40,33; got {text!r}") from None
    if len(values) != 3 or not np.all(np.isfinite(values)):
        raise ValueError(f"--nipple must be three finite numbers in mm like 12.5,-40,33; got {text!r}")
    return np.asarray(values)


def split_marks_by_role(marks: list) -> tuple[list, np.ndarray | None, np.ndarray | None]:
    """Lesion marks, and the nipple and cannulated-orifice marks (``role=`` or the label).

    Examples
    --------
    >>> from planner.markups import Mark
    >>> m = [Mark(np.zeros(3), "nipple", ""), Mark(np.ones(3), "P1", ""), Mark(np.ones(3), "x", "role=orifice")]
    >>> lesions, nip, ori = split_marks_by_role(m)
    >>> [x.label for x in lesions], nip.tolist(), ori.tolist()
    (['P1'], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    """
    from planner.markups import mark_role

    lesions, nipple, orifice = [], None, None
    for m in marks:
        role = mark_role(m.label, m.description)
        if role == "nipple":
            nipple = np.asarray(m.position_mm, float)
        elif role == "orifice":
            orifice = np.asarray(m.position_mm, float)
        else:
            lesions.append(m)
    return lesions, nipple, orifice


@contextmanager
def staged_outdir(outdir: str | Path):
    """Yield a temporary folder beside ``outdir``; on success move its contents into
    ``outdir`` (created if needed), on failure remove it and leave ``outdir`` untouched."""
    outdir = Path(outdir)
    parent = outdir.resolve().parent
    if not parent.exists():
        raise OSError(f"cannot write to {outdir}: its parent folder {parent} does not exist")
    if outdir.exists() and not outdir.is_dir():
        raise OSError(f"cannot write to {outdir}: it is a file, not a folder")
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.partial-", dir=parent))
    except OSError as exc:
        raise OSError(f"cannot write to {outdir}: {exc.strerror or exc}") from None
    try:
        yield stage
        if outdir.exists() and not os.access(outdir, os.W_OK):
            raise OSError(f"cannot write to {outdir}: permission denied")
        outdir.mkdir(exist_ok=True)
        for item in sorted(stage.iterdir()):
            target = outdir / item.name
            if item.is_dir() and target.exists():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _input_info(path: Path, volume) -> dict:
    f = volume.frame
    return {"path": str(path), "size": list(f.size), "spacing_mm": [round(v, 6) for v in f.spacing],
            "origin_mm": [round(v, 4) for v in f.origin], "direction": [round(v, 6) for v in f.direction],
            "laterality": volume.laterality, "view": volume.view}


def run_reconstruct(volume_path: str | Path, *, nipple: np.ndarray | None = None,
                    laterality: str | None = None, view: str | None = None,
                    progress: Progress | None = None):
    """Read and reconstruct a volume: returns ``(volume, reconstruction)``."""
    from reconstruction.io import read_volume
    from reconstruction.pipeline import reconstruct

    say = progress or (lambda s, f: None)
    say("reading the volume", 0.0)
    volume = read_volume(volume_path, laterality=laterality, view=view)
    return volume, reconstruct(volume, nipple_mm=nipple, progress=say)


def write_reconstruction_files(rec, stage: Path) -> dict[str, Path]:
    """tree.vtp, segmentation.seg.nrrd and topology.json of a reconstruction."""
    import json

    from reconstruction.seg_io import write_segmentation
    from reconstruction.tree_raster import tree_labelmap
    from reconstruction.tree_vtp import write_tree_vtp
    from viewers.palette import hex_to_rgb01, system_color

    out = {"tree": write_tree_vtp(rec.tree, stage / "tree.vtp")}
    # Drawn from the tree, not the blurred lumen mask: the ducts where the tree puts them,
    # one coloured segment per system, as the 3D views show them.
    labels = tree_labelmap(rec.tree, rec.segmentation.frame)
    voxels = np.bincount(labels.ravel(), minlength=len(rec.tree.systems) + 1)
    segments = [{"name": f"duct system {s.id + 1}", "label": s.id + 1, "color": hex_to_rgb01(system_color(s.id)),
                 "tags": {"ductplan.orifice_mm": " ".join(f"{v:.2f}" for v in s.orifice_mm)}}
                for s in rec.tree.systems if voxels[s.id + 1]]
    write_segmentation(labels, rec.segmentation.frame, stage / "segmentation.seg.nrrd", segments=segments)
    out["segmentation"] = stage / "segmentation.seg.nrrd"
    (stage / "topology.json").write_text(json.dumps(rec.topology.to_dict(), indent=1))
    out["topology"] = stage / "topology.json"
    return out


def run_plan(volume_path: str | Path, outdir: str | Path, *, lesions_path: str | Path | None = None,
             nipple: np.ndarray | None = None, clinical_path: str | Path | None = None,
             laterality: str | None = None, view: str | None = None, margin_mm: float | None = None,
             extend_to_lesions: bool = False, report: bool = True,
             progress: Progress | None = None) -> dict[str, Path]:
    """Run the whole job and write the contract's files into ``outdir``.

    Returns
    -------
    dict
        Output name -> path.
    """
    from planner import ClinicalContext, PlanSettings, make_plan, plan_to_dict, write_plan_json
    from planner.export import write_excision_vtp
    from planner.localisation import localise_lesion
    from planner.markups import lesions_to_markup_points, read_markups, write_markups
    from planner.merge import merge_findings_and_marks

    say = progress or (lambda s, f: None)
    # Check every input before the long work: bad input fails in a second.
    clinical = ClinicalContext.from_json(clinical_path) if clinical_path else ClinicalContext()
    warnings: list[str] = []
    marks = read_markups(lesions_path, notes=warnings) if lesions_path else []
    marks, nipple_mark, orifice_mark = split_marks_by_role(marks)
    if nipple_mark is not None:
        if nipple is None:
            nipple = nipple_mark
            warnings.append(f"nipple taken from the radiologist's mark at {np.round(nipple_mark, 1).tolist()} mm")
        else:
            warnings.append("the marks file holds a nipple mark; --nipple was given and is used instead")
    if orifice_mark is not None:
        warnings.append(f"cannulated orifice marked at {np.round(orifice_mark, 1).tolist()} mm")
    settings = PlanSettings() if margin_mm is None else PlanSettings(margin_mm=margin_mm)
    if extend_to_lesions:
        import dataclasses

        settings = dataclasses.replace(settings, extend_to_lesions=True)
    with staged_outdir(outdir) as stage:
        volume, rec = run_reconstruct(volume_path, nipple=nipple, laterality=laterality, view=view,
                                      progress=say)
        # What the reader had to choose (a series among several, the slice axis) is the
        # surgeon's to know as well.
        warnings += [f"reading the volume: {w}" for w in volume.metadata.get("warnings", [])]
        say("detecting lesions along the ducts", 0.6)
        from reconstruction.findings_detect import detect_findings

        findings = detect_findings(volume, rec.tree, lumen_mask=None)
        lesions, merge_warnings = merge_findings_and_marks([f for f in findings], marks, rec.tree)
        warnings += merge_warnings
        if volume.laterality is None or volume.view is None:
            warnings.append("laterality or view unknown: clock positions are not given "
                            "(use --laterality L|R and --view CC|MLO|ML)")
        for les in lesions:
            les.localisation = localise_lesion(les, nipple_mm=rec.nipple_mm, laterality=volume.laterality,
                                               view=volume.view, tree=rec.tree,
                                               z_axis_mm=volume.frame.direction_matrix[:, 2],
                                               slice_uncertainty_mm=0.5 * volume.frame.spacing[2] + 1.0)
        warnings += [f"topology: {line}" for line in rec.topology.lines()[:3]]
        say("planning the operation", 0.8)
        plan = make_plan(rec.tree, lesions, clinical, settings, input_info=_input_info(Path(volume_path), volume),
                         nipple_mm=rec.nipple_mm, warnings=warnings, frame=volume.frame)
        paths = write_reconstruction_files(rec, stage)
        write_plan_json(plan, stage / "plan.json")
        paths["plan"] = stage / "plan.json"
        if plan.excision is not None:
            write_excision_vtp(plan.excision.vertices, plan.excision.faces, stage / plan.excision_mesh)
            paths["excision"] = stage / plan.excision_mesh
        write_markups(stage / "lesions.mrk.json", lesions_to_markup_points(lesions))
        paths["lesions"] = stage / "lesions.mrk.json"
        if report:
            say("rendering the report", 0.9)
            from viewers import render_plan_outputs

            paths.update(render_plan_outputs(stage, plan_to_dict(plan), rec.tree,
                                             None if plan.excision is None else plan.excision.vertices,
                                             None if plan.excision is None else plan.excision.faces,
                                             volume=volume, topology=rec.topology))
    outdir = Path(outdir)
    return {k: outdir / Path(p).relative_to(stage) for k, p in paths.items()}
