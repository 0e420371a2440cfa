"""Lumps read from the volume: voids in dilated ducts, round pools, wide segments."""
from __future__ import annotations

import numpy as np

from reconstruction.findings import Finding
from reconstruction.frame import ImageFrame
from reconstruction.lesions_lumps import Lump, LumpOptions, find_lumps, reconcile_with_lumps

SPACING = (0.25, 0.25, 1.0)             # x, y, z mm
SHAPE = (20, 160, 240)                  # z, y, x


def _frame() -> ImageFrame:
    return ImageFrame.identity(SHAPE, spacing=SPACING)


def _blob(c: np.ndarray, centre_xyz, radius_mm: float, value: float, *, z_half_mm: float = 4.0,
          stretch_x: float = 1.0) -> None:
    """Paint an ellipsoid-like pool (in-plane radius, stretched along x) over some slices."""
    z, y, x = np.ogrid[:SHAPE[0], :SHAPE[1], :SHAPE[2]]
    cx, cy, cz = centre_xyz
    inside = ((((x * SPACING[0] - cx) / stretch_x) ** 2 + (y * SPACING[1] - cy) ** 2) <= radius_mm ** 2) \
        & (np.abs(z * SPACING[2] - cz) <= z_half_mm)
    c[inside] = value


def test_a_void_ringed_by_contrast_is_a_filling_defect_at_its_place():
    c = np.zeros(SHAPE, np.float32)
    _blob(c, (30.0, 20.0, 10.0), 4.0, 6.0, stretch_x=1.6)     # a dilated duct segment
    _blob(c, (30.0, 20.0, 10.0), 2.5, -0.5, z_half_mm=2.0)    # the papilloma's void in it
    lumps = find_lumps(c, _frame())
    assert [lp.kind for lp in lumps] == ["filling_defect"]
    (centre, diameter), = lumps[0].holes
    assert np.allclose(centre, [30.0, 20.0, 10.0], atol=0.5)
    assert 4.0 <= diameter <= 5.5


def test_a_round_pool_is_a_cyst_and_a_long_one_is_not():
    c = np.zeros(SHAPE, np.float32)
    _blob(c, (15.0, 20.0, 10.0), 3.0, 5.0)                    # round: a cyst
    _blob(c, (42.0, 20.0, 10.0), 2.0, 5.0, stretch_x=4.0)     # 16 x 4 mm: a wide segment
    lumps = sorted(find_lumps(c, _frame()), key=lambda lp: lp.center_mm[0])
    assert [lp.kind for lp in lumps] == ["cyst", "wide"]
    assert abs(lumps[0].width_mm - 6.0) <= 0.6 and lumps[0].aspect <= 1.2
    assert lumps[1].aspect >= 3.0


def test_thin_ducts_and_the_long_gap_between_them_hold_no_void():
    c = np.zeros(SHAPE, np.float32)
    # Two 1 mm ducts that part and meet again round a 12 x 3 mm gap (seen in one slice,
    # as where two ducts cross in projection and blur into each other): not round.
    z, y, x = np.ogrid[:SHAPE[0], :SHAPE[1], :SHAPE[2]]
    r = np.hypot((x * SPACING[0] - 30.0) / 4.0, y * SPACING[1] - 20.0)
    c[(np.abs(r - 1.5) <= 0.5) & (np.abs(z - 10) <= 2)] = 5.0
    assert [lp for lp in find_lumps(c, _frame()) if lp.holes] == []


def _three_ducts_round_a_gap(*, side_mm: float, width_mm: float) -> np.ndarray:
    """Three straight ducts crossing pairwise round a triangular gap, over a few slices."""
    c = np.zeros(SHAPE, np.float32)
    yy, xx = np.mgrid[:SHAPE[1], :SHAPE[2]]
    px, py = xx * SPACING[0], yy * SPACING[1]
    corners = np.array([[30.0 - side_mm / 2, 18.0], [30.0 + side_mm / 2, 18.0],
                        [30.0, 18.0 + side_mm * np.sqrt(3.0) / 2]])
    ducts = np.zeros(SHAPE[1:], bool)
    for k in range(3):
        a, b = corners[k], corners[(k + 1) % 3]
        u = (b - a) / np.linalg.norm(b - a)
        a = a - 5.0 * u                            # each duct runs on past the crossings
        t = np.clip((px - a[0]) * u[0] + (py - a[1]) * u[1], 0.0, side_mm + 10.0)
        ducts |= np.hypot(px - (a[0] + t * u[0]), py - (a[1] + t * u[1])) <= width_mm / 2
    c[8:13][:, ducts] = 5.0
    return c


