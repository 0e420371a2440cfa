"""Sample volumes: truth consistency, determinism, file round trips, DBT image properties."""
from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy.spatial import cKDTree

from reconstruction.frame import ImageFrame
from reconstruction.io import read_volume
from reconstruction.tree import DuctTree
from sample_volumes import make_sample, preset_names, write_sample
from sample_volumes.image_stats import (background_spectrum_slope, lumen_contrast_to_noise,
                                        thin_duct_z_fwhm)

PRESETS = [n for n in preset_names() if n != "full-field"]  # full-field lives in benchmarks/


@pytest.mark.parametrize("name", PRESETS)
def test_truth_is_consistent(sample_of, name):
    s = sample_of(name)
    t = s.truth
    tree = DuctTree.from_dict(t["tree"])
    tree.validate()
    nipple = np.asarray(t["nipple_mm"])
    assert len(t["opacified_systems"]) >= 1
    for sid in t["opacified_systems"]:
        system = tree.systems[sid]
        # Every system is rooted at its own orifice on the nipple.
        assert np.linalg.norm(system.orifice_mm - nipple) < 8.0
        root = tree.branches[system.root_branch]
        assert root.parent is None and np.allclose(root.points_mm[0], system.orifice_mm, atol=1e-3)
        depth = max(b.generation for b in tree.branches if b.system == sid)
        assert 3 <= depth <= 7
        reach = max(np.linalg.norm(b.points_mm - nipple, axis=1).max() for b in tree.branches if b.system == sid)
        assert 25.0 <= reach <= 100.0, f"system {sid} reaches {reach:.0f} mm from the nipple"
    # Every lesion and artefact lies in a duct of its own system.
    for row in t["lesions"] + t["artefacts"]:
        pts = np.concatenate([b.points_mm for b in tree.branches if b.system == row["system"]])
        rad = np.concatenate([b.radius_mm for b in tree.branches if b.system == row["system"]])
        d, i = cKDTree(pts).query(row["center_mm"])
        assert d <= max(rad[i], 0.5 * row["diameter_mm"]) + 0.5, f"{row['kind']} is {d:.1f} mm from its duct"
    # Every lesion and the volume agree with the frame: inside the image.
    frame = ImageFrame.from_dict(t["frame"])
    assert frame.contains_physical(np.asarray([r["center_mm"] for r in t["lesions"]] or np.zeros((0, 3)))).all()
    assert t["expected_procedure"] in {"microdochectomy", "hadfield", "none", "contraindicated"}


def test_radii_taper_from_parent_to_child(sample_of):
    tree = DuctTree.from_dict(sample_of("normal").truth["tree"])
    for b in tree.branches:
        if b.parent is not None:
            parent_end = tree.branches[b.parent].radius_mm[-1]
            assert b.radius_mm[0] <= 0.995 * parent_end + 1e-6
            assert b.radius_mm[0] >= 0.6 * parent_end


def test_main_duct_and_first_branch_are_anatomical(sample_of):
    tree = DuctTree.from_dict(sample_of("normal").truth["tree"])
    root = tree.branches[tree.systems[0].root_branch]
    width = 2 * root.radius_mm
    assert 1.5 <= width[0] <= 2.5                      # main duct 1.5-2.5 mm at the orifice
    assert width.max() > 1.2 * width[0]                # an ampulla widens it behind the nipple
    assert root.length_mm <= 16.0                      # first branch within ~15 mm


def test_same_seed_same_voxels_other_seed_other_voxels(sample_of):
    a = sample_of("air-bubble").volume.array
    b = make_sample("air-bubble", seed=0).volume.array
    assert np.array_equal(a, b)
    c = make_sample("air-bubble", seed=1).volume.array
    assert not np.array_equal(a, c)


def test_air_bubble_is_an_artefact_not_a_lesion(sample_of):
    t = sample_of("air-bubble").truth
    assert t["lesions"] == [] and len(t["artefacts"]) >= 1
    assert all(a["kind"] == "air_bubble" for a in t["artefacts"])


def test_obstruction_stops_the_contrast(sample_of):
    t = sample_of("obstructing-papilloma").truth
    tree = DuctTree.from_dict(t["tree"])
    les = t["lesions"][0]
    assert les["obstructing"]
    blocked = tree.branches[les["branch"]]
    assert not blocked.opacified.all()
    for d in tree.descendants(les["branch"])[1:]:
        assert not tree.branches[d].opacified.any()


@pytest.mark.parametrize("name", PRESETS)
def test_image_looks_like_a_dbt_galactogram(sample_of, name):
    s = sample_of(name)
    a, f, t = s.volume.array, s.volume.frame, s.truth
    # Stated range: opacified main ducts stand out of textured tissue, but not absurdly.
    cnr = lumen_contrast_to_noise(a, f, t)
    assert 0.8 <= cnr <= 10.0, f"CNR {cnr:.2f}"
    # Out-of-plane blur: a thin duct spreads over more than two slices.
    fwhm = thin_duct_z_fwhm(a, f, t)
    assert fwhm > 2 * f.spacing[2], f"z FWHM {fwhm:.1f} mm"
    # Background texture: power-law spectrum with beta ~3.
    beta = background_spectrum_slope(a, f, t)
    assert 2.5 <= beta <= 3.5, f"beta {beta:.2f}"
    assert np.isfinite(a).all() and a.dtype == np.float32


