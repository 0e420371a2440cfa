"""Read a galactogram volume from any supported file, or say clearly why not.

Supported inputs
----------------
- ``.nrrd``, ``.nhdr``, ``.nii``, ``.nii.gz``, ``.mha``, ``.mhd`` (SimpleITK);
- a folder holding a DICOM series (SimpleITK's ``ImageSeriesReader``, GDCM);
- one enhanced multi-frame DICOM file, typically Breast Tomosynthesis Image
  Storage (1.2.840.10008.5.1.4.1.1.13.1.3), read with pydicom from its
  functional groups.

Every problem with the input raises :class:`VolumeError`, a ``ValueError``
whose one-line message names the file and the bad value, so that the command
line can print it as is.

The geometry convention is SimpleITK's: a physical point is
``origin + D @ (spacing * index)`` in LPS millimetres (see
:mod:`reconstruction.frame`).  DICOM volumes come back with their frames
sorted along the slice normal ``row x column``, so their direction is always
right-handed, as GDCM gives them.
"""
from __future__ import annotations

import gzip
import os
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from .frame import ImageFrame
from .volume import Volume, slices_last

__all__ = ["read_volume", "VolumeError", "MIN_SLICES", "VOLUME_SUFFIXES"]

#: Fewest slices (and voxels along any axis) that make a volume worth reconstructing.
MIN_SLICES = 3

#: File suffixes read through SimpleITK, with the ITK ImageIO that must read them.
VOLUME_SUFFIXES = {".nrrd": "NrrdImageIO", ".nhdr": "NrrdImageIO", ".nii": "NiftiImageIO",
                   ".nii.gz": "NiftiImageIO", ".mha": "MetaImageIO", ".mhd": "MetaImageIO"}
_FORMAT_NAMES = {"NrrdImageIO": "NRRD", "NiftiImageIO": "NIfTI", "MetaImageIO": "MetaImage"}

#: Mammographic view codes (SNOMED CT, and the SNOMED-RT codes older files carry).
_VIEW_BY_CODE = {
    "399162004": "CC", "R-10242": "CC",
    "399368009": "MLO", "R-10226": "MLO",
    "399260004": "ML", "R-10224": "ML",
    "399352003": "LM", "R-10228": "LM",
}
_VIEW_BY_MEANING = {"cranio-caudal": "CC", "medio-lateral oblique": "MLO",
                    "medio-lateral": "ML", "latero-medial": "LM"}
_VIEWS = ("CC", "MLO", "ML", "LM")

# Tolerances for DICOM geometry: positions are decimal strings written by
# many vendors, so allow a little rounding but nothing a surgeon would notice.
_ORTHO_TOL = 1e-3          # unit length and orthogonality of direction cosines
_STEP_REL_TOL = 0.01       # slice steps may differ by 1 % ...
_STEP_ABS_TOL = 1e-3       # ... plus 1 micrometre


class VolumeError(ValueError):
    """The input is not a usable galactogram volume; the message says why, in one line."""


# ============================================================================ public
def read_volume(path: str | os.PathLike, *, laterality: str | None = None,
                view: str | None = None) -> Volume:
    """Read a 3D galactogram volume from a file or a DICOM folder.

    Parameters
    ----------
    path : str or PathLike
        A ``.nrrd``/``.nhdr``/``.nii``/``.nii.gz``/``.mha``/``.mhd`` file, one
        multi-frame DICOM file, or a folder holding a DICOM series.
    laterality : {"L", "R"}, optional
        Which breast; overrides what the file says (DICOM laterality tags are
        sometimes wrong in real archives).
    view : {"CC", "MLO", "ML", "LM"}, optional
        Mammographic view; overrides the file.

    Returns
    -------
    Volume
        ``array`` float32 ``(z, y, x)``; ``frame`` in SimpleITK's convention;
        ``metadata["format"]`` names the format and ``metadata["warnings"]``
        lists anything the reader had to guess or choose.  The DBT slices run
        along the third image axis whatever the file's axis order
        (:func:`reconstruction.volume.slices_last`).

    Raises
    ------
    VolumeError
        When the path does not exist or cannot be read, or the image is not a
        usable volume: 2D or too few slices, RGB/vector or complex voxels, no
        voxels, a constant value, NaN/Inf voxels, missing/zero/non-finite
        spacing, a non-orthonormal direction, or (DICOM) uneven or inconsistent
        slice positions.  The message names the file and the bad value.

    Examples
    --------
    >>> import tempfile, pathlib, SimpleITK as sitk
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "v.nrrd"
    >>> image = sitk.GetImageFromArray(np.arange(60, dtype=np.float32).reshape(3, 4, 5))
    >>> image.SetSpacing((0.1, 0.1, 1.0))
    >>> sitk.WriteImage(image, str(f))
    >>> vol = read_volume(f, laterality="L")
    >>> vol.array.shape, vol.array.dtype.name, vol.frame.spacing, vol.laterality
    ((3, 4, 5), 'float32', (0.1, 0.1, 1.0), 'L')
    >>> read_volume(f.with_name("missing.nrrd"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    reconstruction.io.VolumeError: .../missing.nrrd: no such file or folder
    """
    path = Path(path).expanduser()
    lat_override = _normalise_laterality(laterality, path, given=True)
    view_override = _normalise_view(view, path, given=True)
    if not path.exists():
        raise VolumeError(f"{path}: no such file or folder")
    if path.is_dir():
        volume = _read_dicom_folder(path)
    else:
        suffix = _full_suffix(path)
        if suffix in VOLUME_SUFFIXES:
            volume = _read_sitk_file(path, VOLUME_SUFFIXES[suffix])
        elif _looks_like_dicom(path):
            volume = _read_dicom_file(path)
        elif suffix in (".dcm", ".dicom"):
            raise VolumeError(f"{path}: not a DICOM file ({_describe_magic(path)})")
        else:
            raise VolumeError(
                f"{path}: unsupported format '{suffix or 'no suffix'}' "
                f"({_describe_magic(path)}); expected {', '.join(VOLUME_SUFFIXES)}, "
                "a DICOM file, or a folder holding a DICOM series")
    _check_voxels(volume.array, path)
    volume, reordered = slices_last(volume)
    if reordered:
        volume.metadata.setdefault("warnings", []).append(reordered)
    if lat_override is not None:
        volume.laterality = lat_override
    if view_override is not None:
        volume.view = view_override
    volume.source = str(path)
    return volume


