"""Slicer markups I/O: round trip, hand-written Slicer files, legacy .fcsv, broken files."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from planner.lesions import Lesion, Localisation
from planner.markups import (MARKUPS_SCHEMA, Mark, MarkupsError, lesions_to_markup_points,
                             parse_diameter_mm, read_markups, write_markups)


# ----------------------------------------------------------------------- round trip
def test_written_file_reads_back_identically(tmp_path):
    points = [
        {"position_mm": [12.345678901234567, -3.0, 0.1 + 0.2], "label": "P1 papilloma",
         "description": "smooth defect, size 6x4 mm"},
        {"position_mm": [-1e-9, 250.5, -73.25], "label": "Ünïcode, with \"quotes\"", "description": ""},
    ]
    path = tmp_path / "lesions.mrk.json"
    write_markups(path, points, name="test list")
    marks = read_markups(path)
    assert len(marks) == 2
    for m, p in zip(marks, points):
        assert m.position_mm.tolist() == p["position_mm"]      # bit-identical floats
        assert m.label == p["label"] and m.description == p["description"]
        assert m.markup_name == "test list" and m.source == str(path)
    assert marks[0].diameter_mm == 6.0 and marks[1].diameter_mm is None
    # writing what was read gives the very same bytes
    again = tmp_path / "again.mrk.json"
    write_markups(again, [m.to_point() for m in marks], name="test list")
    assert again.read_bytes() == path.read_bytes()


def test_written_file_has_what_slicer_needs(tmp_path):
    path = tmp_path / "l.mrk.json"
    write_markups(path, [{"position_mm": [1, 2, 3], "label": "a", "description": "b"}])
    doc = json.loads(path.read_text())
    assert doc["@schema"] == MARKUPS_SCHEMA
    mk = doc["markups"][0]
    assert (mk["type"], mk["coordinateSystem"], mk["coordinateUnits"]) == ("Fiducial", "LPS", "mm")
    cp = mk["controlPoints"][0]
    assert set(cp) >= {"id", "label", "description", "associatedNodeID", "position", "orientation",
                       "selected", "locked", "visibility", "positionStatus"}
    assert cp["positionStatus"] == "defined" and len(cp["orientation"]) == 9
    assert "display" in mk and mk["display"]["glyphType"] == "Sphere3D"
    assert [f for f in os.listdir(tmp_path)] == ["l.mrk.json"]      # no temp file left behind


def test_write_refuses_bad_points_and_keeps_old_file(tmp_path):
    path = tmp_path / "l.mrk.json"
    write_markups(path, [{"position_mm": [1, 2, 3]}])
    before = path.read_bytes()
    with pytest.raises(ValueError, match="finite"):
        write_markups(path, [{"position_mm": [1, float("nan"), 3]}])
    with pytest.raises(ValueError, match="position_mm"):
        write_markups(path, [{"label": "no position"}])
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["l.mrk.json"]


def test_lesions_to_markup_points_round_trip(tmp_path):
    les = [Lesion(id=0, kind="filling_defect", center_mm=[1.5, 2.5, 3.5], diameter_mm=4.0, system=0, branch=2,
                  localisation=Localisation(side="R", clock="10:00", distance_from_nipple_mm=23.5)),
           Lesion(id=1, kind="annotated", center_mm=[9, 8, 7], diameter_mm=6.25, source="annotated",
                  label="papilloma?")]
    pts = lesions_to_markup_points(les)
    assert pts[0]["label"] == "L0 filling_defect 4.0 mm (auto)"
    assert "clock=10:00" in pts[0]["description"] and "branch=2" in pts[0]["description"]
    assert "radiologist_label=papilloma?" in pts[1]["description"]
    path = tmp_path / "lesions.mrk.json"
    write_markups(path, pts)
    back = read_markups(path)
    assert [m.position_mm.tolist() for m in back] == [[1.5, 2.5, 3.5], [9.0, 8.0, 7.0]]
    assert [m.diameter_mm for m in back] == [4.0, 6.25]   # from the description, not the label
    assert [m.id for m in back] == ["L0", "L1"]


# ------------------------------------------------------- a file as Slicer writes it
SLICER_FILE = {
    "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
               "Resources/Schema/markups-schema-v1.0.3.json#",
    "someFutureTopLevelField": {"anything": [1, 2]},
    "markups": [
        {
            "type": "Fiducial", "coordinateSystem": "RAS", "coordinateUnits": "mm", "locked": False,
            "fixedNumberOfControlPoints": False, "labelFormat": "%N-%d", "lastUsedControlPointNumber": 3,
            "controlPoints": [
                {"id": "1", "label": "F-1", "description": "papilloma d=5 mm", "associatedNodeID": "vtkMRMLScalarVolumeNode1",
                 "position": [10.0, -20.0, 30.0], "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
                 "selected": True, "locked": False, "visibility": True, "positionStatus": "defined",
                 "unknownPerPointField": 42},
                {"id": "2", "label": "F-2", "description": "", "associatedNodeID": "",
                 "position": "", "orientation": [1, 0, 0, 0, 1, 0, 0, 0, 1],
                 "selected": True, "locked": False, "visibility": True, "positionStatus": "undefined"},
                {"id": "3", "label": "F-3", "position": [-1.5, 2.5, -3.5]},  # no status: defined
            ],
            "measurements": [], "display": {"visibility": True, "color": [0.4, 1.0, 1.0], "glyphType": "Sphere3D"},
        },
        {
            "type": "Line", "name": "ruler", "coordinateSystem": "LPS",
            "controlPoints": [{"id": "1", "position": [0, 0, 0]}, {"id": "2", "position": [5, 0, 0]}],
        },
        {
            "type": "Fiducial", "name": "reader 2",   # no coordinateSystem: LPS by default
            "controlPoints": [{"id": "1", "label": "cyst", "position": [7.0, 8.0, 9.0],
                               "positionStatus": "defined"}],
            "measurements": [{"name": "diameter", "enabled": True, "units": "mm",
                              "controlPointValues": [3.5]}],
        },
    ],
}


def test_hand_written_slicer_file_ras_extra_fields_two_markups(tmp_path):
    path = tmp_path / "marks.mrk.json"
    path.write_text(json.dumps(SLICER_FILE, indent=2))
    notes: list[str] = []
    marks = read_markups(path, notes=notes)
    assert [m.label for m in marks] == ["F-1", "F-3", "cyst"]
    # RAS (10, -20, 30) is LPS (-10, 20, 30): x and y change sign, z does not
    assert marks[0].position_mm.tolist() == [-10.0, 20.0, 30.0]
    assert marks[1].position_mm.tolist() == [1.5, -2.5, -3.5]
    # the second point list had no coordinateSystem: LPS, unchanged
    assert marks[2].position_mm.tolist() == [7.0, 8.0, 9.0]
    assert marks[2].markup_name == "reader 2" and marks[2].markup_index == 2
    assert marks[0].diameter_mm == 5.0 and marks[1].diameter_mm is None
    assert marks[2].diameter_mm == 3.5                       # from the measurement
    assert any("Line markup" in n for n in notes)            # the ruler is not a lesion
    assert any("'F-2'" in n and "undefined" in n for n in notes)


def test_point_list_type_and_micrometres(tmp_path):
    doc = {"@schema": MARKUPS_SCHEMA, "markups": [
        {"type": "PointList", "coordinateUnits": ["um", "UCUM", "micrometer"],
         "controlPoints": [{"position": [1000, 2000, -500]}]}]}
    path = tmp_path / "um.json"
    path.write_text(json.dumps(doc))
    assert read_markups(path)[0].position_mm.tolist() == [1.0, 2.0, -0.5]


# ----------------------------------------------------------------------- legacy fcsv
FCSV_LPS = """# Markups fiducial file version = 4.11
# CoordinateSystem = LPS
# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID
vtkMRMLMarkupsFiducialNode_0,1.5,-2.25,3,0,0,0,1,1,1,0,F-1,"defect, size 4 mm",vtkMRMLScalarVolumeNode1
vtkMRMLMarkupsFiducialNode_1,-10,20,-30,0,0,0,1,1,1,0,F-2,,
"""


@pytest.mark.parametrize("header, sign", [("LPS", 1.0), ("1", 1.0), ("RAS", -1.0), ("0", -1.0)])
def test_fcsv_both_coordinate_systems(tmp_path, header, sign):
    path = tmp_path / "marks.fcsv"
    path.write_text(FCSV_LPS.replace("CoordinateSystem = LPS", f"CoordinateSystem = {header}"))
    marks = read_markups(path)
    assert [m.label for m in marks] == ["F-1", "F-2"]
    # a RAS file's x and y are negated to reach LPS
    assert marks[0].position_mm.tolist() == [sign * 1.5, sign * -2.25, 3.0]
    assert marks[1].position_mm.tolist() == [sign * -10.0, sign * 20.0, -30.0]
    assert marks[0].description == "defect, size 4 mm" and marks[0].diameter_mm == 4.0
    assert marks[0].id == "vtkMRMLMarkupsFiducialNode_0"


def test_fcsv_without_coordinate_line_is_ras(tmp_path):
    path = tmp_path / "old.fcsv"
    path.write_text("# Markups fiducial file version = 4.6\n# columns = id,x,y,z\n1,1,2,3,0,0,0,1,1,1,0,A,,\n")
    assert read_markups(path)[0].position_mm.tolist() == [-1.0, -2.0, 3.0]


# ---------------------------------------------------------------------- broken files
def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def _point_file(cp: dict, **markup) -> str:
    return json.dumps({"@schema": MARKUPS_SCHEMA,
                       "markups": [{"type": "Fiducial", **markup, "controlPoints": [cp]}]})


@pytest.mark.parametrize("name, text, expect", [
    ("bad.mrk.json", '{"markups": [ {"type": "Fiducial", ', "invalid JSON"),
    ("nomarkups.mrk.json", '{"@schema": "x/markups-schema-v1.0.3.json#"}', "no 'markups' list"),
    ("nopos.mrk.json", _point_file({"id": "1", "label": "F-1"}), "control point 1: missing 'position'"),
    ("nan.mrk.json", _point_file({"position": [1.0, float("nan"), 2.0]}), "non-finite"),
    ("inf.mrk.json", '{"markups": [{"type": "Fiducial", "controlPoints": [{"position": [1, Infinity, 2]}]}]}',
     "non-finite"),
    ("str.mrk.json", _point_file({"position": [1.0, "2", 3.0]}), "position must be a list of 3 numbers"),
    ("short.mrk.json", _point_file({"position": [1.0, 2.0]}), "position must be a list of 3 numbers"),
    ("cs.mrk.json", _point_file({"position": [1, 2, 3]}, coordinateSystem="XYZ"), "unknown coordinateSystem"),
    ("nocp.mrk.json", '{"markups": [{"type": "Fiducial"}]}', "missing 'controlPoints'"),
    ("units.mrk.json", _point_file({"position": [1, 2, 3]}, coordinateUnits="inch"), "unknown coordinateUnits"),
    ("status.mrk.json", _point_file({"position": [1, 2, 3], "positionStatus": "maybe"}), "positionStatus"),
    ("schema.mrk.json", '{"@schema": "https://example.org/other.json", "markups": []}', "not a Slicer markups schema"),
    ("cs.fcsv", "# Markups fiducial file version = 4.11\n# CoordinateSystem = 2\n1,1,2,3\n",
     "unknown CoordinateSystem"),
    ("nan.fcsv", "# Markups fiducial file version = 4.11\n# CoordinateSystem = LPS\n1,1,nan,3\n", "non-finite"),
    ("text.fcsv", "# Markups fiducial file version = 4.11\n1,1,two,3\n", "x, y, z must be numbers"),
    ("v3.fcsv", "label,1,2,3,1,1\n", "version"),
])
def test_broken_files_raise_one_clear_line(tmp_path, name, text, expect):
    path = _write(tmp_path, name, text)
    with pytest.raises(MarkupsError) as info:
        read_markups(path)
    msg = str(info.value)
    assert expect in msg
    assert str(path) in msg and "\n" not in msg
    assert isinstance(info.value, ValueError)


def test_missing_file_is_a_markups_error(tmp_path):
    with pytest.raises(MarkupsError, match="cannot read"):
        read_markups(tmp_path / "nope.mrk.json")


def test_empty_markups_list_is_no_marks(tmp_path):
    assert read_markups(_write(tmp_path, "e.mrk.json", '{"markups": []}')) == []


# -------------------------------------------------------------------- diameter text
@pytest.mark.parametrize("text, expect", [
    ("size 6x4 mm", 6.0), ("d=0.8 cm", 8.0), ("diameter_mm=4.0; source=auto", 4.0), ("Ø 3,5 mm", 3.5),
    ("papilloma 7 mm", 7.0), ("12 mm from nipple", None), ("F-1", None), ("", None),
])
def test_parse_diameter(text, expect):
    assert parse_diameter_mm(text) == expect


def test_mark_rejects_bad_values():
    with pytest.raises(ValueError):
        Mark(position_mm=[1, 2])
    with pytest.raises(ValueError):
        Mark(position_mm=[1, 2, np.inf])


def test_nipple_and_orifice_marks_are_not_lesions(tmp_path):
    # The annotation app writes role=nipple / role=orifice; a Slicer user may name them.
    from ductplan.run import split_marks_by_role
    from planner.markups import mark_role, read_markups, write_markups

    path = tmp_path / "m.mrk.json"
    write_markups(path, [{"position_mm": [1.0, 2.0, 3.0], "label": "nipple", "description": "role=nipple"},
                         {"position_mm": [4.0, 5.0, 6.0], "label": "papilloma", "description": ""},
                         {"position_mm": [7.0, 8.0, 9.0], "label": "Orifice 1", "description": ""}])
    marks = read_markups(path)
    assert [mark_role(m.label, m.description) for m in marks] == ["nipple", "lesion", "orifice"]
    lesions, nipple, orifice = split_marks_by_role(marks)
    assert [m.label for m in lesions] == ["papilloma"]
    assert nipple.tolist() == [1.0, 2.0, 3.0] and orifice.tolist() == [7.0, 8.0, 9.0]
    assert mark_role("papilloma near the nipple", "") == "lesion"
