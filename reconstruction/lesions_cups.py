"""Cups: the meniscus of a contrast column dammed by a filling defect.

A papilloma that obstructs its duct stops the contrast at its proximal surface.  In the
slices through it the column's end is a bright crescent (a *cup*, the meniscus sign of
galactography) wrapped round a round dark defect, with no contrast past it.  A void
that contrast flows round is an enclosed hole (see :mod:`reconstruction.lesions_lumps`);
a cup is open on the far side, so a hole test never sees it.

The defect's outline is a circle: the inner edge of the crescent is found by a circular
Hough transform (``skimage.transform.hough_circle``) on the edges of the bright region,
and each circle is kept when

* its inside is dark (the defect),
* a contiguous arc of the band just outside it, at least ``min_arc_deg`` long, is bright
  and part of the lump while the band just inside it is dark (the crescent hugs the
  defect: contrast merely passing by touches a circle over a short arc only, and a
  circle straddling a duct's edge has contrast inside it too),
* past the circle, on the side the crescent leaves open, there is no contrast (the
  column stops: a defect that contrast flows past is not obstructing, and one that is
  also ringed there is a hole),
* and it is seen in at least two adjacent slices, within the lump's depth: DBT spreads
  a lump over many slices, and far from its focus the blur of a void that contrast
  flows round can look like a cup.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.transform import hough_circle, hough_circle_peaks

from .frame import ImageFrame

__all__ = ["find_cups", "longest_circular_run"]

_ANGLES = np.deg2rad(np.arange(0.0, 360.0, 5.0))
# Half-width of the sector past the open side that must be free of contrast: the middle
# of the opening, inside any gap wider than 80 degrees (a crescent of up to 280).
_OPEN_HALF_DEG = 40.0
# Circles tried per slice: a duct's straight edges give many (inscribed between them),
# so the defect's may rank well below the first few.
_PEAKS = 30


def longest_circular_run(flags: np.ndarray) -> int:
    """Length of the longest run of True in a circular sequence.

    Examples
    --------
    >>> longest_circular_run(np.array([True, False, False, True, True]))
    3
    """
    flags = np.asarray(flags, bool)
    if flags.all():
        return int(flags.size)
    best = run = 0
    for value in np.concatenate([flags, flags]):
        run = run + 1 if value else 0
        best = max(best, run)
    return int(min(best, flags.size))


def _brightest_past(contrast: np.ndarray, row: float, col: float, theta: float, half_deg: float,
                    r0_mm: float, r1_mm: float, spacing: float) -> float:
    """Brightest contrast over a sector (``theta`` +- ``half_deg``, radii r0-r1 mm)."""
    angles = theta + np.deg2rad(np.arange(-half_deg, half_deg + 1e-9, 10.0))[:, None]
    reach = np.arange(r0_mm, r1_mm, 0.25)[None, :]
    values = ndimage.map_coordinates(contrast, [(row + reach * np.sin(angles) / spacing).ravel(),
                                                (col + reach * np.cos(angles) / spacing).ravel()],
                                     order=1, mode="constant", cval=0.0)
    return float(values.max()) if values.size else 0.0


def _circles_in_slice(contrast: np.ndarray, lump: np.ndarray, radii_px: np.ndarray, spacing: float, *,
                      bright_fraction: float, interior_fraction: float, min_arc_deg: float,
                      max_beyond: float, band_mm: float, beyond_mm: float
                      ) -> list[tuple[float, float, float]]:
    """Cups in one slice: (row, column, radius in mm) each, in the window's pixels."""
    level = float(np.percentile(contrast[lump], 95))
    if not level > 0:
        return []
    bright = contrast >= bright_fraction * level
    # The lump's own contrast: the bright regions it is part of (its crescent's thin
    # horns included, which the lump's opening trimmed; other ducts' contrast not).
    parts, _ = ndimage.label(bright)
    own = np.isin(parts, np.unique(parts[lump & bright])) & bright
    near = ndimage.binary_dilation(lump, iterations=max(int(round(1.0 / spacing)), 1))
    edges = bright & ~ndimage.binary_erosion(bright) & near
    if edges.sum() < 10:
        return []
    accumulator = hough_circle(edges, radii_px)
    _, cols, rows, found = hough_circle_peaks(accumulator, radii_px, min_xdistance=max(int(1.0 / spacing), 1),
                                              min_ydistance=max(int(1.0 / spacing), 1), total_num_peaks=_PEAKS)
    yy, xx = np.mgrid[:contrast.shape[0], :contrast.shape[1]]
    out = []
    for col, row, r_px in zip(cols, rows, found):
        r = float(r_px) * spacing
        inside = ((yy - row) ** 2 + (xx - col) ** 2) * spacing ** 2 <= (r - 0.25) ** 2
        if not inside.any() or contrast[inside].mean() > interior_fraction * level:
            continue
        ys = row + (r + band_mm) * np.sin(_ANGLES) / spacing
        xs = col + (r + band_mm) * np.cos(_ANGLES) / spacing
        values = ndimage.map_coordinates(contrast, [ys, xs], order=1, mode="constant", cval=0.0)
        in_lump = ndimage.map_coordinates(own.astype(float), [ys, xs], order=0, mode="constant", cval=0.0) > 0.5
        # The crescent: bright just outside the circle, in the lump's own contrast, and
        # dark just inside it (the edge is the circle's: a circle straddling a duct's
        # straight edge sees contrast on both sides).
        ys_in = row + max(r - band_mm, 0.0) * np.sin(_ANGLES) / spacing
        xs_in = col + max(r - band_mm, 0.0) * np.cos(_ANGLES) / spacing
        inner = ndimage.map_coordinates(contrast, [ys_in, xs_in], order=1, mode="constant", cval=0.0)
        wall = (values >= bright_fraction * level) & in_lump & (inner < bright_fraction * level)
        if longest_circular_run(wall) * 5.0 < min_arc_deg:
            continue
        # The open side: the mean direction of the band's gaps.  Past it, over the
        # middle of the opening, the column has stopped: nothing bright.
        gap = np.sum(np.exp(1j * _ANGLES) * ~wall)
        if abs(gap) > 0 and _brightest_past(contrast, row, col, float(np.angle(gap)), _OPEN_HALF_DEG,
                                            r + 0.5, r + beyond_mm, spacing) > max_beyond * level:
            continue
        out.append((float(row), float(col), r))
    return out


