"""Automatic findings along a duct tree: filling defects, cut-offs, ectasia, cysts, bubbles.

The detector reads the volume *along* a duct tree (a reconstruction, or the visible part
of a sample's true tree): every branch is straightened into an in-plane curved planar
reformation (:mod:`reconstruction.lesions_profile`), where DBT resolves shape best, and
every measurement is relative to the local duct (its contrast above the local background,
its calibre away from the finding) or to the duct's system, in millimetres.  No absolute
intensity enters a decision.

What is called what
-------------------
filling_defect
    A round void inside a contrast-filled duct, with a rim of contrast round it, that
    *expands* the lumen (its outer calibre well above the duct's normal calibre; the duct
    often dilated before it) (:mod:`reconstruction.lesions_voids`); or an obstruction: the
    column ends in a dilated duct (the tree's calibre there well above its parent's and
    the image's lumen well above the duct upstream), usually in a hollow, concave
    meniscus (:mod:`reconstruction.lesions_tips`).  Either way the lumen round it is
    expanded in depth as well as in the slice, so it is clearly brighter than the
    tree's typical duct (a void in an ordinary duct that only *looks* wide in the slice
    is a crossing or the gap between two ducts).
air_bubble
    A round void that fits the duct: no expansion.  Reported with ``is_artefact=True``,
    a low lesion confidence and ``details["artefact_probability"]``.
cutoff
    A tip that stops bluntly at a calibre above the system's terminal ducts, neither
    tapered below nor much wider than its parent, well short of where the ducts leaving
    the same branch point end, where the image shows the column really stopping.
ectasia
    A duct segment wider than ``ectasia_width_mm`` (``ampulla_width_mm`` at the ampulla:
    the main duct within ``ampulla_reach_mm`` of the orifice) *and* clearly wider than the
    ducts around it; a dilation running up to a filling defect is reported with that
    finding (``details["dilated_segments"]``) instead.
cyst
    A round pool at the end of a duct, bright to its centre and at least as bright as the
    duct, much wider than the duct feeding it.

Examples
--------
>>> from reconstruction.findings_detect import detect_findings      # doctest: +SKIP
>>> findings = detect_findings(volume, tree)                          # doctest: +SKIP
>>> [(f.kind, round(f.diameter_mm, 1), f.is_artefact) for f in findings]  # doctest: +SKIP
[('filling_defect', 5.4, False), ('air_bubble', 1.9, True)]
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .findings import Finding
from .lesions_profile import (BEYOND, OWN, DuctPath, DuctProfile, LumenRows, _main_child, duct_path,
                              lumen_rows, profile_path, refine_background)
from .lesions_lumps import (LumpOptions, find_lumps, lump_contrast, lump_findings, pool_width_needed_mm,
                            reconcile_with_lumps)
from .lesions_tips import TipMeasure, measure_tip, premature_end, smooth_length_mm, tail_radius_mm
from .lesions_voids import VoidCandidate, find_voids
from .tree import DuctTree, resample_polyline
from .volume import Volume

__all__ = ["FindingOptions", "BranchView", "detect_findings", "measure_branches"]


@dataclass(frozen=True)
class FindingOptions:
    """Every threshold of the detector, in mm or relative to the local duct.

    Attributes
    ----------
    step_mm : float or None
        Sampling step along and across ducts; None: the in-plane voxel size (0.08-0.2 mm).
    context_mm : float
        Parent and child centreline added to each branch's view.
    beyond_tip_mm : float
        Straight extension past each tip (to see what stops the column).
    z_search_mm : float
        How far along z a centreline point may move to the plane of best focus.
    centreline_smoothing_mm : float
        Gaussian smoothing of the tree's centrelines before sampling (a reconstruction's
        centreline zig-zags by a voxel or more; ducts bend over several mm).
    min_void_mm : float
        Smallest void reported (in-plane extent at half depth).
    void_depth : float
        Share of the duct contrast a void's centre must lose.
    void_ring : float
        Rim contrast above the void centre, as a share of the duct contrast, required
        outside bridged gaps (a duct that merely fades has none).
    void_significance : float
        Contrast loss over the row-to-row noise of the centre contrast.
    void_min_roundness : float
        Smallest ratio of the dark core's principal axes (1: a disc).
    void_max_asymmetry : float
        Largest shift of the lumen's middle at the void, in lumen half-widths, against the
        duct's axis around it.
    void_min_cnr : float
        Duct contrast over image noise below which voids are not judged.
    max_background_step : float
        Largest change of background across a void, as a share of the duct contrast
        (skin lines and the nipple's edge fake voids).
    papilloma_expansion : float
        Lumen calibre at a void over the duct's normal calibre from which the void is a
        lesion expanding the duct (midpoint of the confidence ramp).
    papilloma_dilation : float
        Calibre 2-8 mm before a void over the calibre 2-8 mm after it from which the duct
        counts as dilated proximal to it (midpoint of the confidence ramp; it can only
        tip a void whose expansion is borderline).
    defect_dilation_reach_mm : float
        How far before a filling defect a dilated duct is attributed to it.
    ectasia_width_mm, ampulla_width_mm, ampulla_reach_mm : float
        Ectasia thresholds: wider than 2 mm, or 3 mm at the ampulla (the main duct within
        ~15 mm of the orifice).
    ectasia_relative : float
        An ectatic segment must also be this much wider than the ducts around it.
    ampulla_relative : float
        ... and this much at the ampulla, whose normal widening reaches about twice the
        duct's calibre (DOMAIN: main duct ~2 mm, ampulla 2-4 mm).
    ectasia_min_length_mm : float
        Shortest dilated segment reported.
    cyst_ratio, cyst_margin_mm : float
        A cyst is at least ``cyst_ratio`` times, and ``cyst_margin_mm`` more than, the
        calibre of the duct feeding it.
    cyst_min_contrast : float
        A pool of contrast at least as thick as the duct feeding it is at least as bright
        in the slice: its peak contrast over the duct's must reach this (out-of-focus blur
        of another structure past a tip is fainter).
    obstruction_dilation : float
        A column ending at least this much wider than the duct before it, and not in a
        round pool, ends at an obstruction (a filling defect).
    cutoff_calibre_ratio : float
        A cut-off ends at least this much wider than the median terminal duct of its
        system (midpoint of the confidence ramp).
    cutoff_premature_ratio : float
        ... and at most this share of the length the ducts from the same branch point run
        on for (midpoint of the confidence ramp).
    cutoff_min_taper : float
        ... and not tapered below this share of its parent's calibre.
    report_threshold : float
        Lesion findings below this confidence are dropped (artefacts are always kept).
    defect_relative_contrast : float
        A filling defect's duct contrast (over the image noise) must reach this multiple
        of the tree's typical duct contrast (the median over its branches).  A
        papilloma expands the lumen to ``papilloma_expansion`` times the duct's calibre
        and an obstruction ends in a duct dilated ``obstruction_dilation`` times; ducts
        thinner than the depth blur image with a contrast that grows with their
        thickness, so the lumen round either is among the brightest of the tree.  A void
        whose in-plane widening is not matched by that brightness lies in an ordinary
        duct: two ducts crossing at different depths, or the gap between neighbours
        that an imperfect tree ran through.  An ectatic segment, wider than
        ``ectasia_width_mm``, is held to the same brightness (two ordinary ducts side by
        side read as one wide lumen no brighter than either).
    defect_reference_branches : int
        The typical duct contrast needs at least this many measured branches; with
        fewer (a single duct) ``defect_relative_contrast`` is not applied.
    orifice_zone_mm : float
        No cyst, cut-off or obstruction is read at a tip within this distance of the
        tree's nipple: the orifices open within ~7 mm of the nipple's centre (it is ~14 mm
        across), so a column ending there ends at the skin (the duct's own opening, or
        contrast on the nipple), not at a lesion.
    """

    step_mm: float | None = None
    context_mm: float = 8.0
    beyond_tip_mm: float = 10.0
    z_search_mm: float = 2.0
    centreline_smoothing_mm: float = 0.8
    min_void_mm: float = 1.2
    void_depth: float = 0.3
    void_ring: float = 0.1
    void_significance: float = 12.0
    void_min_roundness: float = 0.55
    void_max_asymmetry: float = 0.5
    void_min_cnr: float = 5.0
    max_background_step: float = 0.35
    papilloma_expansion: float = 2.4
    papilloma_dilation: float = 1.5
    defect_dilation_reach_mm: float = 15.0
    ectasia_width_mm: float = LumpOptions.ectasia_width_mm
    ampulla_width_mm: float = LumpOptions.ampulla_width_mm
    ampulla_reach_mm: float = LumpOptions.ampulla_reach_mm
    ectasia_relative: float = 1.5
    ampulla_relative: float = 2.0
    ectasia_min_length_mm: float = 3.0
    cyst_ratio: float = LumpOptions.cyst_ratio
    cyst_margin_mm: float = LumpOptions.cyst_margin_mm
    cyst_min_contrast: float = 1.3
    obstruction_dilation: float = 1.8
    cutoff_calibre_ratio: float = 1.2
    cutoff_premature_ratio: float = 0.6
    cutoff_min_taper: float = 0.5
    report_threshold: float = 0.5
    defect_relative_contrast: float = 1.6
    defect_reference_branches: int = 8
    orifice_zone_mm: float = 7.0


@dataclass
class BranchView:
    """One branch's straightened view and the lumen read from it.

    Attributes
    ----------
    branch : int
    profile : DuctProfile
    rows : LumenRows
    orifice_distance_mm : (M,) ndarray
        Distance along the ducts from the system's orifice, per row.
    tip : TipMeasure or None
        Only for terminal branches.
    """

    branch: int
    profile: DuctProfile
    rows: LumenRows
    orifice_distance_mm: np.ndarray
    tip: TipMeasure | None = None

    def own_rows(self) -> np.ndarray:
        return np.flatnonzero(self.profile.part == OWN)


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 below ``lo``, 1 above ``hi``, linear between (NaN counts as 0)."""
    if not np.isfinite(x):
        return 0.0
    return float(np.clip((x - lo) / max(hi - lo, 1e-9), 0.0, 1.0))


