"""Volume files: every format written and read back, and every bad input refused kindly."""
from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from reconstruction.atomic import atomic_write, atomic_write_dir
from reconstruction.frame import ImageFrame
from reconstruction.io import VolumeError, read_volume
from reconstruction.seg_io import read_segmentation, write_segmentation
from reconstruction.volume import Volume
from sample_volumes.writers import BTO_SOP_CLASS_UID, CT_SOP_CLASS_UID, write_volume

from layouts import image_with_slices_along

SHAPE_ZYX = (8, 30, 40)
ORIGIN = (-61.3, 20.7, 5.5)


def _rot_y(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


# Three frames: a 180-degree flip of y and z (image rows running towards -y, as
# in many scanners), an MLO-like 45-degree oblique view with unequal in-plane
# spacing (catches row/column spacing swaps), and a left-handed mirror.
FRAMES = {
    "flip": ImageFrame(origin=ORIGIN, spacing=(0.15, 0.15, 1.0),
                       direction=tuple(np.diag([1.0, -1.0, -1.0]).ravel()), size=SHAPE_ZYX[::-1]),
    "oblique": ImageFrame(origin=ORIGIN, spacing=(0.12, 0.15, 1.0),
                          direction=tuple(_rot_y(45).ravel()), size=SHAPE_ZYX[::-1]),
    "mirror": ImageFrame(origin=ORIGIN, spacing=(0.15, 0.15, 1.0),
                         direction=tuple(np.diag([1.0, 1.0, -1.0]).ravel()), size=SHAPE_ZYX[::-1]),
}


def _volume(frame_name: str = "oblique", *, laterality: str | None = "L", view: str | None = "MLO") -> Volume:
    rng = np.random.default_rng(7)
    array = rng.normal(100.0, 25.0, SHAPE_ZYX).astype(np.float32)
    array[3, 10:20, 5:30] += 400.0  # a bright "duct" so the range is not just noise
    return Volume(array=array, frame=FRAMES[frame_name], laterality=laterality, view=view, source="test")


def _canonical(volume: Volume) -> tuple[np.ndarray, ImageFrame]:
    """The same voxels in a right-handed frame (what DICOM can express)."""
    f = volume.frame
    d = f.direction_matrix
    if np.linalg.det(d) > 0:
        return volume.array, f
    origin = f.index_to_physical([0, 0, f.size[2] - 1])
    d = d.copy()
    d[:, 2] *= -1
    return volume.array[::-1], ImageFrame(origin=tuple(origin), spacing=f.spacing,
                                          direction=tuple(d.ravel()), size=f.size)


def _assert_same_frame(a: ImageFrame, b: ImageFrame, *, atol: float = 1e-4) -> None:
    assert a.size == b.size
    np.testing.assert_allclose(a.origin, b.origin, atol=atol)
    np.testing.assert_allclose(a.spacing, b.spacing, atol=atol)
    np.testing.assert_allclose(a.direction, b.direction, atol=atol)


# ------------------------------------------------------------------- round trips
@pytest.mark.parametrize("frame_name", sorted(FRAMES))
@pytest.mark.parametrize("name", ["v.nrrd", "v.nii", "v.nii.gz", "v.mha"])
def test_sitk_formats_round_trip_exactly(tmp_path, name, frame_name):
    vol = _volume(frame_name)
    out = write_volume(vol, tmp_path / name)
    back = read_volume(out)
    _assert_same_frame(back.frame, vol.frame)
    assert back.array.dtype == np.float32
    np.testing.assert_array_equal(back.array, vol.array)
    assert (back.laterality, back.view) == ("L", "MLO")
    assert back.source == str(out)
    assert back.metadata["warnings"] == []


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("name", ["v.nrrd", "v.nii.gz"])
def test_slices_stored_along_another_axis_are_put_back_third(tmp_path, axis, name):
    """A converter that stores the DBT slices along x or y: the coarse axis is found and
    the voxels reordered, each at its physical place; the frame stays right-handed."""
    volume = _volume("flip")
    path = tmp_path / name
    image = image_with_slices_along(volume, axis)
    assert image.GetSpacing()[axis] == 1.0                      # the file really is laid out otherwise
    sitk.WriteImage(image, str(path))
    back = read_volume(path)
    np.testing.assert_array_equal(back.array, volume.array)
    _assert_same_frame(back.frame, volume.frame)
    assert np.linalg.det(back.frame.direction_matrix) > 0
    assert any("slices" in w and "xyz"[axis] + " axis" in w for w in back.metadata["warnings"])


def test_isotropic_or_canonical_volumes_are_not_reordered(tmp_path):
    from reconstruction.volume import slices_last

    volume = _volume("flip")
    same, note = slices_last(volume)
    assert same is volume and note is None
    iso = Volume(volume.array, ImageFrame(origin=ORIGIN, spacing=(0.5, 0.5, 0.5),
                                          direction=volume.frame.direction, size=volume.frame.size))
    same, note = slices_last(iso)
    assert same is iso and note is None


def test_nrrd_stores_laterality_and_view_as_header_keys(tmp_path):
    out = write_volume(_volume("flip", laterality="R", view="CC"), tmp_path / "v.nrrd", compress=False)
    header = out.read_bytes()[:2000].decode("latin-1")
    assert "ductplan_laterality:=R" in header and "ductplan_view:=CC" in header
    assert "space: left-posterior-superior" in header


@pytest.mark.parametrize("frame_name", sorted(FRAMES))
@pytest.mark.parametrize("fmt", ["dicom", "dicom-series"])
def test_dicom_round_trip(tmp_path, fmt, frame_name):
    vol = _volume(frame_name)
    out = write_volume(vol, tmp_path / ("v.dcm" if fmt == "dicom" else "series"), fmt=fmt)
    back = read_volume(out)
    # DICOM frames are sorted along row x column: a left-handed volume comes back
    # as the same voxels in the same places, in a right-handed frame.
    expected_array, expected_frame = _canonical(vol)
    _assert_same_frame(back.frame, expected_frame)
    quantum = float(vol.array.max() - vol.array.min()) / 65535
    assert np.abs(back.array - expected_array).max() <= 0.5 * quantum + 1e-4
    assert (back.laterality, back.view) == ("L", "MLO")
    assert back.metadata["format"] == fmt
    # every voxel lands at the same physical place as before
    p_orig = vol.frame.array_index_to_physical([[2, 5, 7]])
    idx = np.rint(back.frame.physical_to_array_index(p_orig)).astype(int)[0]
    assert back.array[tuple(idx)] == pytest.approx(vol.array[2, 5, 7], abs=quantum)


@pytest.mark.parametrize("fmt", ["dicom", "dicom-series"])
def test_monochrome1_dicom_reads_with_contrast_bright(tmp_path, fmt):
    """Stored inverted (MONOCHROME1: low values display white), read as bright contrast:
    the grey values differ from the MONOCHROME2 file's by a constant only."""
    vol = _volume("flip")
    out = write_volume(vol, tmp_path / ("v.dcm" if fmt == "dicom" else "series"), fmt=fmt)
    plain = read_volume(out).array
    for f in ([out] if fmt == "dicom" else sorted(out.iterdir())):
        ds = pydicom.dcmread(f)
        top = (1 << int(ds.BitsStored)) - 1
        ds.PixelData = (top - ds.pixel_array.astype(np.int64)).astype(ds.pixel_array.dtype).tobytes()
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.save_as(f)
    back = read_volume(out)
    diff = back.array.astype(np.float64) - plain
    quantum = float(vol.array.max() - vol.array.min()) / 65535
    assert np.ptp(diff) <= 2.0 * quantum + 1e-3
    assert back.array[3, 15, 20] > np.median(back.array) + 200      # the bright "duct" stays bright


def test_integer_volume_is_exact_in_dicom(tmp_path):
    vol = _volume("flip")
    vol.array = np.round(vol.array).astype(np.float32)
    back = read_volume(write_volume(vol, tmp_path / "v.dcm"))
    np.testing.assert_array_equal(back.array, vol.array)


def test_multiframe_file_is_breast_tomosynthesis_with_functional_groups(tmp_path):
    vol = _volume("oblique", laterality="R", view="CC")
    out = write_volume(vol, tmp_path / "v.dcm")
    ds = pydicom.dcmread(out)
    f = vol.frame
    assert ds.SOPClassUID == BTO_SOP_CLASS_UID == ds.file_meta.MediaStorageSOPClassUID
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.Modality == "MG" and ds.ImageLaterality == "R"
    assert int(ds.NumberOfFrames) == 8 and (ds.Rows, ds.Columns) == (30, 40)
    assert ds.ViewCodeSequence[0].CodeValue == "399162004"
    assert ds.ViewCodeSequence[0].CodingSchemeDesignator == "SCT"
    for uid in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID):
        assert pydicom.uid.UID(uid).is_valid
    shared = ds.SharedFunctionalGroupsSequence[0]
    measures = shared.PixelMeasuresSequence[0]
    # PixelSpacing is (row spacing = y, column spacing = x)
    np.testing.assert_allclose([float(v) for v in measures.PixelSpacing], [f.spacing[1], f.spacing[0]])
    assert float(measures.SliceThickness) == float(measures.SpacingBetweenSlices) == 1.0
    d = f.direction_matrix
    np.testing.assert_allclose([float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient],
                               [*d[:, 0], *d[:, 1]], atol=1e-9)
    transform = shared.PixelValueTransformationSequence[0]
    assert float(transform.RescaleSlope) > 0
    assert float(shared.FrameVOILUTSequence[0].WindowWidth) > 0
    assert shared.FrameAnatomySequence[0].FrameLaterality == "R"
    per_frame = ds.PerFrameFunctionalGroupsSequence
    assert len(per_frame) == 8
    for k, item in enumerate(per_frame):
        ipp = [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
        np.testing.assert_allclose(ipp, f.index_to_physical([0, 0, k]), atol=1e-6)
        assert item.FrameContentSequence[0].InStackPositionNumber == k + 1
    assert len(ds.DimensionIndexSequence) == 2
    assert ds.pixel_array.dtype == np.uint16


def test_simpleitk_reads_our_multiframe_file_with_the_right_geometry(tmp_path):
    vol = _volume("oblique")
    image = sitk.ReadImage(str(write_volume(vol, tmp_path / "v.dcm")))
    _assert_same_frame(ImageFrame.from_sitk(image), vol.frame)
    quantum = float(vol.array.max() - vol.array.min()) / 65535
    assert np.abs(sitk.GetArrayFromImage(image) - vol.array).max() <= quantum


def test_series_is_classic_ct_that_gdcm_places_correctly(tmp_path):
    vol = _volume("flip", laterality="R", view="CC")
    folder = write_volume(vol, tmp_path / "series")
    files = sorted(folder.iterdir())
    assert len(files) == 8
    first = pydicom.dcmread(files[0])
    assert first.SOPClassUID == CT_SOP_CLASS_UID
    assert first.ImageLaterality == "R" and first.Laterality == "R"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    _assert_same_frame(ImageFrame.from_sitk(reader.Execute()), vol.frame)


def test_explicit_laterality_and_view_override_the_file(tmp_path):
    out = write_volume(_volume("flip"), tmp_path / "v.dcm")
    back = read_volume(out, laterality="right", view="cc")
    assert (back.laterality, back.view) == ("R", "CC")
    with pytest.raises(VolumeError, match="laterality must be 'L' or 'R', got 'B'"):
        read_volume(out, laterality="B")


def test_unknown_laterality_stays_unknown(tmp_path):
    back = read_volume(write_volume(_volume("flip", laterality=None, view=None), tmp_path / "v.dcm"))
    assert (back.laterality, back.view) == (None, None)


def test_folder_with_two_series_reads_the_bigger_and_warns(tmp_path):
    big = write_volume(_volume("flip"), tmp_path / "big")
    small_vol = _volume("flip")
    small_vol.array, small_vol.frame = small_vol.array[:4], small_vol.frame.with_size((40, 30, 4))
    small = write_volume(small_vol, tmp_path / "small")
    for f in small.iterdir():
        shutil.move(str(f), big / f"small_{f.name}")
    back = read_volume(big)
    assert back.array.shape == SHAPE_ZYX
    assert any("2 DICOM series" in w for w in back.metadata["warnings"])


def test_folder_holding_one_multiframe_file(tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    write_volume(_volume("flip"), folder / "v.dcm")
    assert read_volume(folder).array.shape == SHAPE_ZYX


# ------------------------------------------------------------------ writer errors
def test_writer_refuses_mismatched_suffix_and_detached_headers(tmp_path):
    vol = _volume()
    with pytest.raises(ValueError, match="needs a file name ending in .nrrd"):
        write_volume(vol, tmp_path / "v.nii", fmt="nrrd")
    with pytest.raises(ValueError, match="detached headers"):
        write_volume(vol, tmp_path / "v.mhd")
    with pytest.raises(ValueError, match="cannot tell the format"):
        write_volume(vol, tmp_path / "v.png")


def test_dicom_writer_refuses_nan_and_leaves_nothing(tmp_path):
    vol = _volume()
    vol.array[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="1 NaN/Inf voxels"):
        write_volume(vol, tmp_path / "v.dcm")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------- read errors
def _nrrd(path: Path, lines: list[str], data: bytes = b"") -> Path:
    base = ["type: float", "dimension: 3", "space: left-posterior-superior",
            "kinds: domain domain domain", "endian: little", "encoding: raw"]
    path.write_bytes(("NRRD0004\n" + "\n".join(base + lines) + "\n\n").encode() + data)
    return path


_CUBE = np.arange(27, dtype=np.float32).tobytes()


def _sitk_file(path: Path, array: np.ndarray, *, vector: bool = False) -> Path:
    sitk.WriteImage(sitk.GetImageFromArray(array, isVector=vector), str(path))
    return path


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.nrrd", "missing.nrrd: no such file or folder"),
    (lambda d: (d / "notes.nrrd").write_text("hello\n") and d / "notes.nrrd",
     "notes.nrrd: not a NRRD file .it starts with text 'hello'"),
    (lambda d: shutil.copy(_sitk_file(d / "p.png", np.zeros((5, 5), np.uint8)), d / "p.nrrd") and d / "p.nrrd",
     "p.nrrd: not a NRRD file .it is a PNG image"),
    (lambda d: _sitk_file(d / "p.png", np.zeros((5, 5), np.uint8)), "unsupported format '.png'"),
    (lambda d: (d / "x.mha").write_bytes(b"\x00\x01garbage") and d / "x.mha", "not a MetaImage file"),
    (lambda d: (d / "x.nii.gz").write_bytes(gzip.compress(b"\x00" * 400)) and d / "x.nii.gz",
     "not a NIfTI file"),
    (lambda d: _sitk_file(d / "flat.nrrd", np.ones((30, 40), np.float32)),
     r"2D image \(40 x 30 voxels\); a galactogram volume needs at least 3 slices"),
    (lambda d: _sitk_file(d / "one.nrrd", np.ones((1, 30, 40), np.float32)), r"2D image \(40 x 30 x 1"),
    (lambda d: _sitk_file(d / "two.nii.gz", np.ones((2, 30, 40), np.float32)),
     r"too thin a volume \(40 x 30 x 2 voxels\)"),
    (lambda d: _sitk_file(d / "rgb.nrrd", np.ones((8, 30, 40, 3), np.uint8), vector=True),
     "3 components per voxel .RGB or vector"),
    (lambda d: _sitk_file(d / "c.nrrd", np.ones((8, 30, 40), np.complex64)), "complex voxels"),
    (lambda d: _nrrd(d / "empty.nrrd", ["sizes: 0 3 3", "space directions: (1,0,0) (0,1,0) (0,0,1)"]),
     r"empty volume \(sizes 0 x 3 x 3, 0 voxels\)"),
    (lambda d: _sitk_file(d / "const.nrrd", np.full((8, 30, 40), 5.0, np.float32)),
     r"constant volume \(every voxel is 5\)"),
    (lambda d: _nrrd(d / "nospacing.nrrd", ["sizes: 3 3 3"], _CUBE), "missing spacing"),
    (lambda d: _nrrd(d / "zero.nrrd", ["sizes: 3 3 3", "space directions: (0,0,0) (0,1,0) (0,0,1)"], _CUBE),
     r"zero spacing in 'space directions: \(0,0,0\)"),
    (lambda d: _nrrd(d / "nan.nrrd", ["sizes: 3 3 3", "space directions: (nan,0,0) (0,1,0) (0,0,1)"], _CUBE),
     "non-finite spacing"),
    (lambda d: _nrrd(d / "skew.nrrd", ["sizes: 3 3 3", "space directions: (1,0,0) (0.5,1,0) (0,0,1)"], _CUBE),
     "is not orthonormal"),
    (lambda d: (d / "m.mha").write_bytes(b"ObjectType = Image\nNDims = 3\nDimSize = 3 3 3\n"
                                         b"ElementType = MET_FLOAT\nElementDataFile = LOCAL\n" + _CUBE)
     and d / "m.mha", "missing spacing .no ElementSpacing"),
])
def test_bad_files_give_one_clear_line(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(VolumeError, match=message) as info:
        read_volume(path)
    text = str(info.value)
    assert "\n" not in text and path.name in text


def test_nan_and_inf_voxels_are_counted(tmp_path):
    array = _volume().array
    array[0, 0, :3] = np.nan
    array[1, 1, :2] = np.inf
    path = _sitk_file(tmp_path / "bad.nrrd", array)
    with pytest.raises(VolumeError, match=r"bad.nrrd: 3 NaN and 2 infinite voxels out of 9600"):
        read_volume(path)


def test_zero_nifti_pixdim_is_refused_not_guessed(tmp_path):
    path = _sitk_file(tmp_path / "v.nii", _volume().array)
    raw = bytearray(path.read_bytes())
    raw[80:84] = struct.pack("<f", 0.0)  # pixdim[1]: x spacing
    path.write_bytes(bytes(raw))
    with pytest.raises(VolumeError, match=r"zero or non-finite spacing \(pixdim \[0.0, 1.0, 1.0\]\)"):
        read_volume(path)


# ------------------------------------------------------------ DICOM read errors
def _edited_bto(tmp_path: Path, edit) -> Path:
    src = write_volume(_volume("flip"), tmp_path / "src.dcm")
    ds = pydicom.dcmread(src)
    edit(ds)
    out = tmp_path / "edited.dcm"
    ds.save_as(out, enforce_file_format=True)
    return out


def _shift_frame(ds, k: int, dz: float) -> None:
    item = ds.PerFrameFunctionalGroupsSequence[k].PlanePositionSequence[0]
    x, y, z = (float(v) for v in item.ImagePositionPatient)
    item.ImagePositionPatient = [x, y, round(z + dz, 6)]


def _measures(ds):
    return ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]


