"""DBT slices for the screen: slab MIP, window/level, and screen <-> physical mm.

A DBT volume is a stack of slices along the array's first axis (numpy ``(z, y, x)``);
the radiologist scrolls through ``z``.  This module turns one slice (or a thin slab's
maximum intensity projection) into the grey picture shown in the browser, and maps a
point on that picture back to physical millimetres and forth, through
:class:`reconstruction.frame.ImageFrame` (so direction and anisotropic spacing are
honoured).

Screen geometry.  The picture shows a rectangle of the slice given in *edge*
coordinates: voxel ``i`` covers ``[i - 0.5, i + 0.5]`` of the continuous index, so the
whole slice is ``[-0.5, nx - 0.5] x [-0.5, ny - 0.5]``.  A point on the picture is given
as fractions ``(fx, fy)`` of its width and height (0 at the left/top edge, 1 at the
right/bottom edge): that is what a browser click gives (``offsetX / clientWidth``)
whatever size the picture is drawn at.  Pixels are drawn with their physical aspect
(``spacing_x : spacing_y``), columns along the array's x and rows along its y, like the
report's MIP.

Examples
--------
>>> import numpy as np
>>> from reconstruction.frame import ImageFrame
>>> f = ImageFrame.identity((3, 4, 5), spacing=(0.5, 0.5, 1.0))
>>> view = SliceView.whole(f)
>>> view.to_physical(0.5, 0.5, k=1).round(3).tolist()   # the picture's centre on slice 1
[1.0, 0.75, 1.0]
>>> view.to_fractions([[1.0, 0.75, 1.0]])[0].round(3).tolist()
[0.5, 0.5, 1.0]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from reconstruction.frame import ImageFrame

__all__ = ["SliceView", "slab_range", "slab_image", "auto_window", "apply_window", "render_gray",
           "ZOOM_LEVELS"]

#: Zoom factors offered in the browser (1: the whole slice).
ZOOM_LEVELS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


def slab_range(frame: ImageFrame, k: int, thickness_mm: float) -> tuple[int, int]:
    """Slices ``[k0, k1)`` of a slab of ``thickness_mm`` centred on slice ``k``.

    A thickness up to one slice spacing is the slice itself; the slab is clipped to
    the volume.

    Parameters
    ----------
    frame : ImageFrame
    k : int
        Centre slice (array index along z).
    thickness_mm : float
        Slab thickness along the slice axis.

    Returns
    -------
    (int, int)

    Raises
    ------
    ValueError
        ``k`` outside the volume or a negative / non-finite thickness.

    Examples
    --------
    >>> f = ImageFrame.identity((10, 4, 4), spacing=(0.1, 0.1, 1.0))
    >>> slab_range(f, 5, 0.0), slab_range(f, 5, 3.0), slab_range(f, 0, 5.0)
    ((5, 6), (4, 7), (0, 3))
    """
    nz = frame.shape_zyx[0]
    if not 0 <= int(k) < nz:
        raise ValueError(f"slice {k} is outside the volume (0..{nz - 1})")
    if not np.isfinite(thickness_mm) or thickness_mm < 0:
        raise ValueError(f"slab thickness must be a non-negative finite mm value, got {thickness_mm}")
    n = max(1, int(round(float(thickness_mm) / frame.spacing[2])))
    k0 = int(k) - (n - 1) // 2
    return max(0, k0), min(nz, k0 + n)


def slab_image(array: np.ndarray, frame: ImageFrame, k: int, thickness_mm: float = 0.0) -> np.ndarray:
    """The slice ``k`` (thickness 0) or the MIP of the slab around it, ``(ny, nx)`` float32.

    Parameters
    ----------
    array : (nz, ny, nx) ndarray
    frame : ImageFrame
        The array's frame (for the slice spacing).
    k : int
    thickness_mm : float
        Slab thickness; 0 or one slice spacing shows the slice itself.

    Returns
    -------
    (ny, nx) ndarray of float32

    Examples
    --------
    >>> a = np.zeros((5, 2, 2), np.float32); a[3, 0, 0] = 7.0
    >>> f = ImageFrame.identity(a.shape)
    >>> float(slab_image(a, f, 2)[0, 0]), float(slab_image(a, f, 2, 3.0)[0, 0])
    (0.0, 7.0)
    """
    if tuple(array.shape) != frame.shape_zyx:
        raise ValueError(f"array shape {array.shape} does not match the frame {frame.shape_zyx}")
    k0, k1 = slab_range(frame, k, thickness_mm)
    if k1 - k0 == 1:
        return np.asarray(array[k0], dtype=np.float32)
    return np.asarray(array[k0:k1], dtype=np.float32).max(axis=0)


def auto_window(array: np.ndarray, *, low_pct: float = 1.0, high_pct: float = 99.0, foreground: bool = True,
                max_samples: int = 2_000_000) -> tuple[float, float]:
    """A window/level for the breast tissue: percentiles of the foreground's intensities.

    DBT volumes hold much air (dark) and a few very bright voxels (contrast pools,
    clips, the skin line); percentiles over every voxel give a window so wide that the
    faint opacified ducts vanish.  With ``foreground`` the percentiles are taken over
    the voxels brighter than Otsu's threshold (the breast), when those are at least a
    tenth of the volume.

    Parameters
    ----------
    array : ndarray
    low_pct, high_pct : float
        Percentiles mapped to black and white.
    foreground : bool
        Use only the voxels above Otsu's threshold.
    max_samples : int
        Voxels sampled (a regular stride) to keep this fast on a full-field volume.

    Returns
    -------
    window, level : float
        Width and centre of the intensity window (window > 0).

    Examples
    --------
    >>> auto_window(np.linspace(0, 100, 1001), low_pct=0, high_pct=100, foreground=False)
    (100.0, 50.0)
    """
    flat = np.asarray(array).reshape(-1)
    step = max(1, flat.size // max_samples)
    sample = flat[::step]
    sample = sample[np.isfinite(sample)].astype(np.float64)
    if sample.size == 0:
        return 1.0, 0.0
    if foreground and np.ptp(sample) > 0:
        from skimage.filters import threshold_otsu

        fg = sample[sample > threshold_otsu(sample)]
        if fg.size >= 0.1 * sample.size:
            sample = fg
    lo, hi = (float(v) for v in np.percentile(sample, [low_pct, high_pct]))
    if hi <= lo:
        hi = lo + 1.0
    return hi - lo, 0.5 * (hi + lo)


def apply_window(image: np.ndarray, window: float, level: float) -> np.ndarray:
    """Map intensities to 0..255: ``level - window/2`` is black, ``level + window/2`` white.

    Examples
    --------
    >>> apply_window(np.array([0.0, 50.0, 100.0, 200.0]), 100.0, 50.0).tolist()
    [0, 128, 255, 255]
    """
    w = max(float(window), 1e-12)
    lo = float(level) - 0.5 * w
    out = (np.asarray(image, dtype=np.float32) - lo) * (255.0 / w)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class SliceView:
    """Which rectangle of a slice is shown, and at what pixel size.

    Attributes
    ----------
    frame : ImageFrame
    x0, y0 : float
        Top-left edge of the shown rectangle, in continuous index units (the whole
        slice starts at -0.5).
    width, height : float
        Size of the rectangle in voxels.
    out_width, out_height : int
        Size of the picture in pixels (physical aspect kept).
    """

    frame: ImageFrame
    x0: float
    y0: float
    width: float
    height: float
    out_width: int
    out_height: int

    # -------------------------------------------------------------- construction
    @classmethod
    def whole(cls, frame: ImageFrame, *, max_side: int = 1000) -> "SliceView":
        """The whole slice, at most ``max_side`` pixels on its long side.

        The picture is never larger than the slice's voxel count along its long
        side times 4 (a tiny volume is magnified, not blown up to ``max_side``).
        """
        return cls.zoomed(frame, zoom=1.0, max_side=max_side)

    @classmethod
    def zoomed(cls, frame: ImageFrame, *, zoom: float = 1.0, center_xy: npt.ArrayLike | None = None,
               max_side: int = 1000) -> "SliceView":
        """A rectangle ``1/zoom`` of the slice's size around ``center_xy``, kept inside the slice.

        Parameters
        ----------
        frame : ImageFrame
        zoom : float
            1 shows the whole slice; 2 half its width and height; ...
        center_xy : (x, y) continuous index, optional
            Centre of the rectangle (the slice's centre by default).
        max_side : int
            Long side of the picture in pixels.

        Raises
        ------
        ValueError
            A zoom below 1 or not finite.
        """
        if not np.isfinite(zoom) or zoom < 1.0:
            raise ValueError(f"zoom must be a finite number >= 1, got {zoom}")
        nx, ny = frame.size[0], frame.size[1]
        w, h = nx / float(zoom), ny / float(zoom)
        if center_xy is None:
            cx, cy = 0.5 * (nx - 1), 0.5 * (ny - 1)
        else:
            cx, cy = (float(v) for v in np.asarray(center_xy, dtype=float).reshape(2))
        # Keep the rectangle inside the slice: zooming near an edge shows the edge.
        x0 = float(np.clip(cx - 0.5 * w, -0.5, nx - 0.5 - w))
        y0 = float(np.clip(cy - 0.5 * h, -0.5, ny - 0.5 - h))
        sx, sy = frame.spacing[0], frame.spacing[1]
        wmm, hmm = w * sx, h * sy
        side = min(int(max_side), 4 * int(np.ceil(max(w, h))))
        scale = side / max(wmm, hmm)
        return cls(frame, x0, y0, w, h, max(1, int(round(wmm * scale))), max(1, int(round(hmm * scale))))

    @property
    def center_xy(self) -> np.ndarray:
        """Centre of the shown rectangle, continuous index ``(x, y)``."""
        return np.array([self.x0 + 0.5 * self.width, self.y0 + 0.5 * self.height])

    @property
    def mm_per_pixel(self) -> float:
        """Physical size of one picture pixel (mm, along x; the same along y)."""
        return self.width * self.frame.spacing[0] / self.out_width

    # -------------------------------------------------------------- conversions
    def to_index(self, fx: float, fy: float) -> np.ndarray:
        """Picture fractions -> continuous in-plane index ``(x, y)``."""
        return np.array([self.x0 + float(fx) * self.width, self.y0 + float(fy) * self.height])

    def to_physical(self, fx: float, fy: float, *, k: float) -> np.ndarray:
        """A point on the picture of slice ``k`` -> physical mm ``(3,)``.

        Parameters
        ----------
        fx, fy : float
            Fractions of the picture's width and height (0..1 from its top-left edge).
        k : float
            Slice index (array z) the picture shows.

        Raises
        ------
        ValueError
            A point outside the picture or a slice outside the volume.
        """
        if not (np.isfinite(fx) and np.isfinite(fy) and -1e-6 <= fx <= 1 + 1e-6 and -1e-6 <= fy <= 1 + 1e-6):
            raise ValueError(f"point ({fx}, {fy}) is outside the picture (fractions must be within 0..1)")
        nz = self.frame.shape_zyx[0]
        if not -0.5 <= float(k) <= nz - 0.5:
            raise ValueError(f"slice {k} is outside the volume (0..{nz - 1})")
        x, y = self.to_index(fx, fy)
        return self.frame.index_to_physical(np.array([x, y, float(k)]))

    def to_fractions(self, points_mm: npt.ArrayLike) -> np.ndarray:
        """Physical mm ``(N, 3)`` -> ``(N, 3)`` of picture fractions ``fx, fy`` and slice ``k``.

        ``k`` is the continuous slice index of each point (its depth); fractions
        outside 0..1 lie outside the picture.
        """
        idx = self.frame.physical_to_index(np.atleast_2d(np.asarray(points_mm, dtype=float)))
        fx = (idx[:, 0] - self.x0) / self.width
        fy = (idx[:, 1] - self.y0) / self.height
        return np.stack([fx, fy, idx[:, 2]], axis=1)

    def to_pixels(self, points_mm: npt.ArrayLike) -> np.ndarray:
        """Physical mm ``(N, 3)`` -> ``(N, 3)``: picture column, row (pixel edges) and slice ``k``."""
        f = self.to_fractions(points_mm)
        return np.stack([f[:, 0] * self.out_width, f[:, 1] * self.out_height, f[:, 2]], axis=1)


def render_gray(image: np.ndarray, view: SliceView, window: float, level: float) -> np.ndarray:
    """The shown rectangle of a ``(ny, nx)`` slice, resampled and windowed: ``(H, W)`` uint8.

    Bilinear resampling of the intensities, then the window: the picture looks the
    same at any zoom.

    Examples
    --------
    >>> f = ImageFrame.identity((1, 2, 2))
    >>> img = np.array([[0.0, 100.0], [100.0, 0.0]], np.float32)
    >>> v = SliceView(f, -0.5, -0.5, 2.0, 2.0, 2, 2)
    >>> render_gray(img, v, 100.0, 50.0).tolist()
    [[0, 255], [255, 0]]
    """
    from PIL import Image

    ny, nx = image.shape
    if (nx, ny) != (view.frame.size[0], view.frame.size[1]):
        raise ValueError(f"slice shape {image.shape} does not match the frame {view.frame.shape_zyx[1:]}")
    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32), mode="F")
    # PIL's box is in pixel-edge coordinates (pixel i spans [i, i + 1]): index + 0.5.
    box = (view.x0 + 0.5, view.y0 + 0.5, view.x0 + 0.5 + view.width, view.y0 + 0.5 + view.height)
    # Averaging when shrinking (no aliasing of thin ducts), bilinear when magnifying.
    shrink = view.out_width < view.width
    resample = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    out = pil.resize((view.out_width, view.out_height), resample=resample, box=box)
    return apply_window(np.asarray(out), window, level)