def _median(v: np.ndarray) -> float:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


def _tree_samples(tree: DuctTree, frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Array-mm samples of every centreline (every 0.5 mm), their branch ids and radii."""
    q, ids, rad = [], [], []
    for b in tree.branches:
        if len(b.points_mm) == 0:
            continue
        p, r = resample_polyline(b.points_mm, step_mm=0.5, values=b.radius_mm)
        q.append(frame.physical_to_array_mm(p))
        ids.append(np.full(len(p), b.id))
        rad.append(np.atleast_1d(r))
    if not q:
        return np.zeros((0, 3)), np.zeros(0, int), np.zeros(0)
    return np.concatenate(q), np.concatenate(ids), np.concatenate(rad)


def measure_branches(volume: Volume, tree: DuctTree, *, options: FindingOptions | None = None
                     ) -> dict[int, BranchView]:
    """Straightened views of every branch of ``tree`` (the detector's measurements).

    Parameters
    ----------
    volume : Volume
    tree : DuctTree
    options : FindingOptions, optional

    Returns
    -------
    dict of int to BranchView
    """
    opt = options or FindingOptions()
    frame = volume.frame
    array = np.asarray(volume.array, dtype=np.float32)
    step = opt.step_mm or float(np.clip(min(frame.spacing[0], frame.spacing[1]), 0.08, 0.2))
    z_search = opt.z_search_mm if array.shape[0] > 1 else 0.0
    q_all, id_all, r_all = _tree_samples(tree, frame)
    kd_all = cKDTree(q_all * np.array([0.35, 1.0, 1.0])) if len(q_all) else None
    views: dict[int, BranchView] = {}
    # Branch lengths on smoothed centrelines (a jittery reconstruction overstates them).
    lengths = {b.id: smooth_length_mm(b.points_mm) for b in tree.branches}
    for b in tree.branches:
        if len(b.points_mm) < 2:
            continue
        is_tip = tree.is_tip(b.id)
        path = duct_path(tree, b.id, context_mm=opt.context_mm, beyond_mm=opt.beyond_tip_mm if is_tip else 0.0)
        r_max = float(np.max(path.radius_mm)) if len(path.radius_mm) else 1.0
        half_span = max(4.0, 2.5 * r_max + 2.0, 8.0 if is_tip else 0.0)
        members = {b.id}
        if b.parent is not None:
            members.add(b.parent)
        child = _main_child(tree, b.id)
        if child is not None:
            members.add(child)
        prof = profile_path(array, frame, path, step_mm=step, half_span_mm=half_span, z_search_mm=z_search,
                            smooth_mm=opt.centreline_smoothing_mm,
                            other_points_q=q_all, other_branch=id_all, other_radius=r_all,
                            path_branches=members, z_weight=0.35, other_kdtree=kd_all)
        rows = lumen_rows(prof)
        # Second pass: background outside the lumen as measured, not as the tree says.
        prof = refine_background(prof, rows)
        rows = lumen_rows(prof)
        own = np.flatnonzero(prof.part == OWN)
        d0 = sum(lengths[p] for p in tree.path_to_root(b.id)[1:])
        dist = d0 + (prof.s_mm - (prof.s_mm[own[0]] if own.size else 0.0))
        view = BranchView(branch=b.id, profile=prof, rows=rows, orifice_distance_mm=dist)
        if is_tip:
            view.tip = measure_tip(prof, rows)
        views[b.id] = view
    return views


# ----------------------------------------------------------------------------- voids
def _straight_calibre(array: np.ndarray, frame, v: VoidCandidate, view: BranchView, *,
                      reach_mm: float = 12.0) -> float:
    """The duct's calibre on both sides of a void, read along the void's own axis.

    A reconstruction often shatters the centreline round a void into short branches
    (the void breaks the lumen, its rim makes loops), and the tree then leads the view
    into side branches.  The duct itself goes straight on through a papilloma or a
    bubble, so a straight CPR along the local axis, ``reach_mm`` each way, sees the
    duct's own calibre; its low percentile on the narrower side is the normal calibre.
    NaN when the duct bends away (too few measured rows on a side).
    """
    prof = view.profile
    a, b = v.rows
    lo, hi = max(a - prof.samples(1.5), 0), min(b + prof.samples(1.5), len(prof.s_mm) - 1)
    if hi <= lo:
        return float("nan")
    centre = prof.physical(frame, [v.row], [v.center_offset_mm])[0]
    axis = prof.physical(frame, [hi])[0] - prof.physical(frame, [lo])[0]
    n_axis = np.linalg.norm(axis)
    if n_axis < 1e-6:
        return float("nan")
    axis /= n_axis
    half = 0.5 * max(v.length_mm, v.across_mm)
    t = np.arange(-(reach_mm + half), reach_mm + half + 1e-9, 0.4)
    pts = centre[None, :] + t[:, None] * axis[None, :]
    r0 = float(np.nanmedian(prof.radius_hint_mm))
    path = DuctPath(branch=v.branch, points_mm=pts, radius_mm=np.full(len(t), max(r0, 0.4)),
                    part=np.full(len(t), OWN), bridged=np.zeros(len(t), bool), point_index=np.full(len(t), -1.0))
    sp = profile_path(array, frame, path, step_mm=prof.step_mm, half_span_mm=max(4.0, 2.5 * r0 + 2.0),
                      z_search_mm=1.0, smooth_mm=0.0)
    rows = lumen_rows(sp)
    w = np.where(rows.touching, np.nan, rows.width)
    tt = sp.s_mm - sp.s_mm[-1] / 2.0
    sides = [w[(tt <= -(half + 1.0)) & (tt >= -(half + reach_mm))], w[(tt >= half + 1.0) & (tt <= half + reach_mm)]]
    need = max(int(2.0 / prof.step_mm), 3)
    vals = [float(np.percentile(x[np.isfinite(x)], 25)) for x in sides if np.isfinite(x).sum() >= need]
    return float(min(vals)) if len(vals) == 2 else float("nan")


def _void_reference(v: VoidCandidate, view: BranchView) -> float:
    """The duct's normal calibre around a void, along the tree: the narrower side's low
    percentile over 12 mm, else the narrower side 2-8 mm away, else further, else nearer."""
    m = v.measures
    for keys in (("proximal_calibre", "distal_calibre"), ("proximal_mid", "distal_mid"),
                 ("proximal_far", "distal_far"), ("proximal_near", "distal_near")):
        vals = [m[k] for k in keys if np.isfinite(m[k])]
        if vals:
            return float(min(vals))
    return float(2.0 * np.median(view.profile.radius_hint_mm))


def _accept_void(v: VoidCandidate, opt: FindingOptions) -> bool:
    m = v.measures
    if v.cnr < opt.void_min_cnr or m["significance"] < opt.void_significance:
        return False
    if m["background_step"] > opt.max_background_step:
        return False
    # Darker than the background by more than the duct's own contrast: not a lumen.
    if v.depth > 1.5:
        return False
    # A papilloma or a bubble is roundish and widens the duct evenly about its axis; a
    # gap between this duct and a neighbour running or crossing beside it is elongated
    # and pulls the lumen's middle sideways.
    if np.isfinite(m["roundness"]) and m["roundness"] < opt.void_min_roundness:
        return False
    if np.isfinite(m["asymmetry"]) and m["asymmetry"] > opt.void_max_asymmetry:
        return False
    # Outside a bridged gap, a void must show a brighter rim on both sides (a duct that
    # fades has none).  A faint rim is enough for a void that will be called a bubble
    # (an artefact): see ``_void_finding``.
    need_ring = 0.0 if v.bridged else 0.5 * opt.void_ring
    return bool(m["ring"] >= need_ring and v.depth >= opt.void_depth)


def typical_duct_cnr(views: dict[int, BranchView], *, min_branches: int = 1) -> float:
    """The tree's typical duct contrast over the image noise: the median over branches
    of each branch's median lumen contrast (NaN with fewer than ``min_branches``)."""
    per_branch = []
    for v in views.values():
        own = v.own_rows()
        if own.size and v.profile.noise > 0:
            per_branch.append(float(np.median(v.rows.level[own])) / v.profile.noise)
    return float(np.median(per_branch)) if len(per_branch) >= max(min_branches, 1) else float("nan")


def _bright_enough(cnr: float, typical_cnr: float, opt: FindingOptions) -> bool:
    """Whether a filling defect's duct is bright enough against the tree's typical duct
    (always True when there is no typical duct to compare with)."""
    if not (np.isfinite(typical_cnr) and typical_cnr > 0):
        return True
    return bool(np.isfinite(cnr) and cnr >= opt.defect_relative_contrast * typical_cnr)


def _void_finding(v: VoidCandidate, view: BranchView, tree: DuctTree, frame, opt: FindingOptions,
                  *, obstructing: bool = False, tip: TipMeasure | None = None,
                  array: np.ndarray | None = None, typical_cnr: float = float("nan")) -> Finding | None:
    """The finding a void makes: a filling defect, an air bubble, or None (a void that
    would be a filling defect by its shape but lies in a duct no brighter than the
    tree's typical one: see ``FindingOptions.defect_relative_contrast``)."""
    prof = view.profile
    ref_tree = _void_reference(v, view)
    ref_axis = _straight_calibre(array, frame, v, view) if array is not None and not obstructing else float("nan")
    # Both ways of finding the duct's normal calibre can stray into something thinner (a
    # side branch along the tree, a bend away from the straight axis); a void is called
    # a lesion only if it expands the lumen against the wider of the two.
    ref = float(np.nanmax([ref_tree, ref_axis])) if np.isfinite([ref_tree, ref_axis]).any() else ref_tree
    if obstructing and tip is not None and np.isfinite(tip.duct_width_mm):
        ref = min(ref, tip.duct_width_mm) if np.isfinite(ref) else tip.duct_width_mm
    expansion = v.lumen_width_mm / ref if ref > 0 and np.isfinite(v.lumen_width_mm) else float("nan")
    prox = v.measures["proximal_mid"]
    dist = v.measures["distal_mid"]
    # Dilated before it: the duct upstream wider than downstream (a papilloma dams it).
    dilation = prox / dist if np.isfinite(prox) and np.isfinite(dist) and dist > 0 else float("nan")
    e = _ramp(expansion, opt.papilloma_expansion - 0.6, opt.papilloma_expansion + 0.6)
    d = _ramp(dilation, opt.papilloma_dilation - 0.3, opt.papilloma_dilation + 0.3)
    # Expansion decides; dilation before it can only tip a borderline void.
    lesion = max(e, min(d, e + 0.25))
    b = tree.branches[v.branch]
    center = prof.physical(frame, [v.row], [v.center_offset_mm])[0]
    strength = _ramp(v.depth, opt.void_depth, opt.void_depth + 0.3) * _ramp(v.measures["ring"], 0.0, 0.3)
    details = {
        "depth": round(v.depth, 3),
        "void_length_mm": round(v.length_mm, 2), "void_across_mm": round(v.across_mm, 2),
        "lumen_width_mm": round(v.lumen_width_mm, 2), "normal_calibre_mm": round(ref, 2),
        "normal_calibre_along_tree_mm": _r(ref_tree, 2), "normal_calibre_along_axis_mm": _r(ref_axis, 2),
        "expansion": round(expansion, 2), "proximal_width_mm": round(prox, 2) if np.isfinite(prox) else None,
        "proximal_dilation": round(dilation, 2) if np.isfinite(dilation) else None,
        "ring": round(v.measures["ring"], 3), "roundness": _r(v.measures["roundness"]),
        "edge_sharpness_per_mm": _r(v.measures["edge_sharpness"]), "cnr": round(v.cnr, 1),
        "bridged": v.bridged, "obstructing": obstructing,
        "distance_from_orifice_mm": round(float(view.orifice_distance_mm[v.row]), 1),
        "lesion_probability": round(lesion, 3),
        "relative_contrast": _r(v.cnr / typical_cnr, 2) if typical_cnr > 0 else None,
    }
    diameter = float(max(v.length_mm, v.across_mm))
    faint = not v.bridged and v.measures["ring"] < opt.void_ring
    details["rim"] = "faint" if faint else "clear"
    if obstructing or lesion >= 0.5:
        if not _bright_enough(v.cnr, typical_cnr, opt):
            return None
        conf = float(np.clip(0.5 + 0.5 * lesion * (0.5 + 0.5 * strength), 0.0, 1.0))
        if obstructing:
            conf = float(max(conf, 0.6))
        if faint:
            # Barely a rim round it: a lesion by its size, but only just reported.
            conf = float(min(conf, 0.55))
        details["why"] = ("the column ends at it in a dilated duct" if obstructing else
                          "void expands the lumen" + (" and the duct is dilated before it"
                                                      if d >= 0.5 else ""))
        return Finding("filling_defect", center, diameter, confidence=conf, system=b.system, branch=b.id,
                       generation=b.generation, details=details)
    details["artefact_probability"] = round(1.0 - lesion, 3)
    details["why"] = "void fits the duct: no expansion of the lumen and no dilation before it"
    return Finding("air_bubble", center, diameter, confidence=float(np.clip(0.5 * lesion, 0.0, 0.5)),
                   system=b.system, branch=b.id, generation=b.generation, is_artefact=True, details=details)


def _r(x: float, nd: int = 3):
    return round(float(x), nd) if x is not None and np.isfinite(x) else None


def _merge_duplicates(findings: list[Finding]) -> list[Finding]:
    """One finding per lesion: the same void seen from two branch views keeps the surer."""
    order = sorted(range(len(findings)), key=lambda i: -findings[i].confidence)
    kept: list[Finding] = []
    for i in order:
        f = findings[i]
        dup = False
        for g in kept:
            if g.kind != f.kind and not ({g.kind, f.kind} <= {"filling_defect", "air_bubble"}):
                continue
            tol = max(1.5, 0.5 * max(f.diameter_mm, g.diameter_mm))
            if np.linalg.norm(f.center_mm - g.center_mm) <= tol:
                dup = True
                break
        if not dup:
            kept.append(f)
    return kept


# ------------------------------------------------------------------------------ tips
def _radius_quantum(tree: DuctTree) -> float:
    """The radius resolution of a tree whose radii come from a distance transform on a
    grid: the smallest radius held by at least 5 % of the points (about a grid voxel: a
    duct one voxel thick is common; a few half-voxel radii of stems and ends are not);
    0 when the radii are continuous (no value recurs often)."""
    r = np.concatenate([b.radius_mm for b in tree.branches]) if tree.branches else np.zeros(0)
    r = np.round(r[np.isfinite(r) & (r > 0)], 4)
    if r.size < 20:
        return 0.0
    vals, counts = np.unique(r, return_counts=True)
    frequent = vals[counts >= 0.05 * r.size]
    if frequent.size == 0 or counts.max() < 0.05 * r.size:
        return 0.0
    return float(frequent.min())


def _in_orifice_zone(tree: DuctTree, point_mm: np.ndarray, opt: FindingOptions) -> bool:
    """Whether a point lies within ``orifice_zone_mm`` of the tree's nipple."""
    if tree.nipple_mm is None:
        return False
    return bool(np.linalg.norm(np.asarray(point_mm, float) - tree.nipple_mm) <= opt.orifice_zone_mm)


def _at_orifices(tree: DuctTree, bid: int, opt: FindingOptions) -> bool:
    """Whether branch ``bid`` ends in the orifice zone."""
    pts = tree.branches[bid].points_mm
    return bool(len(pts)) and _in_orifice_zone(tree, pts[-1], opt)


def _tip_findings(tree: DuctTree, views: dict[int, BranchView], frame, opt: FindingOptions,
                  obstructed: set[int], voids: list[tuple[np.ndarray, float]],
                  typical_cnr: float = float("nan")) -> list[Finding]:
    out: list[Finding] = []
    # A tip ending in the orifice zone is where a duct opens at the nipple, neither a
    # lesion nor one of the system's terminal ducts (the cut-offs' reference below).
    tips = {bid: v for bid, v in views.items() if v.tip is not None and bid not in obstructed
            and not _at_orifices(tree, bid, opt)}
    cysts: set[int] = set()
    quantum = _radius_quantum(tree)
    for bid, v in tips.items():
        t = v.tip
        m = t.measures
        b = tree.branches[bid]
        duct = t.duct_width_mm
        upstream = m["upstream_width_mm"]
        end_w = m["end_lumen_width_mm"]
        if not (np.isfinite(duct) and np.isfinite(t.blob_width_mm)):
            continue
        center = v.profile.physical(frame, [t.blob_row], [v.rows.centre_offset[t.blob_row]])[0]
        big = t.blob_width_mm >= pool_width_needed_mm(duct, center, tree.nipple_mm, cyst_ratio=opt.cyst_ratio,
                                                      cyst_margin_mm=opt.cyst_margin_mm,
                                                      ampulla_width_mm=opt.ampulla_width_mm,
                                                      ampulla_reach_mm=opt.ampulla_reach_mm)
        roundish = 0.5 <= t.blob_length_mm / max(t.blob_width_mm, 1e-9) <= 2.0
        full = np.isfinite(t.blob_centre_ratio) and t.blob_centre_ratio >= 0.7
        bright = np.isfinite(m["blob_contrast"]) and m["blob_contrast"] >= opt.cyst_min_contrast
        holds_void = any(np.linalg.norm(center - c) <= max(r, 0.5 * t.blob_width_mm) for c, r in voids)
        if big and roundish and full and bright and t.blob_reaches_end and not holds_void:
            size = _ramp(t.blob_width_mm / max(duct, 1e-9), opt.cyst_ratio, 2 * opt.cyst_ratio)
            conf = float(np.clip(0.6 + 0.4 * size, 0.0, 1.0))
            out.append(Finding("cyst", center, float(max(t.blob_width_mm, t.blob_length_mm)), confidence=conf,
                               system=b.system, branch=bid, generation=b.generation,
                               details={"width_mm": round(t.blob_width_mm, 2), "length_mm": round(t.blob_length_mm, 2),
                                        "duct_width_mm": round(duct, 2),
                                        "ratio_to_duct": round(t.blob_width_mm / duct, 2),
                                        "centre_over_rim": round(t.blob_centre_ratio, 2),
                                        "contrast_over_duct": round(m["blob_contrast"], 2),
                                        "cnr": round(t.cnr, 1)}))
            cysts.add(bid)
            continue
        # An obstruction: the column ends dilated (the tree's radius there well above its
        # parent's, and the image's lumen well above the duct upstream), usually hollow or
        # in a concave meniscus (which add to the confidence).
        dil = end_w / upstream if np.isfinite(end_w) and np.isfinite(upstream) and upstream > 0 else float("nan")
        conc = m["concavity_mm"]
        pb = tree.branches[b.parent] if b.parent is not None else None
        tip_r = tail_radius_mm(b.points_mm, b.radius_mm, skip_mm=0.0, length_mm=2.0)
        par_r = tail_radius_mm(pb.points_mm, pb.radius_mm, skip_mm=0.0, length_mm=4.0) if pb is not None else np.nan
        tree_dil = tip_r / par_r if np.isfinite(par_r) and par_r > 0 else float("nan")
        if np.isfinite(par_r) and tip_r - par_r < quantum:
            tree_dil = float("nan")  # within the tree's radius resolution: no evidence
        concave = _ramp(conc, 0.0, 0.5)
        hollow = _ramp(-t.blob_centre_ratio, -0.8, -0.5) if np.isfinite(t.blob_centre_ratio) else 0.0
        by_tree = (np.isfinite(tree_dil) and tree_dil >= opt.obstruction_dilation - 0.3
                   and np.isfinite(dil) and dil >= opt.obstruction_dilation - 0.2)
        # A duct of measurable calibre leads to it, it ends dilated in absolute terms too
        # (like ectasia, beyond ``ectasia_width_mm``), and the end is concave or hollow:
        # a stub of a reconstructed tree ending in a tangle passes none of these.
        by_tree = (by_tree and end_w >= opt.ectasia_width_mm and upstream >= 0.5
                   and ((np.isfinite(conc) and conc > 0.0) or
                        (np.isfinite(t.blob_centre_ratio) and t.blob_centre_ratio <= 0.5)))
        # (The image alone is not enough: past a tip, neighbours and blur often make a
        # wide, hollow-looking end; the reconstruction's own calibre must say it too.)
        # A dilated end is bright as well (see ``defect_relative_contrast``).
        by_tree = by_tree and _bright_enough(t.cnr, typical_cnr, opt)
        if by_tree:
            c_dil = _ramp(dil, opt.obstruction_dilation, 2 * opt.obstruction_dilation)
            conf = float(np.clip(0.5 + 0.25 * c_dil + 0.25 * max(concave, hollow), 0.0, 1.0))
            # The obstruction sits where the column stops: between the tree's tip and the
            # last contrast, on the lumen's axis as it reaches the tip.
            row = int(round(0.5 * (t.tip_row + t.end_row)))
            near = slice(max(t.tip_row - max(int(1.0 / v.profile.step_mm), 1), 0), t.tip_row + 1)
            center = v.profile.physical(frame, [row], [float(np.median(v.rows.centre_offset[near]))])[0]
            diameter = float(m["hollow_width_mm"]) if m["hollow_width_mm"] > 0 else 0.8 * end_w
            out.append(Finding("filling_defect", center, diameter, confidence=conf, system=b.system, branch=bid,
                               generation=b.generation,
                               details={"obstructing": True, "end_width_mm": round(end_w, 2),
                                        "upstream_width_mm": round(upstream, 2), "end_dilation": round(dil, 2),
                                        "tip_over_parent_radius": _r(tree_dil, 2),
                                        "meniscus_concavity_mm": _r(conc, 2),
                                        "meniscus": "concave" if conc > 0 else ("flat" if conc > -0.2 else "convex"),
                                        "hollow_width_mm": round(float(m["hollow_width_mm"]), 2),
                                        "centre_over_rim": _r(t.blob_centre_ratio, 2), "cnr": round(t.cnr, 1),
                                        "distance_from_orifice_mm": round(float(v.orifice_distance_mm[row]), 1)}))
            obstructed.add(bid)
    # Cut-offs: compare each remaining tip with the terminal ducts of its system.  The
    # calibre comes from the tree's radii over the last few mm (many points: robust to
    # per-point error); the image's in-plane width is reported beside it.
    tips = {bid: v for bid, v in tips.items() if bid not in obstructed}
    tail = {bid: tail_radius_mm(tree.branches[bid].points_mm, tree.branches[bid].radius_mm) for bid in tips}
    quantum = _radius_quantum(tree)
    by_system: dict[int, list[float]] = {}
    for bid in tips:
        if bid not in cysts and np.isfinite(tail[bid]):
            by_system.setdefault(tree.branches[bid].system, []).append(tail[bid])
    for bid, v in tips.items():
        if bid in cysts:
            continue
        t = v.tip
        b = tree.branches[bid]
        if b.parent is None or not np.isfinite(tail[bid]):
            continue
        terminal = float(np.median(by_system.get(b.system, [tail[bid]])))
        calibre = tail[bid] / max(terminal, 1e-9)
        # Wider by more than the tree's radius resolution: a distance transform on a grid
        # gives radii in steps of about a voxel, and a duct drawn one step wider than
        # the terminal ducts (2 voxels against 1) may have the same calibre; ask for
        # more than one step (1.5) before calling it wider.
        if tail[bid] - terminal < 1.5 * quantum:
            continue
        pb = tree.branches[b.parent]
        parent_r = tail_radius_mm(pb.points_mm, pb.radius_mm, skip_mm=0.0, length_mm=4.0)
        taper = tail[bid] / parent_r if np.isfinite(parent_r) and parent_r > 0 else 1.0
        early = premature_end(tree, bid)
        # Not a cut-off: a stub a reconstruction left at a bump of its parent's wall, or a
        # tip where the image shows the same duct going on (the reconstruction stopped).
        if early["own_mm"] < max(1.5, 2.0 * (parent_r if np.isfinite(parent_r) else 0.0)):
            continue
        if t.measures["continues_past_tip"]:
            continue
        # Wider than the terminal ducts, but not several times wider (that is a dilated
        # end or a pool, judged above, or a tip inside a lesion's lumen).
        c_cal = _ramp(calibre, opt.cutoff_calibre_ratio - 0.1, opt.cutoff_calibre_ratio + 0.1) * \
            _ramp(-calibre, -3.5, -2.5)
        c_pre = _ramp(-early["ratio"], -(opt.cutoff_premature_ratio + 0.15), -(opt.cutoff_premature_ratio - 0.15))
        # Not tapered below its parent, and not much wider than it either (a duct that
        # ends dilated ends at an obstruction, not at a cut-off).
        c_tap = _ramp(taper, opt.cutoff_min_taper - 0.1, opt.cutoff_min_taper + 0.1) * _ramp(-taper, -1.6, -1.3)
        c_img = _ramp(t.cnr, 3.0, 5.0)
        conf = float((c_cal * c_pre * c_tap * c_img) ** 0.5)
        if conf < opt.report_threshold:
            continue
        # Where the column stops: the tree's tip, unless the contrast visibly stops short.
        row = min(t.tip_row, t.end_row)
        center = v.profile.physical(frame, [row], [v.rows.centre_offset[row]])[0]
        out.append(Finding("cutoff", center, float(2.0 * tail[bid]), confidence=conf, system=b.system, branch=bid,
                           generation=b.generation,
                           details={"end_radius_mm": round(tail[bid], 3),
                                    "terminal_radius_mm": round(terminal, 3), "calibre_ratio": round(calibre, 2),
                                    "parent_radius_mm": _r(parent_r, 3), "taper": round(taper, 2),
                                    "end_width_in_plane_mm": _r(t.end_width_mm, 2),
                                    "length_from_branch_point_mm": round(early["own_mm"], 1),
                                    "sibling_length_mm": _r(early["sibling_mm"], 1),
                                    "premature_ratio": _r(early["ratio"], 2),
                                    "end_concavity_mm": _r(t.measures["concavity_mm"], 2),
                                    "fall_mm": _r(t.fall_mm, 2), "cnr": round(t.cnr, 1)}))
    # Nor is a finding lying in the orifice zone (a tip running back toward the nipple
    # is read past its end).
    return [f for f in out if not _in_orifice_zone(tree, f.center_mm, opt)]


# --------------------------------------------------------------------------- ectasia
def _ectasia_findings(tree: DuctTree, views: dict[int, BranchView], frame, opt: FindingOptions,
                      excluded: list[tuple[np.ndarray, float]], zones: list[dict],
                      typical_cnr: float = float("nan")) -> list[Finding]:
    segments = []
    for bid, v in views.items():
        prof, rows = v.profile, v.rows
        step = prof.step_mm
        own = v.own_rows()
        if own.size < 3:
            continue
        # Widths only where the lumen's own edges were seen (not against another duct),
        # and a lumen centred on the duct (a neighbour merging into one side is not a
        # dilation of this duct).
        w = np.where(rows.touching, np.nan, rows.width)
        mid = 0.5 * (rows.left + rows.right)
        w = np.where(np.abs(mid) <= 0.25 * w + 0.2, w, np.nan)
        w_s = ndimage.median_filter(np.nan_to_num(w, nan=0.0), size=max(int(1.5 / step) | 1, 3), mode="nearest")
        w_s = np.where(np.isfinite(w), w_s, np.nan)
        # The ampulla (lactiferous sinus) is the main duct's widening behind the nipple:
        # the root branch, within ``ampulla_reach_mm`` of the orifice.
        at_ampulla = (v.orifice_distance_mm <= opt.ampulla_reach_mm) & (tree.branches[bid].parent is None)
        thr = np.where(at_ampulla, opt.ampulla_width_mm, opt.ectasia_width_mm)
        wide = np.zeros(len(w_s), bool)
        wide[own] = np.nan_to_num(w_s[own], nan=0.0) > thr[own]
        # Bridge gaps shorter than a millimetre (a crossing hides the edges briefly).
        gap = max(int(1.0 / step), 1)
        wide = ndimage.binary_closing(wide, structure=np.ones(2 * gap + 1)) & (prof.part == OWN)
        lab, n = ndimage.label(wide)
        for sl in ndimage.find_objects(lab):
            a, bb = sl[0].start, sl[0].stop - 1
            if (bb - a + 1) * step < opt.ectasia_min_length_mm:
                continue
            seg_w = w_s[a: bb + 1]
            k = a + int(np.nanargmax(seg_w))
            segments.append((bid, a, bb, k, float(w_s[k]), float(thr[k])))
    out: list[Finding] = []
    for bid, a, bb, k, wmax, thr in segments:
        v = views[bid]
        prof = v.profile
        center = prof.physical(frame, [k], [v.rows.centre_offset[k]])[0]
        if any(np.linalg.norm(center - c) <= r for c, r in excluded):
            continue
        d_lo, d_hi = float(v.orifice_distance_mm[a]), float(v.orifice_distance_mm[bb])
        owner = _explained_by(zones, tree, bid, d_lo, d_hi)
        if owner is not None:
            # The duct dilated before a filling defect: part of that finding, not ectasia.
            owner.details.setdefault("dilated_segments", []).append(
                {"branch": int(bid), "width_mm": round(wmax, 2), "from_orifice_mm": [round(d_lo, 1), round(d_hi, 1)]})
            continue
        # A duct dilated past 2 mm is thicker than the ducts round it, and ducts thinner
        # than the depth blur image brighter the thicker they are: an ectatic segment is
        # among the brightest of the tree.  Two ordinary ducts side by side (a branch
        # point, or a neighbour the tree missed) read as one wide lumen no brighter than
        # either.
        cnr = float(np.median(v.rows.level[a: bb + 1])) / prof.noise if prof.noise > 0 else float("nan")
        if not _bright_enough(cnr, typical_cnr, opt):
            continue
        ref = _surrounding_calibre(tree, views, bid, a, bb)
        rel = wmax / ref if np.isfinite(ref) and ref > 0 else float("nan")
        # At the ampulla the duct widens normally (to about twice its calibre): ectasia
        # there must stand out from that widening too.
        need = opt.ampulla_relative if thr == opt.ampulla_width_mm else opt.ectasia_relative
        c_rel = _ramp(rel, need - 0.2, need + 0.2)
        c_abs = _ramp(wmax / thr, 1.0, 1.25)
        conf = float(np.sqrt(c_rel * c_abs))
        if conf < opt.report_threshold:
            continue
        b = tree.branches[bid]
        out.append(Finding("ectasia", center, wmax, confidence=conf, system=b.system, branch=bid,
                           generation=b.generation,
                           details={"width_mm": round(wmax, 2), "threshold_mm": thr,
                                    "at_ampulla": bool(thr == opt.ampulla_width_mm),
                                    "segment_length_mm": round((bb - a + 1) * prof.step_mm, 1),
                                    "surrounding_calibre_mm": _r(ref, 2), "relative_width": _r(rel, 2),
                                    "relative_contrast": _r(cnr / typical_cnr, 2) if typical_cnr > 0 else None,
                                    "distance_from_orifice_mm": round(float(v.orifice_distance_mm[k]), 1),
                                    "measured": "in-plane edge-to-edge width"}))
    return _merge_ectasia(out)


def _explained_by(zones: list[dict], tree: DuctTree, bid: int, d_lo: float, d_hi: float) -> Finding | None:
    """The filling defect whose dilation zone holds a wide segment, if any.

    A papilloma dilates the duct before it (toward the nipple, up to ``reach`` mm along
    the duct) and widens it around itself: a segment on the defect's branch or on any
    branch on its way to the orifice, or on a branch leaving the defect's branch, whose
    span along the duct overlaps that zone, is the defect's.
    """
    for z in zones:
        fb = z["branch"]
        on_path = bid in tree.path_to_root(fb)
        below = tree.branches[bid].parent == fb
        if not (on_path or below):
            continue
        # The dilation runs up to the defect (a papilloma dams the duct it sits in): the
        # segment must reach the defect's near edge, not merely lie within the reach.
        if d_hi >= z["near_mm"] and d_lo <= z["to_mm"] and d_hi >= z["from_mm"]:
            return z["finding"]
    return None


def _surrounding_calibre(tree: DuctTree, views: dict[int, BranchView], bid: int, a: int, bb: int) -> float:
    """Calibre of the ducts around a wide segment: the branch outside it, its parent's end
    and its continuing child's start (median of what is available)."""
    v = views[bid]
    step = v.profile.step_mm
    n = max(int(5.0 / step), 3)
    pad = max(int(2.0 / step), 1)
    own = v.own_rows()
    refs = []
    outside = np.concatenate([own[own < a - pad], own[own > bb + pad]])
    if outside.size * step >= 3.0:
        refs.append(_median(v.rows.width[outside]))
    b = tree.branches[bid]
    if b.parent is not None and b.parent in views:
        pv = views[b.parent]
        refs.append(_median(pv.rows.width[pv.own_rows()][-n:]))
    child = _main_child(tree, bid)
    if child is not None and child in views:
        cv = views[child]
        refs.append(_median(cv.rows.width[cv.own_rows()][pad: pad + n]))
    refs = [r for r in refs if np.isfinite(r)]
    return float(np.median(refs)) if refs else float("nan")


def _merge_ectasia(findings: list[Finding]) -> list[Finding]:
    """A dilated segment running across a branch point is one ectasia, not two."""
    findings = sorted(findings, key=lambda f: -f.diameter_mm)
    kept: list[Finding] = []
    for f in findings:
        if any(g.system == f.system and np.linalg.norm(f.center_mm - g.center_mm)
               <= max(g.diameter_mm, f.diameter_mm) + g.details["segment_length_mm"] / 2 + 2.0 for g in kept):
            continue
        kept.append(f)
    return kept


# ---------------------------------------------------------------------------- public
def detect_findings(volume: Volume, tree: DuctTree, *, lumen_mask: np.ndarray | None = None,
                    options: FindingOptions | None = None, **overrides) -> list[Finding]:
    """Automatic findings along every branch of a duct tree.

    Parameters
    ----------
    volume : Volume
        The galactogram (values proportional to attenuation; any offset or scale).
    tree : DuctTree
        Duct tree in the volume's physical mm (a reconstruction, or a truth tree).
        ``Branch.bridged`` ranges mark where the lumen was interrupted: voids there need
        no visible rim.
    lumen_mask : (nz, ny, nx) bool ndarray, optional
        The reconstruction's lumen mask; when given, each void records whether the mask
        is interrupted there (``details["mask_gap"]``).
    options : FindingOptions, optional
    **overrides
        Any ``FindingOptions`` field, e.g. ``ectasia_width_mm=2.5``.

    Returns
    -------
    list of Finding
        Lesion findings with confidence >= ``report_threshold``, and every air bubble
        (``is_artefact=True``), sorted by system, branch and distance from the orifice.

    Raises
    ------
    ValueError
        If the mask's shape does not match the volume or an option is unknown.
    """
    opt = options or FindingOptions()
    if overrides:
        names = {f.name for f in dataclasses.fields(FindingOptions)}
        unknown = set(overrides) - names
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)}; expected some of {sorted(names)}")
        opt = dataclasses.replace(opt, **overrides)
    if lumen_mask is not None and tuple(np.shape(lumen_mask)) != tuple(volume.array.shape):
        raise ValueError(f"lumen_mask shape {np.shape(lumen_mask)} does not match the volume "
                         f"{volume.array.shape}")
    if not tree.branches:
        return []
    frame = volume.frame
    array = np.asarray(volume.array, dtype=np.float32)
    views = measure_branches(volume, tree, options=opt)
    typical_cnr = typical_duct_cnr(views, min_branches=opt.defect_reference_branches)

    findings: list[Finding] = []
    obstructed: set[int] = set()
    for bid, v in views.items():
        t = v.tip
        for cand in find_voids(v.profile, v.rows, min_void_mm=opt.min_void_mm, core_depth=opt.void_depth,
                               extent_depth=min(0.2, opt.void_depth),
                               last_row=None if t is None else t.end_row,
                               parts=(OWN,) if t is None else (OWN, BEYOND)):
            if not _accept_void(cand, opt):
                continue
            if cand.enclosed:
                f = _void_finding(cand, v, tree, frame, opt, array=array, typical_cnr=typical_cnr)
                if f is None:
                    continue
            else:
                # The column ends in it: an obstruction's concave meniscus, if it is the
                # end of a tip's column (not a gap in the middle of a duct).
                if t is None or cand.rows[1] < t.end_row - max(int(1.5 / v.profile.step_mm), 1):
                    continue
                f = _void_finding(cand, v, tree, frame, opt, obstructing=True, tip=t, array=array,
                                  typical_cnr=typical_cnr)
                if f is None:
                    continue
                f.details["meniscus"] = "concave: the column ends round a void, contrast along its rim"
                obstructed.add(bid)
            if lumen_mask is not None:
                f.details["mask_gap"] = _mask_gap(lumen_mask, frame, f.center_mm)
            findings.append(f)
    voids = [(f.center_mm, 0.5 * f.diameter_mm) for f in findings]
    findings += _tip_findings(tree, views, frame, opt, obstructed, voids, typical_cnr)
    findings = _merge_duplicates(findings)
    _note_neighbours(findings)
    excluded = [(f.center_mm, 0.5 * f.diameter_mm + 2.0) for f in findings if f.kind == "cyst"]
    zones = []
    for f in findings:
        if f.kind == "filling_defect" and f.branch is not None and "distance_from_orifice_mm" in f.details:
            d = float(f.details["distance_from_orifice_mm"])
            r = 0.5 * f.diameter_mm
            zones.append({"finding": f, "branch": f.branch, "from_mm": d - r - opt.defect_dilation_reach_mm,
                          "near_mm": d - r - 3.0, "to_mm": d + r + 3.0})
    findings += _ectasia_findings(tree, views, frame, opt, excluded, zones, typical_cnr)
    findings = _with_lumps(findings, array, frame, tree, opt)
    findings = [f for f in findings if f.is_artefact or f.confidence >= opt.report_threshold]
    for f in findings:
        f.details = _plain(f.details)
    findings.sort(key=lambda f: (f.system if f.system is not None else -1, f.branch if f.branch is not None else -1,
                                 f.details.get("distance_from_orifice_mm", 0.0)))
    return findings