# ===================================================================== shared checks
def _full_suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _head(path: Path, n: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise VolumeError(f"{path}: cannot open ({exc.strerror})") from None


def _describe_magic(path: Path) -> str:
    """A few words on what a file really is, for error messages."""
    head = _head(path, 132)
    known = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"II*\x00": "a TIFF image",
             b"MM\x00*": "a TIFF image", b"GIF8": "a GIF image", b"%PDF": "a PDF document",
             b"PK\x03\x04": "a zip archive", b"\x1f\x8b": "gzip data", b"NRRD": "a NRRD file",
             b"# vtk": "a legacy VTK file"}
    for magic, what in known.items():
        if head.startswith(magic):
            return f"it is {what}"
    if head[128:132] == b"DICM":
        return "it is a DICOM file"
    if not head:
        return "the file is empty"
    try:
        text = head[:40].decode("ascii")
        if text.isprintable() or "\n" in text:
            return f"it starts with text {text.splitlines()[0][:30]!r}"
    except UnicodeDecodeError:
        pass
    return f"it starts with bytes {head[:8]!r}"


def _two_d_error(path: Path, size_xyz: tuple[int, ...], what: str = "2D image") -> VolumeError:
    dims = " x ".join(str(s) for s in size_xyz)
    return VolumeError(f"{path}: {what} ({dims} voxels); a galactogram volume needs at least "
                       f"{MIN_SLICES} slices and {MIN_SLICES} voxels along every axis")


def _check_size(path: Path, size_xyz: tuple[int, ...]) -> None:
    if any(s == 0 for s in size_xyz):
        raise VolumeError(f"{path}: empty volume (size {' x '.join(map(str, size_xyz))}, 0 voxels)")
    if min(size_xyz) < MIN_SLICES:
        raise _two_d_error(path, size_xyz, "2D image" if min(size_xyz) == 1 else "too thin a volume")


def _check_spacing(path: Path, spacing: Any, *, what: str = "spacing") -> tuple[float, float, float]:
    s = np.asarray(spacing, dtype=float)
    if s.shape != (3,) or not np.all(np.isfinite(s)):
        raise VolumeError(f"{path}: non-finite {what} {tuple(s.tolist())} mm")
    if np.any(s <= 0):
        raise VolumeError(f"{path}: zero or negative {what} {tuple(s.tolist())} mm")
    return tuple(float(v) for v in s)  # type: ignore[return-value]


def _check_direction(path: Path, direction: Any) -> tuple[float, ...]:
    """Validate a row-major 3x3 direction and snap tiny rounding to orthonormal."""
    d = np.asarray(direction, dtype=float)
    if d.size != 9 or not np.all(np.isfinite(d)):
        raise VolumeError(f"{path}: invalid direction matrix {d.ravel().round(4).tolist()}")
    d = d.reshape(3, 3)
    err = float(np.abs(d.T @ d - np.eye(3)).max())
    if err > _ORTHO_TOL:
        raise VolumeError(f"{path}: direction matrix {d.round(4).tolist()} is not orthonormal "
                          f"(axes skewed or scaled by up to {err:.3g}); resample to an orthogonal grid")
    if err > 1e-9:
        u, _, vt = np.linalg.svd(d)  # nearest orthonormal matrix (polar decomposition)
        d = u @ vt
    return tuple(d.ravel())


