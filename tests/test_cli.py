"""The command line: bad input gets one clear line, a non-zero exit, and nothing left behind."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from ductplan.cli import main
from sample_volumes import write_sample

from layouts import image_with_slices_along


def _run(args, capsys):
    if args[0] != "--quiet":
        args = ["--quiet", *args]  # progress lines off: stderr holds only the error
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _noise_volume(folder):
    """A small 3D volume of noise (no breast): valid to read, hopeless to plan."""
    path = folder / "v.nrrd"
    img = sitk.GetImageFromArray(np.random.default_rng(0).random((8, 32, 32)).astype(np.float32))
    sitk.WriteImage(img, str(path))
    return path


def _nothing_left(folder):
    return [p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.partial-")] == []


def test_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "ductplan.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for cmd in ("sample", "reconstruct", "plan", "demo"):
        assert cmd in out.stdout


def test_plan_missing_file(tmp_path, capsys):
    code, _, err = _run(["plan", str(tmp_path / "nope.nrrd"), "-o", str(tmp_path / "out")], capsys)
    assert code != 0 and err.count("\n") == 1 and "nope.nrrd" in err
    assert not (tmp_path / "out").exists() and _nothing_left(tmp_path / "out")


def test_plan_2d_image(tmp_path, capsys):
    img = sitk.GetImageFromArray(np.random.default_rng(0).random((64, 64)).astype(np.float32))
    sitk.WriteImage(img, str(tmp_path / "flat.nrrd"))
    code, _, err = _run(["plan", str(tmp_path / "flat.nrrd"), "-o", str(tmp_path / "out")], capsys)
    assert code != 0 and err.count("\n") == 1 and "2D" in err
    assert not (tmp_path / "out").exists()


def test_plan_broken_clinical_json(tmp_path, capsys):
    _noise_volume(tmp_path)
    (tmp_path / "c.json").write_text("{discharge: bloody")
    code, _, err = _run(["plan", str(tmp_path / "v.nrrd"), "-o", str(tmp_path / "out"), "--clinical",
                         str(tmp_path / "c.json")], capsys)
    assert code != 0 and err.count("\n") == 1 and "c.json" in err
    assert not (tmp_path / "out").exists()


def test_plan_unwritable_outdir(tmp_path, capsys):
    _noise_volume(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = _run(["plan", str(tmp_path / "v.nrrd"), "-o", str(blocker / "out")], capsys)
    assert code != 0 and err.count("\n") == 1
    assert blocker.read_text() == "not a folder"


def test_plan_broken_markups(tmp_path, capsys):
    _noise_volume(tmp_path)
    (tmp_path / "m.mrk.json").write_text('{"markups": [{"controlPoints": [{"position": "x"}]}]}')
    code, _, err = _run(["plan", str(tmp_path / "v.nrrd"), "-o", str(tmp_path / "out"), "--lesions",
                         str(tmp_path / "m.mrk.json")], capsys)
    assert code != 0 and err.count("\n") == 1 and "m.mrk.json" in err


def test_failed_run_leaves_existing_outdir_as_it_was(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "plan.json").write_text('{"old": true}')
    img = sitk.GetImageFromArray(np.zeros((8, 32, 32), np.float32))  # constant: no breast
    sitk.WriteImage(img, str(tmp_path / "v.nrrd"))
    code, _, err = _run(["plan", str(tmp_path / "v.nrrd"), "-o", str(out)], capsys)
    assert code != 0 and err.count("\n") == 1
    assert json.loads((out / "plan.json").read_text()) == {"old": True}
    assert sorted(p.name for p in out.iterdir()) == ["plan.json"] and _nothing_left(out)


@pytest.mark.parametrize("name", ["single-papilloma"])
def test_plan_writes_the_contract_files(sample_of, tmp_path, name, capsys):
    paths = write_sample(sample_of(name), tmp_path / "s", preview=False)
    (tmp_path / "c.json").write_text(json.dumps(sample_of(name).truth["clinical"]))
    code, out, err = _run(["--quiet", "plan", str(paths["volume"]), "-o", str(tmp_path / "out"),
                           "--clinical", str(tmp_path / "c.json"), "--no-report"], capsys)
    assert code == 0, err
    o = tmp_path / "out"
    for f in ("plan.json", "tree.vtp", "lesions.mrk.json", "segmentation.seg.nrrd"):
        assert (o / f).exists(), f
    plan = json.loads((o / "plan.json").read_text())
    assert plan["schema"] == "ductplan.plan/1"
    assert plan["input"]["size"] == list(sample_of(name).volume.frame.size)
    ids = {b["id"] for b in plan["branches"]}
    for s in plan["systems"]:
        assert set(s["branch_ids"]) <= ids
    assert plan["procedure"]["kind"] in {"microdochectomy", "hadfield", "none", "contraindicated"}
    if plan["procedure"]["kind"] in ("microdochectomy", "hadfield"):
        assert (o / "excision.vtp").exists()
    # The segmentation shows the ducts where the tree puts them: one segment per system
    # with branches, the centreline inside its own system's label (where two systems' tubes
    # touch near the nipple, the later one's label wins).
    from reconstruction.seg_io import read_segmentation
    labels, frame, segments = read_segmentation(o / "segmentation.seg.nrrd")
    assert sorted(sg["label"] for sg in segments) == sorted({b["system"] + 1 for b in plan["branches"]})
    for b in plan["branches"]:
        zyx = np.round(frame.physical_to_array_index(np.asarray(b["points_mm"]))).astype(int)
        zyx = np.clip(zyx, 0, np.array(labels.shape) - 1)
        assert np.mean(labels[tuple(zyx.T)] == b["system"] + 1) >= 0.9, b["id"]


def test_demo_runs_the_whole_plan_on_a_built_in_sample(tmp_path, capsys):
    # 'purulent' decides on the clinical context alone, so the check does not hinge on
    # the reconstruction's accuracy; the whole pipeline still runs (sample -> plan).
    out_dir = tmp_path / "demo"
    code, out, err = _run(["demo", "-o", str(out_dir), "--sample", "purulent", "--no-report"], capsys)
    assert code == 0, err
    plan = json.loads((out_dir / "plan" / "plan.json").read_text())
    assert plan["procedure"]["kind"] == "contraindicated"
    for name in ("tree.vtp", "lesions.mrk.json", "segmentation.seg.nrrd"):
        assert (out_dir / "plan" / name).is_file()
    assert (out_dir / "sample" / "volume.nrrd").is_file()
    assert "Proposed: contraindicated" in out and str(out_dir / "plan" / "plan.json") in out


def test_plan_reads_slices_stored_along_x_and_says_so(sample_of, tmp_path, capsys):
    """Another converter's layout (the DBT slices along the file's first axis): read back
    in place, the plan proposes what the truth expects and says what the reader did."""
    s = sample_of("single-papilloma")
    f = s.volume.frame
    sitk.WriteImage(image_with_slices_along(s.volume, 0), str(tmp_path / "x-slices.nrrd"))
    (tmp_path / "c.json").write_text(json.dumps(s.truth["clinical"]))
    code, out, err = _run(["plan", str(tmp_path / "x-slices.nrrd"), "-o", str(tmp_path / "out"),
                           "--clinical", str(tmp_path / "c.json"), "--no-report"], capsys)
    assert code == 0, err
    plan = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert plan["input"]["spacing_mm"] == [round(v, 6) for v in f.spacing]
    assert any(w.startswith("reading the volume: the slices") and "x axis" in w for w in plan["warnings"])
    assert plan["procedure"]["kind"] == s.truth["expected_procedure"]
