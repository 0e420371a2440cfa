"""Where the field of view cuts the breast: the truncation wedge and the streaks it leaves.

A DBT tube sweeps an arc; near an image edge that cuts through the breast, the oblique
rays of part of the sweep cross tissue outside the reconstructed field.  Back-projection
is then missing data in a wedge along that edge: zero wide in the slice the projections
agree on, ``thickness x tan(half arc)`` wide at the far face of the slab.  The wedge is
darker or brighter slice by slice and streaked parallel to the edge; segmented, the streaks
look like ducts running along the edge.

The arc is not recorded in NRRD, NIfTI or MHA files, so the wedge is measured on the
volume itself: tissue is much the same from slice to slice when averaged along a long
edge, the wedge is not.  The slice-to-slice spread of the edge profile is high inside the
wedge and falls to the noise floor where it ends.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CutEdge", "cut_edges", "drop_field_edge_bands"]

#: (name, axis of the in-plane array (0 = y rows, 1 = x columns), at the start or the end)
_EDGES = (("y-min", 0, False), ("y-max", 0, True), ("x-min", 1, False), ("x-max", 1, True))


@dataclass(frozen=True)
class CutEdge:
    """An image edge the breast runs into.

    Attributes
    ----------
    name : str
        "y-min", "y-max", "x-min" or "x-max" (array index axes of the slices).
    axis : int
        0 for the y edges (rows), 1 for the x edges (columns).
    at_end : bool
        The edge at the last row/column.
    wedge_mm : float
        Width of the truncation wedge measured along it (0 when none is seen).
    """

    name: str
    axis: int
    at_end: bool
    wedge_mm: float

    def band(self, shape_yx: tuple[int, int], width_px: int) -> tuple[slice, slice]:
        """Index of the in-plane band ``width_px`` deep along this edge."""
        cut = slice(shape_yx[self.axis] - width_px, None) if self.at_end else slice(0, width_px)
        return (cut, slice(None)) if self.axis == 0 else (slice(None), cut)


def _edge_profiles(array: np.ndarray, breast: np.ndarray, axis: int, at_end: bool, depth_px: int,
                   touch_px: int) -> np.ndarray | None:
    """Mean intensity per slice and per distance from the edge: (nz, depth_px), or None."""
    a = np.moveaxis(array, axis + 1, 1)          # (nz, across, along)
    b = np.moveaxis(breast, axis, 0)             # (across, along)
    if at_end:
        a, b = a[:, ::-1], b[::-1]
    reach = b[:touch_px].any(axis=0)             # positions along the edge where the breast reaches it
    if reach.mean() <= 0.2:
        return None
    cols = np.nonzero(reach)[0]
    cols = cols[:: max(1, len(cols) // 100)]     # a hundred positions give a steady median
    depth_px = min(depth_px, a.shape[1])
    # the median, not the mean: a duct or lesion near the edge changes from slice to slice too,
    # but occupies few of the positions along it
    return np.median(np.asarray(a[:, :depth_px, cols], dtype=np.float32), axis=2)


def _wedge_width_px(profiles: np.ndarray, floor_px: int, tissue_contrast: float, *, contrast: float = 5.0,
                    min_spread: float = 0.01) -> int:
    """Distance from the edge at which the slice-to-slice spread falls back to its floor.

    The spread is in units of ``tissue_contrast`` (breast minus air): a wedge must stand
    ``contrast`` times above the floor and at ``min_spread`` of that contrast.
    """
    p = (profiles - profiles[:, -floor_px:].mean(axis=1, keepdims=True)) / tissue_contrast
    spread = p.std(axis=0)
    floor = float(np.median(spread[-floor_px:]))
    near = spread[:-floor_px]                    # the distances a wedge may span
    top = float(near.max(initial=0.0))
    if top <= max(contrast * floor, min_spread):
        return 0                                 # nothing above the noise: no wedge
    # the wedge ends where the spread is last above a tenth of its height over the floor
    return int(np.nonzero(near > floor + 0.1 * (top - floor))[0].max()) + 1


def cut_edges(array: np.ndarray, breast: np.ndarray, spacing_zyx: tuple[float, float, float], *,
              touch_mm: float = 8.0, max_wedge_fraction: float = 0.7) -> list[CutEdge]:
    """Image edges the breast runs into, each with the truncation wedge measured along it.

    Parameters
    ----------
    array : (nz, ny, nx) ndarray
        The volume (or its in-plane binned copy).
    breast : (ny, nx) bool
        In-plane breast footprint.
    spacing_zyx : (3,) floats
        Voxel size in mm.
    touch_mm : float
        An edge is cut when the footprint comes within this distance of it along a fifth of
        its length (the footprint may stop short: the wedge is dim in the mean over slices).
        A nipple near an edge is not a cut.
    max_wedge_fraction : float
        Widest wedge looked for, as a fraction of the slab thickness (tan 35 degrees: wider
        than any vendor's half-arc).

    Returns
    -------
    list of CutEdge
    """
    dz, dy, dx = spacing_zyx
    thickness = array.shape[0] * dz
    if not breast.any():
        return []
    mean = np.asarray(array[:, ::4, ::4], dtype=np.float32).mean(axis=0)
    body = float(np.median(mean[breast[::4, ::4]])) if breast[::4, ::4].any() else float(np.median(mean))
    air = float(np.median(mean[~breast[::4, ::4]])) if (~breast[::4, ::4]).any() else 0.0
    tissue_contrast = max(abs(body - air), 1e-12)
    out = []
    for name, axis, at_end in _EDGES:
        step = dy if axis == 0 else dx
        touch_px = int(np.ceil(max(touch_mm, step) / step))
        floor_px = max(3, int(round(5.0 / step)))
        depth_px = int(round(max_wedge_fraction * thickness / step)) + floor_px
        if depth_px >= breast.shape[axis] // 2:
            depth_px = breast.shape[axis] // 2   # never past the middle of the field
        profiles = _edge_profiles(array, breast, axis, at_end, depth_px, touch_px)
        if profiles is None:
            continue
        width = _wedge_width_px(profiles, floor_px, tissue_contrast) if profiles.shape[1] > 2 * floor_px else 0
        out.append(CutEdge(name=name, axis=axis, at_end=at_end, wedge_mm=width * step))
    return out


def drop_field_edge_bands(labels: np.ndarray, ids: list[int], voxel_counts: np.ndarray, edges: list[CutEdge], *,
                          spacing_yx: tuple[float, float], notes: list[str], touch_mm: float = 8.0,
                          share: float = 0.6, rooted: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """Drop lumen pieces that are the bright band along a cut edge.

    A piece goes when ``share`` or more of its voxels lie within ``touch_mm`` of one cut
    edge, unless it is in ``rooted`` (pieces reaching the nipple are ducts, wherever they
    lie).  Streaks further inside the truncation wedge are reported, not removed: on the
    medium-arc ``deep-lesion`` sample a true duct runs along the edge 11 mm from it,
    inside its 11 mm wedge, and removing streaks running along the edge there cut the
    path to the lesion.

    Returns
    -------
    list of int
        The ids kept, in their order.
    """
    if not ids or not edges:
        return ids
    shape = labels.shape[1:]
    dy, dx = spacing_yx
    drop: set[int] = set()
    for edge in edges:
        step = dy if edge.axis == 0 else dx
        near_px = int(np.ceil(touch_mm / step))
        # voxels of each piece in the band columns, against all its voxels (no volume copy)
        near = np.bincount(labels[(slice(None), *edge.band(shape, near_px))].ravel(), minlength=len(voxel_counts))
        drop.update(lab for lab in ids if lab not in rooted and near[lab] >= share * voxel_counts[lab])
    keep = [lab for lab in ids if lab not in drop]
    wedges = [e for e in edges if e.wedge_mm > touch_mm]
    if drop:
        notes.append(f"{len(drop)} bright band(s) along the field's edge ignored (back-projection artefact where "
                     "the field cuts the breast)")
    if wedges:
        notes.append("truncation wedge along the field's edge ("
                     + ", ".join(f"{e.name} {e.wedge_mm:.0f} mm" for e in wedges)
                     + "): ducts found there may include back-projection streaks running along the edge")
    return keep