def _check_voxels(array: np.ndarray, path: Path) -> None:
    if array.size == 0:
        raise VolumeError(f"{path}: empty volume (0 voxels)")
    nan = int(np.count_nonzero(np.isnan(array)))
    inf = int(np.count_nonzero(np.isinf(array)))
    if nan or inf:
        parts = ([f"{nan} NaN"] if nan else []) + ([f"{inf} infinite"] if inf else [])
        raise VolumeError(f"{path}: {' and '.join(parts)} voxels out of {array.size}; "
                          "a galactogram volume must hold finite values")
    lo, hi = float(array.min()), float(array.max())
    if lo == hi:
        raise VolumeError(f"{path}: constant volume (every voxel is {lo:g}); nothing to reconstruct")


def _normalise_laterality(value: Any, path: Path, *, given: bool = False) -> str | None:
    if value is None:
        return None
    v = str(value).strip().upper()
    if v in ("L", "LEFT"):
        return "L"
    if v in ("R", "RIGHT"):
        return "R"
    if given:
        raise VolumeError(f"{path}: laterality must be 'L' or 'R', got {value!r}")
    return None  # 'B', 'U' or empty in a file: unknown


def _normalise_view(value: Any, path: Path, *, given: bool = False) -> str | None:
    if value is None:
        return None
    v = str(value).strip().upper()
    if v in _VIEWS:
        return v
    if given:
        raise VolumeError(f"{path}: view must be one of {', '.join(_VIEWS)}, got {value!r}")
    return None


# =========================================================================== SimpleITK
def _read_sitk_file(path: Path, io_name: str) -> Volume:
    import SimpleITK as sitk

    fmt = _FORMAT_NAMES[io_name]
    header_check = {"NrrdImageIO": _check_nrrd_header, "MetaImageIO": _check_meta_header,
                    "NiftiImageIO": _check_nifti_header}[io_name]
    header_check(path)

    reader = sitk.ImageFileReader()
    # Force the ImageIO of the suffix: otherwise ITK sniffs the content and
    # would happily read a PNG that was renamed to .nrrd.
    reader.SetImageIO(io_name)
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise VolumeError(f"{path}: not a readable {fmt} file ({_describe_magic(path)}; "
                          f"ITK says: {_itk_message(exc)})") from None
    dim = reader.GetDimension()
    size = tuple(reader.GetSize())
    pixel = sitk.GetPixelIDValueAsString(reader.GetPixelID())
    if "complex" in pixel:
        raise VolumeError(f"{path}: complex voxels ({pixel}); expected one real grey value per voxel")
    if reader.GetNumberOfComponents() > 1:
        raise VolumeError(f"{path}: {reader.GetNumberOfComponents()} components per voxel "
                          f"(RGB or vector image, {pixel}); expected one grey value per voxel")
    if dim == 2:
        raise _two_d_error(path, size)
    if dim != 3:
        if dim == 4 and size[3] == 1:
            size = size[:3]  # a 3D volume with a trailing singleton (time) axis
        else:
            raise VolumeError(f"{path}: {dim}D image (size {' x '.join(map(str, size))}); "
                              "expected one 3D volume")
    _check_size(path, size)
    spacing = _check_spacing(path, reader.GetSpacing()[:3])
    if dim == 4:
        d4 = np.asarray(reader.GetDirection()).reshape(4, 4)
        direction = _check_direction(path, d4[:3, :3])
        origin = tuple(reader.GetOrigin()[:3])
    else:
        direction = _check_direction(path, reader.GetDirection())
        origin = tuple(reader.GetOrigin())
    if not np.all(np.isfinite(origin)):
        raise VolumeError(f"{path}: non-finite origin {origin}")

    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise VolumeError(f"{path}: cannot read the voxels of this {fmt} file "
                          f"(ITK says: {_itk_message(exc)})") from None
    array = sitk.GetArrayViewFromImage(image)
    if dim == 4:
        array = array[0]
    array = np.array(array, dtype=np.float32)  # a copy: the view dies with `image`
    frame = ImageFrame(origin=origin, spacing=spacing, direction=direction, size=size[:3])

    meta = {key: reader.GetMetaData(key) for key in reader.GetMetaDataKeys()}
    lat, view = meta.get("ductplan_laterality"), meta.get("ductplan_view")
    notes = meta.get("ITK_FileNotes", meta.get("descrip", ""))
    if notes.startswith("ductplan"):  # NIfTI: "ductplan laterality=L view=MLO"
        fields = dict(re.findall(r"(\w+)=(\S+)", notes))
        lat, view = lat or fields.get("laterality"), view or fields.get("view")
    metadata: dict[str, Any] = {"format": fmt.lower(), "pixel_type": pixel, "warnings": []}
    return Volume(array=array, frame=frame, laterality=_normalise_laterality(lat, path),
                  view=_normalise_view(view, path), source=str(path), metadata=metadata)