def test_blur_is_worse_along_z_than_in_plane(sample_of):
    """A thin duct is sharp in-plane (< 2 mm wide) but blurred over many mm along z."""
    s = sample_of("normal")
    a, f, t = s.volume.array, s.volume.frame, s.truth
    assert thin_duct_z_fwhm(a, f, t) > 3.0


def test_narrow_arc_blurs_depth_more_than_wide_arc():
    narrow = make_sample("normal", seed=3, scanner="narrow")
    wide = make_sample("normal", seed=3, scanner="wide")
    fw_n = thin_duct_z_fwhm(narrow.volume.array, narrow.volume.frame, narrow.truth)
    fw_w = thin_duct_z_fwhm(wide.volume.array, wide.volume.frame, wide.truth)
    assert fw_n > fw_w


@pytest.mark.parametrize("fmt", ["nrrd", "nifti", "dicom", "dicom-series"])
def test_sample_files_round_trip(sample_of, tmp_path, fmt):
    s = sample_of("two-systems")
    paths = write_sample(s, tmp_path / fmt, fmt=fmt, preview=(fmt == "nrrd"))
    vol = read_volume(paths["volume"])
    f0, f1 = s.volume.frame, vol.frame
    assert f1.size == f0.size
    np.testing.assert_allclose(f1.spacing, f0.spacing, atol=1e-4)
    # Same physical place for the corner voxels (DICOM may reorder a left-handed stack).
    corners = np.array([[0, 0, 0], [f0.size[0] - 1, f0.size[1] - 1, f0.size[2] - 1]], float)
    p0 = f0.index_to_physical(corners)
    np.testing.assert_allclose(np.sort(f1.index_to_physical(corners), 0), np.sort(p0, 0), atol=1e-3)
    tol = 0 if fmt in ("nrrd", "nifti") else (s.volume.array.max() - s.volume.array.min()) / 60000
    np.testing.assert_allclose(vol.array, s.volume.array, atol=tol + 1e-4)
    assert vol.laterality == s.volume.laterality
    truth = json.loads(paths["truth"].read_text())
    assert truth["frame"] == f0.to_dict() and truth["expected_procedure"] == "hadfield"
    if fmt == "nrrd":
        assert paths["preview"].stat().st_size > 10_000


def test_multiframe_dicom_is_breast_tomosynthesis(sample_of, tmp_path):
    s = sample_of("multi-papilloma-one-system")
    path = write_sample(s, tmp_path, fmt="dicom", preview=False)["volume"]
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.13.1.3"
    assert int(ds.NumberOfFrames) == s.volume.array.shape[0]
    pm = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert [float(v) for v in pm.PixelSpacing] == pytest.approx([0.15, 0.15])
    assert float(pm.SliceThickness) == pytest.approx(1.0)
    assert ds.ImageLaterality == "R"
    assert ds.ViewCodeSequence[0].CodeMeaning.lower().startswith("medio-lateral oblique")
    pos = [np.array(fg.PlanePositionSequence[0].ImagePositionPatient, float)
           for fg in ds.PerFrameFunctionalGroupsSequence]
    steps = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    np.testing.assert_allclose(steps, 1.0, atol=1e-3)


def test_nrrd_read_by_simpleitk_matches_frame(sample_of, tmp_path):
    s = sample_of("cutoff")
    path = write_sample(s, tmp_path, fmt="nrrd", preview=False)["volume"]
    img = sitk.ReadImage(str(path))
    f = s.volume.frame
    np.testing.assert_allclose(img.GetOrigin(), f.origin, atol=1e-4)
    np.testing.assert_allclose(img.GetDirection(), f.direction, atol=1e-6)
    # The contract's coordinate convention: truth mm = TransformContinuousIndexToPhysicalPoint.
    les = s.truth["lesions"][0]["center_mm"]
    idx = img.TransformPhysicalPointToContinuousIndex(les)
    np.testing.assert_allclose(img.TransformContinuousIndexToPhysicalPoint(idx), les, atol=1e-6)
    np.testing.assert_allclose(f.physical_to_index(les), idx, atol=1e-6)


def _tortuosity(tree: DuctTree) -> float:
    """Median path length over chord of the branches longer than 5 mm."""
    ratios = [b.length_mm / np.linalg.norm(b.points_mm[-1] - b.points_mm[0])
              for b in tree.branches if b.length_mm > 5.0]
    return float(np.median(ratios))


def test_thin_tortuous_duct_model_grows_thinner_more_tortuous_ducts(sample_of):
    standard = sample_of("normal")
    thin = make_sample("normal", seed=0, ducts="thin-tortuous")
    trees = [DuctTree.from_dict(s.truth["tree"]) for s in (standard, thin)]
    radius = [np.median(np.concatenate([b.radius_mm for b in t.branches])) for t in trees]
    assert radius[1] < 0.75 * radius[0]
    assert _tortuosity(trees[1]) > _tortuosity(trees[0])
    # still a galactogram: the thin ducts stand out of their background (standard: 2.2)
    assert lumen_contrast_to_noise(thin.volume.array, thin.volume.frame, thin.truth, min_radius_mm=0.2) > 1.0
    with pytest.raises(ValueError, match="unknown duct model"):
        make_sample("normal", ducts="spaghetti")
