"""Lumps: pools of contrast much wider than a duct, found in the volume and named by shape.

A papilloma that dams a duct, a cyst at a duct's end and an ectatic segment are all
*lumps*: contrast-filled regions several millimetres across, far wider than any duct
around them.  Read along a reconstructed centreline they are easy to misname: the
centreline runs round a papilloma's void on one rim (so the void is beside the profile,
not in it), passes through a cyst (so the cyst is a wide segment, not a pool at a tip),
and wanders into the lump's out-of-focus blur above and below it (so one lesion reads as
two or three).  Seen slice by slice in the volume they are unmistakable:

* a **filling defect** is a dark hole enclosed by the lump's contrast in the slices
  through it (the void of a non-obstructing papilloma, with contrast flowing round it),
  or a round dark defect the column stops at, cupped by its meniscus (an obstructing
  papilloma: see :mod:`reconstruction.lesions_cups`);
* a **cyst** is a lump with no hole that is round where it is in focus;
* anything else wide (an elongated lump with no hole: an ectatic segment, the ampulla)
  is left to the along-the-duct ectasia reading, which knows the duct's calibre.

Depth: DBT spreads a lump over many slices, along the sweep.  Its depth is the middle
of the run of slices where it is brightest (the blur is symmetric about the focus, as
in :mod:`reconstruction.depth_refine`); a hole's depth is the middle of the run where
the hole is widest.  Everything is relative to the tree's own ducts: the bright
threshold is a fraction of the contrast the ducts reach, the width is compared with the
widest normal duct (``min_width_mm``).

Findings the centreline reading made on a lump, or in its out-of-focus blur (within
``blur_slope`` mm in-plane per mm of depth from it), that the lump explains describe the
same lesion and give way to the lump's (:func:`reconcile_with_lumps`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .findings import Finding
from .frame import ImageFrame
from .lesions_cups import find_cups
from .segment import _bin_inplane, breast_mask_2d, flatten_background
from .tree import DuctTree

__all__ = ["Lump", "LumpOptions", "lump_contrast", "find_lumps", "lump_findings", "reconcile_with_lumps",
           "pool_width_needed_mm"]


@dataclass(frozen=True)
class LumpOptions:
    """Settings of the lump reading.

    Attributes
    ----------
    grid_mm : float
        In-plane working spacing (lumps are millimetres across).
    margin_mm : float
        Margin round the tree's footprint that is searched.
    background_mm : float
        Scale of the background removed from each slice (wider than any lump).
    bright_fraction : float
        A voxel is contrast when above this fraction of the contrast the tree's ducts reach.
    min_width_mm : float
        A lump is at least this wide in-plane (the ectasia threshold plus a margin: wider
        than any normal duct away from the ampulla).
    min_void_mm : float
        Smallest hole (equivalent diameter) read as a filling defect.
    max_cyst_aspect : float
        A cyst is at most this elongated (length over width) where it is in focus.
    void_fraction : float
        A void is darker than this fraction of the lump's own contrast (its 95th
        percentile in the slice).
    max_void_aspect, void_ring_mm, void_ring_fraction : float
        A void is round (second-moment aspect at most ``max_void_aspect``) and ringed
        by contrast: ``void_ring_fraction`` of a ``void_ring_mm`` band round it is bright.
        The void lies in one lumen: see :func:`_in_one_lumen`.
    focus_level : float
        Slices within this fraction of a lump's peak (or a hole's widest) are in focus.
    blur_slope : float
        In-plane reach of a lump's out-of-focus blur per mm of depth (tan of the half
        sweep angle; 0.6 covers sweeps up to ~60 degrees).
    max_tree_distance_mm : float
        A lump farther than this (in-plane, beyond its own half-length) from every duct
        of the tree is not on the opacified tree and is not reported.
    max_cup_tip_mm : float
        A cup ends its duct's contrast column: some tip of the tree lies within this
        distance of the defect's edge.  Ducts meeting at a branch point form a bright V
        with a dark gap in its mouth, a cup to the image test, and both go on.
    max_cup_mm : float
        Widest obstructing defect searched for.  Its smallest is ``min_width_mm`` and it
        is no wider than its lump: the column it dams is a lump, distended round it.
    cup_arc_deg, cup_interior_fraction, cup_beyond_fraction : float
        A cup's crescent is a contiguous bright arc of at least ``cup_arc_deg``; the
        defect's inside is darker on average than ``cup_interior_fraction`` of the
        lump's contrast, and past its open side nothing is brighter than
        ``cup_beyond_fraction`` of it (see :func:`reconstruction.lesions_cups.find_cups`).
    cyst_ratio, cyst_margin_mm, ampulla_width_mm, ampulla_reach_mm, ectasia_width_mm, pool_contrast : float
        What makes a round lump a cyst (see :func:`_is_pool`).  All but
        ``pool_contrast`` are shared with the centreline reading:
        :class:`reconstruction.findings_detect.FindingOptions` takes its defaults from
        here and passes its values back.
    """

    grid_mm: float = 0.25
    margin_mm: float = 10.0
    background_mm: float = 10.0
    bright_fraction: float = 0.5
    min_width_mm: float = 2.6
    min_void_mm: float = 1.5
    max_cyst_aspect: float = 1.3
    max_void_aspect: float = 1.6
    void_fraction: float = 0.5
    void_ring_mm: float = 0.5
    void_ring_fraction: float = 0.85
    focus_level: float = 0.85
    blur_slope: float = 0.6
    max_tree_distance_mm: float = 3.0
    max_cup_tip_mm: float = 3.0
    max_cup_mm: float = 8.0
    cup_arc_deg: float = 120.0
    cup_interior_fraction: float = 0.3
    cup_beyond_fraction: float = 0.3
    cyst_ratio: float = 2.0
    cyst_margin_mm: float = 1.5
    ampulla_width_mm: float = 3.0
    ectasia_width_mm: float = 2.0
    ampulla_reach_mm: float = 15.0
    pool_contrast: float = 2.0


@dataclass
class Lump:
    """One lump and what its in-focus slices show.

    Attributes
    ----------
    center_mm : (3,) ndarray
        Centre of the lump in its in-focus slice (physical mm).
    width_mm, length_mm : float
        In-plane width (twice the largest inscribed radius) and length (the major axis
        from second moments, at least the width) where it is in focus.
    aspect : float
        ``length_mm / width_mm``: 1 for a round pool, 2 and more for a dilated segment.
    peak_contrast : float
        Brightest contrast in the lump, in units of the tree's duct contrast.
    holes : list of (center_mm, diameter_mm)
        Enclosed voids of at least ``min_void_mm``.
    cups : list of (center_mm, diameter_mm)
        Defects the lump's contrast stops at, cupped by a meniscus (obstructing).
    kind : str
        ``"filling_defect"`` (it holds a void or a cup), ``"cyst"`` (round, no void) or
        ``"wide"``.
    footprint_mm : (K, 3) ndarray
        Points of its in-focus outline's region (physical mm, thinned to ~0.5 mm).
    """

    center_mm: np.ndarray
    width_mm: float
    length_mm: float
    aspect: float
    peak_contrast: float
    holes: list[tuple[np.ndarray, float]] = field(default_factory=list)
    kind: str = "wide"
    cups: list[tuple[np.ndarray, float]] = field(default_factory=list)
    footprint_mm: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))


def lump_contrast(array: np.ndarray, frame: ImageFrame, tree: DuctTree, *,
                  options: LumpOptions | None = None) -> tuple[np.ndarray, ImageFrame, float] | None:
    """Background-flattened contrast round the tree, in units of its ducts' contrast.

    Returns
    -------
    (contrast, frame, duct_level) or None
        ``contrast`` on a cropped, in-plane binned grid with its ``frame``; 1.0 is the
        median contrast the ducts reach.  None when the tree has no points or the crop
        holds no measurable duct contrast.
    """
    opt = options or LumpOptions()
    pts = np.concatenate([b.points_mm for b in tree.branches]) if tree.branches else np.zeros((0, 3))
    if len(pts) == 0:
        return None
    nz, ny, nx = array.shape
    idx = frame.physical_to_array_index(pts)
    sy, sx = frame.spacing_zyx[1], frame.spacing_zyx[2]
    my, mx = int(np.ceil(opt.margin_mm / sy)), int(np.ceil(opt.margin_mm / sx))
    y0 = int(np.clip(np.floor(idx[:, 1].min()) - my, 0, ny - 1))
    y1 = int(np.clip(np.ceil(idx[:, 1].max()) + my + 1, 1, ny))
    x0 = int(np.clip(np.floor(idx[:, 2].min()) - mx, 0, nx - 1))
    x1 = int(np.clip(np.ceil(idx[:, 2].max()) + mx + 1, 1, nx))
    k = max(1, int(round(opt.grid_mm / max(sy, sx))))
    crop = _bin_inplane(np.asarray(array[:, y0:y1, x0:x1]), k)
    if min(crop.shape[1:]) < 8:
        return None
    cframe = ImageFrame(origin=tuple(frame.index_to_physical([x0 + (k - 1) / 2, y0 + (k - 1) / 2, 0])),
                        spacing=(sx * k, sy * k, frame.spacing_zyx[0]), direction=frame.direction,
                        size=(crop.shape[2], crop.shape[1], crop.shape[0]))
    breast = breast_mask_2d(crop)
    flat = flatten_background(crop, spacing_yx=(sy * k, sx * k), scale_mm=opt.background_mm,
                              breast=breast if breast.any() else None)
    if breast.any():
        flat[:, ~breast] = 0.0
    # The ducts' level: the contrast at the tree's points, the best of the slice and its
    # neighbours (a centreline's depth is good to about a slice).
    q = np.round(cframe.physical_to_array_index(pts)).astype(int)
    q[:, 0] = q[:, 0].clip(0, crop.shape[0] - 1)
    q[:, 1] = q[:, 1].clip(0, crop.shape[1] - 1)
    q[:, 2] = q[:, 2].clip(0, crop.shape[2] - 1)
    best = ndimage.maximum_filter1d(flat, size=3, axis=0)
    level = float(np.median(best[q[:, 0], q[:, 1], q[:, 2]]))
    if not level > 0:
        return None
    return flat / level, cframe, level


def _run_middle(values: np.ndarray, level: float) -> float:
    """Middle of the run of ``values`` at or above ``level`` x their peak, round the peak."""
    j = int(np.argmax(values))
    thr = level * values[j]
    a = b = j
    while a > 0 and values[a - 1] >= thr:
        a -= 1
    while b < len(values) - 1 and values[b + 1] >= thr:
        b += 1
    return 0.5 * (a + b)


def _shape(region: np.ndarray, spacing_yx: tuple[float, float]) -> tuple[float, float, float]:
    """(width, length, aspect) of a 2D region from its inscribed radius and second moments."""
    edt = ndimage.distance_transform_edt(np.pad(region, 1), sampling=spacing_yx)[1:-1, 1:-1]
    width = 2.0 * float(edt.max())
    yy, xx = np.nonzero(region)
    cov = np.cov(np.stack([yy * spacing_yx[0], xx * spacing_yx[1]])) if len(yy) > 2 else np.eye(2) * 1e-6
    ev = np.sort(np.linalg.eigvalsh(cov))
    length = 4.0 * float(np.sqrt(max(ev[1], 0.0)))
    aspect = float(np.sqrt(max(ev[1], 1e-12) / max(ev[0], 1e-12)))
    return width, max(length, width), aspect


def _disc(radius_px: float) -> np.ndarray:
    r = int(np.ceil(radius_px))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return yy ** 2 + xx ** 2 <= radius_px ** 2


def find_lumps(contrast: np.ndarray, frame: ImageFrame, *, options: LumpOptions | None = None) -> list[Lump]:
    """Lumps of contrast wider than ``min_width_mm``, with their enclosed voids.

    Each slice's contrast (holes filled) is opened with a disc of half ``min_width_mm``:
    ducts narrower than that vanish, lumps keep their outline.  The opened regions,
    connected across slices, are the lumps.

    Parameters
    ----------
    contrast : (nz, ny, nx) ndarray
        Contrast in units of the ducts' (see :func:`lump_contrast`).
    frame : ImageFrame

    Returns
    -------
    list of Lump
    """
    opt = options or LumpOptions()
    sy, sx = frame.spacing_zyx[1], frame.spacing_zyx[2]
    bright = contrast >= opt.bright_fraction
    body = np.zeros_like(bright)
    disc = _disc(0.5 * opt.min_width_mm / max(sy, sx))
    for z in range(bright.shape[0]):
        if bright[z].any():
            body[z] = ndimage.binary_opening(ndimage.binary_fill_holes(bright[z]), structure=disc)
    labels, _ = ndimage.label(body, structure=ndimage.generate_binary_structure(3, 1))
    lumps: list[Lump] = []
    for lab, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        sub = labels[sl] == lab
        peaks = np.array([float(contrast[sl][k][sub[k]].max()) if sub[k].any() else 0.0
                          for k in range(sub.shape[0])])
        kf = int(round(_run_middle(peaks, opt.focus_level)))
        if not sub[kf].any():
            kf = int(np.argmax(peaks))
        width, length, _ = _shape(sub[kf], (sy, sx))
        yy, xx = np.nonzero(sub[kf])
        center = frame.array_index_to_physical([[float(sl[0].start + kf), sl[1].start + yy.mean(),
                                                 sl[2].start + xx.mean()]])[0]
        thin = max(1, int(round(0.5 / max(sy, sx))))
        keep = (yy % thin == 0) & (xx % thin == 0)
        footprint = frame.array_index_to_physical(np.stack([np.full(keep.sum(), float(sl[0].start + kf)),
                                                            sl[1].start + yy[keep], sl[2].start + xx[keep]], 1))
        voids = _holes(sub, contrast[sl], sl, frame, opt, column=contrast[:, sl[1], sl[2]])
        holes = [(v.center_mm, v.diameter_mm) for v in voids if _in_one_lumen(v, frame.spacing_zyx[0], opt)]
        # A defect lies inside the lump, which is about as deep as it is wide (ducts are
        # round in section): only slices that near its focus show it rather than blur.
        reach = int(np.ceil(0.5 * width / frame.spacing_zyx[0]))
        depth = range(kf - reach, kf + reach + 1)
        # The column a defect dams is distended round it: no defect wider than the lump.
        found = find_cups(sub, contrast, sl, frame, min_diameter_mm=opt.min_width_mm,
                          max_diameter_mm=min(opt.max_cup_mm, width),
                          slices=depth, bright_fraction=opt.void_fraction,
                          interior_fraction=opt.cup_interior_fraction, min_arc_deg=opt.cup_arc_deg,
                          max_beyond=opt.cup_beyond_fraction)
        # A cup where a hole already is, is that hole's rim seen from one side.
        cups = [(c, d) for c, d in found
                if not _on_a_hole(c, holes, frame.direction_matrix[:, 2])]
        aspect = length / max(width, 1e-9)
        if holes or cups:
            kind = "filling_defect"
        elif len(voids) > len(holes):
            kind = "wide"        # a gap enclosed by ducts: neither a void nor a full pool
        else:
            kind = "cyst" if aspect <= opt.max_cyst_aspect else "wide"
        lumps.append(Lump(center_mm=center, width_mm=width, length_mm=length, aspect=aspect,
                          peak_contrast=float(peaks.max()), holes=holes, kind=kind, cups=cups,
                          footprint_mm=footprint))
    return lumps


@dataclass(frozen=True)
class _Void:
    """A dark region enclosed by a lump, in the slice where it is widest."""

    center_mm: np.ndarray
    diameter_mm: float             # equivalent diameter
    room_mm: float                 # from its centre to the lump's filled outline
    ring_depth_spread_mm: float    # interquartile range of the depths its ring peaks at


def _in_one_lumen(void: _Void, dz_mm: float, opt: LumpOptions) -> bool:
    """Whether a void lies in one distended lumen, as a papilloma's does, rather than in a
    gap enclosed by ducts that cross or part round it.

    A void wider than the lump round it is not: it is a gap between ducts, the ducts its
    only ring.  Otherwise the rim must lie at one depth: the lumen is about as deep as it
    is wide, so its rim peaks within that depth and a slice either side, where ducts
    crossing round a gap peak at their own, different depths.  This holds however thick
    the rim: with a wider arc the blur of ducts crossing at different depths fills a lump
    round the gap between them, its rim as thick as a lumen's (measured: rims of true
    voids on the sample presets spread over 3-7 mm, within the bound; such a gap in a
    normal volume, over 12 mm).
    """
    half = 0.5 * void.diameter_mm
    if void.room_mm < half:
        return False
    return void.ring_depth_spread_mm <= 2.0 * void.room_mm + 2.0 * dz_mm


def _holes(lump: np.ndarray, contrast: np.ndarray, sl: tuple[slice, ...], frame: ImageFrame,
           opt: LumpOptions, *, column: np.ndarray) -> list[_Void]:
    """Voids enclosed by a lump.

    In a slice, a void is a region inside the lump darker than ``void_fraction`` of the
    lump's own contrast there (a lump is many times brighter than a thin duct, and its
    out-of-focus blur keeps a void brighter than a duct), round (second-moment aspect
    at most ``max_void_aspect``) and ringed by that contrast (``void_ring_fraction`` of a
    ``void_ring_mm`` band round it): the gap between ducts that cross or run side by
    side is neither round nor ringed.  ``column`` is the lump's in-plane box over every
    slice, where the depths at which the bright pixels round each void (within twice
    ``void_ring_mm``) peak are read.
    """
    sy, sx = frame.spacing_zyx[1], frame.spacing_zyx[2]
    ring_disc = _disc(opt.void_ring_mm / max(sy, sx))
    accepted = np.zeros_like(lump)
    for k in range(lump.shape[0]):
        if lump[k].sum() < 4:
            continue
        level = float(np.percentile(contrast[k][lump[k]], 95))
        bright = contrast[k] >= opt.void_fraction * level
        dark = lump[k] & ~bright
        if not dark.any():
            continue
        comp, n = ndimage.label(dark)
        for j in range(1, n + 1):
            hole = comp == j
            area = hole.sum() * sy * sx
            if 2.0 * np.sqrt(area / np.pi) < opt.min_void_mm:
                continue
            _, _, aspect = _shape(hole, (sy, sx))
            ring = ndimage.binary_dilation(hole, structure=ring_disc) & ~hole
            if aspect > opt.max_void_aspect or bright[ring].mean() < opt.void_ring_fraction:
                continue
            accepted[k] |= hole
    labels, _ = ndimage.label(accepted, structure=ndimage.generate_binary_structure(3, 1))
    out = []
    for lab, hs in enumerate(ndimage.find_objects(labels), start=1):
        if hs is None:
            continue
        sub = labels[hs] == lab
        areas = sub.sum(axis=(1, 2)) * sy * sx
        diameter = 2.0 * float(np.sqrt(areas.max() / np.pi))
        kf = int(round(_run_middle(areas, opt.focus_level)))
        if not sub[kf].any():
            kf = int(np.argmax(areas))
        yy, xx = np.nonzero(sub[kf])
        c = frame.array_index_to_physical([[float(sl[0].start + hs[0].start + kf),
                                            sl[1].start + hs[1].start + yy.mean(),
                                            sl[2].start + hs[2].start + xx.mean()]])[0]
        # Room round the void: from its centre to the lump's filled outline in its slice.
        room = float(ndimage.distance_transform_edt(lump[hs[0].start + kf], sampling=(sy, sx))[
            int(round(hs[1].start + yy.mean())), int(round(hs[2].start + xx.mean()))])
        plane = np.zeros(lump.shape[1:], bool)
        plane[hs[1], hs[2]] = sub[kf]
        spread = _ring_depth_spread_mm(plane, column, ring_disc, frame.spacing_zyx[0], opt.bright_fraction)
        out.append(_Void(c, diameter, room, spread))
    return _merge_holes(out, frame.direction_matrix[:, 2])


def _ring_depth_spread_mm(hole: np.ndarray, column: np.ndarray, ring_disc: np.ndarray, dz_mm: float,
                          bright_level: float) -> float:
    """Interquartile range (mm) of the depths at which the bright pixels round a hole peak."""
    ring = ndimage.binary_dilation(hole, structure=ring_disc, iterations=2) & ~hole
    ring &= column.max(axis=0) >= bright_level
    if not ring.any():
        return float("inf")
    q25, q75 = np.percentile(np.argmax(column[:, ring], axis=0), [25, 75])
    return float((q75 - q25) * dz_mm)


def _merge_holes(holes: list[_Void], axis: np.ndarray) -> list[_Void]:
    """One void per place in-plane: a lobulated void crossed by a brighter slice reads as
    two voids one above the other; the wider one stands for both."""
    kept: list[_Void] = []
    for hole in sorted(holes, key=lambda h: -h.diameter_mm):
        same = False
        for other in kept:
            delta = hole.center_mm - other.center_mm
            inplane = np.linalg.norm(delta - (delta @ axis) * axis)
            if inplane <= 0.5 * max(hole.diameter_mm, other.diameter_mm):
                same = True
                break
        if not same:
            kept.append(hole)
    return kept


def _on_a_hole(point_mm: np.ndarray, holes: list[tuple[np.ndarray, float]], axis: np.ndarray) -> bool:
    """Whether a point lies in-plane within any hole's radius."""
    for c, d in holes:
        delta = point_mm - c
        if np.linalg.norm(delta - (delta @ axis) * axis) <= 0.5 * d:
            return True
    return False


