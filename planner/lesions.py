"""Lesions as the plan sees them: automatic findings merged with radiologists' marks."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Lesion", "LESION_KINDS", "Localisation"]

#: Lesion kinds of the output contract (``annotated``: a radiologist's mark alone).
LESION_KINDS = ("filling_defect", "cutoff", "ectasia", "cyst", "annotated")


@dataclass
class Localisation:
    """Where a lesion is, the way clinicians say it.

    Attributes
    ----------
    side : {"L", "R"} or None
    clock : str or None
        Whole-hour clock face as the viewer faces the patient ("10:00"); None when
        laterality or view is unknown (never a guess).
    distance_from_nipple_mm : float
        Straight-line distance from the nipple to the lesion centre.
    distance_along_duct_mm : float or None
        Centreline distance from the system's orifice, when the lesion sits on a duct.
    depth_third : {"anterior", "middle", "posterior"} or None
    anterior_edge_from_nipple_mm : float or None
        Distance of the lesion's anterior edge from the nipple (reported near the nipple).
    z_uncertainty_mm : float or None
        1-sigma uncertainty along the DBT slice axis.
    """

    side: str | None = None
    clock: str | None = None
    distance_from_nipple_mm: float = float("nan")
    distance_along_duct_mm: float | None = None
    depth_third: str | None = None
    anterior_edge_from_nipple_mm: float | None = None
    z_uncertainty_mm: float | None = None


@dataclass
class Lesion:
    """One lesion the plan must treat (or explain why not).

    Attributes
    ----------
    id : int
    kind : str
        One of ``LESION_KINDS``.
    center_mm : (3,) ndarray
        Physical mm, image frame.
    diameter_mm : float
    source : {"auto", "annotated", "auto+annotated"}
        Found by ductplan, marked by a radiologist, or both (a confirmed finding).
    confidence : float
    system, branch : int or None
        Where on the tree; None for a mark that lies on no duct.
    label : str
        The radiologist's label, when marked.
    suspected_dcis : bool
        Whether the finding or mark suggests malignancy (drives a 2 mm margin).
    localisation : Localisation or None
    """

    id: int
    kind: str
    center_mm: np.ndarray
    diameter_mm: float
    source: str = "auto"
    confidence: float = 1.0
    system: int | None = None
    branch: int | None = None
    label: str = ""
    suspected_dcis: bool = False
    localisation: Localisation | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in LESION_KINDS:
            raise ValueError(f"unknown lesion kind {self.kind!r}; expected one of {LESION_KINDS}")
        self.center_mm = np.asarray(self.center_mm, dtype=float).reshape(3)

    @property
    def radius_mm(self) -> float:
        return 0.5 * float(self.diameter_mm)
