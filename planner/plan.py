"""The plan a surgeon reviews, and its ``plan.json`` (schema ``ductplan.plan/1``).

See /work/shared/CONTRACT.md: every field of the contract is written exactly; extra
fields (``volume_cm3``, ``treated``, a topology report, ...) are added beside them.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from reconstruction.frame import ImageFrame
from reconstruction.tree import DuctTree

from ._atomic import atomic_write_text
from .clinical import ClinicalContext
from .decision import PROCEDURE_KINDS, Decision, decide
from .excision import Excision, build_excision
from .lesions import LESION_KINDS, Lesion
from .margins import Margin, compute_margins
from .settings import PlanSettings
from .sites import LesionSite, locate_lesions

__all__ = ["Plan", "PLAN_SCHEMA", "make_plan", "plan_to_dict", "write_plan_json",
           "validate_plan_dict"]

PLAN_SCHEMA = "ductplan.plan/1"
#: Name of the excision mesh beside plan.json (the CLI writes it with write_excision_vtp).
EXCISION_MESH_NAME = "excision.vtp"
#: Nipple farther than this from every orifice is probably misplaced (mm; the nipple is
#: ~14 mm across, so its orifices lie within ~7 mm of its centre, plus slack).
_NIPPLE_ORIFICE_WARN_MM = 15.0


@dataclass
class Plan:
    """Everything the surgeon reviews, in one object.

    Attributes
    ----------
    input : dict
        ``path``, ``size`` [nx, ny, nz], ``spacing_mm`` [sx, sy, sz] (+ anything else).
    nipple_mm : (3,) ndarray
    tree : DuctTree
    lesions : list of Lesion
    sites : list of LesionSite
        Where each lesion sits on the tree (same order as ``lesions``).
    clinical : ClinicalContext
    settings : PlanSettings
    decision : Decision
    excision : Excision or None
        None for ``none`` and ``contraindicated``.
    margins : list of Margin
        Empty without an excision.
    warnings : list of str
        Every warning of the plan (inputs, decision, reach, margins), deduplicated.
    rationale : list of str
        The decision's reasons plus a summary of the excision.
    excision_mesh : str
        File name of the excision mesh beside plan.json.
    """

    input: dict
    nipple_mm: np.ndarray
    tree: DuctTree
    lesions: list[Lesion]
    sites: list[LesionSite]
    clinical: ClinicalContext
    settings: PlanSettings
    decision: Decision
    excision: Excision | None
    margins: list[Margin] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rationale: list[str] = field(default_factory=list)
    excision_mesh: str = EXCISION_MESH_NAME

    @property
    def kind(self) -> str:
        return self.decision.kind

    def treated(self, lesion_id: int) -> bool:
        """Whether the excision is built to remove this lesion."""
        return self.excision is not None and lesion_id in self.excision.treated


def _vec3(name: str, value: npt.ArrayLike) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=float).reshape(3)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be three numbers (mm), got {value!r}") from None
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite, got {v.tolist()}")
    return v


def _check_input_info(info: Mapping) -> dict:
    if not isinstance(info, Mapping):
        raise ValueError(f"input_info must be a mapping with path, size and spacing_mm, got {info!r}")
    missing = [k for k in ("path", "size", "spacing_mm") if k not in info]
    if missing:
        raise ValueError(f"input_info lacks {', '.join(missing)}")
    out = dict(info)
    try:
        out["path"] = str(info["path"])
        out["size"] = [int(v) for v in info["size"]]
        out["spacing_mm"] = [float(v) for v in info["spacing_mm"]]
    except (TypeError, ValueError):
        raise ValueError(f"input_info has a malformed size or spacing: {info!r}") from None
    if len(out["size"]) != 3 or len(out["spacing_mm"]) != 3:
        raise ValueError(f"input_info size and spacing_mm need three values each: {info!r}")
    return out


def _dedupe(items: Sequence[str]) -> list[str]:
    seen, out = set(), []
    for s in items:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def make_plan(tree: DuctTree, lesions: Sequence[Lesion],
              clinical: ClinicalContext | None = None, settings: PlanSettings | None = None, *,
              input_info: Mapping, nipple_mm: npt.ArrayLike | None = None,
              warnings: Sequence[str] = (), frame: ImageFrame | None = None,
              areolar_radius_mm: float | None = None) -> Plan:
    """Turn a tree, lesions and the clinical context into a plan.

    Parameters
    ----------
    tree : DuctTree
    lesions : sequence of Lesion
        Lesions to plan for (artefacts such as air bubbles already dropped).
    clinical : ClinicalContext, optional
        Unknown context when omitted.
    settings : PlanSettings, optional
        Defaults when omitted.
    input_info : mapping
        ``path``, ``size`` and ``spacing_mm`` of the input volume (written as ``input``).
    nipple_mm : (3,) array, optional
        Nipple position; defaults to ``tree.nipple_mm``.
    warnings : sequence of str
        Warnings from earlier stages, kept first.
    frame : ImageFrame, optional
        The volume's frame: lesions outside it are beyond reach.
    areolar_radius_mm : float, optional
        Hadfield cone base radius when ``settings.cone_base_radius_mm`` is None.

    Returns
    -------
    Plan

    Raises
    ------
    ValueError
        No nipple position, malformed ``input_info``, duplicate lesion ids, or a lesion
        naming a branch/system the tree lacks.

    Examples
    --------
    >>> from reconstruction.tree import Branch, DuctSystem
    >>> t = DuctTree([Branch(0, 0, None, [[0, 0, 0], [0, 0, 40]], [1, 1])],
    ...              [DuctSystem(0, [0, 0, 0], root_branch=0)], nipple_mm=[0, 0, 0])
    >>> info = {"path": "x.nrrd", "size": [10, 10, 10], "spacing_mm": [1, 1, 1]}
    >>> p = make_plan(t, [Lesion(0, "filling_defect", [0, 0, 20], 4.0)],
    ...               ClinicalContext(discharge="bloody", discharging_ducts=1), input_info=info)
    >>> p.kind, p.margins[0].adequate
    ('microdochectomy', True)
    """
    if nipple_mm is None:
        nipple_mm = tree.nipple_mm
    if nipple_mm is None:
        raise ValueError("no nipple position: the tree has none and none was given "
                         "(pass --nipple X,Y,Z in mm)")
    nipple = _vec3("nipple_mm", nipple_mm)
    info = _check_input_info(input_info)
    clinical = clinical or ClinicalContext()
    settings = settings or PlanSettings()
    lesions = list(lesions)
    ids = [les.id for les in lesions]
    if len(set(ids)) != len(ids):
        raise ValueError(f"lesion ids must be unique, got {ids}")

    sites = locate_lesions(tree, lesions, snap_mm=settings.duct_snap_mm,
                           min_system_length_mm=settings.min_system_length_mm)
    decision = decide(tree, lesions, clinical, settings=settings, sites=sites)
    all_warnings = list(warnings) + list(decision.warnings)
    rationale = list(decision.rationale)

    if tree.systems:
        gap = min(float(np.linalg.norm(s.orifice_mm - nipple)) for s in tree.systems)
        if gap > _NIPPLE_ORIFICE_WARN_MM:
            all_warnings.append(f"The nipple is {gap:.0f} mm from the nearest duct orifice: check "
                                "the nipple position.")

    excision, margins = None, []
    if decision.kind in ("microdochectomy", "hadfield"):
        excision = build_excision(decision.kind, tree, lesions, nipple_mm=nipple, settings=settings,
                                  sites=sites, target_system=decision.target_system, frame=frame,
                                  areolar_radius_mm=areolar_radius_mm)
        margins = compute_margins(excision, lesions, settings=settings)
        all_warnings.extend(excision.warnings)
        rationale.append(_excision_summary(excision, settings))
        by_id = {les.id: les for les in lesions}
        for m in margins:
            les = by_id[m.lesion]
            if m.treated and not m.adequate:
                all_warnings.append(f"Lesion {m.lesion} keeps only {m.min_margin_mm:.1f} mm of "
                                    f"margin (setting {m.required_mm:g} mm).")
            if m.treated and float(np.linalg.norm(les.center_mm - nipple)) - les.radius_mm < m.required_mm:
                all_warnings.append(f"Lesion {m.lesion} lies within {m.required_mm:g} mm of the "
                                    "nipple: the margin toward the nipple is limited by the "
                                    "nipple itself.")
            zu = les.localisation.z_uncertainty_mm if les.localisation is not None else None
            if m.treated and zu is not None and zu >= 0.5 * max(m.required_mm, 1.0):
                all_warnings.append(f"Lesion {m.lesion}'s depth along the DBT slice axis is "
                                    f"uncertain by about {zu:.1f} mm, a large part of its margin: "
                                    "confirm its position (ultrasound) before surgery.")

    return Plan(input=info, nipple_mm=nipple, tree=tree, lesions=lesions, sites=sites,
                clinical=clinical, settings=settings, decision=decision, excision=excision,
                margins=margins, warnings=_dedupe(all_warnings), rationale=rationale)


def _excision_summary(ex: Excision, settings: PlanSettings) -> str:
    margin = (f"margin of {settings.margin_mm:g} mm around each lesion "
              f"({settings.dcis_margin_mm:g} mm where DCIS is suspected)")
    if ex.kind == "microdochectomy":
        return (f"Excision: duct of system {ex.duct['system']} from its orifice for "
                f"{ex.depth_mm:.0f} mm along the duct, with a {settings.sleeve_mm:g} mm sleeve of "
                f"tissue and a {margin}; about {ex.volume_cm3:.1f} cm3.")
    c = ex.cone
    return (f"Excision: retroareolar cone {c['depth_mm']:g} mm deep, {c['apex_radius_mm']:g} mm in "
            f"radius under the nipple widening to {c['base_radius_mm']:g} mm, widened where "
            f"needed to keep a {margin}; about {ex.volume_cm3:.1f} cm3.")


# ---------------------------------------------------------------------- serialising
def _clean(obj):
    """JSON-ready: numpy -> Python, non-finite floats -> None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def _r(v: float, nd: int = 3) -> float | None:
    v = float(v)
    return round(v, nd) if math.isfinite(v) else None


