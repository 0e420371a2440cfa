"""Finding the nipple on the skin line of a DBT volume.

The compressed breast is a slab whose in-plane footprint touches the image edge at the
chest wall and bulges out to the nipple.  Without trusting the file's orientation tags
(often wrong or absent), the chest wall is the image edge the breast covers most, and the
nipple is the point of the skin line farthest from it.  Its depth is where the opacified
ducts converge under it, else mid-thickness.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .frame import ImageFrame

__all__ = ["NippleEstimate", "find_nipple"]


@dataclass
class NippleEstimate:
    """Where the nipple is and how we know.

    Attributes
    ----------
    position_mm : (3,) ndarray
        Physical mm.
    chest_wall_edge : str
        Which image edge the chest wall lies on: "x0", "x1", "y0" or "y1".
    posterior_axis : (3,) ndarray
        Unit vector from the nipple toward the chest wall (physical).
    breast_depth_mm : float
        Nipple to chest wall distance.
    method : str
    """

    position_mm: np.ndarray
    chest_wall_edge: str
    posterior_axis: np.ndarray
    breast_depth_mm: float
    method: str


def find_nipple(breast: np.ndarray, frame: ImageFrame, *, lumen_contrast: np.ndarray | None = None,
                search_mm: float = 12.0) -> NippleEstimate:
    """Locate the nipple from the in-plane breast footprint (and the ducts, for depth).

    Parameters
    ----------
    breast : (ny, nx) bool
        In-plane breast footprint on ``frame``'s grid.
    frame : ImageFrame
        Frame of the grid (z = slices).
    lumen_contrast : (nz, ny, nx) ndarray, optional
        Flattened contrast; where present its brightest voxels under the nipple set the depth.
    search_mm : float
        Radius around the nipple tip searched for the ducts' depth.

    Raises
    ------
    ValueError
        If the footprint is empty or touches no image edge (no chest wall to orient by).
    """
    if not breast.any():
        raise ValueError("no nipple found: the volume shows no breast; give --nipple X,Y,Z")
    ny, nx = breast.shape
    dy, dx = frame.spacing[1], frame.spacing[0]
    edges = {"x0": breast[:, 0].sum() * dy, "x1": breast[:, -1].sum() * dy,
             "y0": breast[0, :].sum() * dx, "y1": breast[-1, :].sum() * dx}
    edge = max(edges, key=edges.get)
    if edges[edge] <= 0:
        raise ValueError("no nipple found: the breast touches no image edge, so the chest wall is "
                         "unknown; give --nipple X,Y,Z")
    yy, xx = np.nonzero(breast)
    dist = {"x0": xx * dx, "x1": (nx - 1 - xx) * dx, "y0": yy * dy, "y1": (ny - 1 - yy) * dy}[edge]
    far = dist.max()
    # The nipple tip: breast pixels within 1.5 mm of the farthest reach, their centroid.
    tip = dist >= far - 1.5
    cy, cx = yy[tip].mean(), xx[tip].mean()
    nz = frame.size[2]
    cz = (nz - 1) / 2.0
    method = "farthest skin point from the chest wall; depth = mid-thickness"
    if lumen_contrast is not None:
        # Depth: the brightest lumen under the nipple (ducts converge at the orifices).
        r_px = search_mm / dx
        y0, y1 = int(max(cy - r_px, 0)), int(min(cy + r_px + 1, ny))
        x0, x1 = int(max(cx - r_px, 0)), int(min(cx + r_px + 1, nx))
        box = np.asarray(lumen_contrast[:, y0:y1, x0:x1], dtype=np.float32)
        if box.size and box.max() > 0:
            thr = np.percentile(box, 99.5)
            w = np.clip(box - thr, 0, None)
            if w.sum() > 0:
                cz = float((w.sum(axis=(1, 2)) * np.arange(nz)).sum() / w.sum())
                method = "farthest skin point from the chest wall; depth from the ducts under it"
    pos = frame.array_index_to_physical(np.array([cz, cy, cx]))
    inward = {"x0": [0, 0, -1], "x1": [0, 0, 1], "y0": [0, -1, 0], "y1": [0, 1, 0]}[edge]
    axis = frame.array_index_to_physical(np.array([cz, cy, cx]) + np.array(inward, float)) - pos
    axis /= np.linalg.norm(axis)
    return NippleEstimate(position_mm=pos, chest_wall_edge=edge, posterior_axis=axis,
                          breast_depth_mm=float(far), method=method)
