"""3D Slicer markups: the radiologists' marks in, every lesion out.

Two formats are read:

- Markups JSON (``.mrk.json``, Slicer >= 4.11; schema ``markups-schema-v1.0.x``): an object
  with a ``markups`` list; each markup has a ``type``, a ``coordinateSystem`` (``"LPS"``,
  the default, or ``"RAS"``), optional ``coordinateUnits`` and a ``controlPoints`` list
  whose items carry ``position``, ``label``, ``description``, ``id`` and
  ``positionStatus``.  Only point markups (``Fiducial``, also spelled ``PointList``) are
  marks; lines, curves, planes and ROIs are skipped with a note.  Unknown fields are
  ignored, as the schema allows (``additionalProperties: true``).
- Legacy fiducial CSV (``.fcsv``, Slicer 4.x): ``#`` header lines
  (``# Markups fiducial file version = 4.x``, ``# CoordinateSystem = 0|1|RAS|LPS``,
  where 0 is RAS and 1 is LPS; a file without the line is RAS, as Slicer reads it) and
  rows ``id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID``.

Every position is returned in LPS millimetres (RAS -> LPS negates x and y), the frame of
the output contract.  One file written by :func:`write_markups` reads back identically.

The reading rules follow Slicer's own ``vtkMRMLMarkupsJsonStorageNode`` and
``vtkMRMLMarkupsFiducialStorageNode``: a missing ``positionStatus`` means "defined";
points whose status is ``"undefined"`` (Slicer then writes ``"position": ""``) or
``"preview"`` (a point still being placed) are skipped.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from reconstruction.atomic import atomic_write

if TYPE_CHECKING:
    from .lesions import Lesion

__all__ = ["Mark", "MarkupsError", "MARKUPS_SCHEMA", "read_markups", "write_markups",
           "lesions_to_markup_points", "parse_diameter_mm", "mark_role", "MARK_ROLES", "SINGLE_ROLES",
           "checked_point"]

#: The schema id Slicer itself writes.  It still names the ``master`` branch on purpose
#: (Slicer < 5.1 only accepts that spelling); any ``markups-schema-v1.x.y.json`` is read.
MARKUPS_SCHEMA = ("https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/"
                  "Markups/Resources/Schema/markups-schema-v1.0.3.json#")
_SCHEMA_RE = re.compile(r"markups-schema-v1\.[0-9]+\.[0-9]+\.json#*$", re.IGNORECASE)

#: Markup types whose control points are individual marks (Slicer 5 calls them point lists).
_POINT_TYPES = {"fiducial", "pointlist", "point list", "point_list"}
_UNIT_SCALE = {"mm": 1.0, "um": 1e-3, "cm": 10.0, "m": 1000.0}

# Slicer's default point-list colours, so the file looks familiar when opened.
_DISPLAY = {
    "visibility": True, "opacity": 1.0,
    "color": [0.4, 1.0, 1.0], "selectedColor": [1.0, 0.5000076295109483, 0.5000076295109483],
    "activeColor": [0.4, 1.0, 0.0],
    "propertiesLabelVisibility": False, "pointLabelsVisibility": True,
    "textScale": 3.0, "glyphType": "Sphere3D", "glyphScale": 3.0, "glyphSize": 5.0,
    "useGlyphScale": True, "sliceProjection": False, "sliceProjectionUseFiducialColor": True,
    "sliceProjectionOutlinedBehindSlicePlane": False, "sliceProjectionColor": [1.0, 1.0, 1.0],
    "sliceProjectionOpacity": 0.6, "lineThickness": 0.2, "lineColorFadingStart": 1.0,
    "lineColorFadingEnd": 10.0, "lineColorFadingSaturation": 1.0,
    "lineColorFadingHueOffset": 0.0, "handlesInteractive": False,
    "snapMode": "toVisibleSurface",
}
# Identity orientation as Slicer writes it in LPS (its RAS identity with x, y negated).
_ORIENTATION_LPS = [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0]


class MarkupsError(ValueError):
    """A markups file that cannot be read; the message is one line naming the file."""


MARK_ROLES = ("lesion", "nipple", "orifice")
#: Roles of which a file holds at most one point (placing another moves it).
SINGLE_ROLES = frozenset({"nipple", "orifice"})
ROLE_RE = re.compile(r"(?:^|[;,\s])role\s*=\s*([a-z]+)", re.IGNORECASE)


def mark_role(label: str, description: str) -> str:
    """What a control point marks: ``role=`` in its description first, then its label.

    ductplan's annotation app writes ``role=nipple`` / ``role=orifice`` into the
    description; a Slicer user may simply name the point "Nipple".  Everything else is a
    lesion.

    Examples
    --------
    >>> mark_role("F-1", "role=nipple"), mark_role("Nipple", ""), mark_role("papilloma", "")
    ('nipple', 'nipple', 'lesion')
    """
    m = ROLE_RE.search(description or "")
    if m and m.group(1).lower() in MARK_ROLES:
        return m.group(1).lower()
    word = (label or "").strip().lower()
    for role in SINGLE_ROLES:
        if word == role or word.startswith(role + " "):
            return role
    return "lesion"


def checked_point(position_mm: npt.ArrayLike, diameter_mm: float | None) -> tuple[np.ndarray, float | None]:
    """A mark's position as a (3,) float array and its diameter as a float, checked.

    Raises
    ------
    ValueError
        Not three finite numbers, or a diameter that is not a positive finite number.
    """
    p = np.asarray(position_mm, dtype=float).reshape(-1)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise ValueError(f"mark position must be three finite mm values, got {position_mm!r}")
    if diameter_mm is None:
        return p, None
    d = float(diameter_mm)
    if not math.isfinite(d) or d <= 0:
        raise ValueError(f"mark diameter must be a positive finite mm value, got {diameter_mm!r}")
    return p, d


@dataclass
class Mark:
    """One point a radiologist placed.

    Attributes
    ----------
    position_mm : (3,) ndarray
        LPS millimetres (the image's physical frame).
    label : str
        The point's label as shown in Slicer (e.g. ``"F-1"`` or ``"papilloma"``).
    description : str
    id : str
        The control point id within its markup.
    source : str
        The file it came from.
    diameter_mm : float or None
        A diameter given in the description or label (``"d=6 mm"``, ``"size 6x4 mm"``,
        ``"diameter_mm=4.0"``) or in a per-point ``diameter`` measurement; None if none.
    markup_name : str
        Name of the markup (point list) it belongs to.
    markup_index, point_index : int
        Position of the markup in the file and of the point in its markup (0-based,
        counting skipped points), for messages.
    """

    position_mm: np.ndarray
    label: str = ""
    description: str = ""
    id: str = ""
    source: str = ""
    diameter_mm: float | None = None
    markup_name: str = ""
    markup_index: int = 0
    point_index: int = 0

    def __post_init__(self) -> None:
        self.position_mm, self.diameter_mm = checked_point(self.position_mm, self.diameter_mm)

    @property
    def name(self) -> str:
        """How messages refer to the mark: its label, else its id, else its index."""
        return self.label or self.id or f"point {self.point_index + 1}"

    def to_point(self) -> dict:
        """The mark as a point dict for :func:`write_markups`."""
        return {"position_mm": self.position_mm.tolist(), "label": self.label,
                "description": self.description, "id": self.id}


# ------------------------------------------------------------------ diameter text
_NUM = r"(\d+(?:[.,]\d+)?)"
_KEYWORD_RE = re.compile(
    r"(?:diameter(?:_mm)?|diam\.?|size|\bd\b|\u00d8|\u2300)\s*[=:]?\s*"
    + _NUM + r"(?:\s*[x\u00d7*]\s*" + _NUM + r")?(?:\s*[x\u00d7*]\s*" + _NUM + r")?\s*(mm|cm)?",
    re.IGNORECASE)
_BARE_RE = re.compile(_NUM + r"(?:\s*[x\u00d7*]\s*" + _NUM + r")?\s*(mm|cm)\b", re.IGNORECASE)
# Words that turn "N mm" into a distance rather than a size.
_DISTANCE_WORDS = re.compile(r"\b(from|to|behind|deep|depth|away|nipple|posterior|anterior|fnt|fn)\b",
                             re.IGNORECASE)


def parse_diameter_mm(text: str) -> float | None:
    """The lesion diameter stated in a free-text label or description, in mm.

    Accepted: a keyword (``diameter``, ``diameter_mm``, ``diam``, ``size``, ``d``, ``Ø``)
    followed by a number or ``A x B [x C]`` and an optional unit (mm unless ``cm``); or a
    single bare ``N mm`` / ``A x B mm`` in a text that speaks of no distance (no "from",
    "behind", "nipple", ...), since "12 mm from the nipple" is not a size.  The largest of
    several dimensions is the diameter.

    Parameters
    ----------
    text : str

    Returns
    -------
    float or None

    Examples
    --------
    >>> parse_diameter_mm("papilloma, size 6x4 mm"), parse_diameter_mm("d=0.8 cm")
    (6.0, 8.0)
    >>> parse_diameter_mm("L0 filling_defect 4.0 mm (auto)")
    4.0
    >>> parse_diameter_mm("defect 12 mm from nipple") is None
    True
    """
    if not text:
        return None
    m = _KEYWORD_RE.search(text)
    if m is None:
        bare = list(_BARE_RE.finditer(text))
        if len(bare) != 1 or _DISTANCE_WORDS.search(text):
            return None
        m = bare[0]
    groups = m.groups()
    unit = (groups[-1] or "mm").lower()
    values = [float(g.replace(",", ".")) for g in groups[:-1] if g]
    d = max(values) * _UNIT_SCALE[unit]
    return d if d > 0 else None


# ----------------------------------------------------------------------- reading
def read_markups(path: str | os.PathLike, *, notes: list[str] | None = None) -> list[Mark]:
    """Read a radiologist's marks from a Slicer ``.mrk.json`` or legacy ``.fcsv`` file.

    Parameters
    ----------
    path : str or path-like
        ``*.mrk.json`` / ``*.json`` or ``*.fcsv``; other names are sniffed (``{`` -> JSON,
        ``#`` -> fcsv).
    notes : list of str, optional
        When given, one line is appended for everything skipped on purpose (non-point
        markups, undefined or preview points), for the plan's warnings.

    Returns
    -------
    list of Mark
        In file order; positions in LPS mm.

    Raises
    ------
    MarkupsError
        With one line naming the file and the problem: unreadable file, invalid JSON,
        missing ``markups``/``controlPoints``/``position``, wrong types, non-finite
        numbers, unknown coordinate system or units.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> p = os.path.join(d, "m.mrk.json")
    >>> write_markups(p, [{"position_mm": [1.0, 2.0, 3.0], "label": "P1", "description": ""}])
    >>> [(m.label, m.position_mm.tolist()) for m in read_markups(p)]
    [('P1', [1.0, 2.0, 3.0])]
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MarkupsError(f"{path}: cannot read markups file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MarkupsError(f"{path}: not a text file (invalid UTF-8 at byte {exc.start})") from None
    name = path.name.lower()
    if name.endswith(".fcsv"):
        kind = "fcsv"
    elif name.endswith(".json"):
        kind = "json"
    else:
        head = text.lstrip()[:1]
        kind = "json" if head == "{" else "fcsv" if head == "#" else ""
        if not kind:
            raise MarkupsError(f"{path}: unknown markups format (expected a Slicer .mrk.json or .fcsv file)")
    sink: list[str] = notes if notes is not None else []
    if kind == "json":
        return _read_json(text, path, sink)
    return _read_fcsv(text, path, sink)


def _fail(path: Path, where: str, problem: str) -> MarkupsError:
    msg = f"{path}: {where + ': ' if where else ''}{problem}"
    return MarkupsError(" ".join(msg.split()))  # guarantee one line


def _short(value: Any) -> str:
    r = json.dumps(value) if not isinstance(value, float) else repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


def _reject_constant(name: str) -> float:
    # Python's json accepts NaN/Infinity, which are not JSON; keep them as nan so the
    # finiteness check names the field they sit in.
    return float("nan")


def _finite_vector(value: Any, n: int, path: Path, where: str, what: str) -> np.ndarray:
    if (not isinstance(value, list) or len(value) != n
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise _fail(path, where, f"{what} must be a list of {n} numbers, got {_short(value)}")
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise _fail(path, where, f"{what} has a non-finite value (NaN or infinity): {value}")
    return arr


def _to_lps(position: np.ndarray, system: str) -> np.ndarray:
    if system == "RAS":  # RAS and LPS differ by the sign of the first two axes
        return position * np.array([-1.0, -1.0, 1.0])
    return position


def _units_scale(units: Any, path: Path, where: str) -> float:
    if units is None:
        return 1.0
    code = units
    if isinstance(units, list):  # a coded entry: [value, "UCUM", meaning]
        if len(units) != 3 or not all(isinstance(u, str) for u in units) or units[1] != "UCUM":
            raise _fail(path, where, f"coordinateUnits must be a UCUM code, got {_short(units)}")
        code = units[0]
    if code not in ("mm", "um"):
        raise _fail(path, where, f"unknown coordinateUnits {_short(units)} (expected \"mm\" or \"um\")")
    return _UNIT_SCALE[code]


def _text(value: Any, path: Path, where: str, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _fail(path, where, f"{what} must be a string, got {_short(value)}")
    return value


def _diameter_measurements(markup: dict, n_points: int, path: Path, where: str) -> list[float | None]:
    """Per-point diameters from a markup's ``measurements`` named like "diameter"."""
    out: list[float | None] = [None] * n_points
    measurements = markup.get("measurements")
    if not isinstance(measurements, list):
        return out
    for m in measurements:
        if not isinstance(m, dict) or not re.search(r"diam", str(m.get("name", "")), re.IGNORECASE):
            continue
        units = m.get("units", "mm")
        unit = units[0] if isinstance(units, list) and units else units
        scale = _UNIT_SCALE.get(unit if isinstance(unit, str) else "", None)
        if scale is None:
            raise _fail(path, where, f"measurement {m.get('name')!r} has unknown units {_short(units)}")
        values = m.get("controlPointValues")
        if isinstance(values, list) and len(values) == n_points:
            for i, v in enumerate(values):
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0:
                    out[i] = float(v) * scale
        elif n_points == 1 and isinstance(m.get("value"), (int, float)) and not isinstance(m.get("value"), bool):
            v = float(m["value"])
            if math.isfinite(v) and v > 0:
                out[0] = v * scale
    return out


def _read_json(text: str, path: Path, notes: list[str]) -> list[Mark]:
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _fail(path, "", f"invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(doc, dict):
        raise _fail(path, "", f"expected a JSON object with a 'markups' list, got {type(doc).__name__}")
    schema = doc.get("@schema")
    if schema is not None and (not isinstance(schema, str) or not _SCHEMA_RE.search(schema.strip())):
        raise _fail(path, "", f"@schema {_short(schema)} is not a Slicer markups schema "
                              "(markups-schema-v1.x.y.json)")
    markups = doc.get("markups")
    if not isinstance(markups, list):
        raise _fail(path, "", "no 'markups' list (not a Slicer markups JSON file?)")
    marks: list[Mark] = []
    for mi, markup in enumerate(markups):
        where = f"markup {mi + 1}"
        if not isinstance(markup, dict):
            raise _fail(path, where, f"expected an object, got {_short(markup)}")
        mtype = markup.get("type")
        if not isinstance(mtype, str) or not mtype.strip():
            raise _fail(path, where, f"'type' must be a non-empty string, got {_short(mtype)}")
        name = _text(markup.get("name"), path, where, "name")
        if name:
            where = f"markup {mi + 1} ({name})"
        if mtype.strip().lower() not in _POINT_TYPES:
            notes.append(f"{path.name}: {where}: a {mtype} markup, not a point list; ignored")
            continue
        system = markup.get("coordinateSystem", "LPS")
        if not isinstance(system, str) or system.strip().upper() not in ("LPS", "RAS"):
            raise _fail(path, where, f"unknown coordinateSystem {_short(system)} (expected \"LPS\" or \"RAS\")")
        system = system.strip().upper()
        scale = _units_scale(markup.get("coordinateUnits"), path, where)
        points = markup.get("controlPoints")
        if not isinstance(points, list):
            raise _fail(path, where, "missing 'controlPoints' list" if points is None
                        else f"'controlPoints' must be a list, got {_short(points)}")
        diameters = _diameter_measurements(markup, len(points), path, where)
        for pi, cp in enumerate(points):
            pwhere = f"{where} control point {pi + 1}"
            if not isinstance(cp, dict):
                raise _fail(path, pwhere, f"expected an object, got {_short(cp)}")
            status = cp.get("positionStatus", "defined")
            if status not in ("defined", "undefined", "preview"):
                raise _fail(path, pwhere, f"positionStatus {_short(status)} is not one of "
                                          "\"defined\", \"undefined\", \"preview\"")
            label = _text(cp.get("label"), path, pwhere, "label")
            if status != "defined":
                notes.append(f"{path.name}: {pwhere} {label!r} has position status {status!r}; skipped")
                continue
            if "position" not in cp:
                raise _fail(path, pwhere, "missing 'position'")
            pos = _finite_vector(cp["position"], 3, path, pwhere, "position")
            description = _text(cp.get("description"), path, pwhere, "description")
            cid = cp.get("id", "")
            if isinstance(cid, (int, float)) and not isinstance(cid, bool):
                cid = str(cid)
            cid = _text(cid, path, pwhere, "id")
            # A structured measurement beats free text; the description beats the label.
            diameter = diameters[pi] or parse_diameter_mm(description) or parse_diameter_mm(label)
            marks.append(Mark(position_mm=_to_lps(pos * scale, system), label=label,
                              description=description, id=cid, source=str(path),
                              diameter_mm=diameter, markup_name=name,
                              markup_index=mi, point_index=pi))
    return marks


_FCSV_SYSTEMS = {"0": "RAS", "RAS": "RAS", "1": "LPS", "LPS": "LPS"}


def _read_fcsv(text: str, path: Path, notes: list[str]) -> list[Mark]:
    version: str | None = None
    system = "RAS"  # Slicer's default when the header line is absent (files before 4.11)
    rows: list[tuple[int, str]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            key, _, value = stripped[1:].partition("=")
            key, value = key.strip().lower(), value.strip()
            if key == "markups fiducial file version":
                version = value
            elif key == "coordinatesystem":
                if value.upper() not in _FCSV_SYSTEMS:
                    raise _fail(path, f"line {lineno}", f"unknown CoordinateSystem {value!r} "
                                                        "(expected 0/RAS or 1/LPS)")
                system = _FCSV_SYSTEMS[value.upper()]
            continue
        rows.append((lineno, line))
    if version is None:
        raise _fail(path, "", "no '# Markups fiducial file version' header "
                              "(not a Slicer 4 .fcsv file; Slicer 3 files are not supported)")
    marks: list[Mark] = []
    for pi, (lineno, row) in enumerate(rows):
        where = f"line {lineno}"
        fields = next(csv.reader([row], skipinitialspace=False))
        if len(fields) < 4:
            raise _fail(path, where, f"expected id,x,y,z,... but found {len(fields)} field(s)")
        try:
            pos = np.array([float(f) for f in fields[1:4]])
        except ValueError:
            raise _fail(path, where, f"x, y, z must be numbers, got {fields[1:4]}") from None
        if not np.all(np.isfinite(pos)):
            raise _fail(path, where, f"position has a non-finite value: {fields[1:4]}")
        get = lambda i: fields[i] if len(fields) > i else ""  # noqa: E731 - short local accessor
        label, description = get(11), get(12)
        marks.append(Mark(position_mm=_to_lps(pos, system), label=label, description=description,
                          id=get(0), source=str(path),
                          diameter_mm=parse_diameter_mm(description) or parse_diameter_mm(label),
                          markup_name=path.name.split(".")[0], markup_index=0, point_index=pi))
    return marks


# ----------------------------------------------------------------------- writing
def _point_entry(i: int, point: dict) -> dict:
    try:
        pos = np.asarray(point["position_mm"], dtype=float).reshape(-1)
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"markup point {i}: needs 'position_mm' as three numbers, got {point!r}") from None
    if pos.shape != (3,) or not np.all(np.isfinite(pos)):
        raise ValueError(f"markup point {i}: position_mm must be three finite mm values, "
                         f"got {point.get('position_mm')!r}")
    label, description = point.get("label", ""), point.get("description", "")
    if not isinstance(label, str) or not isinstance(description, str):
        raise ValueError(f"markup point {i}: label and description must be strings")
    pid = point.get("id")
    pid = str(i + 1) if pid is None or pid == "" else str(pid)
    return {"id": pid, "label": label, "description": description, "associatedNodeID": "",
            "position": [float(v) for v in pos], "orientation": list(_ORIENTATION_LPS),
            "selected": True, "locked": False, "visibility": True, "positionStatus": "defined"}


def write_markups(path: str | os.PathLike, points: list[dict], *, name: str = "ductplan lesions") -> None:
    """Write points as one Slicer point list (``.mrk.json``, LPS mm), atomically.

    Parameters
    ----------
    path : str or path-like
        Target file; its folder must exist.  Written to a temporary file in the same
        folder first and moved into place with ``os.replace``, so readers never see half
        a file and a failed write leaves any previous file untouched.
    points : list of dict
        Each with ``position_mm`` (3 numbers, LPS mm), and optionally ``label``,
        ``description`` and ``id`` (default: 1, 2, ...).
    name : str
        The point list's name as Slicer shows it.

    Raises
    ------
    ValueError
        A point without three finite coordinates or with non-string text.
    OSError
        The folder cannot be written.

    Notes
    -----
    Positions are written with full float precision (``repr``), so reading the file back
    gives the very same numbers.
    """
    path = Path(path)
    entries = [_point_entry(i, p) for i, p in enumerate(points)]
    doc = {"@schema": MARKUPS_SCHEMA,
           "markups": [{"type": "Fiducial", "name": str(name), "coordinateSystem": "LPS",
                        "coordinateUnits": "mm", "locked": False, "fixedNumberOfControlPoints": False,
                        "labelFormat": "%N-%d", "lastUsedControlPointNumber": len(entries),
                        "controlPoints": entries, "measurements": [], "display": dict(_DISPLAY)}]}
    payload = json.dumps(doc, indent=4, allow_nan=False, ensure_ascii=False) + "\n"
    # One home for atomic writes: temp file beside the target, fsync, os.replace.
    with atomic_write(path) as tmp:
        tmp.write_text(payload, encoding="utf-8")


def lesions_to_markup_points(lesions: list["Lesion"]) -> list[dict]:
    """Lesions as point dicts for :func:`write_markups` (``lesions.mrk.json``).

    The label is short and readable in Slicer's views, e.g.
    ``"L0 filling_defect 4.0 mm (auto)"``; the description holds ``key=value`` facts
    separated by ``"; "`` (kind, diameter, source, system, branch, the radiologist's label,
    clock and distance when localised), so the diameter survives a read back
    (:func:`parse_diameter_mm` reads ``diameter_mm=``).

    Parameters
    ----------
    lesions : list of Lesion

    Returns
    -------
    list of dict
        ``position_mm``, ``label``, ``description``, ``id`` (``"L<id>"``).
    """
    out = []
    for les in lesions:
        facts = [f"kind={les.kind}", f"diameter_mm={round(float(les.diameter_mm), 3):g}", f"source={les.source}",
                 f"system={les.system if les.system is not None else 'none'}",
                 f"branch={les.branch if les.branch is not None else 'none'}"]
        if les.label:
            facts.append(f"radiologist_label={les.label}")
        if les.suspected_dcis:
            facts.append("suspected_dcis=yes")
        loc = les.localisation
        if loc is not None:
            if loc.side:
                facts.append(f"side={loc.side}")
            if loc.clock:
                facts.append(f"clock={loc.clock}")
            if loc.distance_from_nipple_mm == loc.distance_from_nipple_mm:  # not NaN
                facts.append(f"distance_from_nipple_mm={loc.distance_from_nipple_mm:.1f}")
            if loc.depth_third:
                facts.append(f"depth={loc.depth_third}")
        out.append({"position_mm": [float(v) for v in np.asarray(les.center_mm, dtype=float)],
                    "label": f"L{les.id} {les.kind} {float(les.diameter_mm):.1f} mm ({les.source})",
                    "description": "; ".join(facts), "id": f"L{les.id}"})
    return out
