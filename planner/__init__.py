"""Planner: duct tree + lesions + clinical context -> the plan a surgeon reviews.

Data flow: ``locate_lesions`` places each lesion on the tree, ``decide`` picks the
operation with its reasons, ``build_excision`` makes the excised volume (exact SDF and a
closed mesh), ``compute_margins`` measures each lesion's margin, and ``make_plan`` does
all of it; ``write_plan_json`` writes ``plan.json`` and ``write_excision_vtp`` the mesh.
"""
from .clinical import DISCHARGE_KINDS, ClinicalContext, normalise_discharge
from .decision import PROCEDURE_KINDS, Decision, decide
from .excision import Excision, MeshTopology, build_excision, check_mesh, default_cone_axis, mesh_sdf
from .export import excision_polydata, write_excision_vtp
from .lesions import LESION_KINDS, Lesion, Localisation
from .margins import Margin, compute_margins
from .plan import PLAN_SCHEMA, Plan, make_plan, plan_to_dict, validate_plan_dict, write_plan_json
from .settings import PlanSettings
from .sites import LesionSite, locate_lesions

__all__ = [
    "ClinicalContext", "DISCHARGE_KINDS", "normalise_discharge",
    "PlanSettings",
    "Lesion", "Localisation", "LESION_KINDS",
    "LesionSite", "locate_lesions",
    "Decision", "PROCEDURE_KINDS", "decide",
    "Excision", "MeshTopology", "build_excision", "check_mesh", "mesh_sdf", "default_cone_axis",
    "Margin", "compute_margins",
    "Plan", "PLAN_SCHEMA", "make_plan", "plan_to_dict", "validate_plan_dict", "write_plan_json",
    "excision_polydata", "write_excision_vtp",
]