def _rounded(d: dict | None, nd: int = 6) -> dict | None:
    """Floats of a small dict (or its lists) rounded to ``nd`` decimals."""
    if d is None:
        return None
    out = {}
    for k, v in d.items():
        if isinstance(v, (float, np.floating)):
            out[k] = _r(v, nd)
        elif isinstance(v, (list, tuple)):
            out[k] = [_r(x, nd) if isinstance(x, (float, np.floating)) else x for x in v]
        else:
            out[k] = v
    return out


def _public_source(source: str) -> str:
    # The contract knows "auto" and "annotated"; a confirmed finding ("auto+annotated") is
    # a radiologist's call, so it is written as "annotated" with the detail beside it.
    return "annotated" if "annotated" in str(source) else "auto"


def _lesion_dict(plan: Plan, les: Lesion, site: LesionSite) -> dict:
    loc = les.localisation
    dist = float(np.linalg.norm(les.center_mm - plan.nipple_mm))
    if loc is not None and math.isfinite(loc.distance_from_nipple_mm):
        dist = float(loc.distance_from_nipple_mm)
    ex = plan.excision
    if ex is None:
        reach = None
    elif les.id in ex.beyond_reach:
        reach = ex.beyond_reach[les.id]
    else:
        reach = "within reach"
    d = {"id": les.id, "kind": les.kind, "center_mm": [_r(v, 4) for v in les.center_mm],
         "diameter_mm": _r(les.diameter_mm), "system": site.system, "branch": site.branch,
         "distance_from_nipple_mm": _r(dist, 2),
         "clock": loc.clock if loc is not None else None,
         "source": _public_source(les.source),
         # extensions
         "source_detail": les.source, "confidence": _r(les.confidence),
         "label": les.label, "suspected_dcis": bool(les.suspected_dcis),
         "treated": plan.treated(les.id), "reach": reach,
         "required_margin_mm": plan.settings.margin_for(les),
         "systems_touched": list(site.systems_touched),
         "distance_to_duct_mm": _r(site.distance_to_duct_mm, 2),
         "distance_along_duct_mm": None if site.arc_mm is None else _r(site.arc_mm, 2),
         "notes": list(les.notes)}
    if loc is not None:
        d["localisation"] = {"side": loc.side, "clock": loc.clock,
                             "distance_from_nipple_mm": _r(loc.distance_from_nipple_mm, 2),
                             "distance_along_duct_mm": (None if loc.distance_along_duct_mm is None
                                                        else _r(loc.distance_along_duct_mm, 2)),
                             "depth_third": loc.depth_third,
                             "anterior_edge_from_nipple_mm": (
                                 None if loc.anterior_edge_from_nipple_mm is None
                                 else _r(loc.anterior_edge_from_nipple_mm, 2)),
                             "z_uncertainty_mm": (None if loc.z_uncertainty_mm is None
                                                  else _r(loc.z_uncertainty_mm, 2))}
    return d