def _nearest_on_tree(tree: DuctTree, point_mm: np.ndarray, slice_axis: np.ndarray
                     ) -> tuple[int, int, float]:
    """(branch, point index, in-plane distance) of the tree point nearest ``point_mm``.

    Nearness is mostly in-plane: a centreline's depth is the uncertain part of it."""
    owner = np.concatenate([np.full(len(b.points_mm), b.id) for b in tree.branches])
    index = np.concatenate([np.arange(len(b.points_mm)) for b in tree.branches])
    pts = np.concatenate([b.points_mm for b in tree.branches])
    d = pts - point_mm
    along = d @ slice_axis
    inplane = np.linalg.norm(d - along[:, None] * slice_axis, axis=1)
    j = int(np.argmin(inplane + 0.3 * np.abs(along)))
    return int(owner[j]), int(index[j]), float(inplane[j])


def lump_findings(lumps: list[Lump], tree: DuctTree, frame: ImageFrame, *,
                  options: LumpOptions | None = None, nipple_zone_mm: float = 7.0,
                  min_relative_contrast: float = 0.0) -> list[Finding]:
    """Findings of the lumps that hold a void or are round: one per void, one per cyst.

    Parameters
    ----------
    lumps : list of Lump
    tree : DuctTree
    frame : ImageFrame
    options : LumpOptions, optional
    nipple_zone_mm : float
        Lumps this close to the tree's nipple are its own contrast, not lesions.
    min_relative_contrast : float
        A lump holding a void must peak at least this many times the ducts' contrast (a
        papilloma's lumen is expanded in depth too); 0 turns the rule off.

    Returns
    -------
    list of Finding
        ``details["lump"]`` is the index of the lump each came from.
    """
    opt = options or LumpOptions()
    if not tree.branches:
        return []
    axis = frame.direction_matrix[:, 2]
    out: list[Finding] = []
    for number, lump in enumerate(lumps):
        if lump.kind == "wide":
            continue
        if lump.kind == "filling_defect" and lump.peak_contrast < min_relative_contrast:
            continue
        if tree.nipple_mm is not None and np.linalg.norm(lump.center_mm - tree.nipple_mm) <= nipple_zone_mm:
            continue          # the nipple's own contrast, not a lesion
        places = ([(c, d, False) for c, d in lump.holes] + [(c, d, True) for c, d in lump.cups]
                  if lump.kind == "filling_defect" else [(lump.center_mm, max(lump.width_mm, lump.length_mm), False)])
        for center, diameter, cupped in places:
            if tree.nipple_mm is not None and np.linalg.norm(center - tree.nipple_mm) <= nipple_zone_mm:
                continue      # where the ducts open at the nipple, as for the lump itself
            bid, i, dist = _nearest_on_tree(tree, center, axis)
            if dist > 0.5 * lump.length_mm + opt.max_tree_distance_mm:
                continue
            if cupped and _nearest_tip_mm(tree, center) > 0.5 * diameter + opt.max_cup_tip_mm:
                continue      # no duct ends at it: ducts meeting round a gap, not a dammed column
            b = tree.branches[bid]
            if lump.kind == "cyst" and not _is_pool(lump, _typical_duct_width(tree, b.system), tree, opt):
                continue
            details = {"lump": number, "lump_width_mm": round(lump.width_mm, 2), "lump_length_mm": round(lump.length_mm, 2),
                       "lump_aspect": round(lump.aspect, 2), "lump_peak_contrast": round(lump.peak_contrast, 2),
                       "distance_from_orifice_mm": round(tree.distance_along_duct_mm(bid, i), 1),
                       "read_from": "volume (a lump of contrast wider than the ducts)"}
            if lump.kind == "filling_defect":
                duct = _typical_duct_width(tree, b.system)
                details["expansion"] = round(lump.width_mm / duct, 2) if duct > 0 else None
                details["void_diameter_mm"] = round(diameter, 2)
                conf = float(np.clip(0.6 + 0.4 * (diameter - opt.min_void_mm) / opt.min_void_mm, 0.6, 1.0))
                if cupped:
                    details["why"] = ("the contrast column stops at a round defect, cupped by its meniscus, "
                                      "in a lump wider than the ducts")
                    details["obstructing"] = True
                    details["meniscus"] = "concave"
                else:
                    details["why"] = "a void enclosed by contrast in a lump wider than the ducts"
            else:
                details["why"] = "a round pool of contrast, no void, much wider than the ducts"
                conf = float(np.clip(0.6 + 0.4 * (opt.max_cyst_aspect - lump.aspect) / 0.5, 0.6, 1.0))
            out.append(Finding(lump.kind, center, float(diameter), confidence=conf, system=b.system,
                               branch=bid, generation=b.generation, details=details))
    return out


