"""Decision rules, one test per rule, with hand-built trees and lesions."""
from __future__ import annotations

import numpy as np
import pytest
from test_planner_fixtures import (BLOODY_ONE, INFO, lesion, long_duct, on_branch, shared_junction,
                                   two_systems)

from planner import ClinicalContext, PlanSettings, decide, locate_lesions, make_plan


def _text(lines) -> str:
    return " ".join(lines).lower()


# ------------------------------------------------------------------ lesion sites
def test_lesion_on_two_routes_is_placed_on_the_shorter():
    # The far side of a duct interrupted at x = 20-23 mm joined the tree round a 68 mm
    # loop; a second centreline (the duct itself) runs straight through the lesion at
    # x = 30.  The detector read the lesion on the long way round; it lies 30 mm along
    # the duct, not ~78.
    from reconstruction.tree import Branch, DuctSystem, DuctTree
    from planner.lesions import Lesion

    def duct(i, parent, a, b, r):
        p = np.linspace(a, b, int(np.linalg.norm(np.subtract(b, a)) / 0.5) + 1)
        return Branch(i, 0, parent, p, np.full(len(p), r))

    br = [duct(0, None, [0, 0, 30], [20, 0, 30], 0.8), duct(1, 0, [20, 0, 30], [40, 0, 30], 0.8),
          duct(2, 0, [20, 0, 30], [20, 30, 30], 0.5), duct(3, 2, [20, 30, 30], [40, 10, 30], 0.5),
          duct(4, 3, [40, 10, 30], [30, 0.3, 30], 0.6)]
    tree = DuctTree(branches=br, systems=[DuctSystem(0, [0, 0, 30], root_branch=0)])
    site = locate_lesions(tree, [Lesion(0, "filling_defect", [30, 0, 30], 3.0, system=0, branch=4)])[0]
    assert site.branch == 1 and abs(site.arc_mm - 30.0) < 0.5
    # A centreline passing outside the lesion's radius is another duct: not used.
    site = locate_lesions(tree, [Lesion(0, "filling_defect", [30, 2.5, 30], 3.0, system=0, branch=4)])[0]
    assert site.branch == 4 and site.arc_mm > 70


def test_locate_lesions_on_the_tree():
    t = two_systems()
    sites = locate_lesions(t, [lesion(0, on_branch(t, 1, 15.0)), lesion(1, [60, 60, 60])])
    assert (sites[0].system, sites[0].branch, sites[0].on_duct) == (0, 1, True)
    assert sites[0].arc_mm == pytest.approx(t.branches[0].length_mm + 15.0, abs=0.01)
    assert sites[0].systems_touched == (0,)
    assert (sites[1].system, sites[1].branch, sites[1].on_duct) == (None, None, False)


def test_lesion_naming_a_missing_branch_is_a_valueerror():
    t = two_systems()
    with pytest.raises(ValueError, match="branch 42"):
        locate_lesions(t, [lesion(0, [0, 0, 5], branch=42)])
    with pytest.raises(ValueError, match="system 0"):
        locate_lesions(t, [lesion(0, [0, 0, 5], system=0, branch=4)])


# ------------------------------------------------------------------ the rules
def test_purulent_is_contraindicated_even_with_lesions():
    t = two_systems()
    p = make_plan(t, [lesion(0, on_branch(t, 1, 15.0))], ClinicalContext(discharge="purulent"),
                  input_info=INFO)
    assert p.kind == "contraindicated" and p.excision is None and p.margins == []
    assert "infection" in _text(p.rationale)
    assert any("again" in w for w in p.warnings)


@pytest.mark.parametrize("clinical", [
    ClinicalContext(discharge="milky", discharging_ducts=3),
    ClinicalContext(discharge="green"),
    ClinicalContext(discharge="serous", bilateral=True),
    ClinicalContext(discharge="clear", discharging_ducts=2),
])
def test_physiological_pattern_with_nothing_found_is_none_with_advice(clinical):
    d = decide(two_systems(), [], clinical)
    assert d.kind == "none"
    text = _text(d.rationale)
    assert "prolactin" in text and "medication" in text and "pituitary" in text


def test_nothing_found_bloody_warns_normal_galactogram_does_not_rule_out():
    d = decide(two_systems(), [], BLOODY_ONE)
    assert d.kind == "none"
    assert any("does not rule out" in w for w in d.warnings)
    assert "prolactin" not in _text(d.rationale)


def test_nothing_found_serous_has_no_bloody_warning():
    d = decide(two_systems(), [], ClinicalContext(discharge="serous", discharging_ducts=1))
    assert d.kind == "none" and not any("rule out" in w for w in d.warnings)


def test_one_system_one_duct_is_microdochectomy():
    t = two_systems()
    d = decide(t, [lesion(0, on_branch(t, 1, 15.0)), lesion(1, on_branch(t, 2, 25.0))], BLOODY_ONE)
    assert d.kind == "microdochectomy" and d.target_system == 0
    assert d.disease_systems == (0,)
    assert "one ductal system" in _text(d.rationale)