def test_a_gap_wider_than_the_lump_round_it_is_no_void():
    # Three 0.5 mm ducts crossing round a triangular gap: filled, the outline is a lump
    # 5 mm wide, and the gap is round and ringed; but the gap (5 mm across as a disc of
    # its area) is wider than the lump round its centre: the ducts are its only rim, not
    # a distended lumen round a papilloma.
    lumps = find_lumps(_three_ducts_round_a_gap(side_mm=8.0, width_mm=0.5), _frame())
    assert len(lumps) == 1 and lumps[0].width_mm >= LumpOptions().min_width_mm
    assert lumps[0].holes == [] and lumps[0].kind == "wide"


def test_a_void_needs_its_rim_at_one_depth():
    from reconstruction.lesions_lumps import _in_one_lumen, _Void
    opt, dz, c = LumpOptions(), 1.0, np.zeros(3)
    # 3 mm void, its centre 2.5 mm inside the outline (a 1 mm rim): one lumen when the rim
    # peaks within the lumen's depth ...
    assert _in_one_lumen(_Void(c, 3.0, 2.5, 5.0), dz, opt)
    # ... not when it peaks over 12 mm of depth: ducts crossing at different depths whose
    # blur fills a lump round the gap between them (a normal volume with a 25-degree arc).
    assert not _in_one_lumen(_Void(c, 2.2, 1.8, 12.0), dz, opt)
    # 0.2 mm rim (a papilloma filling most of its lumen): one lumen when the rim peaks
    # within the lumen's depth (2 x 1.7 mm) and a slice either side ...
    assert _in_one_lumen(_Void(c, 3.0, 1.7, 5.0), dz, opt)
    # ... ducts crossing round a gap when it peaks over a wider range of depths,
    assert not _in_one_lumen(_Void(c, 3.0, 1.7, 6.0), dz, opt)
    # and never when the void is wider than the lump round it.
    assert not _in_one_lumen(_Void(c, 3.0, 1.4, 0.0), dz, opt)


def test_a_tree_finding_the_lump_confirms_keeps_its_measurements():
    frame = _frame()
    lump = Lump(center_mm=np.array([30.0, 20.0, 10.0]), width_mm=8.0, length_mm=12.0, aspect=1.5,
                peak_contrast=6.0, holes=[(np.array([30.0, 20.0, 10.0]), 4.5)], kind="filling_defect",
                footprint_mm=np.array([[x, 20.0, 10.0] for x in np.arange(24.0, 36.5, 0.5)]))
    from_lump = Finding("filling_defect", [30.2, 20.0, 10.0], 4.5, details={"lump": 0, "why": "void"})
    same = Finding("filling_defect", [30.0, 20.5, 11.0], 4.0, details={"expansion": 2.5})
    dilation = Finding("ectasia", [26.0, 20.0, 10.0], 5.0, details={})
    ghost = Finding("ectasia", [36.0, 20.0, 20.0], 5.0, details={})       # the lump's blur, 10 mm deeper
    elsewhere = Finding("cutoff", [80.0, 20.0, 10.0], 1.0, details={})
    out = reconcile_with_lumps([same, dilation, ghost, elsewhere], [lump], [from_lump], frame,
                               options=LumpOptions())
    assert out == [same, elsewhere]
    assert same.details["expansion"] == 2.5 and "confirmed_in_volume" in same.details