def _nearest_tip_mm(tree: DuctTree, point_mm: np.ndarray) -> float:
    """Distance (3D) from a point to the nearest end of a tip branch."""
    tips = [b.points_mm[-1] for b in tree.branches if tree.is_tip(b.id) and len(b.points_mm)]
    if not tips:
        return float("inf")
    return float(np.min(np.linalg.norm(np.asarray(tips) - np.asarray(point_mm, float), axis=1)))


def _typical_duct_width(tree: DuctTree, system: int) -> float:
    """Median duct width of a system (a lump's own branch is no reference: a centreline
    through a lump, or through its blur, takes the lump's width)."""
    rad = [tree.branches[i].radius_mm for i in tree.branch_ids(system)]
    return 2.0 * float(np.median(np.concatenate(rad))) if rad else 0.0


def pool_width_needed_mm(duct_mm: float, center_mm: np.ndarray, nipple_mm: np.ndarray | None, *,
                         cyst_ratio: float, cyst_margin_mm: float, ampulla_width_mm: float,
                         ampulla_reach_mm: float) -> float:
    """How wide a pool must be to be a cyst (both readings ask this).

    ``cyst_ratio`` times the duct and ``cyst_margin_mm`` more than it; within
    ``ampulla_reach_mm`` of the nipple, where the main duct normally widens to
    ``ampulla_width_mm``, also that widening plus the margin.
    """
    need = max(cyst_ratio * duct_mm, duct_mm + cyst_margin_mm)
    if nipple_mm is not None and np.linalg.norm(np.asarray(center_mm) - nipple_mm) <= ampulla_reach_mm:
        need = max(need, ampulla_width_mm + cyst_margin_mm)
    return need