def test_two_systems_is_hadfield():
    t = two_systems()
    d = decide(t, [lesion(0, on_branch(t, 1, 15.0)), lesion(1, on_branch(t, 4, 15.0))],
               ClinicalContext(discharge="bloody"))
    assert d.kind == "hadfield" and d.disease_systems == (0, 1)
    assert "2 ductal systems" in _text(d.rationale)


def test_several_discharging_ducts_is_hadfield():
    t = two_systems()
    d = decide(t, [lesion(0, on_branch(t, 1, 15.0))], ClinicalContext(discharge="bloody",
                                                                       discharging_ducts=3))
    assert d.kind == "hadfield"
    assert "3 ducts" in _text(d.rationale)
    assert any("not opacified" in w for w in d.warnings)


@pytest.mark.parametrize("clinical", [ClinicalContext(discharge="serous", discharging_duct_identified=False),
                                      ClinicalContext(discharge="serous", discharging_ducts=0)])
def test_undetermined_discharging_duct_is_hadfield(clinical):
    t = two_systems()
    d = decide(t, [lesion(0, on_branch(t, 1, 15.0))], clinical)
    assert d.kind == "hadfield" and "could not be identified" in _text(d.rationale)


def test_lesion_on_no_duct_means_duct_cannot_be_determined():
    t = two_systems()
    d = decide(t, [lesion(0, [0, 40, 20], kind="annotated", source="annotated")], BLOODY_ONE)
    assert d.kind == "hadfield" and "cannot be determined" in _text(d.rationale)


def test_lesion_assigned_to_a_system_without_opacified_ducts_is_hadfield():
    from reconstruction.tree import DuctSystem, DuctTree

    t = DuctTree([], [DuctSystem(0, [0, 0, 0])], nipple_mm=[0, 0, 0])
    p = make_plan(t, [lesion(0, [0, 0, 10], system=0)], BLOODY_ONE, input_info=INFO)
    assert p.kind == "hadfield" and p.margins[0].adequate
    assert "no lesion lies on an opacified duct" in _text(p.rationale)


def test_lesion_at_branch_point_shared_by_two_systems_roots():
    t = shared_junction()
    for les in (lesion(0, [0, 0, 8]), lesion(0, [0, 0, 8], system=0, branch=0)):
        p = make_plan(t, [les], ClinicalContext(discharge="bloody"), input_info=INFO)
        assert p.sites[0].systems_touched == (0, 1)
        assert p.kind == "hadfield" and p.decision.ambiguous_lesions == (0,)
        assert "cannot be assigned to a single duct" in _text(p.rationale)
        assert p.margins[0].treated and p.margins[0].adequate


def test_lesion_between_two_orifices_at_the_nipple_is_ambiguous():
    t = two_systems()
    d = decide(t, [lesion(0, [0, 0, 0.5], 3.0)], BLOODY_ONE)
    assert d.kind == "hadfield" and d.ambiguous_lesions == (0,)


def _with_stub(t, length_mm: float):
    """``t`` plus a system whose whole duct is a ``length_mm`` stub from an orifice 2 mm
    beside system 0's (contrast at the nipple, or a fragment of a reconstruction)."""
    from test_planner_fixtures import branch

    from reconstruction.tree import DuctSystem, DuctTree

    o = t.systems[0].orifice_mm + [-2.0, 0, 0]
    sid, bid = len(t.systems), len(t.branches)
    stub = branch(bid, sid, None, o, o + [0, 0, length_mm], 0.6, 0.6)
    return DuctTree(t.branches + [stub], t.systems + [DuctSystem(sid, o, root_branch=bid)],
                    nipple_mm=t.nipple_mm)


def test_a_stub_system_beside_a_lesion_does_not_make_it_ambiguous():
    t = _with_stub(long_duct(), 2.0)
    centre = on_branch(t, 0, 3.0)
    for les in (lesion(0, centre), lesion(0, centre, system=1, branch=3)):
        p = make_plan(t, [les], BLOODY_ONE, input_info=INFO)
        site = p.sites[0]
        assert (site.system, site.branch) == (0, 0)
        assert site.systems_touched == (0,) and site.stubs_touched == (1,)
        assert p.kind == "microdochectomy" and p.decision.target_system == 0
        assert p.margins[0].treated and p.margins[0].adequate
        assert "system 1 has only 2.0 mm of opacified duct" in _text(p.warnings)
    # Switched off, or a system long enough to be one: the lesion is ambiguous again.
    p = make_plan(t, [lesion(0, centre)], BLOODY_ONE, PlanSettings(min_system_length_mm=0),
                  input_info=INFO)
    assert p.kind == "hadfield" and p.sites[0].systems_touched == (0, 1)
    p = make_plan(_with_stub(long_duct(), 12.0), [lesion(0, centre)], BLOODY_ONE, input_info=INFO)
    assert p.kind == "hadfield" and p.decision.ambiguous_lesions == (0,)


def test_a_lesion_touching_only_a_stub_stays_on_it():
    t = _with_stub(long_duct(), 2.0)
    stub_end = t.branches[3].points_mm[-1] + [-3.0, 0, 0]
    site = locate_lesions(t, [lesion(0, stub_end, 2.0)], min_system_length_mm=8.0)[0]
    assert (site.system, site.branch) == (1, 3)
    assert site.systems_touched == (1,) and site.stubs_touched == ()


