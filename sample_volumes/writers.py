"""Write a :class:`~reconstruction.volume.Volume` in every format ``ductplan`` reads.

Formats
-------
``"nrrd"`` (``.nrrd``), ``"nifti"`` (``.nii``, ``.nii.gz``), ``"mha"`` (``.mha``)
    Through SimpleITK, with the full frame (origin, spacing, direction).
    Laterality and view travel as header keys ``ductplan_laterality`` and
    ``ductplan_view`` (NRRD, MHA) or in the NIfTI ``descrip`` field.
``"dicom"`` (``.dcm``)
    ONE enhanced multi-frame file of the Breast Tomosynthesis Image Storage
    SOP class, geometry in the functional groups, as DBT systems deliver it.
``"dicom-series"`` (a folder)
    A classic single-frame series, one CT Image Storage file per slice, with
    ImagePositionPatient / ImageOrientationPatient / PixelSpacing, so that any
    DICOM reader (GDCM, SimpleITK, 3D Slicer) rebuilds the volume.

Both DICOM flavours store voxels as ``uint16`` with a linear rescale
(``value = stored * RescaleSlope + RescaleIntercept``): integer volumes that fit
16 bits are stored exactly (slope 1), anything else is spread over the full
0..65535 range, which keeps every value within ``range / 131070`` (about
``8e-6`` of the range) of the original.

Every write is atomic: nothing half-written is left behind (see
:mod:`reconstruction.atomic`).
"""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import numpy as np

from reconstruction.atomic import atomic_write, atomic_write_dir
from reconstruction.frame import ImageFrame
from reconstruction.volume import Volume

__all__ = ["write_volume", "FORMATS", "BTO_SOP_CLASS_UID", "CT_SOP_CLASS_UID", "VIEW_CODES"]

FORMATS = ("nrrd", "nifti", "mha", "dicom", "dicom-series")

#: Breast Tomosynthesis Image Storage.
BTO_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.13.1.3"
#: CT Image Storage: the classic single-frame class that every DICOM reader can
#: place in space (mammography classes carry no ImagePositionPatient).
CT_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.2"

#: Mammographic views as SNOMED CT codes (DICOM CID 4014), the codes modern
#: ViewCodeSequence items carry.
VIEW_CODES: dict[str, tuple[str, str]] = {
    "CC": ("399162004", "cranio-caudal"),
    "MLO": ("399368009", "medio-lateral oblique"),
    "ML": ("399260004", "medio-lateral"),
    "LM": ("399352003", "latero-medial"),
}

_BREAST_CODE = ("76752008", "SCT", "Breast")
_SUFFIX_FORMATS = {".nrrd": "nrrd", ".nii": "nifti", ".nii.gz": "nifti", ".mha": "mha",
                   ".dcm": "dicom", ".dicom": "dicom"}
_SITK_SUFFIXES = {"nrrd": (".nrrd",), "nifti": (".nii", ".nii.gz"), "mha": (".mha",)}
_UINT16_MAX = 65535