def _itk_message(exc: Exception) -> str:
    """The useful last line of an ITK exception (they span many lines)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    msg = lines[-1] if lines else type(exc).__name__
    return msg[:200]


def _read_text_header(path: Path, *, limit: int = 1 << 20) -> str:
    raw = _head(path, limit)
    return raw.decode("latin-1")


def _check_nrrd_header(path: Path) -> None:
    """Catch what ITK silently fixes or reports cryptically: no spacing, zero sizes, NaN."""
    text = _read_text_header(path)
    if not text.startswith("NRRD000"):
        raise VolumeError(f"{path}: not a NRRD file ({_describe_magic(path)})")
    header = re.split(r"\r?\n\r?\n", text, maxsplit=1)[0]
    fields: dict[str, str] = {}
    for line in header.splitlines()[1:]:
        if line.startswith("#") or ":=" in line or ":" not in line:
            continue
        key, _, value = line.partition(":")
        fields[key.strip().lower()] = value.strip()
    sizes = [int(v) for v in fields.get("sizes", "").split() if v.lstrip("-").isdigit()]
    if sizes and any(s == 0 for s in sizes):
        raise VolumeError(f"{path}: empty volume (sizes {' x '.join(map(str, sizes))}, 0 voxels)")
    kinds = fields.get("kinds", "").lower().split()
    spatial = [i for i in range(len(sizes))
               if not kinds or i >= len(kinds) or kinds[i] in ("domain", "space", "time")]
    if "space directions" in fields:
        vectors = re.findall(r"\(([^)]*)\)|none", fields["space directions"])
        lengths = []
        for vec in vectors:
            if not vec:
                continue  # "none": a non-spatial (e.g. vector) axis
            comps = [float(c) for c in vec.split(",")]
            lengths.append(float(np.linalg.norm(comps)) if np.all(np.isfinite(comps)) else float("nan"))
        if any(not np.isfinite(v) for v in lengths):
            raise VolumeError(f"{path}: non-finite spacing in 'space directions: "
                              f"{fields['space directions']}'")
        if any(v == 0 for v in lengths):
            raise VolumeError(f"{path}: zero spacing in 'space directions: {fields['space directions']}'")
    elif "spacings" in fields:
        values = [float(v) for v in fields["spacings"].split()]
        spatial_values = [values[i] for i in spatial if i < len(values)]
        if any(not np.isfinite(v) or v <= 0 for v in spatial_values):
            raise VolumeError(f"{path}: missing, zero or non-finite spacing 'spacings: {fields['spacings']}'")
    else:
        raise VolumeError(f"{path}: missing spacing (the NRRD header has neither 'space directions' "
                          "nor 'spacings'); voxel size in mm is needed")


def _check_meta_header(path: Path) -> None:
    text = _read_text_header(path, limit=1 << 16)
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            break
        fields[key.strip()] = value.strip()
        if key.strip() == "ElementDataFile":
            break  # binary data follows in .mha
    if "NDims" not in fields and "ObjectType" not in fields:
        raise VolumeError(f"{path}: not a MetaImage file ({_describe_magic(path)})")
    sizes = [int(v) for v in fields.get("DimSize", "").split() if v.lstrip("-").isdigit()]
    if sizes and any(s == 0 for s in sizes):
        raise VolumeError(f"{path}: empty volume (DimSize {' x '.join(map(str, sizes))}, 0 voxels)")
    raw = fields.get("ElementSpacing", fields.get("ElementSize"))
    if raw is None:
        raise VolumeError(f"{path}: missing spacing (no ElementSpacing in the MetaImage header); "
                          "voxel size in mm is needed")
    try:
        values = [float(v) for v in raw.split()]
    except ValueError:
        raise VolumeError(f"{path}: unreadable spacing 'ElementSpacing = {raw}'") from None
    if not values or any(not np.isfinite(v) or v <= 0 for v in values):
        raise VolumeError(f"{path}: zero or non-finite spacing 'ElementSpacing = {raw}'")


def _check_nifti_header(path: Path) -> None:
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as f:
                head = f.read(540)
        else:
            head = _head(path, 540)
    except (OSError, EOFError) as exc:
        raise VolumeError(f"{path}: not a readable NIfTI file ({exc})") from None
    for endian in "<>":
        if len(head) >= 348 and struct.unpack(endian + "i", head[:4])[0] == 348 \
                and head[344:347] in (b"n+1", b"ni1"):
            dims = struct.unpack(endian + "8h", head[40:56])
            pixdim = struct.unpack(endian + "8f", head[76:108])
            break
        if len(head) >= 540 and struct.unpack(endian + "i", head[:4])[0] == 540 \
                and head[4:7] in (b"n+2", b"ni2"):
            dims = struct.unpack(endian + "8q", head[16:80])
            pixdim = struct.unpack(endian + "8d", head[104:168])
            break
    else:
        raise VolumeError(f"{path}: not a NIfTI file ({_describe_magic(path)})")
    ndim = max(0, min(int(dims[0]), 7))
    sizes = dims[1:ndim + 1]
    if any(s == 0 for s in sizes):
        raise VolumeError(f"{path}: empty volume (dim {' x '.join(map(str, sizes))}, 0 voxels)")
    spatial = pixdim[1:min(ndim, 3) + 1]
    # ITK silently turns a zero pixdim into 1 mm: refuse instead of guessing.
    if any(not np.isfinite(v) or v <= 0 for v in spatial):
        raise VolumeError(f"{path}: missing, zero or non-finite spacing (pixdim "
                          f"{[round(float(v), 6) for v in spatial]})")


# ============================================================================== DICOM
def _looks_like_dicom(path: Path) -> bool:
    head = _head(path, 132)
    if head[128:132] == b"DICM":
        return True
    if _full_suffix(path) in (".dcm", ".dicom", ".ima", ""):
        # No preamble: some archives strip it.  A group 0x0008 or 0x0002 tag first is a good sign.
        return len(head) >= 4 and head[:2] in (b"\x08\x00", b"\x02\x00")
    return False


def _dcmread(path: Path, *, stop_before_pixels: bool = False):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels,
                               force=not _head(path, 132)[128:132] == b"DICM")
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError) as exc:
        raise VolumeError(f"{path}: not a readable DICOM file ({exc})") from None


def _floats(value: Any, n: int | None = None) -> np.ndarray | None:
    """A DICOM numeric value (DS, IS, FD, multi-valued or not) as floats, or None if absent or malformed."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        value = [value]
    try:
        arr = np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        return None
    if arr.size == 0 or (n is not None and arr.size != n):
        return None
    return arr


