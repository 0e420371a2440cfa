"""Volumes written the way other scanners and converters lay them out (test helper)."""
from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from reconstruction.volume import Volume


def image_with_slices_along(volume: Volume, axis: int) -> sitk.Image:
    """The same voxels, each at its physical place, stored with the DBT slice axis as the
    file's ITK ``axis`` (0 = x, 1 = y); the axes are cycled, so the frame keeps its handedness."""
    order = {0: [2, 0, 1], 1: [1, 2, 0]}[axis]      # file axis t holds the volume's axis order[t]
    f = volume.frame
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array.transpose([2 - o for o in order[::-1]])))
    image.SetSpacing(tuple(f.spacing[o] for o in order))
    image.SetOrigin(f.origin)
    image.SetDirection(tuple(f.direction_matrix[:, order].ravel()))
    return image