# ----------------------------------------------------------------------------- public
def write_volume(volume: Volume, path: str | os.PathLike, *, fmt: str | None = None,
                 patient_name: str = "ductplan^sample",
                 study_description: str = "DBT galactogram",
                 compress: bool = True) -> Path:
    """Write ``volume`` to ``path`` in one of the formats ``ductplan`` reads.

    Parameters
    ----------
    volume : Volume
        Voxels ``(z, y, x)`` and their frame.  Laterality and view are stored
        when set.
    path : str or PathLike
        Output file, or output folder for ``"dicom-series"``.  Missing parent
        folders are created.  An existing file or folder is replaced only once
        the new one is complete.
    fmt : {"nrrd", "nifti", "mha", "dicom", "dicom-series"}, optional
        Format; by default from the suffix (``.nrrd``, ``.nii``, ``.nii.gz``,
        ``.mha``, ``.dcm``); a path without suffix means ``"dicom-series"``.
    patient_name : str
        DICOM PatientName (``Family^Given``); DICOM formats only.
    study_description : str
        DICOM StudyDescription; DICOM formats only.
    compress : bool
        Gzip the voxels of NRRD and MHA files (``.nii.gz`` is always, ``.nii``
        never compressed).

    Returns
    -------
    Path
        The written file or folder.

    Raises
    ------
    ValueError
        For an unknown format, a suffix that does not match ``fmt``, detached
        headers (``.nhdr``, ``.mhd``: write ``.nrrd``/``.mha``), or NaN/Inf
        voxels in a DICOM output (DICOM stores integers).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> frame = ImageFrame.identity((3, 4, 5), spacing=(0.1, 0.1, 1.0))
    >>> vol = Volume(np.arange(60, dtype=np.float32).reshape(3, 4, 5), frame, laterality="L")
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> write_volume(vol, out / "v.nrrd").name
    'v.nrrd'
    >>> write_volume(vol, out / "v.dcm").name
    'v.dcm'
    """
    path = Path(path)
    fmt = _resolve_format(path, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in _SITK_SUFFIXES:
        _write_sitk(volume, path, fmt=fmt, compress=compress)
    elif fmt == "dicom":
        ds = _bto_dataset(volume, patient_name=patient_name, study_description=study_description)
        with atomic_write(path) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
    else:
        datasets = _ct_series_datasets(volume, patient_name=patient_name,
                                       study_description=study_description)
        with atomic_write_dir(path) as tmp:
            for k, ds in enumerate(datasets):
                ds.save_as(tmp / f"IMG{k + 1:04d}.dcm", enforce_file_format=True)
    return path


# --------------------------------------------------------------------------- helpers
def _full_suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _resolve_format(path: Path, fmt: str | None) -> str:
    suffix = _full_suffix(path)
    if suffix in (".nhdr", ".mhd"):
        raise ValueError(f"{path}: detached headers ({suffix}) are read but not written; "
                         f"write {'.nrrd' if suffix == '.nhdr' else '.mha'} instead")
    if fmt is None:
        if suffix == "":
            return "dicom-series"
        if suffix not in _SUFFIX_FORMATS:
            raise ValueError(f"{path}: cannot tell the format from suffix '{suffix}'; "
                             f"use one of {sorted(_SUFFIX_FORMATS)} or pass fmt= one of {FORMATS}")
        return _SUFFIX_FORMATS[suffix]
    if fmt not in FORMATS:
        raise ValueError(f"unknown volume format {fmt!r}; expected one of {FORMATS}")
    if fmt in _SITK_SUFFIXES and suffix not in _SITK_SUFFIXES[fmt]:
        # SimpleITK picks its writer from the suffix, so they must agree.
        raise ValueError(f"{path}: format {fmt!r} needs a file name ending in "
                         f"{' or '.join(_SITK_SUFFIXES[fmt])}, not '{suffix}'")
    return fmt


def _write_sitk(volume: Volume, path: Path, *, fmt: str, compress: bool) -> None:
    import SimpleITK as sitk

    image = volume.frame.to_sitk(volume.array)
    notes = []
    for key in ("laterality", "view"):
        value = getattr(volume, key)
        if value:
            image.SetMetaData(f"ductplan_{key}", str(value))
            notes.append(f"{key}={value}")
    if fmt == "nifti" and notes:
        # NIfTI keeps no free key/value pairs; ITK puts ITK_FileNotes into the
        # 80-character ``descrip`` field, which the reader parses back.
        image.SetMetaData("ITK_FileNotes", "ductplan " + " ".join(notes))
    with atomic_write(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=compress and fmt != "nifti")


def _ds(value: float):
    """A DICOM decimal string that fits its 16 characters (pydicom would refuse more)."""
    from pydicom.valuerep import DSfloat

    return DSfloat(float(value), auto_format=True)


def _quantise_uint16(array: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Stored uint16 values plus (slope, intercept) with ``array ~= stored * slope + intercept``.

    Slope and intercept are rounded to what a DICOM DS can hold *before*
    quantising, so the reader's reconstruction uses exactly the numbers the
    stored values were made with.  Works slice by slice so that a full-field
    DBT volume (10^8 voxels) needs no float64 copy.
    """
    a = np.asarray(array)
    bad = int(np.count_nonzero(~np.isfinite(a))) if np.issubdtype(a.dtype, np.floating) else 0
    if bad:
        raise ValueError(f"{bad} NaN/Inf voxels cannot be stored in DICOM (it holds integers)")
    lo, hi = float(a.min()), float(a.max())
    integral = all(np.array_equal(plane, np.round(plane)) for plane in a)
    if integral and hi - lo <= _UINT16_MAX:
        slope, intercept = 1.0, lo  # integer data: exact
    elif hi > lo:
        slope, intercept = (hi - lo) / _UINT16_MAX, lo
    else:
        slope, intercept = 1.0, lo  # constant volume: every stored value 0
    slope, intercept = float(_ds(slope)), float(_ds(intercept))
    stored = np.empty(a.shape, dtype="<u2")
    for k, plane in enumerate(a):
        q = np.rint((plane.astype(np.float64) - intercept) / slope)
        stored[k] = np.clip(q, 0, _UINT16_MAX)
    return stored, slope, intercept


def _window(array: np.ndarray) -> tuple[float, float]:
    """Window centre and width from robust percentiles (a subsample is plenty)."""
    flat = np.asarray(array).ravel()
    sample = flat[:: max(1, flat.size // 200_000)]
    lo, hi = np.percentile(sample, [0.5, 99.5])
    if hi <= lo:
        lo, hi = float(flat.min()), float(flat.max())
    width = max(float(hi - lo), 1e-6)
    return (float(lo) + float(hi)) / 2.0, width


def _orientation_letters(vector: np.ndarray) -> str:
    """DICOM patient-direction letters of an LPS unit vector, dominant first (``"LF"``)."""
    letters = (("L", "R"), ("P", "A"), ("H", "F"))
    out = ""
    for axis in np.argsort(-np.abs(vector), kind="stable"):
        if abs(vector[axis]) > 1e-3:
            out += letters[axis][0 if vector[axis] > 0 else 1]
    return out


def _code_item(value: str, scheme: str, meaning: str):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _view_sequence(view: str | None):
    from pydicom.sequence import Sequence

    if not view:
        return Sequence([])
    if view.upper() not in VIEW_CODES:
        raise ValueError(f"unknown mammographic view {view!r}; expected one of {sorted(VIEW_CODES)}")
    code, meaning = VIEW_CODES[view.upper()]
    item = _code_item(code, "SCT", meaning)
    item.ViewModifierCodeSequence = Sequence([])  # type 2: present, may be empty
    return Sequence([item])


def _laterality(volume: Volume) -> str:
    lat = (volume.laterality or "").upper()[:1]
    if lat and lat not in "LR":
        raise ValueError(f"laterality must be 'L' or 'R', got {volume.laterality!r}")
    return lat


def _common_dataset(volume: Volume, *, sop_class: str, modality: str, patient_name: str,
                    study_description: str, study_uid: str, series_uid: str, for_uid: str):
    """Patient, study, series, equipment and frame-of-reference modules shared by both DICOM writers."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid

    now = _dt.datetime.now()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta.ImplementationVersionName = f"PYDICOM {pydicom.__version__}"[:16]
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: patient names may be non-ASCII
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    # Patient / study
    ds.PatientName = patient_name
    ds.PatientID = patient_name.replace("^", "-")[:64] or "anonymous"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""  # type 2: known to be empty rather than guessed
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.StudyDescription = study_description
    # Series / equipment / frame of reference
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 1
    ds.SeriesDescription = study_description
    ds.BodyPartExamined = "BREAST"
    ds.Manufacturer = "ductplan"
    ds.ManufacturerModelName = "ductplan sample_volumes"
    ds.DeviceSerialNumber = "0"
    ds.SoftwareVersions = "ductplan"
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.InstanceNumber = 1
    lat = _laterality(volume)
    ds.Laterality = lat
    ds.ImageLaterality = lat or "U"
    ds.ViewCodeSequence = _view_sequence(volume.view)
    d = volume.frame.direction_matrix
    ds.PatientOrientation = [_orientation_letters(d[:, 0]), _orientation_letters(d[:, 1])]
    return ds


def _set_pixels(ds, stored: np.ndarray) -> None:
    """Image Pixel module for unsigned 16-bit greyscale."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(stored.shape[-2]), int(stored.shape[-1])
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(stored, dtype="<u2").tobytes()


def _bto_dataset(volume: Volume, *, patient_name: str, study_description: str):
    """One enhanced multi-frame Breast Tomosynthesis Image Storage dataset."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    from pydicom.uid import generate_uid

    frame = volume.frame
    nz = frame.shape_zyx[0]
    stored, slope, intercept = _quantise_uint16(volume.array)
    center, width = _window(volume.array)
    ds = _common_dataset(volume, sop_class=BTO_SOP_CLASS_UID, modality="MG",
                         patient_name=patient_name, study_description=study_description,
                         study_uid=generate_uid(), series_uid=generate_uid(), for_uid=generate_uid())
    ds.ImageType = ["DERIVED", "PRIMARY", "TOMOSYNTHESIS", "NONE"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ContentQualification = "RESEARCH"  # synthetic or exported, never a clinical original
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    ds.BreastImplantPresent = "NO"
    ds.AcquisitionContextSequence = Sequence([])
    ds.AcquisitionDateTime = ds.ContentDate + ds.ContentTime
    ds.NumberOfFrames = nz
    _set_pixels(ds, stored)

    # Multi-frame dimension: frames are one stack, ordered by In-Stack Position.
    dim_uid = generate_uid()
    org = Dataset()
    org.DimensionOrganizationUID = dim_uid
    ds.DimensionOrganizationSequence = Sequence([org])
    ds.DimensionOrganizationType = "3D"
    index_items = []
    for keyword_tag, label in ((0x00209056, "Stack ID"), (0x00209057, "In-Stack Position Number")):
        item = Dataset()
        item.DimensionOrganizationUID = dim_uid
        item.DimensionIndexPointer = keyword_tag
        item.FunctionalGroupPointer = 0x00209111  # FrameContentSequence
        item.DimensionDescriptionLabel = label
        index_items.append(item)
    ds.DimensionIndexSequence = Sequence(index_items)

    # Shared functional groups: what is the same for every frame.
    shared = Dataset()
    measures = Dataset()
    # DICOM PixelSpacing is (row spacing, column spacing) = (y, x).
    measures.PixelSpacing = [_ds(frame.spacing[1]), _ds(frame.spacing[0])]
    measures.SliceThickness = _ds(frame.spacing[2])
    measures.SpacingBetweenSlices = _ds(frame.spacing[2])
    shared.PixelMeasuresSequence = Sequence([measures])
    orientation = Dataset()
    d = frame.direction_matrix
    orientation.ImageOrientationPatient = [_ds(v) for v in (*d[:, 0], *d[:, 1])]
    shared.PlaneOrientationSequence = Sequence([orientation])
    transform = Dataset()
    transform.RescaleIntercept = _ds(intercept)
    transform.RescaleSlope = _ds(slope)
    transform.RescaleType = "US"
    shared.PixelValueTransformationSequence = Sequence([transform])
    voi = Dataset()
    voi.WindowCenter = _ds(center)
    voi.WindowWidth = _ds(width)
    shared.FrameVOILUTSequence = Sequence([voi])
    anatomy = Dataset()
    anatomy.AnatomicRegionSequence = Sequence([_code_item(*_BREAST_CODE)])
    anatomy.FrameLaterality = _laterality(volume) or "U"
    shared.FrameAnatomySequence = Sequence([anatomy])
    frame_type = Dataset()
    frame_type.FrameType = ["DERIVED", "PRIMARY", "TOMOSYNTHESIS", "NONE"]
    shared.XRay3DFrameTypeSequence = Sequence([frame_type])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])

    # Per-frame functional groups: where each frame sits.
    positions = frame.index_to_physical(np.column_stack([np.zeros(nz), np.zeros(nz), np.arange(nz)]))
    per_frame = []
    for k in range(nz):
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [_ds(v) for v in positions[k]]
        item.PlanePositionSequence = Sequence([pos])
        content = Dataset()
        content.StackID = "1"
        content.InStackPositionNumber = k + 1
        content.DimensionIndexValues = [1, k + 1]
        content.FrameAcquisitionNumber = 1
        item.FrameContentSequence = Sequence([content])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    return ds


def _ct_series_datasets(volume: Volume, *, patient_name: str, study_description: str) -> list:
    """One classic CT Image Storage dataset per slice, all sharing one rescale."""
    from pydicom.uid import generate_uid

    frame: ImageFrame = volume.frame
    nz = frame.shape_zyx[0]
    # One rescale for the whole series: readers such as GDCM apply the first
    # file's slope and intercept to every slice.
    stored, slope, intercept = _quantise_uint16(volume.array)
    center, width = _window(volume.array)
    d = frame.direction_matrix
    normal = np.cross(d[:, 0], d[:, 1])
    positions = frame.index_to_physical(np.column_stack([np.zeros(nz), np.zeros(nz), np.arange(nz)]))
    study_uid, series_uid, for_uid = generate_uid(), generate_uid(), generate_uid()
    datasets = []
    for k in range(nz):
        ds = _common_dataset(volume, sop_class=CT_SOP_CLASS_UID, modality="CT",
                             patient_name=patient_name, study_description=study_description,
                             study_uid=study_uid, series_uid=series_uid, for_uid=for_uid)
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.InstanceNumber = k + 1
        ds.AcquisitionNumber = 1
        ds.KVP = ""
        ds.ImagePositionPatient = [_ds(v) for v in positions[k]]
        ds.ImageOrientationPatient = [_ds(v) for v in (*d[:, 0], *d[:, 1])]
        ds.SliceLocation = _ds(float(positions[k] @ normal))
        ds.PixelSpacing = [_ds(frame.spacing[1]), _ds(frame.spacing[0])]  # (row = y, column = x)
        ds.SliceThickness = _ds(frame.spacing[2])
        ds.SpacingBetweenSlices = _ds(frame.spacing[2])
        ds.RescaleIntercept = _ds(intercept)
        ds.RescaleSlope = _ds(slope)
        ds.RescaleType = "US"
        ds.WindowCenter = _ds(center)
        ds.WindowWidth = _ds(width)
        _set_pixels(ds, stored[k])
        datasets.append(ds)
    return datasets