@pytest.mark.parametrize("edit, message", [
    (lambda ds: _shift_frame(ds, 3, -0.4), r"uneven slice spacing: frame positions are 0.6 to 1.4 mm apart"),
    (lambda ds: _shift_frame(ds, 3, -1.0), r"frames \d and \d are at the same position"),
    (lambda ds: setattr(_measures(ds), "SpacingBetweenSlices", 2.0),
     r"SpacingBetweenSlices 2 mm disagrees with the per-frame positions, which are 1 mm apart"),
    (lambda ds: setattr(_measures(ds), "PixelSpacing", [0.15, 0]), r"zero or non-finite PixelSpacing \[0.15, 0.0\]"),
    (lambda ds: delattr(_measures(ds), "PixelSpacing"), "missing PixelSpacing"),
    (lambda ds: setattr(ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0],
                        "ImageOrientationPatient", [1, 0, 0, 0.5, 1, 0]), "is not orthonormal"),
    (lambda ds: setattr(ds, "SamplesPerPixel", 3), "3 samples per pixel"),
    (lambda ds: setattr(ds, "NumberOfFrames", 2), r"too thin a volume \(40 x 30 x 2"),
])
def test_bad_multiframe_dicom(tmp_path, edit, message):
    path = _edited_bto(tmp_path, edit)
    with pytest.raises(VolumeError, match=message) as info:
        read_volume(path)
    assert "edited.dcm" in str(info.value) and "\n" not in str(info.value)


