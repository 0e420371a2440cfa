"""Merging automatic findings with radiologists' marks, and placing points on the tree."""
from __future__ import annotations

import numpy as np
import pytest

from planner.markups import Mark
from planner.merge import TreeLocator, locate_on_tree, merge_findings_and_marks
from reconstruction.findings import Finding
from reconstruction.tree import Branch, DuctSystem, DuctTree


def y_fork() -> DuctTree:
    """Orifice at the origin; a 20 mm main duct running posterior (+y), then a Y fork.

    branch 0: (0,0,0) -> (0,20,0), radius 1.0   (vertices only at the ends: sparse)
    branch 1: (0,20,0) -> (10,30,0), radius 0.8
    branch 2: (0,20,0) -> (-10,30,0), radius 0.6
    system 1 (a second orifice) -> branch 3: (30,0,0) -> (30,20,0), radius 0.5
    """
    return DuctTree(
        branches=[Branch(0, 0, None, [[0, 0, 0], [0, 20, 0]], [1.0, 1.0]),
                  Branch(1, 0, 0, [[0, 20, 0], [5, 25, 0], [10, 30, 0]], [0.8, 0.8, 0.8], generation=2),
                  Branch(2, 0, 0, [[0, 20, 0], [-5, 25, 0], [-10, 30, 0]], [0.6, 0.6, 0.6], generation=2),
                  Branch(3, 1, None, [[30, 0, 0], [30, 20, 0]], [0.5, 0.5])],
        systems=[DuctSystem(0, [0, 0, 0], root_branch=0), DuctSystem(1, [30, 0, 0], root_branch=3)])


def mark(p, label="", description="", diameter=None) -> Mark:
    return Mark(position_mm=p, label=label, description=description, diameter_mm=diameter)


# ------------------------------------------------------------------ locate_on_tree
def test_locate_on_tree_between_sparse_vertices():
    t = y_fork()
    # 1.5 mm beside the middle of branch 0, whose vertices are 10 mm away: still on it
    loc = locate_on_tree([1.5, 10, 0], t, tolerance_mm=2.0)
    assert (loc.system, loc.branch) == (0, 0)
    assert loc.distance_mm == pytest.approx(1.5, abs=0.15)
    # on branch 1 near its middle vertex
    loc = locate_on_tree([5.5, 24.5, 0.5], t, tolerance_mm=1.0)
    assert (loc.system, loc.branch, loc.point_index) == (0, 1, 1)
    # second system
    assert locate_on_tree([30.4, 15, 0], t, tolerance_mm=1.0).system == 1
    # 4 mm from a 0.5 mm duct with 2 mm tolerance: on no duct
    assert locate_on_tree([34.0, 10, 0], t, tolerance_mm=2.0) is None
    assert locate_on_tree([0, 0, 0], None, tolerance_mm=2.0) is None
    assert TreeLocator(DuctTree()).locate([0, 0, 0], tolerance_mm=5) is None


def test_locate_respects_local_radius():
    t = y_fork()
    # 2.8 mm from branch 0 (radius 1.0): inside 1.0 + 2.0; 2.8 mm from branch 3 (0.5): outside 0.5 + 2.0
    assert locate_on_tree([2.8, 10, 0], t, tolerance_mm=2.0) is not None
    assert locate_on_tree([32.8, 10, 0], t, tolerance_mm=2.0) is None


# ------------------------------------------------------------------------- merging
def findings() -> list[Finding]:
    return [
        Finding("filling_defect", [5, 25, 0], 4.0, confidence=0.6, system=0, branch=1),
        Finding("air_bubble", [0, 8, 0], 2.0, confidence=0.9, is_artefact=True),
        Finding("cyst", [-10, 31, 0], 8.0, confidence=0.8),          # no system given: located
    ]


def test_mark_confirms_a_finding():
    # 3 mm from the defect centre (< 5 mm): confirms it
    lesions, warnings = merge_findings_and_marks(findings(), [mark([5, 25, 3], "P1 papilloma")], y_fork())
    assert [l.kind for l in lesions] == ["filling_defect", "cyst"]           # the bubble is no lesion
    d = lesions[0]
    assert d.source == "auto+annotated" and d.label == "P1 papilloma" and d.confidence == 1.0
    assert d.center_mm.tolist() == [5, 25, 0] and d.diameter_mm == 4.0       # the detector's 3D measure
    assert (d.system, d.branch) == (0, 1)
    c = lesions[1]
    assert c.source == "auto" and c.confidence == 0.8 and (c.system, c.branch) == (0, 2)
    assert [l.id for l in lesions] == [0, 1]
    assert warnings == []