def _dammed_column(*, flows_on: bool) -> np.ndarray:
    """A 5 mm duct ending at a round papilloma (3.6 mm across) that fills it: contrast on
    its near side only (a cup), or also in the duct that goes on past it."""
    c = np.zeros(SHAPE, np.float32)
    z, y, x = np.ogrid[:SHAPE[0], :SHAPE[1], :SHAPE[2]]
    x_mm, y_mm = x * SPACING[0], y * SPACING[1]
    near = np.abs(z * SPACING[2] - 10.0) <= 2.5
    c[near & (np.abs(y_mm - 20.0) <= 2.5) & (x_mm >= 10.0) & (x_mm <= 30.0)] = 6.0   # the column
    if flows_on:
        c[(np.abs(z * SPACING[2] - 10.0) <= 1.0) & (np.abs(y_mm - 20.0) <= 0.6) & (x_mm > 30.0) & (x_mm <= 45.0)] = 6.0
    c[near & (np.hypot(x_mm - 30.0, y_mm - 20.0) <= 1.8)] = 0.0                      # the papilloma
    return c


def test_a_column_that_stops_at_a_cupped_defect_is_an_obstruction_at_the_defect():
    lumps = find_lumps(_dammed_column(flows_on=False), _frame())
    assert [lp.kind for lp in lumps] == ["filling_defect"]
    assert lumps[0].holes == []
    (centre, diameter), = lumps[0].cups
    assert np.linalg.norm(centre[:2] - [30.0, 20.0]) <= 0.6 and abs(centre[2] - 10.0) <= 1.0
    assert 3.0 <= diameter <= 4.2


def test_contrast_going_on_past_a_defect_is_no_cup():
    lumps = find_lumps(_dammed_column(flows_on=True), _frame())
    assert all(lp.cups == [] for lp in lumps)


def test_a_cup_reads_as_an_obstructing_filling_defect_on_the_tree():
    from reconstruction.lesions_lumps import lump_findings
    from reconstruction.tree import Branch, DuctTree
    frame = _frame()
    lumps = find_lumps(_dammed_column(flows_on=False), frame)
    xs = np.arange(2.0, 28.0, 0.5)
    duct = Branch(id=0, parent=None, system=0, generation=1, points_mm=np.stack([xs, np.full_like(xs, 20.0),
                                                                                 np.full_like(xs, 10.0)], 1),
                  radius_mm=np.full(xs.size, 0.6))
    tree = DuctTree(branches=[duct], nipple_mm=np.array([2.0, 20.0, 10.0]))
    (finding,) = lump_findings(lumps, tree, frame)
    assert finding.kind == "filling_defect" and finding.details["obstructing"] is True
    assert np.linalg.norm(finding.center_mm[:2] - [30.0, 20.0]) <= 0.6


def test_a_cup_no_duct_ends_at_is_no_obstruction():
    """The same image, but the tree's duct runs past the cup and on for 15 mm (as two ducts
    meeting at a branch point, a bright V round a dark gap, look to the image test): no
    duct ends at the defect, so nothing is dammed there."""
    from reconstruction.lesions_lumps import lump_findings
    from reconstruction.tree import Branch, DuctTree
    frame = _frame()
    lumps = find_lumps(_dammed_column(flows_on=False), frame)
    assert lumps[0].cups
    xs = np.arange(2.0, 28.0, 0.5)
    ys = np.where(xs < 26.0, 20.0, 20.0 + (xs - 26.0))
    stem = Branch(id=0, parent=None, system=0, generation=1, points_mm=np.stack([xs, ys, np.full_like(xs, 10.0)], 1),
                  radius_mm=np.full(xs.size, 0.6))
    x2 = np.arange(27.5, 45.0, 0.5)
    on = Branch(id=1, parent=0, system=0, generation=2, points_mm=np.stack([x2, 21.5 + 0.5 * (x2 - 27.5),
                                                                           np.full_like(x2, 10.0)], 1),
                radius_mm=np.full(x2.size, 0.5))
    tree = DuctTree(branches=[stem, on], nipple_mm=np.array([2.0, 20.0, 10.0]))
    assert lump_findings(lumps, tree, frame) == []


def test_the_crescent_is_the_longest_run_round_the_circle():
    from reconstruction.lesions_cups import longest_circular_run
    assert longest_circular_run(np.array([True, False, False, True, True])) == 3    # wraps round
    assert longest_circular_run(np.ones(8, bool)) == 8
    assert longest_circular_run(np.zeros(8, bool)) == 0