def _with_lumps(findings: list[Finding], array: np.ndarray, frame, tree: DuctTree,
                opt: FindingOptions) -> list[Finding]:
    """The findings, with what the lumps in the volume show in place of what the
    centreline read in and round them (see :mod:`reconstruction.lesions_lumps`)."""
    lump_opt = LumpOptions(cyst_ratio=opt.cyst_ratio, cyst_margin_mm=opt.cyst_margin_mm,
                           ampulla_width_mm=opt.ampulla_width_mm, ampulla_reach_mm=opt.ampulla_reach_mm,
                           ectasia_width_mm=opt.ectasia_width_mm)
    read = lump_contrast(array, frame, tree, options=lump_opt)
    if read is None:
        return findings
    contrast, lump_frame, _ = read
    lumps = find_lumps(contrast, lump_frame, options=lump_opt)
    enough = len(tree.branches) >= opt.defect_reference_branches
    from_lumps = lump_findings(lumps, tree, lump_frame, options=lump_opt, nipple_zone_mm=opt.orifice_zone_mm,
                               min_relative_contrast=opt.defect_relative_contrast if enough else 0.0)
    return reconcile_with_lumps(findings, lumps, from_lumps, lump_frame, options=lump_opt)


def _plain(value):
    """JSON-ready copy: numpy scalars and arrays become Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    return value


def _note_neighbours(findings: list[Finding]) -> None:
    """Record voids of similar size in a row (bubbles often come in trains)."""
    voids = [f for f in findings if f.kind in ("air_bubble", "filling_defect")]
    for f in voids:
        near = [g for g in voids if g is not f and np.linalg.norm(g.center_mm - f.center_mm) <= 4.0 * f.diameter_mm + 2]
        f.details["similar_voids_nearby"] = int(sum(0.6 <= g.diameter_mm / max(f.diameter_mm, 1e-9) <= 1.6
                                                    for g in near))


def _mask_gap(mask: np.ndarray, frame, center_mm: np.ndarray) -> bool:
    """True when the lumen mask is empty at the finding's centre (the void interrupts it)."""
    idx = np.round(frame.physical_to_array_index(center_mm)).astype(int)
    idx = np.clip(idx, 0, np.asarray(mask.shape) - 1)
    return not bool(mask[tuple(idx)])
