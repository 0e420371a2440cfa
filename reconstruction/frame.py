"""The image frame: where every voxel sits in physical millimetres.

This is the only module that knows that numpy arrays are indexed ``(z, y, x)``
while ITK and VTK index ``(x, y, z)``.  Everything else asks it.

Physical position of a continuous index ``i = (i, j, k)`` (ITK order)::

    p = origin + D @ (spacing * i)

exactly as SimpleITK's ``TransformContinuousIndexToPhysicalPoint`` computes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # heavy imports stay at the edges
    import pyvista
    import SimpleITK

__all__ = ["ImageFrame"]

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class ImageFrame:
    """Origin, spacing, direction and size of a 3D image, in ITK ``(x, y, z)`` order.

    Parameters
    ----------
    origin : tuple of 3 float
        Physical position (mm) of the centre of voxel ``(0, 0, 0)``.
    spacing : tuple of 3 float
        Voxel size (mm) along the image's x, y and z axes.
    direction : tuple of 9 float
        Row-major 3x3 matrix whose columns are the image axes in physical space.
    size : tuple of 3 int
        Number of voxels along x, y and z.

    Examples
    --------
    >>> f = ImageFrame(origin=(10.0, 0.0, 0.0), spacing=(0.1, 0.1, 1.0),
    ...                direction=(1, 0, 0, 0, 1, 0, 0, 0, 1), size=(5, 4, 3))
    >>> f.array_index_to_physical([[2, 0, 0]]).tolist()   # (z, y, x) index
    [[10.0, 0.0, 2.0]]
    >>> f.shape_zyx
    (3, 4, 5)
    """

    origin: Vec3
    spacing: Vec3
    direction: tuple[float, ...]
    size: tuple[int, int, int]

    def __post_init__(self) -> None:
        spacing = np.asarray(self.spacing, dtype=float)
        if spacing.shape != (3,) or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
            raise ValueError(f"spacing must be three positive finite mm values, got {self.spacing}")
        if np.asarray(self.origin, dtype=float).shape != (3,):
            raise ValueError(f"origin must have three values, got {self.origin}")
        d = np.asarray(self.direction, dtype=float)
        if d.size != 9 or not np.allclose(d.reshape(3, 3).T @ d.reshape(3, 3), np.eye(3), atol=1e-4):
            raise ValueError(f"direction must be an orthonormal 3x3 matrix, got {self.direction}")
        if len(self.size) != 3 or min(self.size) < 1:
            raise ValueError(f"size must be three positive voxel counts, got {self.size}")
        object.__setattr__(self, "origin", tuple(float(v) for v in self.origin))
        object.__setattr__(self, "spacing", tuple(float(v) for v in self.spacing))
        object.__setattr__(self, "direction", tuple(float(v) for v in d.ravel()))
        object.__setattr__(self, "size", tuple(int(v) for v in self.size))

    # ------------------------------------------------------------------ basics
    @classmethod
    def identity(cls, shape_zyx: tuple[int, int, int], *, spacing: Vec3 = (1.0, 1.0, 1.0),
                 origin: Vec3 = (0.0, 0.0, 0.0)) -> "ImageFrame":
        """A frame with identity direction for an array of ``shape_zyx``."""
        return cls(origin=origin, spacing=spacing, direction=tuple(np.eye(3).ravel()),
                   size=(shape_zyx[2], shape_zyx[1], shape_zyx[0]))

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        """The numpy array shape this frame describes."""
        return (self.size[2], self.size[1], self.size[0])

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        """Spacing in numpy axis order, for array algorithms."""
        return (self.spacing[2], self.spacing[1], self.spacing[0])

    @property
    def direction_matrix(self) -> np.ndarray:
        """3x3 direction matrix (columns are the image axes)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing))

    # ------------------------------------------------------------- conversions
    def index_to_physical(self, ijk: npt.ArrayLike) -> np.ndarray:
        """Continuous ITK-order index ``(..., 3)`` -> physical mm ``(..., 3)``."""
        ijk = np.asarray(ijk, dtype=float)
        scaled = ijk * np.asarray(self.spacing)
        return scaled @ self.direction_matrix.T + np.asarray(self.origin)

    def physical_to_index(self, points_mm: npt.ArrayLike) -> np.ndarray:
        """Physical mm ``(..., 3)`` -> continuous ITK-order index ``(..., 3)``."""
        p = np.asarray(points_mm, dtype=float) - np.asarray(self.origin)
        return (p @ self.direction_matrix) / np.asarray(self.spacing)

    def array_index_to_physical(self, zyx: npt.ArrayLike) -> np.ndarray:
        """Numpy-order index ``(..., 3)`` as ``(z, y, x)`` -> physical mm ``(..., 3)``."""
        return self.index_to_physical(np.asarray(zyx, dtype=float)[..., ::-1])

    def physical_to_array_index(self, points_mm: npt.ArrayLike) -> np.ndarray:
        """Physical mm ``(..., 3)`` -> numpy-order continuous index ``(z, y, x)``."""
        return self.physical_to_index(points_mm)[..., ::-1]

    def physical_to_array_mm(self, points_mm: npt.ArrayLike) -> np.ndarray:
        """Physical mm ``(..., 3)`` -> array-aligned mm ``(z, y, x) * spacing_zyx``."""
        return self.physical_to_array_index(points_mm) * np.asarray(self.spacing_zyx)

    def array_mm_to_physical(self, q: npt.ArrayLike) -> np.ndarray:
        """Array-aligned mm ``(..., 3)`` (``(z, y, x) * spacing_zyx``) -> physical mm."""
        return self.array_index_to_physical(np.asarray(q, float) / np.asarray(self.spacing_zyx))

    def vector_to_array_axes(self, vectors_mm: npt.ArrayLike) -> np.ndarray:
        """Physical direction vectors -> components along the array's (z, y, x) axes, in mm."""
        v = np.asarray(vectors_mm, dtype=float) @ self.direction_matrix
        return v[..., ::-1]

    def contains_physical(self, points_mm: npt.ArrayLike, *, margin_vox: float = 0.5) -> np.ndarray:
        """True for points that fall inside the image extent (plus ``margin_vox``)."""
        idx = self.physical_to_index(points_mm)
        hi = np.asarray(self.size) - 1 + margin_vox
        return np.all((idx >= -margin_vox) & (idx <= hi), axis=-1)

    def with_size(self, size: tuple[int, int, int]) -> "ImageFrame":
        return ImageFrame(origin=self.origin, spacing=self.spacing, direction=self.direction, size=size)

    def cropped(self, start_zyx: tuple[int, int, int], shape_zyx: tuple[int, int, int]) -> "ImageFrame":
        """The frame of ``array[z0:z0+nz, y0:y0+ny, x0:x0+nx]``."""
        origin = self.array_index_to_physical(np.asarray(start_zyx, dtype=float))
        return ImageFrame(origin=tuple(origin), spacing=self.spacing, direction=self.direction,
                          size=(shape_zyx[2], shape_zyx[1], shape_zyx[0]))

    # -------------------------------------------------------------- SimpleITK
    @classmethod
    def from_sitk(cls, image: "SimpleITK.Image") -> "ImageFrame":
        """The frame of a 3D SimpleITK image."""
        if image.GetDimension() != 3:
            raise ValueError(f"expected a 3D image, got {image.GetDimension()}D")
        return cls(origin=image.GetOrigin(), spacing=image.GetSpacing(),
                   direction=image.GetDirection(), size=image.GetSize())

    def to_sitk(self, array_zyx: np.ndarray) -> "SimpleITK.Image":
        """Wrap a ``(z, y, x)`` array as a SimpleITK image carrying this frame."""
        import SimpleITK as sitk

        if tuple(array_zyx.shape) != self.shape_zyx:
            raise ValueError(f"array shape {array_zyx.shape} does not match frame {self.shape_zyx}")
        image = sitk.GetImageFromArray(np.ascontiguousarray(array_zyx))
        image.SetOrigin(self.origin)
        image.SetSpacing(self.spacing)
        image.SetDirection(self.direction)
        return image

    # ---------------------------------------------------------------- pyvista
    def to_pyvista(self, array_zyx: np.ndarray | None = None, *, name: str = "values") -> "pyvista.ImageData":
        """A ``pyvista.ImageData`` with this frame's origin, spacing and direction."""
        import pyvista as pv

        grid = pv.ImageData(dimensions=self.size, spacing=self.spacing, origin=self.origin,
                            direction_matrix=self.direction_matrix)
        if array_zyx is not None:
            if tuple(array_zyx.shape) != self.shape_zyx:
                raise ValueError(f"array shape {array_zyx.shape} does not match frame {self.shape_zyx}")
            # VTK point order is x fastest: the C-order ravel of a (z, y, x) array.
            grid.point_data[name] = np.ascontiguousarray(array_zyx).ravel(order="C")
        return grid

    @classmethod
    def from_pyvista(cls, grid: "pyvista.ImageData") -> "ImageFrame":
        return cls(origin=tuple(grid.origin), spacing=tuple(grid.spacing),
                   direction=tuple(np.asarray(grid.direction_matrix).ravel()),
                   size=tuple(grid.dimensions))

    # ------------------------------------------------------------ serialising
    def to_dict(self) -> dict:
        return {"origin": list(self.origin), "spacing": list(self.spacing),
                "direction": list(self.direction), "size": list(self.size)}

    @classmethod
    def from_dict(cls, d: dict) -> "ImageFrame":
        return cls(origin=tuple(d["origin"]), spacing=tuple(d["spacing"]),
                   direction=tuple(d["direction"]), size=tuple(d["size"]))
