"""Excision mesh export (the only planner module that touches VTK, through pyvista).

pyvista is imported inside the functions so that importing ``planner`` stays light.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ._atomic import atomic_output

if TYPE_CHECKING:
    import pyvista

__all__ = ["excision_polydata", "write_excision_vtp"]


def _check(vertices: npt.ArrayLike, faces: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, dtype=float)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise ValueError(f"vertices must be a non-empty (V, 3) array, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("vertices must be finite")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0 or not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"faces must be a non-empty (F, 3) integer array, got shape {f.shape} {f.dtype}")
    if f.min() < 0 or f.max() >= len(v):
        raise ValueError(f"faces index vertices 0..{len(v) - 1}, found {f.min()}..{f.max()}")
    return v, f.astype(np.int64)


def excision_polydata(vertices: npt.ArrayLike, faces: npt.ArrayLike) -> "pyvista.PolyData":
    """A triangle ``pyvista.PolyData`` from (V, 3) vertices and (F, 3) faces.

    Parameters
    ----------
    vertices : (V, 3) array, mm
    faces : (F, 3) int array

    Returns
    -------
    pyvista.PolyData

    Raises
    ------
    ValueError
        For malformed arrays.

    Examples
    --------
    >>> m = excision_polydata([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])
    >>> m.n_points, m.n_cells
    (3, 1)
    """
    import pyvista as pv

    v, f = _check(vertices, faces)
    # pyvista's padded connectivity: [3, i, j, k, 3, ...]
    cells = np.hstack([np.full((len(f), 1), 3, dtype=np.int64), f]).ravel()
    return pv.PolyData(v, cells)


def write_excision_vtp(mesh_vertices: npt.ArrayLike, faces: npt.ArrayLike,
                       path: str | os.PathLike, *, field_data: dict | None = None) -> None:
    """Write the excision surface as VTK XML PolyData (``.vtp``), atomically.

    Parameters
    ----------
    mesh_vertices : (V, 3) array
        Physical mm in the volume's frame.
    faces : (F, 3) int array
    path : str or path-like
        Must end in ``.vtp``.
    field_data : dict, optional
        Small arrays or numbers stored with the mesh (e.g. ``{"volume_cm3": 4.2}``).

    Raises
    ------
    ValueError
        For malformed arrays or another extension.
    OSError
        When the folder cannot be written; nothing is left behind.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_excision_vtp([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]],
    ...                        os.path.join(d, "excision.vtp"))
    ...     os.listdir(d)
    ['excision.vtp']
    """
    if not str(path).lower().endswith(".vtp"):
        raise ValueError(f"excision mesh path must end in .vtp, got {path}")
    mesh = excision_polydata(mesh_vertices, faces)
    for k, val in (field_data or {}).items():
        mesh.field_data[str(k)] = np.atleast_1d(np.asarray(val))
    with atomic_output(path) as tmp:
        mesh.save(str(tmp), binary=True)
