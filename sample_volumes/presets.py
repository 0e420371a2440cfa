"""Named sample cases: each covers one outcome the planner must reach.

A preset says what to grow (how many opacified systems, which lesions where), how to image
it (field of view, voxel size, thickness, scanner arc), the clinical story, and the
procedure a surgeon would expect.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from reconstruction.tree import DuctTree

from .lesion_models import (LesionSpec, place_air_bubbles, place_cutoff, place_cyst, place_ectasia,
                            place_papilloma)

__all__ = ["Preset", "PRESETS", "preset_names", "get_preset"]

Populate = Callable[[DuctTree, np.random.Generator], list[LesionSpec]]


@dataclass(frozen=True)
class Preset:
    """A sample case.

    Attributes
    ----------
    name, description : str
    n_systems : int
        Opacified ductal systems.
    populate : callable
        ``(tree, rng) -> list[LesionSpec]``: places lesions and artefacts (local mm).
    clinical : dict
        The ``--clinical`` context of the output contract.
    expected_procedure : str
        microdochectomy | hadfield | none | contraindicated.
    size_xyz : tuple of int
        Volume size in voxels (x: chest wall -> nipple, y: along the chest wall, z: slices).
    spacing_mm : tuple of float
    scanner : str
        Key of ``sample_volumes.dbt.SCANNERS``.
    laterality, view : str
    """

    name: str
    description: str
    n_systems: int
    populate: Populate
    clinical: dict
    expected_procedure: str
    size_xyz: tuple[int, int, int] = (800, 600, 50)
    spacing_mm: tuple[float, float, float] = (0.15, 0.15, 1.0)
    scanner: str = "narrow"
    laterality: str = "R"
    view: str = "CC"
    breast_depth_mm: float = 105.0
    notes: tuple[str, ...] = field(default_factory=tuple)


def _none(tree: DuctTree, rng: np.random.Generator) -> list[LesionSpec]:
    return []


def _single_papilloma(tree, rng):
    return [place_papilloma(tree, rng, system=0, diameter_mm=rng.uniform(4.0, 8.0), max_from_nipple_mm=45)]


def _obstructing_papilloma(tree, rng):
    return [place_papilloma(tree, rng, system=0, diameter_mm=rng.uniform(3.0, 6.0), obstructing=True,
                            generations=(1, 2), max_from_nipple_mm=40)]


def _multi_papilloma(tree, rng):
    out = [place_papilloma(tree, rng, system=0, diameter_mm=rng.uniform(3.0, 6.0), generations=(1, 3))]
    for _ in range(2):
        out.append(place_papilloma(tree, rng, system=0, diameter_mm=rng.uniform(2.0, 4.0), generations=(2, 4),
                                   avoid=[o.center for o in out]))
    return out


def _two_systems(tree, rng):
    return [place_papilloma(tree, rng, system=0, diameter_mm=rng.uniform(3.5, 7.0), max_from_nipple_mm=50),
            place_papilloma(tree, rng, system=1, diameter_mm=rng.uniform(3.0, 6.0), max_from_nipple_mm=50)]


def _ectasia(tree, rng):
    return [place_ectasia(tree, rng, system=0, width_mm=rng.uniform(3.5, 7.0))]


def _purulent(tree, rng):
    return [place_ectasia(tree, rng, system=0, width_mm=rng.uniform(3.0, 5.0))]


def _deep_lesion(tree, rng):
    return [place_papilloma(tree, rng, system=0, diameter_mm=rng.uniform(3.0, 5.0), generations=(2, 6),
                            min_from_nipple_mm=45)]


def _air_bubble(tree, rng):
    return place_air_bubbles(tree, rng, system=0, count=int(rng.integers(1, 3)))


def _cyst(tree, rng):
    return [place_cyst(tree, rng, system=0, diameter_mm=rng.uniform(4.0, 8.0))]


def _cutoff(tree, rng):
    return [place_cutoff(tree, rng, system=0)]


def _papilloma_and_bubble(tree, rng):
    pap = place_papilloma(tree, rng, system=0, diameter_mm=rng.uniform(4.0, 7.0), max_from_nipple_mm=45)
    return [pap, *place_air_bubbles(tree, rng, system=0, count=1, avoid=[pap.center])]


def _full_field(tree, rng):
    return [place_papilloma(tree, rng, system=0, diameter_mm=rng.uniform(4.0, 7.0), max_from_nipple_mm=50)]


_BLOODY_ONE = {"discharge": "bloody", "discharging_ducts": 1, "bilateral": False,
               "wishes_to_breastfeed": False, "age": 46}

PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("single-papilloma", "One opacified system with one intraductal papilloma (filling defect, "
           "duct dilated before it); bloody single-duct discharge.", 1, _single_papilloma,
           dict(_BLOODY_ONE), "microdochectomy"),
    Preset("obstructing-papilloma", "A papilloma that blocks the duct: the contrast column stops at a "
           "meniscus, nothing beyond is opacified.", 1, _obstructing_papilloma,
           dict(_BLOODY_ONE, age=39, wishes_to_breastfeed=True), "microdochectomy", laterality="L"),
    Preset("multi-papilloma-one-system", "Three papillomas in one system (peripheral papillomatosis).", 1,
           _multi_papilloma, dict(_BLOODY_ONE, age=44), "microdochectomy", view="MLO"),
    Preset("two-systems", "Two opacified systems, a papilloma in each; discharge from two ducts.", 2,
           _two_systems, {"discharge": "bloody", "discharging_ducts": 2, "bilateral": False, "age": 55},
           "hadfield", laterality="L", view="MLO"),
    Preset("normal", "A normal opacified system; serous discharge.", 1, _none,
           {"discharge": "serous", "discharging_ducts": 1, "bilateral": False, "age": 41}, "none"),
    Preset("ectasia", "Duct ectasia of a central duct; green discharge from several ducts.", 1, _ectasia,
           {"discharge": "green", "discharging_ducts": 3, "bilateral": False, "age": 52}, "hadfield",
           laterality="L"),
    Preset("purulent", "Purulent discharge (periductal infection): surgery and galactography wait.", 1,
           _purulent, {"discharge": "purulent", "discharging_ducts": 1, "bilateral": False, "age": 38},
           "contraindicated"),
    Preset("deep-lesion", "A papilloma far along a peripheral duct, beyond a standard excision: needs "
           "image-guided localisation.", 1, _deep_lesion, dict(_BLOODY_ONE, age=48), "microdochectomy",
           scanner="medium"),
    Preset("air-bubble", "Air bubbles in an otherwise normal duct: round voids that are NOT lesions.", 1,
           _air_bubble, {"discharge": "serous", "discharging_ducts": 1, "bilateral": False, "age": 35},
           "none", laterality="L", view="MLO"),
    Preset("cyst", "A cyst filling at the end of a duct; bloody single-duct discharge.", 1, _cyst,
           dict(_BLOODY_ONE, age=50), "microdochectomy", scanner="wide"),
    Preset("cutoff", "An abrupt cut-off of a branch at full calibre (suspicious for DCIS).", 1, _cutoff,
           dict(_BLOODY_ONE, age=58), "microdochectomy", laterality="L"),
    Preset("papilloma-and-bubble", "A papilloma and an air bubble in the same duct: only one is a lesion.",
           1, _papilloma_and_bubble, dict(_BLOODY_ONE, age=43), "microdochectomy"),
    Preset("full-field", "A whole-breast field (~2000 x 1500 x 60 voxels) with three opacified systems "
           "and one papilloma: for benchmarks.", 3, _full_field, dict(_BLOODY_ONE, age=47), "microdochectomy",
           size_xyz=(2000, 1500, 60), spacing_mm=(0.1, 0.1, 1.0), breast_depth_mm=150.0),
]}


def preset_names() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ValueError listing the choices otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown sample {name!r}; choose one of: {', '.join(PRESETS)}") from None
