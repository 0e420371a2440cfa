"""Automatic findings along the duct tree, as the image shows them (no surgery here)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Finding", "FINDING_KINDS"]

#: Kinds of finding; ``air_bubble`` is an artefact, never a lesion.
FINDING_KINDS = ("filling_defect", "cutoff", "ectasia", "cyst", "air_bubble")


@dataclass
class Finding:
    """One automatic finding.

    Attributes
    ----------
    kind : str
        One of ``FINDING_KINDS``.
    center_mm : (3,) ndarray
        Centre in physical mm (image frame).
    diameter_mm : float
        Largest diameter.
    confidence : float
        0..1, how sure the detector is that this is a real lesion of that kind.
    system, branch, generation : int or None
        Where on the tree it sits.
    is_artefact : bool
        True for findings that mimic lesions but are not (air bubbles).
    details : dict
        Measurements that justify the call (e.g. roundness, proximal dilation).
    """

    kind: str
    center_mm: np.ndarray
    diameter_mm: float
    confidence: float = 1.0
    system: int | None = None
    branch: int | None = None
    generation: int | None = None
    is_artefact: bool = False
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in FINDING_KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}; expected one of {FINDING_KINDS}")
        self.center_mm = np.asarray(self.center_mm, dtype=float).reshape(3)