def _is_pool(lump: Lump, duct_mm: float, tree: DuctTree, opt: LumpOptions) -> bool:
    """Whether a round lump is a cyst: as wide as :func:`pool_width_needed_mm` asks and
    wider than any normal duct (``ectasia_width_mm`` plus the margin: its system's median
    duct is no reference for the duct it sits on), and much brighter than the ducts (deep
    along the beam as well: a pool, not the overlap of ducts' blur where they meet)."""
    need = max(pool_width_needed_mm(duct_mm, lump.center_mm, tree.nipple_mm, cyst_ratio=opt.cyst_ratio,
                                    cyst_margin_mm=opt.cyst_margin_mm, ampulla_width_mm=opt.ampulla_width_mm,
                                    ampulla_reach_mm=opt.ampulla_reach_mm),
               opt.ectasia_width_mm + opt.cyst_margin_mm)
    return lump.width_mm >= need and lump.peak_contrast >= opt.pool_contrast


def _within(point_mm: np.ndarray, places_mm: np.ndarray, radius_mm: float, depth_mm: float,
            axis: np.ndarray, opt: LumpOptions) -> bool:
    """Whether a point lies within ``radius_mm`` in-plane of any of ``places_mm``, or of
    their out-of-focus blur above and below (``blur_slope`` mm more per mm of depth from
    ``depth_mm``)."""
    if len(places_mm) == 0:
        return False
    p = np.asarray(point_mm, float)
    dz = abs(float(p @ axis) - depth_mm)
    d = np.asarray(places_mm, float) - p
    inplane = np.linalg.norm(d - (d @ axis)[:, None] * axis, axis=1)
    return bool(inplane.min() <= radius_mm + opt.blur_slope * dz)


