"""The volume as every stage sees it: voxels, their frame, and what the file said."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .frame import ImageFrame

__all__ = ["Volume", "slices_last"]

# A DBT slice step is ~10x the in-plane pixel; an axis this much coarser than both others
# is the slice axis whatever the file's axis order.
_SLICE_AXIS_RATIO = 1.5


@dataclass
class Volume:
    """A 3D galactogram volume in physical millimetres.

    Attributes
    ----------
    array : ndarray, shape (nz, ny, nx), float32
        Voxel values, numpy ``(z, y, x)`` order (z is the DBT slice axis).
    frame : ImageFrame
        Where each voxel sits in physical mm (LPS for NRRD/DICOM).
    laterality : {"L", "R"} or None
        Which breast, when the file says so (or the user does).
    view : {"CC", "MLO", "ML", "LM", ...} or None
        Mammographic view, when known.
    source : str
        Where the volume came from (a path, or a sample preset name).
    metadata : dict
        Anything else worth keeping (modality, SOP class, manufacturer, ...).
    """

    array: np.ndarray
    frame: ImageFrame
    laterality: str | None = None
    view: str | None = None
    source: str = ""
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if tuple(self.array.shape) != self.frame.shape_zyx:
            raise ValueError(f"array shape {self.array.shape} does not match frame {self.frame.shape_zyx}")


def slices_last(volume: Volume) -> tuple[Volume, str | None]:
    """The volume with its DBT slice axis as the frame's third axis (numpy axis 0).

    Every stage reads the third image axis as the slice axis: the one along which DBT
    blurs.  Files from other scanners and converters may store the slices along another
    axis; the slice axis is then the one whose spacing is at least ``1.5`` times both
    others'.  The axes are cycled (an even permutation: the frame keeps its handedness),
    the voxels transposed, nothing resampled: every voxel keeps its physical position.
    A volume with no clearly coarser axis, or with it third already, is returned as is.

    Parameters
    ----------
    volume : Volume

    Returns
    -------
    volume : Volume
        The same object when nothing changed.
    note : str or None
        What was reordered, for the reader's warnings.

    Examples
    --------
    >>> f = ImageFrame(origin=(0, 0, 0), spacing=(1.0, 0.1, 0.1), direction=tuple(np.eye(3).ravel()),
    ...                size=(3, 4, 5))
    >>> v, note = slices_last(Volume(np.zeros((5, 4, 3), np.float32), f))
    >>> v.frame.spacing, v.array.shape
    ((0.1, 0.1, 1.0), (3, 5, 4))
    """
    f = volume.frame
    spacing = np.asarray(f.spacing, float)
    a = int(np.argmax(spacing))
    others = np.delete(spacing, a)
    if a == 2 or spacing[a] < _SLICE_AXIS_RATIO * others.max():
        return volume, None
    perm = [(a + 1) % 3, (a + 2) % 3, a]                 # ITK axes, cyclic
    d = f.direction_matrix[:, perm]
    frame = ImageFrame(origin=f.origin, spacing=tuple(spacing[perm]), direction=tuple(d.ravel()),
                       size=tuple(int(f.size[p]) for p in perm))
    # numpy axis of ITK axis t is 2 - t; the new numpy order is (k', j', i').
    array = np.ascontiguousarray(volume.array.transpose([2 - perm[2], 2 - perm[1], 2 - perm[0]]))
    out = Volume(array=array, frame=frame, laterality=volume.laterality, view=volume.view,
                 source=volume.source, metadata=dict(volume.metadata))
    name = "xyz"[a]
    note = (f"the slices ({spacing[a]:g} mm apart) ran along the file's {name} axis; "
            f"the voxels were reordered so they run along the third axis (no resampling)")
    return out, note
