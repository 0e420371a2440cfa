"""3D Slicer segmentation files (``.seg.nrrd``, binary labelmap representation).

A ``.seg.nrrd`` is a plain NRRD labelmap whose header carries custom
``key:=value`` fields that 3D Slicer turns into named, coloured segments::

    Segmentation_MasterRepresentation:=Binary labelmap
    Segmentation_ContainedRepresentationNames:=Binary labelmap|
    Segment0_ID:=Segment_1
    Segment0_Name:=duct system 1
    Segment0_Color:=0.9 0.3 0.2
    Segment0_LabelValue:=1
    Segment0_Layer:=0
    Segment0_Extent:=minI maxI minJ maxJ minK maxK
    Segment0_Tags:=key:value|key2:value2|

(see Slicer's developer guide, "Segmentation labelmap file format").  Only
non-overlapping segments are written (one layer); reading a multi-layer file
raises :class:`~reconstruction.io.VolumeError`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write
from .frame import ImageFrame
from .io import VolumeError

__all__ = ["write_segmentation", "read_segmentation"]

_REPRESENTATION = "Binary labelmap"


def write_segmentation(labels: np.ndarray, frame: ImageFrame, path: str | os.PathLike, *,
                       segments: list[dict[str, Any]], compress: bool = True) -> Path:
    """Write a labelmap as a 3D Slicer ``.seg.nrrd`` with named, coloured segments.

    Parameters
    ----------
    labels : ndarray of int, shape (nz, ny, nx)
        0 is background; every other value must be the ``label`` of a segment.
    frame : ImageFrame
        Geometry of ``labels`` (usually the volume's frame).
    path : str or PathLike
        Output file, normally ending in ``.seg.nrrd``.  Written atomically.
    segments : list of dict
        One dict per segment: ``name`` (str), ``label`` (int >= 1) and
        ``color`` (r, g, b in 0..1); optionally ``id`` (default
        ``Segment_<label>``) and ``tags`` (a dict of str to str, e.g.
        ``{"Segmentation.Status": "inprogress"}``).
    compress : bool
        Gzip the voxels (Slicer's default too).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        Shape/frame mismatch, non-integer or negative labels, voxels whose
        label no segment describes, duplicate labels or ids, empty names, or
        colours outside 0..1.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> labels = np.zeros((3, 4, 5), dtype=np.uint8); labels[1, 1:3, 2:4] = 1
    >>> frame = ImageFrame.identity(labels.shape, spacing=(0.1, 0.1, 1.0))
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "ducts.seg.nrrd"
    >>> _ = write_segmentation(labels, frame, out,
    ...                        segments=[dict(name="duct", label=1, color=(1, 0.8, 0))])
    >>> back, frame2, segs = read_segmentation(out)
    >>> bool((back == labels).all()), segs[0]["name"], segs[0]["extent"]
    (True, 'duct', (2, 3, 1, 2, 1, 1))
    """
    import SimpleITK as sitk

    path = Path(path)
    labels = np.asarray(labels)
    if labels.dtype == bool:
        labels = labels.astype(np.uint8)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be an integer array, got dtype {labels.dtype}")
    if tuple(labels.shape) != frame.shape_zyx:
        raise ValueError(f"labels shape {labels.shape} does not match frame {frame.shape_zyx}")
    segs = _validate_segments(segments)
    present = np.unique(labels)
    if present.size and present[0] < 0:
        raise ValueError(f"labels must be >= 0, found {int(present[0])}")
    described = {s["label"] for s in segs}
    unknown = [int(v) for v in present if v != 0 and int(v) not in described]
    if unknown:
        raise ValueError(f"labels {unknown[:10]} appear in the array but no segment describes them")

    top = max([int(present[-1]) if present.size else 0] + [s["label"] for s in segs])
    dtype = np.uint8 if top <= 255 else np.uint16 if top <= 65535 else np.int32
    data = np.ascontiguousarray(labels, dtype=dtype)
    image = frame.to_sitk(data)
    image.SetMetaData("Segmentation_MasterRepresentation", _REPRESENTATION)
    image.SetMetaData("Segmentation_SourceRepresentation", _REPRESENTATION)  # Slicer >= 5.4 name
    image.SetMetaData("Segmentation_ContainedRepresentationNames", _REPRESENTATION + "|")
    image.SetMetaData("Segmentation_ReferenceImageExtentOffset", "0 0 0")

    from scipy import ndimage

    # One pass for every bounding box instead of one pass per segment.
    boxes = ndimage.find_objects(data, max_label=top) if top else []
    for i, seg in enumerate(segs):
        box = boxes[seg["label"] - 1] if seg["label"] - 1 < len(boxes) else None
        if box is None:
            extent = "0 -1 0 -1 0 -1"  # what Slicer writes for an empty segment
        else:
            z, y, x = box  # numpy (z, y, x) slices -> Slicer's IJK = ITK (x, y, z)
            extent = f"{x.start} {x.stop - 1} {y.start} {y.stop - 1} {z.start} {z.stop - 1}"
        key = f"Segment{i}_"
        image.SetMetaData(key + "ID", seg["id"])
        image.SetMetaData(key + "Name", seg["name"])
        image.SetMetaData(key + "NameAutoGenerated", "0")
        image.SetMetaData(key + "Color", " ".join(f"{c:.6g}" for c in seg["color"]))
        image.SetMetaData(key + "ColorAutoGenerated", "0")
        image.SetMetaData(key + "LabelValue", str(seg["label"]))
        image.SetMetaData(key + "Layer", "0")
        image.SetMetaData(key + "Extent", extent)
        image.SetMetaData(key + "Tags", "".join(f"{k}:{v}|" for k, v in seg["tags"].items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=compress)
    return path


def read_segmentation(path: str | os.PathLike) -> tuple[np.ndarray, ImageFrame, list[dict[str, Any]]]:
    """Read a 3D Slicer ``.seg.nrrd`` (or a plain labelmap NRRD).

    Parameters
    ----------
    path : str or PathLike
        The ``.seg.nrrd`` file.

    Returns
    -------
    labels : ndarray of int, shape (nz, ny, nx)
        The labelmap in its stored integer type (usually uint8).
    frame : ImageFrame
        Its geometry.
    segments : list of dict
        ``name``, ``label``, ``color`` (r, g, b), ``id``, ``layer``,
        ``extent`` (minI, maxI, minJ, maxJ, minK, maxK) and ``tags`` (dict) of
        each segment, in file order.  A plain labelmap without segment fields
        gives one segment per non-zero label.

    Raises
    ------
    VolumeError
        If the file is missing, not a NRRD, not 3D, has overlapping segments
        in several layers, or holds non-integer labels.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.is_file():
        raise VolumeError(f"{path}: no such file")
    reader = sitk.ImageFileReader()
    reader.SetImageIO("NrrdImageIO")
    reader.SetFileName(str(path))
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        last = [ln for ln in str(exc).splitlines() if ln.strip()]
        raise VolumeError(f"{path}: not a readable NRRD segmentation "
                          f"({last[-1].strip() if last else exc})") from None
    if image.GetNumberOfComponentsPerPixel() > 1:
        raise VolumeError(f"{path}: overlapping segments stored in {image.GetNumberOfComponentsPerPixel()} "
                          "layers; only single-layer labelmaps are supported (merge or export as labelmap)")
    if image.GetDimension() != 3:
        raise VolumeError(f"{path}: {image.GetDimension()}D segmentation; expected 3D")
    array = sitk.GetArrayFromImage(image)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise VolumeError(f"{path}: non-integer label values (dtype {array.dtype})")
        array = array.astype(np.int32)
    frame = ImageFrame.from_sitk(image)

    meta = {k: image.GetMetaData(k) for k in image.GetMetaDataKeys()}
    segments = []
    i = 0
    while f"Segment{i}_ID" in meta or f"Segment{i}_Name" in meta:
        key = f"Segment{i}_"
        color = _parse_floats(meta.get(key + "Color", ""), 3) or (0.5, 0.5, 0.5)
        extent = _parse_ints(meta.get(key + "Extent", ""), 6)
        segments.append({
            "name": meta.get(key + "Name", meta.get(key + "ID", f"Segment_{i + 1}")),
            "label": int(meta.get(key + "LabelValue", i + 1)),
            "color": tuple(color),
            "id": meta.get(key + "ID", f"Segment_{i + 1}"),
            "layer": int(meta.get(key + "Layer", 0)),
            "extent": tuple(extent) if extent else None,
            "tags": _parse_tags(meta.get(key + "Tags", "")),
        })
        i += 1
    if not segments:  # a plain labelmap: one anonymous segment per value
        for value in np.unique(array):
            if value != 0:
                segments.append({"name": f"Segment_{int(value)}", "label": int(value),
                                 "color": (0.5, 0.5, 0.5), "id": f"Segment_{int(value)}",
                                 "layer": 0, "extent": None, "tags": {}})
    layers = {s["layer"] for s in segments}
    if layers - {0}:
        raise VolumeError(f"{path}: segments in layers {sorted(layers)}; only single-layer labelmaps "
                          "are supported")
    return array, frame, segments


# ----------------------------------------------------------------------------- helpers
def _validate_segments(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    seen_labels: set[int] = set()
    seen_ids: set[str] = set()
    for n, seg in enumerate(segments):
        try:
            name, label, color = seg["name"], seg["label"], seg["color"]
        except KeyError as exc:
            raise ValueError(f"segment {n} lacks {exc.args[0]!r}; need name, label and color") from None
        name = str(name)
        if not name.strip() or "\n" in name:
            raise ValueError(f"segment {n}: name must be one non-empty line, got {name!r}")
        if int(label) != label or int(label) < 1:
            raise ValueError(f"segment {name!r}: label must be an integer >= 1, got {label!r}")
        label = int(label)
        if label in seen_labels:
            raise ValueError(f"segment {name!r}: label {label} is used twice")
        rgb = tuple(float(c) for c in color)
        if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
            raise ValueError(f"segment {name!r}: color must be (r, g, b) in 0..1, got {color!r}")
        seg_id = str(seg.get("id") or f"Segment_{label}")
        if seg_id in seen_ids or "\n" in seg_id:
            raise ValueError(f"segment {name!r}: id {seg_id!r} is repeated or has a line break")
        tags = {str(k): str(v) for k, v in (seg.get("tags") or {}).items()}
        for k, v in tags.items():
            if any(ch in k + v for ch in "|\n") or ":" in k:
                raise ValueError(f"segment {name!r}: tag {k!r}={v!r} may not contain '|', line breaks, "
                                 "or ':' in its key")
        seen_labels.add(label)
        seen_ids.add(seg_id)
        out.append({"name": name, "label": label, "color": rgb, "id": seg_id, "tags": tags})
    return out


def _parse_floats(text: str, n: int) -> tuple[float, ...] | None:
    try:
        values = tuple(float(v) for v in text.split())
    except ValueError:
        return None
    return values if len(values) == n else None


def _parse_ints(text: str, n: int) -> tuple[int, ...] | None:
    try:
        values = tuple(int(v) for v in text.split())
    except ValueError:
        return None
    return values if len(values) == n else None


def _parse_tags(text: str) -> dict[str, str]:
    tags = {}
    for pair in text.split("|"):
        if pair:
            key, _, value = pair.partition(":")
            tags[key] = value
    return tags