def _explains(lump: Lump, finding: Finding, axis: np.ndarray, opt: LumpOptions) -> bool:
    """Whether a lump that made findings explains a finding of the centreline reading.

    A cyst explains anything on it or in its blur.  A lump holding voids or cups
    explains the voids, bubbles, cysts and cut-offs read at them, and the dilation (ectasia)
    and pools (cysts) read anywhere on it; another void elsewhere in the same dilated
    duct is another papilloma, and stays."""
    depth = float(lump.center_mm @ axis)
    on_lump = _within(finding.center_mm, lump.footprint_mm, 1.0, depth, axis, opt)
    if lump.kind == "cyst" or finding.kind in ("ectasia", "cyst"):
        return on_lump
    return any(_within(finding.center_mm, c[None], 0.5 * d + 1.0, float(c @ axis), axis, opt)
               for c, d in lump.holes + lump.cups)


def reconcile_with_lumps(findings: list[Finding], lumps: list[Lump], from_lumps: list[Finding],
                         frame: ImageFrame, *, options: LumpOptions | None = None) -> list[Finding]:
    """The tree reading's findings, less those a lump explains, plus the lumps' findings.

    A tree finding of the same lesion as a lump's (see :func:`_same_lesion`) is kept (it
    carries the duct's calibre round it) and confirmed.  Otherwise what a lump explains (see
    :func:`_explains`) gives way to the lump's findings.  An elongated lump with no void
    (ectasia, the ampulla, or ducts that meet and blur into one another) makes no
    finding; the tree reading's cysts on it are its wide lumen, and go.
    """
    opt = options or LumpOptions()
    axis = frame.direction_matrix[:, 2]
    # Only lumps that made a finding speak for their region (one at the nipple, or off
    # the tree, made none).
    used = {f.details.get("lump") for f in from_lumps}
    named = [lp for i, lp in enumerate(lumps) if i in used]
    wide = [lp for lp in lumps if lp.kind == "wide"]
    kept = []
    added = list(from_lumps)
    for f in findings:
        same = [g for g in added if _same_lesion(f, g, axis, opt)]
        if same:
            # The centreline read the lesion the volume shows, with the duct's calibre
            # round it: its measurements stay, the volume's reading confirms them.
            f.details["confirmed_in_volume"] = {k: v for k, v in same[0].details.items() if k != "lump"}
            added = [g for g in added if g is not same[0]]
            kept.append(f)
            continue
        if any(_explains(lp, f, axis, opt) for lp in named):
            continue
        if f.kind == "cyst" and any(_within(f.center_mm, lp.footprint_mm, 1.0, float(lp.center_mm @ axis), axis, opt)
                                    for lp in wide):
            continue
        kept.append(f)
    return kept + added


def _same_lesion(finding: Finding, from_lump: Finding, axis: np.ndarray, opt: LumpOptions) -> bool:
    """Whether a tree finding and a lump's describe one lesion: the same kind at the same
    place; for a cup, the same place in-plane anywhere in its blur (out of focus, a void
    that contrast flows round looks cupped)."""
    if finding.kind != from_lump.kind:
        return False
    if _same_place(finding.center_mm, from_lump, axis):
        return True
    c = from_lump.center_mm
    return bool(from_lump.details.get("obstructing")) and _within(
        finding.center_mm, c[None], 0.5 * from_lump.diameter_mm + 1.0, float(c @ axis), axis, opt)


def _same_place(point_mm: np.ndarray, finding: Finding, axis: np.ndarray, *, depth_mm: float = 3.0) -> bool:
    """Whether a point lies within a finding's radius (plus a millimetre) in-plane, and
    within ``depth_mm`` of it in depth (a few slices: DBT's depth is the uncertain part)."""
    d = np.asarray(point_mm, float) - finding.center_mm
    dz = float(d @ axis)
    return (float(np.linalg.norm(d - dz * axis)) <= 0.5 * finding.diameter_mm + 1.0) and abs(dz) <= depth_mm