def test_click_anywhere_on_a_large_cyst_confirms_it():
    # 5.5 mm from the centre of the 8 mm cyst: beyond confirm_distance (5 mm) but within
    # its radius + tolerance (4 + 2 = 6 mm), so the click still confirms it
    lesions, _ = merge_findings_and_marks(findings(), [mark([-10, 36.5, 0])], y_fork())
    assert [l.source for l in lesions] == ["auto", "auto+annotated"]


def test_unmatched_mark_is_an_annotated_lesion_on_its_duct():
    # on branch 2 near its middle, 8 mm from every finding
    lesions, warnings = merge_findings_and_marks(findings(), [mark([-5, 25, 0.3], "R2", diameter=3.0)],
                                                 y_fork())
    ann = lesions[-1]
    assert (ann.kind, ann.source, ann.label, ann.diameter_mm) == ("annotated", "annotated", "R2", 3.0)
    assert (ann.system, ann.branch) == (0, 2)
    assert ann.center_mm.tolist() == [-5, 25, 0.3]
    assert warnings == []


def test_off_duct_mark_is_kept_with_a_warning():
    lesions, warnings = merge_findings_and_marks([], [mark([20, 10, 0], "stray", diameter=5.0)], y_fork())
    assert len(lesions) == 1 and lesions[0].kind == "annotated"
    assert lesions[0].system is None and lesions[0].branch is None
    assert len(warnings) == 1 and "'stray'" in warnings[0] and "no opacified duct" in warnings[0]
    assert "\n" not in warnings[0]


def test_bubble_marked_by_a_radiologist_becomes_a_lesion():
    lesions, warnings = merge_findings_and_marks(findings(), [mark([0.5, 8.5, 0], "defect?")], y_fork())
    assert len(lesions) == 3
    b = lesions[-1]
    assert b.kind == "annotated" and b.source == "annotated" and b.label == "defect?"
    assert b.center_mm.tolist() == [0.5, 8.5, 0]          # the mark wins
    assert b.diameter_mm == 2.0                           # the bubble's measured size
    assert (b.system, b.branch) == (0, 0)
    assert any("air bubble" in w and "'defect?'" in w for w in warnings)
    assert any("air bubble" in n for n in b.notes)


def test_unmarked_bubble_is_never_a_lesion():
    lesions, _ = merge_findings_and_marks([Finding("air_bubble", [0, 8, 0], 2.0, is_artefact=True)], [], y_fork())
    assert lesions == []


def test_two_marks_on_one_finding_make_one_lesion():
    marks = [mark([5, 25, 1], "reader A"), mark([5, 26, 0], "reader B DCIS?")]
    lesions, warnings = merge_findings_and_marks(findings()[:1], marks, y_fork())
    assert len(lesions) == 1 and lesions[0].label == "reader A / reader B DCIS?"
    assert lesions[0].suspected_dcis                     # a reader wrote DCIS
    assert any("same filling_defect" in w for w in warnings)


def test_mark_without_diameter_or_tree():
    lesions, warnings = merge_findings_and_marks([], [mark([0, 10, 0], "x")], None, default_diameter_mm=6.0)
    assert lesions[0].diameter_mm == 6.0 and lesions[0].system is None
    assert any("no diameter" in w for w in warnings) and any("no duct tree" in w for w in warnings)


def test_mark_far_from_findings_does_not_confirm():
    lesions, _ = merge_findings_and_marks(findings()[:1], [mark([5, 25, 5.5], diameter=2.0)], y_fork(),
                                          confirm_distance_mm=5.0)
    # 5.5 mm > max(5.0, 2.0 + 2.0): a second lesion, not a confirmation
    assert [l.source for l in lesions] == ["auto", "annotated"]


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="confirm_distance_mm"):
        merge_findings_and_marks([], [], None, confirm_distance_mm=np.nan)


def test_large_cyst_beyond_a_duct_tip_is_placed_by_its_surface():
    # centre 5 mm past the tip of branch 2 (radius 0.6): 5 > 0.6 + 2, but the 8 mm cyst's
    # surface reaches the duct (5 <= 0.6 + 2 + 4), so it belongs to system 0, branch 2
    cyst = Finding("cyst", [-10 - 3, 30 + 4, 0], 8.0)
    lesions, warnings = merge_findings_and_marks([cyst], [], y_fork())
    assert (lesions[0].system, lesions[0].branch) == (0, 2) and warnings == []