def find_cups(lump: np.ndarray, contrast: np.ndarray, sl: tuple[slice, ...], frame: ImageFrame, *,
              min_diameter_mm: float, max_diameter_mm: float, slices: range | None = None,
              bright_fraction: float = 0.5,
              interior_fraction: float = 0.3, min_arc_deg: float = 120.0, max_beyond: float = 0.3,
              band_mm: float = 0.4, beyond_mm: float = 3.0) -> list[tuple[np.ndarray, float]]:
    """Defects a lump's contrast column stops at, cupped by its meniscus.

    Parameters
    ----------
    lump : (nz, ny, nx) bool ndarray
        The lump's region in the crop ``sl`` (see :func:`reconstruction.lesions_lumps.find_lumps`).
    contrast : ndarray
        The whole contrast volume (in units of the ducts' contrast); the lump's window,
        ``sl`` widened by ``max_diameter_mm`` in-plane, is read from it.
    sl : tuple of slice
        The lump's bounding box in ``contrast``.
    frame : ImageFrame
        Geometry of ``contrast`` (square in-plane pixels).
    min_diameter_mm, max_diameter_mm : float
        Range of defect diameters searched.
    slices : range, optional
        The lump's slices (indices into ``lump``) that are searched: those within its
        own depth of its focus.  All by default.
    bright_fraction : float
        The crescent is brighter than this fraction of the lump's contrast (95th percentile).
    interior_fraction : float
        The defect's inside is darker on average than this fraction.
    min_arc_deg : float
        Shortest arc of the crescent.
    max_beyond : float
        Past the open side (a sector of +-40 degrees about its middle, up to
        ``beyond_mm`` beyond the circle) no contrast brighter than this fraction.
    band_mm : float
        Distance outside the circle at which the crescent is sampled.

    Returns
    -------
    list of (center_mm, diameter_mm)
        One per defect: the widest circle of its run of slices, at that slice.
    """
    spacing = float(frame.spacing_zyx[1])
    # Whole pixels, from the smallest radius not below the range to the largest not above it.
    radii_px = np.arange(int(np.ceil(0.5 * min_diameter_mm / spacing - 1e-6)),
                         int(np.floor(0.5 * max_diameter_mm / spacing + 1e-6)) + 1)
    radii_px = radii_px[radii_px >= 2]
    if radii_px.size == 0:
        return []
    pad = int(np.ceil(max_diameter_mm / spacing))
    ny, nx = contrast.shape[1:]
    wy = slice(max(sl[1].start - pad, 0), min(sl[1].stop + pad, ny))
    wx = slice(max(sl[2].start - pad, 0), min(sl[2].stop + pad, nx))
    marks = np.zeros((lump.shape[0], wy.stop - wy.start, wx.stop - wx.start), bool)
    circles: dict[int, list[tuple[float, float, float]]] = {}
    yy, xx = np.mgrid[:marks.shape[1], :marks.shape[2]]
    for k in (slices if slices is not None else range(lump.shape[0])):
        if not 0 <= k < lump.shape[0] or lump[k].sum() < 4:
            continue
        region = np.zeros(marks.shape[1:], bool)
        region[sl[1].start - wy.start: sl[1].stop - wy.start, sl[2].start - wx.start: sl[2].stop - wx.start] = lump[k]
        found = _circles_in_slice(contrast[sl[0].start + k, wy, wx], region, radii_px, spacing,
                                  bright_fraction=bright_fraction, interior_fraction=interior_fraction,
                                  min_arc_deg=min_arc_deg, max_beyond=max_beyond, band_mm=band_mm,
                                  beyond_mm=beyond_mm)
        circles[k] = found
        for row, col, r in found:
            marks[k] |= ((yy - row) ** 2 + (xx - col) ** 2) * spacing ** 2 <= r ** 2
    labels, _ = ndimage.label(marks, structure=ndimage.generate_binary_structure(3, 1))
    out = []
    for lab, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None or box[0].stop - box[0].start < 2:
            continue          # one slice: noise or a chance arc
        mine = [(k, row, col, r) for k in range(box[0].start, box[0].stop) for row, col, r in circles.get(k, [])
                if labels[k, int(round(row)), int(round(col))] == lab]
        if not mine:
            continue
        # The widest circle; of several as wide, the middle one in depth (the focus).
        widest = max(c[3] for c in mine)
        at_widest = [c for c in mine if c[3] >= widest - 1e-9]
        k, row, col, r = at_widest[len(at_widest) // 2]
        center = frame.array_index_to_physical([[float(sl[0].start + k), wy.start + row, wx.start + col]])[0]
        out.append((center, 2.0 * r))
    return out
