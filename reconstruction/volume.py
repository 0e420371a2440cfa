"""The volume as every stage sees it: voxels, their frame, and what the file said."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .frame import ImageFrame

__all__ = ["Volume"]


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
