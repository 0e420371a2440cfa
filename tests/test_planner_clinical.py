"""ClinicalContext (the --clinical JSON) and PlanSettings."""
from __future__ import annotations

import json

import pytest

from planner import ClinicalContext, Lesion, PlanSettings, normalise_discharge


def _write(tmp_path, text: str):
    p = tmp_path / "clinical.json"
    p.write_text(text)
    return p


def test_from_json_reads_every_contract_field(tmp_path):
    p = _write(tmp_path, json.dumps({"discharge": "Bloody", "discharging_ducts": 1, "bilateral": False,
                                     "wishes_to_breastfeed": True, "age": 45}))
    c = ClinicalContext.from_json(p)
    assert (c.discharge, c.discharging_ducts, c.bilateral, c.wishes_to_breastfeed, c.age) == \
        ("bloody", 1, False, True, 45.0)
    assert c.is_bloody and not c.is_purulent and not c.multi_duct
    assert c.unknown_fields == ()


def test_partial_context_is_fine(tmp_path):
    c = ClinicalContext.from_json(_write(tmp_path, '{"discharge": "serous"}'))
    assert c.discharging_ducts is None and c.age is None


@pytest.mark.parametrize("text, words", [
    ('{"discharge": "bloody",', "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"discharging_ducts": "one"}', "discharging_ducts"),
    ('{"discharging_ducts": 1.5}', "discharging_ducts"),
    ('{"discharging_ducts": -1}', "discharging_ducts"),
    ('{"discharging_ducts": true}', "discharging_ducts"),
    ('{"bilateral": "yes"}', "bilateral"),
    ('{"wishes_to_breastfeed": 1}', "wishes_to_breastfeed"),
    ('{"age": "forty"}', "age"),
    ('{"age": -3}', "age"),
    ('{"age": true}', "age"),
    ('{"discharge": 5}', "discharge"),
])
def test_broken_json_or_wrong_types_raise_clear_valueerror(tmp_path, text, words):
    p = _write(tmp_path, text)
    with pytest.raises(ValueError) as e:
        ClinicalContext.from_json(p)
    assert words in str(e.value)
    assert str(p) in str(e.value)


def test_missing_file_is_a_valueerror(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        ClinicalContext.from_json(tmp_path / "nope.json")


def test_unknown_fields_are_kept_for_a_warning(tmp_path):
    c = ClinicalContext.from_json(_write(tmp_path, '{"discharge": "clear", "colour_code": 3}'))
    assert c.unknown_fields == ("colour_code",)


@pytest.mark.parametrize("word, kind", [("blood-stained", "bloody"), ("Serosanguineous", "bloody"),
                                        ("gray", "grey"), ("pus", "purulent"), ("watery", "clear"),
                                        ("  ", None), ("odd", "odd")])
def test_discharge_words_are_normalised_never_guessed(word, kind):
    assert normalise_discharge(word) == kind


def test_settings_defaults_and_dcis_margin():
    s = PlanSettings()
    assert (s.margin_mm, s.dcis_margin_mm, s.cone_depth_mm) == (5.0, 2.0, 25.0)
    assert s.cone_base_radius() == 20.0 and s.cone_base_radius(17.0) == 17.0
    assert PlanSettings(cone_base_radius_mm=15).cone_base_radius(17.0) == 15.0
    benign = Lesion(0, "filling_defect", [0, 0, 0], 4.0)
    dcis = Lesion(1, "filling_defect", [0, 0, 0], 4.0, suspected_dcis=True)
    assert s.margin_for(benign) == 5.0 and s.margin_for(dcis) == 2.0


@pytest.mark.parametrize("kw", [{"margin_mm": -1}, {"cone_depth_mm": 0}, {"cone_axis": (0, 0, 0)},
                                {"grid_spacing_mm": 5.0}, {"margin_mm": float("nan")},
                                {"extend_to_lesions": "yes"}, {"cone_base_radius_mm": "wide"}])
def test_bad_settings_raise(kw):
    with pytest.raises(ValueError):
        PlanSettings(**kw)