def _laterality_view(ds, path: Path, warnings: list[str]) -> tuple[str | None, str | None]:
    """Laterality and view from the usual places, most specific first."""
    lat = None
    for source in (ds.get("ImageLaterality"), ds.get("Laterality")):
        lat = _normalise_laterality(source, path)
        if lat:
            break
    if lat is None:
        for seq_owner in _functional_items(ds):
            anatomy = seq_owner.get("FrameAnatomySequence")
            if anatomy:
                lat = _normalise_laterality(anatomy[0].get("FrameLaterality"), path)
                if lat:
                    break
    view = None
    codes = ds.get("ViewCodeSequence")
    if codes:
        item = codes[0]
        code = str(item.get("CodeValue", "")).strip()
        meaning = str(item.get("CodeMeaning", "")).strip().lower()
        view = _VIEW_BY_CODE.get(code) or _VIEW_BY_MEANING.get(meaning)
        if view is None:
            warnings.append(f"unknown view code {code!r} ({meaning!r}); view left unset")
    if view is None:
        view = _normalise_view(ds.get("ViewPosition"), path)
    return lat, view


def _functional_items(ds) -> list:
    """Shared functional group item, then the first per-frame item (where tags may live)."""
    items = []
    for keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        seq = ds.get(keyword)
        if seq:
            items.append(seq[0])
    return items


_DICOM_METADATA_KEYS = {
    "SOPClassUID": "sop_class_uid", "Modality": "modality", "Manufacturer": "manufacturer",
    "ManufacturerModelName": "manufacturer_model_name", "StudyInstanceUID": "study_instance_uid",
    "SeriesInstanceUID": "series_instance_uid", "FrameOfReferenceUID": "frame_of_reference_uid",
    "SeriesDescription": "series_description", "PatientOrientation": "patient_orientation",
}