def plan_to_dict(plan: Plan) -> dict:
    """The plan as the contract's ``plan.json`` object (JSON-ready).

    Parameters
    ----------
    plan : Plan

    Returns
    -------
    dict
        ``schema``, ``input``, ``nipple_mm``, ``systems``, ``branches``, ``lesions``,
        ``procedure`` and ``warnings`` as CONTRACT.md defines them, plus extensions
        (``clinical``, ``settings``, per-lesion ``treated``/``reach``, excision
        ``volume_cm3``/``topology``/``cone``/``duct``...).

    Examples
    --------
    >>> from reconstruction.tree import Branch, DuctSystem
    >>> t = DuctTree([Branch(0, 0, None, [[0, 0, 0], [0, 0, 40]], [1, 1])],
    ...              [DuctSystem(0, [0, 0, 0], root_branch=0)], nipple_mm=[0, 0, 0])
    >>> p = make_plan(t, [], input_info={"path": "x", "size": [1, 1, 1], "spacing_mm": [1, 1, 1]})
    >>> d = plan_to_dict(p)
    >>> d["schema"], d["procedure"]["kind"], d["procedure"]["excision"]
    ('ductplan.plan/1', 'none', None)
    """
    tree = plan.tree
    systems = [{"id": s.id, "orifice_mm": [_r(v, 4) for v in s.orifice_mm],
                "branch_ids": tree.branch_ids(s.id), "length_mm": _r(tree.system_length_mm(s.id), 2),
                "root_branch": s.root_branch, "opacified": bool(s.opacified)}
               for s in tree.systems]
    branches = [{"id": b.id, "system": b.system, "parent": b.parent,
                 "points_mm": np.round(b.points_mm, 4).tolist(),
                 "radius_mm": np.round(b.radius_mm, 4).tolist(),
                 "generation": b.generation, "length_mm": _r(b.length_mm, 2)}
                for b in tree.branches]
    lesions = [_lesion_dict(plan, les, site) for les, site in zip(plan.lesions, plan.sites)]

    ex = plan.excision
    excision = None
    if ex is not None:
        s = plan.settings
        excision = {
            "mesh": plan.excision_mesh, "depth_mm": _r(ex.depth_mm, 2),
            "margins": [m.to_dict() for m in plan.margins],
            # extensions
            "shape": "duct_sleeve" if ex.kind == "microdochectomy" else "retroareolar_cone",
            "volume_cm3": _r(ex.volume_cm3, 3),
            "margin_setting_mm": s.margin_mm, "dcis_margin_setting_mm": s.dcis_margin_mm,
            "sleeve_mm": s.sleeve_mm if ex.kind == "microdochectomy" else None,
            "max_distance_from_nipple_mm": _r(ex.max_distance_from_nipple_mm, 2),
            "treated_lesions": list(ex.treated),
            "beyond_reach": [{"lesion": k, "reason": v} for k, v in sorted(ex.beyond_reach.items())],
            "extended_to_lesions": list(ex.extended),
            "cone": _rounded(ex.cone), "duct": _rounded(ex.duct),
            "grid_spacing_mm": ex.grid_spacing_mm,
            "topology": ex.topology.to_dict(),
        }
    d = {
        "schema": PLAN_SCHEMA,
        "input": plan.input,
        "nipple_mm": [_r(v, 4) for v in plan.nipple_mm],
        "systems": systems,
        "branches": branches,
        "lesions": lesions,
        "procedure": {"kind": plan.kind, "rationale": list(plan.rationale), "excision": excision,
                      "disease_systems": list(plan.decision.disease_systems),
                      "target_system": plan.decision.target_system},
        "warnings": list(plan.warnings),
        "clinical": plan.clinical.to_dict(),
        "settings": plan.settings.to_dict(),
    }
    return _clean(d)