def test_single_2d_dicom_file_asks_for_the_folder(tmp_path):
    folder = write_volume(_volume("flip"), tmp_path / "series")
    with pytest.raises(VolumeError, match="a single 2D DICOM image .*give the folder of the series"):
        read_volume(folder / "IMG0001.dcm")


def test_folder_without_dicom(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(VolumeError, match="no DICOM series in this folder"):
        read_volume(tmp_path)


def test_series_with_a_missing_slice_is_refused(tmp_path):
    folder = write_volume(_volume("flip"), tmp_path / "series")
    (folder / "IMG0004.dcm").unlink()
    with pytest.raises(VolumeError, match="uneven slice spacing: frame positions are 1 to 2 mm apart"):
        read_volume(folder)


# ------------------------------------------------------------------------ atomic
def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "v.nii.gz"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name.endswith(".nii.gz")
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["v.nii.gz"]


def test_atomic_write_dir_replaces_only_at_the_end(tmp_path):
    target = tmp_path / "series"
    target.mkdir()
    (target / "old.dcm").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write_dir(target) as tmp:
            (tmp / "new.dcm").write_text("new")
            assert (target / "old.dcm").exists()  # untouched while writing
            raise RuntimeError("crash")
    assert [p.name for p in target.iterdir()] == ["old.dcm"]
    with atomic_write_dir(target) as tmp:
        (tmp / "new.dcm").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.dcm"]
    assert [p.name for p in tmp_path.iterdir()] == ["series"]


# ---------------------------------------------------------------------- seg.nrrd
def test_seg_nrrd_round_trip_with_two_segments(tmp_path):
    frame = FRAMES["oblique"]
    labels = np.zeros(SHAPE_ZYX, dtype=np.uint8)
    labels[2:5, 3:9, 4:12] = 1
    labels[6, 20:25, 30:39] = 7
    segments = [dict(name="duct system 1", label=1, color=(0.9, 0.3, 0.2)),
                dict(name="lesion", label=7, color=(0.1, 0.8, 0.1), tags={"Segmentation.Status": "inprogress"})]
    out = write_segmentation(labels, frame, tmp_path / "ducts.seg.nrrd", segments=segments)
    back, frame2, segs = read_segmentation(out)
    np.testing.assert_array_equal(back, labels)
    _assert_same_frame(frame2, frame)
    assert [s["name"] for s in segs] == ["duct system 1", "lesion"]
    assert [s["label"] for s in segs] == [1, 7]
    np.testing.assert_allclose(segs[1]["color"], (0.1, 0.8, 0.1))
    assert segs[0]["extent"] == (4, 11, 3, 8, 2, 4)  # minI maxI minJ maxJ minK maxK
    assert segs[1]["tags"] == {"Segmentation.Status": "inprogress"}
    with open(out, "rb") as f:  # the header is plain text even when the voxels are gzipped
        header = f.read(4000).decode("latin-1").split("\n\n")[0]
    for line in ("Segmentation_MasterRepresentation:=Binary labelmap",
                 "Segmentation_ContainedRepresentationNames:=Binary labelmap|",
                 "Segment0_ID:=Segment_1", "Segment0_Name:=duct system 1", "Segment1_LabelValue:=7",
                 "Segment1_Layer:=0", "Segment0_Extent:=4 11 3 8 2 4", "Segment1_Tags:=Segmentation.Status:inprogress|"):
        assert line in header, line
    # the segmentation is a valid volume file for everyone else too
    assert read_volume(out).array.shape == SHAPE_ZYX


def test_seg_nrrd_refuses_undescribed_labels(tmp_path):
    labels = np.zeros(SHAPE_ZYX, dtype=np.uint8)
    labels[0, 0, 0] = 3
    with pytest.raises(ValueError, match=r"labels \[3\] appear in the array but no segment describes them"):
        write_segmentation(labels, FRAMES["flip"], tmp_path / "s.seg.nrrd",
                           segments=[dict(name="a", label=1, color=(1, 0, 0))])
    assert list(tmp_path.iterdir()) == []