def _dicom_metadata(ds, fmt: str, warnings: list[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"format": fmt, "warnings": warnings}
    for keyword, key in _DICOM_METADATA_KEYS.items():
        value = ds.get(keyword)
        if value in (None, ""):
            continue
        if not isinstance(value, str) and hasattr(value, "__iter__"):
            value = "\\".join(str(v) for v in value)  # DICOM's own multi-value separator
        meta[key] = str(value)
    return meta


def _read_dicom_file(path: Path) -> Volume:
    """One DICOM file: an enhanced multi-frame volume, or a clear refusal."""
    ds = _dcmread(path)
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise VolumeError(f"{path}: DICOM file without pixel data (SOP class "
                          f"{_sop_name(ds)}); expected an image volume")
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if "PerFrameFunctionalGroupsSequence" not in ds and "SharedFunctionalGroupsSequence" not in ds:
        if n_frames <= 1:
            raise VolumeError(f"{path}: a single 2D DICOM image ({cols} x {rows}, {_sop_name(ds)}); "
                              "give the folder of the series")
        raise VolumeError(f"{path}: a multi-frame DICOM file without functional groups "
                          f"({_sop_name(ds)}); expected an enhanced multi-frame volume such as "
                          "Breast Tomosynthesis Image Storage")
    return _read_enhanced(path, ds, n_frames=n_frames, rows=rows, cols=cols)


def _sop_name(ds) -> str:
    uid = ds.get("SOPClassUID")
    if uid is None:
        return "unknown SOP class"
    name = getattr(uid, "name", "")
    return f"{name} {uid}" if name and name != str(uid) else str(uid)


def _group_value(ds, seq_keyword: str, attr: str, frame_index: int):
    """An attribute of a functional group macro: per-frame first, then shared."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    owners = []
    if per_frame and frame_index < len(per_frame):
        owners.append(per_frame[frame_index])
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        owners.append(shared[0])
    for owner in owners:
        seq = owner.get(seq_keyword)
        if seq and attr in seq[0]:
            return seq[0].get(attr)
    return None


def _read_enhanced(path: Path, ds, *, n_frames: int, rows: int, cols: int) -> Volume:
    warnings: list[str] = []
    if rows == 0 or cols == 0 or n_frames == 0:
        raise VolumeError(f"{path}: empty volume ({cols} x {rows} x {n_frames} voxels)")
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples > 1:
        raise VolumeError(f"{path}: {samples} samples per pixel ({ds.get('PhotometricInterpretation')}, "
                          "RGB/colour); expected one grey value per voxel")
    if n_frames < MIN_SLICES:
        raise _two_d_error(path, (cols, rows, n_frames), "2D image" if n_frames == 1 else "too thin a volume")
    if min(rows, cols) < MIN_SLICES:
        raise _two_d_error(path, (cols, rows, n_frames), "too thin a volume")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None and len(per_frame) != n_frames:
        raise VolumeError(f"{path}: PerFrameFunctionalGroupsSequence has {len(per_frame)} items "
                          f"for {n_frames} frames")

    # ---- in-plane spacing and orientation (the same for every frame)
    def per_frame_constant(seq_kw: str, attr: str, n: int) -> np.ndarray | None:
        first = _floats(_group_value(ds, seq_kw, attr, 0), n)
        if first is None:
            return None
        for k in range(1, n_frames if per_frame else 1):
            other = _floats(_group_value(ds, seq_kw, attr, k), n)
            if other is not None and not np.allclose(other, first, atol=1e-4, rtol=1e-4):
                raise VolumeError(f"{path}: {attr} differs between frames "
                                  f"(frame 1: {first.tolist()}, frame {k + 1}: {other.tolist()})")
        return first

    pixel_spacing = per_frame_constant("PixelMeasuresSequence", "PixelSpacing", 2)
    if pixel_spacing is None:
        pixel_spacing = _floats(ds.get("PixelSpacing"), 2)
    if pixel_spacing is None:
        raw = _group_value(ds, "PixelMeasuresSequence", "PixelSpacing", 0)
        raise VolumeError(f"{path}: missing PixelSpacing (PixelMeasuresSequence has "
                          f"{'no PixelSpacing' if raw is None else repr(raw)}); voxel size in mm is needed")
    # DICOM PixelSpacing is (row spacing = y, column spacing = x).
    sy, sx = float(pixel_spacing[0]), float(pixel_spacing[1])
    if not (np.isfinite(sx) and np.isfinite(sy) and sx > 0 and sy > 0):
        raise VolumeError(f"{path}: zero or non-finite PixelSpacing {pixel_spacing.tolist()} mm")

    iop = per_frame_constant("PlaneOrientationSequence", "ImageOrientationPatient", 6)
    if iop is None:
        iop = per_frame_constant("PlaneOrientationVolumeSequence", "ImageOrientationVolume", 6)
        if iop is not None:
            warnings.append("no ImageOrientationPatient; used ImageOrientationVolume")
    if iop is None:
        iop = np.array([1.0, 0, 0, 0, 1.0, 0])
        warnings.append("no ImageOrientationPatient; assumed rows along +x and columns along +y")
    row, col = iop[:3], iop[3:]
    n_row, n_col, dot = np.linalg.norm(row), np.linalg.norm(col), float(row @ col)
    if abs(n_row - 1) > _ORTHO_TOL or abs(n_col - 1) > _ORTHO_TOL or abs(dot) > _ORTHO_TOL:
        raise VolumeError(f"{path}: ImageOrientationPatient {iop.round(6).tolist()} is not orthonormal "
                          f"(|row| = {n_row:.4g}, |column| = {n_col:.4g}, row.column = {dot:.3g})")
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)

    # ---- slice positions
    positions = [_floats(_group_value(ds, "PlanePositionSequence", "ImagePositionPatient", k), 3)
                 for k in range(n_frames)]
    if any(p is None for p in positions):
        positions = [_floats(_group_value(ds, "PlanePositionVolumeSequence", "ImagePositionVolume", k), 3)
                     for k in range(n_frames)]
        if all(p is not None for p in positions):
            warnings.append("no ImagePositionPatient; used ImagePositionVolume")
    sbs = _floats(_group_value(ds, "PixelMeasuresSequence", "SpacingBetweenSlices", 0), 1)
    if sbs is None:
        sbs = _floats(ds.get("SpacingBetweenSlices"), 1)
    if any(p is None for p in positions):
        thickness = _floats(_group_value(ds, "PixelMeasuresSequence", "SliceThickness", 0), 1)
        step_value = sbs if sbs is not None else thickness
        if step_value is None:
            raise VolumeError(f"{path}: no per-frame ImagePositionPatient and no SpacingBetweenSlices "
                              "or SliceThickness; cannot place the slices")
        warnings.append("no per-frame ImagePositionPatient; slices stacked from (0, 0, 0) "
                        f"{float(step_value[0]):g} mm apart in file order")
        positions = [k * float(step_value[0]) * normal for k in range(n_frames)]
    pos = np.asarray(positions, dtype=float)
    order, step = _sort_and_check_stack(path, pos, normal)
    if sbs is not None and abs(float(sbs[0]) - step) > _STEP_REL_TOL * step + _STEP_ABS_TOL:
        raise VolumeError(f"{path}: SpacingBetweenSlices {float(sbs[0]):g} mm disagrees with the "
                          f"per-frame positions, which are {step:.6g} mm apart")
    spacing = _check_spacing(path, (sx, sy, step))
    direction = _check_direction(path, np.column_stack([row, col, normal]))

    # ---- voxels
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises many kinds for codecs it lacks
        ts = ds.file_meta.get("TransferSyntaxUID", "unknown")
        raise VolumeError(f"{path}: cannot decode the pixel data (transfer syntax "
                          f"{getattr(ts, 'name', ts)}): {exc}") from None
    pixels = np.asarray(pixels).reshape(n_frames, rows, cols)
    if np.iscomplexobj(pixels):
        raise VolumeError(f"{path}: complex voxels; expected one real grey value per voxel")
    array = np.empty((n_frames, rows, cols), dtype=np.float32)
    for i, k in enumerate(order):
        slope = _floats(_group_value(ds, "PixelValueTransformationSequence", "RescaleSlope", int(k)), 1)
        intercept = _floats(_group_value(ds, "PixelValueTransformationSequence", "RescaleIntercept", int(k)), 1)
        if slope is None:
            slope = _floats(ds.get("RescaleSlope"), 1)
        if intercept is None:
            intercept = _floats(ds.get("RescaleIntercept"), 1)
        s = float(slope[0]) if slope is not None else 1.0
        b = float(intercept[0]) if intercept is not None else 0.0
        array[i] = pixels[k].astype(np.float64) * s + b  # per frame: bounded float64 memory

    if str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1":
        # Low values display white: contrast is dark in the stored values.  Every stage
        # reads contrast as bright (as GDCM hands a MONOCHROME1 series over already).
        np.subtract(float(array.max()) + float(array.min()), array, out=array)
        warnings.append("PhotometricInterpretation MONOCHROME1 (low values display white): grey values "
                        "inverted so contrast is bright")
    frame = ImageFrame(origin=tuple(pos[order[0]]), spacing=spacing, direction=direction,
                       size=(cols, rows, n_frames))
    lat, view = _laterality_view(ds, path, warnings)
    metadata = _dicom_metadata(ds, "dicom", warnings)
    metadata["number_of_frames"] = n_frames
    center = _floats(_group_value(ds, "FrameVOILUTSequence", "WindowCenter", 0), 1)
    width = _floats(_group_value(ds, "FrameVOILUTSequence", "WindowWidth", 0), 1)
    if center is not None and width is not None:
        metadata["window"] = (float(center[0]), float(width[0]))
    return Volume(array=array, frame=frame, laterality=lat, view=view, source=str(path),
                  metadata=metadata)


def _sort_and_check_stack(path: Path, positions: np.ndarray, normal: np.ndarray) -> tuple[np.ndarray, float]:
    """Order slices along ``normal``; insist on one even, unsheared stack.

    Returns the frame order and the slice step in mm.
    """
    t = positions @ normal
    order = np.argsort(t, kind="stable")
    ts = t[order]
    steps = np.diff(ts)
    if np.any(steps <= _STEP_ABS_TOL):
        k = int(np.argmin(steps))
        raise VolumeError(f"{path}: frames {int(order[k]) + 1} and {int(order[k + 1]) + 1} are at the "
                          f"same position along the slice normal ({ts[k]:.4g} mm); duplicate slices?")
    step = float(np.median(steps))
    if float(np.max(np.abs(steps - step))) > _STEP_REL_TOL * step + _STEP_ABS_TOL:
        raise VolumeError(f"{path}: uneven slice spacing: frame positions are {float(steps.min()):.4g} to "
                          f"{float(steps.max()):.4g} mm apart along the slice normal (missing slices?)")
    sideways = positions[order] - positions[order[0]] - np.outer(ts - ts[0], normal)
    drift = float(np.linalg.norm(sideways, axis=1).max())
    if drift > _STEP_REL_TOL * step + _STEP_ABS_TOL:
        raise VolumeError(f"{path}: frames are not stacked along the slice normal: positions drift "
                          f"{drift:.4g} mm sideways (sheared stack or gantry tilt)")
    # End to end is the least rounding-sensitive estimate of an even step.
    return order, float((ts[-1] - ts[0]) / (len(ts) - 1))


def _read_dicom_folder(folder: Path) -> Volume:
    import SimpleITK as sitk

    warnings: list[str] = []
    reader = sitk.ImageSeriesReader()
    try:
        series_ids = list(reader.GetGDCMSeriesIDs(str(folder)))
    except RuntimeError as exc:
        raise VolumeError(f"{folder}: cannot scan folder for DICOM ({_itk_message(exc)})") from None
    if not series_ids:
        entries = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        hint = f"it holds {len(entries)} entries" + (f", e.g. {entries[0]}" if entries else "")
        raise VolumeError(f"{folder}: no DICOM series in this folder ({hint})")
    files_by_id = {sid: list(reader.GetGDCMSeriesFileNames(str(folder), sid)) for sid in series_ids}
    chosen = max(series_ids, key=lambda sid: len(files_by_id[sid]))
    files = files_by_id[chosen]
    if len(series_ids) > 1:
        others = ", ".join(f"{len(files_by_id[s])} files" for s in series_ids if s != chosen)
        warnings.append(f"{folder} holds {len(series_ids)} DICOM series; read {chosen} "
                        f"({len(files)} files), the one with most files (others: {others})")

    headers = [_dcmread(Path(f), stop_before_pixels=True) for f in files]
    first = headers[0]
    if len(files) == 1:
        if int(first.get("NumberOfFrames", 1) or 1) > 1:
            volume = _read_dicom_file(Path(files[0]))
            volume.metadata["warnings"] = warnings + volume.metadata.get("warnings", [])
            return volume
        raise VolumeError(f"{folder}: the series holds a single 2D DICOM image ({files[0]}); "
                          f"a galactogram volume needs at least {MIN_SLICES} slices")
    samples = int(first.get("SamplesPerPixel", 1) or 1)
    if samples > 1:
        raise VolumeError(f"{folder}: {samples} samples per pixel ({first.get('PhotometricInterpretation')}, "
                          "RGB/colour); expected one grey value per voxel")
    rows, cols = int(first.get("Rows", 0) or 0), int(first.get("Columns", 0) or 0)
    if rows == 0 or cols == 0:
        raise VolumeError(f"{folder}: empty images ({cols} x {rows} pixels)")
    if len(files) < MIN_SLICES or min(rows, cols) < MIN_SLICES:
        raise _two_d_error(folder, (cols, rows, len(files)), "too thin a volume")

    # Check the stack ourselves: GDCM only warns about uneven or missing slices.
    pixel_spacing = _floats(first.get("PixelSpacing"), 2)
    if pixel_spacing is None:
        raise VolumeError(f"{folder}: missing PixelSpacing in {Path(files[0]).name}; voxel size in mm is needed")
    if not np.all(np.isfinite(pixel_spacing)) or np.any(pixel_spacing <= 0):
        raise VolumeError(f"{folder}: zero or non-finite PixelSpacing {pixel_spacing.tolist()} mm")
    iop = _floats(first.get("ImageOrientationPatient"), 6)
    positions = [_floats(h.get("ImagePositionPatient"), 3) for h in headers]
    if iop is not None and all(p is not None for p in positions):
        row, col = iop[:3], iop[3:]
        n_row, n_col, dot = np.linalg.norm(row), np.linalg.norm(col), float(row @ col)
        if abs(n_row - 1) > _ORTHO_TOL or abs(n_col - 1) > _ORTHO_TOL or abs(dot) > _ORTHO_TOL:
            raise VolumeError(f"{folder}: ImageOrientationPatient {iop.round(6).tolist()} is not orthonormal "
                              f"(|row| = {n_row:.4g}, |column| = {n_col:.4g}, row.column = {dot:.3g})")
        normal = np.cross(row, col) / np.linalg.norm(np.cross(row, col))
        _sort_and_check_stack(folder, np.asarray(positions), normal)
    else:
        warnings.append("slices carry no ImagePositionPatient/ImageOrientationPatient; "
                        "geometry is GDCM's guess")

    reader.SetFileNames(files)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise VolumeError(f"{folder}: cannot read the DICOM series ({_itk_message(exc)})") from None
    if image.GetNumberOfComponentsPerPixel() > 1:
        raise VolumeError(f"{folder}: {image.GetNumberOfComponentsPerPixel()} components per voxel "
                          "(RGB or vector); expected one grey value per voxel")
    if image.GetDimension() != 3:
        raise _two_d_error(folder, tuple(image.GetSize()))
    size = tuple(image.GetSize())
    _check_size(folder, size)
    spacing = _check_spacing(folder, image.GetSpacing())
    direction = _check_direction(folder, image.GetDirection())
    array = np.array(sitk.GetArrayViewFromImage(image), dtype=np.float32)
    frame = ImageFrame(origin=image.GetOrigin(), spacing=spacing, direction=direction, size=size)
    lat, view = _laterality_view(first, folder, warnings)
    metadata = _dicom_metadata(first, "dicom-series", warnings)
    metadata["number_of_files"] = len(files)
    return Volume(array=array, frame=frame, laterality=lat, view=view, source=str(folder),
                  metadata=metadata)