def write_plan_json(plan: Plan, path: str | os.PathLike) -> None:
    """Write ``plan.json`` atomically (temporary file in the same folder, then replace).

    Parameters
    ----------
    plan : Plan
    path : str or path-like

    Raises
    ------
    OSError
        When the folder is missing or not writable (message names the file); nothing
        is left behind.
    ValueError
        When the plan does not satisfy the contract (a bug; nothing is written).

    Examples
    --------
    >>> import tempfile, os, json
    >>> from reconstruction.tree import Branch, DuctSystem
    >>> t = DuctTree([Branch(0, 0, None, [[0, 0, 0], [0, 0, 40]], [1, 1])],
    ...              [DuctSystem(0, [0, 0, 0], root_branch=0)], nipple_mm=[0, 0, 0])
    >>> p = make_plan(t, [], input_info={"path": "x", "size": [1, 1, 1], "spacing_mm": [1, 1, 1]})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_plan_json(p, os.path.join(d, "plan.json"))
    ...     json.load(open(os.path.join(d, "plan.json")))["schema"]
    'ductplan.plan/1'
    """
    d = plan_to_dict(plan)
    validate_plan_dict(d)
    # Serialise completely before touching the disk: a failure here writes nothing.
    text = json.dumps(d, indent=2, allow_nan=False) + "\n"
    atomic_write_text(path, text)


