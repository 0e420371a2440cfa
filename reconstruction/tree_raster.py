"""The duct tree drawn back into voxels: one label per opacified system.

The lumen mask the tree was built from is blurred along the slice axis (DBT), and each
duct's depth is decided afterwards, where the duct is in focus (:mod:`.depth_refine`).
What a user opens beside the volume (``segmentation.seg.nrrd`` in 3D Slicer) must show
the ducts where the tree puts them, so the segmentation is drawn from the tree: a tube
of the branch's radius around every centreline.

A tube thinner than a slice would fall between slice centres and vanish; a voxel is
therefore inside when the centreline passes within the radius of the voxel's in-plane
centre anywhere across the voxel's slab (its thickness along the slice axis), which is
what a radiologist reading slice by slice expects: the duct appears in every slice it
passes through.
"""
from __future__ import annotations

import numpy as np

from .frame import ImageFrame
from .tree import DuctTree, resample_polyline

__all__ = ["tree_labelmap"]


def tree_labelmap(tree: DuctTree, frame: ImageFrame, *, min_radius_mm: float | None = None) -> np.ndarray:
    """Label every voxel of ``frame`` that a branch's tube covers with its system + 1.

    Parameters
    ----------
    tree : DuctTree
    frame : ImageFrame
        The grid to draw on (usually the volume's or the working grid).
    min_radius_mm : float, optional
        Thinnest tube drawn (default: half the finest in-plane spacing, so that every
        centreline leaves a connected trace).

    Returns
    -------
    ndarray of uint16, shape ``frame.shape_zyx``
        0 outside every duct; ``s + 1`` inside a duct of system ``s``.  Where two systems'
        tubes overlap, the later system wins.

    Examples
    --------
    >>> from reconstruction.tree import Branch, DuctSystem
    >>> frame = ImageFrame.identity((5, 20, 40), spacing=(0.2, 0.2, 1.0))
    >>> x = np.linspace(1.0, 7.0, 13)
    >>> duct = Branch(id=0, system=0, parent=None, radius_mm=np.full(13, 0.5),
    ...               points_mm=np.stack([x, np.full(13, 2.0), np.full(13, 2.0)], axis=1))
    >>> labels = tree_labelmap(DuctTree([duct], [DuctSystem(0, duct.points_mm[0])]), frame)
    >>> sorted(np.unique(labels).tolist()), int((labels > 0).sum(axis=(1, 2)).argmax())
    ([0, 1], 2)
    """
    spacing = np.asarray(frame.spacing_zyx, float)
    shape = np.asarray(frame.shape_zyx)
    labels = np.zeros(frame.shape_zyx, np.uint16)
    floor = 0.5 * float(spacing[1:].min()) if min_radius_mm is None else float(min_radius_mm)
    slab = 0.5 * spacing[0]
    for b in tree.branches:
        if len(b.points_mm) < 2:
            continue
        r = np.maximum(b.radius_mm, floor)
        # Steps of half the thinnest radius (or half a pixel): consecutive balls overlap.
        step = max(0.5 * float(r.min()), 0.5 * float(spacing[1:].min()))
        pts, rad = resample_polyline(b.points_mm, step_mm=step, values=r)
        q = frame.physical_to_array_mm(pts)          # (z, y, x) in mm along the array axes
        for centre, radius in zip(q, rad):
            reach = np.array([radius + slab, radius, radius])
            lo = np.maximum(np.floor((centre - reach) / spacing).astype(int), 0)
            hi = np.minimum(np.ceil((centre + reach) / spacing).astype(int) + 1, shape)
            if np.any(hi <= lo):
                continue
            dz, dy, dx = (np.arange(lo[k], hi[k]) * spacing[k] - centre[k] for k in range(3))
            dz = np.maximum(np.abs(dz) - slab, 0.0)    # anywhere across the voxel's slab
            inside = (dz[:, None, None] ** 2 + dy[None, :, None] ** 2 + dx[None, None, :] ** 2) < radius ** 2
            block = labels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
            block[inside] = b.system + 1
    return labels