def test_annotated_only_lesions_are_located_and_planned():
    t = two_systems()
    les = [lesion(0, on_branch(t, 1, 20.0) + [0, 0.8, 0], kind="annotated", source="annotated"),
           lesion(1, on_branch(t, 2, 10.0), kind="annotated", source="annotated")]
    p = make_plan(t, les, BLOODY_ONE, input_info=INFO)
    assert p.kind == "microdochectomy"
    assert [(s.system, s.branch) for s in p.sites] == [(0, 1), (0, 2)]
    assert all(m.treated and m.adequate for m in p.margins)


# ------------------------------------------------------------------ clinical modifiers
def test_breastfeeding_wish_favours_microdochectomy_in_rationale():
    t = two_systems()
    c = ClinicalContext(discharge="bloody", discharging_ducts=1, wishes_to_breastfeed=True, age=31)
    d = decide(t, [lesion(0, on_branch(t, 1, 15.0))], c)
    assert d.kind == "microdochectomy" and "breastfeed" in _text(d.rationale)


def test_breastfeeding_wish_with_hadfield_is_a_warning():
    t = two_systems()
    c = ClinicalContext(discharge="bloody", wishes_to_breastfeed=True)
    d = decide(t, [lesion(0, on_branch(t, 1, 15.0)), lesion(1, on_branch(t, 4, 15.0))], c)
    assert d.kind == "hadfield" and any("breastfeeding" in w for w in d.warnings)


def test_older_age_with_bloody_discharge_favours_hadfield():
    t = two_systems()
    les = [lesion(0, on_branch(t, 1, 15.0))]
    c = ClinicalContext(discharge="bloody", discharging_ducts=1, age=62)
    d = decide(t, les, c)
    assert d.kind == "microdochectomy" and any("favours total duct excision" in w for w in d.warnings)
    d = decide(t, les, c, settings=PlanSettings(prefer_hadfield_when_older=True))
    assert d.kind == "hadfield" and "age 62" in _text(d.rationale)
    d = decide(t, les, c, settings=PlanSettings(older_age_years=65))
    assert not any("favours" in w for w in d.warnings)
    # her wish to breastfeed wins over her age
    d = decide(t, les, ClinicalContext(discharge="bloody", discharging_ducts=1, age=52,
                                       wishes_to_breastfeed=True),
               settings=PlanSettings(prefer_hadfield_when_older=True))
    assert d.kind == "microdochectomy"


def test_older_age_rationale_added_to_hadfield():
    t = two_systems()
    d = decide(t, [lesion(0, on_branch(t, 1, 15.0))],
               ClinicalContext(discharge="bloody", discharging_ducts=2, age=70))
    assert d.kind == "hadfield" and "age 70" in _text(d.rationale)


# ------------------------------------------------------------------ contradictions: warnings
def test_one_discharging_duct_but_two_diseased_systems_warns():
    t = two_systems()
    d = decide(t, [lesion(0, on_branch(t, 1, 15.0)), lesion(1, on_branch(t, 4, 15.0))], BLOODY_ONE)
    assert d.kind == "hadfield"
    assert any("contradicting" in w.lower() and "2 ductal systems" in w for w in d.warnings)


def test_bilateral_with_single_duct_bloody_discharge_warns():
    t = two_systems()
    c = ClinicalContext(discharge="bloody", discharging_ducts=1, bilateral=True)
    for les in ([], [lesion(0, on_branch(t, 1, 15.0))]):
        d = decide(t, les, c)
        assert any("bilateral" in w.lower() and "contradicting" in w.lower() for w in d.warnings)


def test_unknown_discharge_and_missing_duct_count_warn():
    t = two_systems()
    d = decide(t, [lesion(0, on_branch(t, 1, 15.0))], ClinicalContext(discharge="sticky"))
    assert d.kind == "microdochectomy"
    assert any("not a recognised type" in w for w in d.warnings)
    assert any("not given" in w for w in d.warnings)


def test_milky_discharge_with_lesions_still_plans_but_warns():
    t = long_duct()
    d = decide(t, [lesion(0, on_branch(t, 1, 10.0))], ClinicalContext(discharge="milky",
                                                                       discharging_ducts=1))
    assert d.kind == "microdochectomy"
    assert any("not indicated" in w for w in d.warnings)


def test_no_nipple_is_a_clear_valueerror():
    t = two_systems()
    t.nipple_mm = None
    with pytest.raises(ValueError, match="nipple"):
        make_plan(t, [], BLOODY_ONE, input_info=INFO)
    p = make_plan(t, [], BLOODY_ONE, input_info=INFO, nipple_mm=[0, 0, 0])
    assert np.allclose(p.nipple_mm, 0)


def test_duplicate_lesion_ids_are_a_valueerror():
    t = two_systems()
    with pytest.raises(ValueError, match="unique"):
        make_plan(t, [lesion(0, [0, 0, 5]), lesion(0, [0, 0, 9])], BLOODY_ONE, input_info=INFO)