# ---------------------------------------------------------------------- validation
def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_vec3(v) -> bool:
    return isinstance(v, list) and len(v) == 3 and all(_is_num(x) for x in v)


def validate_plan_dict(d: Mapping) -> None:
    """Check a ``plan.json`` object against the contract's fields and types.

    Parameters
    ----------
    d : mapping
        As read from ``plan.json`` (or from ``plan_to_dict``).

    Raises
    ------
    ValueError
        Listing every problem found.

    Examples
    --------
    >>> validate_plan_dict({"schema": "other"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: plan.json does not follow ductplan.plan/1: schema is 'other', ...
    """
    p: list[str] = []
    if d.get("schema") != PLAN_SCHEMA:
        p.append(f"schema is {d.get('schema')!r}, expected {PLAN_SCHEMA!r}")
    inp = d.get("input")
    if not (isinstance(inp, Mapping) and isinstance(inp.get("path"), str)
            and isinstance(inp.get("size"), list) and len(inp["size"]) == 3
            and all(_is_int(v) for v in inp["size"]) and _is_vec3(inp.get("spacing_mm"))):
        p.append("input must hold path (str), size [3 ints] and spacing_mm [3 numbers]")
    if not _is_vec3(d.get("nipple_mm")):
        p.append("nipple_mm must be 3 numbers")

    branches = d.get("branches")
    branch_sys = {}
    if not isinstance(branches, list):
        p.append("branches must be a list")
        branches = []
    for b in branches:
        if not (isinstance(b, Mapping) and _is_int(b.get("id")) and _is_int(b.get("system"))):
            p.append(f"branch {b!r:.60} needs integer id and system")
            continue
        branch_sys[b["id"]] = b["system"]
        pts, rad = b.get("points_mm"), b.get("radius_mm")
        if not (isinstance(pts, list) and all(_is_vec3(q) for q in pts)):
            p.append(f"branch {b['id']}: points_mm must be a list of 3-number points")
        if not (isinstance(rad, list) and all(_is_num(r) for r in rad)
                and isinstance(pts, list) and len(rad) == len(pts)):
            p.append(f"branch {b['id']}: radius_mm must hold one number per point")
    for b in branches:
        if isinstance(b, Mapping) and "id" in b:
            par = b.get("parent", "missing")
            if not (par is None or (_is_int(par) and par in branch_sys)):
                p.append(f"branch {b['id']}: parent must be a branch id or null, got {par!r}")

    systems = d.get("systems")
    if not isinstance(systems, list):
        p.append("systems must be a list")
        systems = []
    for s in systems:
        if not (isinstance(s, Mapping) and _is_int(s.get("id")) and _is_vec3(s.get("orifice_mm"))
                and isinstance(s.get("branch_ids"), list) and _is_num(s.get("length_mm"))):
            p.append(f"system {s!r:.60} needs id, orifice_mm, branch_ids and length_mm")
            continue
        mine = sorted(k for k, v in branch_sys.items() if v == s["id"])
        if sorted(s["branch_ids"]) != mine:
            p.append(f"system {s['id']}: branch_ids {s['branch_ids']} disagree with branches {mine}")

    lesions = d.get("lesions")
    lesion_ids = set()
    if not isinstance(lesions, list):
        p.append("lesions must be a list")
        lesions = []
    for les in lesions:
        if not (isinstance(les, Mapping) and _is_int(les.get("id"))):
            p.append(f"lesion {les!r:.60} needs an integer id")
            continue
        lesion_ids.add(les["id"])
        tag = f"lesion {les['id']}"
        if les.get("kind") not in LESION_KINDS:
            p.append(f"{tag}: kind {les.get('kind')!r} not in {LESION_KINDS}")
        if not _is_vec3(les.get("center_mm")):
            p.append(f"{tag}: center_mm must be 3 numbers")
        if not _is_num(les.get("diameter_mm")):
            p.append(f"{tag}: diameter_mm must be a number")
        for k in ("system", "branch"):
            if k not in les or not (les[k] is None or _is_int(les[k])):
                p.append(f"{tag}: {k} must be an integer or null")
        if not _is_num(les.get("distance_from_nipple_mm")):
            p.append(f"{tag}: distance_from_nipple_mm must be a number")
        if "clock" not in les or not (les["clock"] is None or isinstance(les["clock"], str)):
            p.append(f"{tag}: clock must be a string or null")
        if les.get("source") not in ("auto", "annotated"):
            p.append(f"{tag}: source must be 'auto' or 'annotated', got {les.get('source')!r}")

    proc = d.get("procedure")
    if not isinstance(proc, Mapping):
        p.append("procedure must be an object")
    else:
        kind = proc.get("kind")
        if kind not in PROCEDURE_KINDS:
            p.append(f"procedure.kind {kind!r} not in {PROCEDURE_KINDS}")
        if not (isinstance(proc.get("rationale"), list)
                and all(isinstance(r, str) for r in proc["rationale"])):
            p.append("procedure.rationale must be a list of strings")
        ex = proc.get("excision", "missing")
        if kind in ("none", "contraindicated"):
            if ex is not None:
                p.append(f"procedure.excision must be null for {kind}")
        elif not isinstance(ex, Mapping):
            p.append(f"procedure.excision must be an object for {kind}")
        else:
            if not isinstance(ex.get("mesh"), str):
                p.append("procedure.excision.mesh must be a file name")
            if not _is_num(ex.get("depth_mm")):
                p.append("procedure.excision.depth_mm must be a number")
            margins = ex.get("margins")
            if not isinstance(margins, list):
                p.append("procedure.excision.margins must be a list")
            else:
                for m in margins:
                    if not (isinstance(m, Mapping) and _is_int(m.get("lesion"))
                            and m["lesion"] in lesion_ids and _is_num(m.get("min_margin_mm"))):
                        p.append(f"margin {m!r:.60} needs a known lesion id and min_margin_mm")
    w = d.get("warnings")
    if not (isinstance(w, list) and all(isinstance(x, str) for x in w)):
        p.append("warnings must be a list of strings")
    if p:
        raise ValueError(f"plan.json does not follow {PLAN_SCHEMA}: " + "; ".join(p))
