"""Margins: how much normal tissue the excision leaves around each lesion."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .excision import Excision
from .lesions import Lesion
from .settings import PlanSettings

__all__ = ["Margin", "compute_margins"]

#: Slack for floating-point error when comparing a margin with its setting (mm).
_TOL_MM = 1e-6


@dataclass(frozen=True)
class Margin:
    """The margin around one lesion.

    Attributes
    ----------
    lesion : int
        Lesion id.
    min_margin_mm : float
        Smallest distance from the lesion's surface (a sphere of its diameter) to the
        excision boundary; negative where the lesion is cut or left out.
    required_mm : float
        The margin the settings ask for (``dcis_margin_mm`` when DCIS is suspected).
    treated : bool
        Whether the excision was built to remove this lesion.
    """

    lesion: int
    min_margin_mm: float
    required_mm: float
    treated: bool

    @property
    def adequate(self) -> bool:
        return self.min_margin_mm >= self.required_mm - _TOL_MM

    def to_dict(self) -> dict:
        return {"lesion": self.lesion, "min_margin_mm": round(float(self.min_margin_mm), 3),
                "required_mm": self.required_mm, "adequate": self.adequate,
                "treated": self.treated}


def compute_margins(excision: Excision, lesions: list[Lesion], *,
                    settings: PlanSettings | None = None) -> list[Margin]:
    """Margin of every lesion, from the excision's exact signed distance function.

    For a ball of radius r centred at c, the smallest distance from its surface to the
    boundary is ``-sdf(c) - r`` (the SDF is 1-Lipschitz), negative when the ball pokes
    out.  Inside a union the SDF underestimates the depth, so margins are never
    optimistic.

    Parameters
    ----------
    excision : Excision
    lesions : list of Lesion
    settings : PlanSettings, optional
        For the required margin of each lesion.

    Returns
    -------
    list of Margin
        One per lesion, same order.

    Examples
    --------
    >>> from reconstruction.tree import Branch, DuctSystem, DuctTree
    >>> from planner.excision import build_excision
    >>> t = DuctTree([Branch(0, 0, None, [[0, 0, 0], [0, 0, 40]], [1, 1])],
    ...              [DuctSystem(0, [0, 0, 0], root_branch=0)])
    >>> les = [Lesion(0, "filling_defect", [0, 0, 10], 4.0)]
    >>> ex = build_excision("hadfield", t, les, nipple_mm=[0, 0, 0])
    >>> m = compute_margins(ex, les)[0]
    >>> m.treated, m.adequate
    (True, True)
    """
    settings = settings or PlanSettings()
    if not lesions:
        return []
    centres = np.array([les.center_mm for les in lesions])
    d = excision.sdf(centres)
    treated = set(excision.treated)
    return [Margin(lesion=les.id, min_margin_mm=float(-d[i] - les.radius_mm),
                   required_mm=settings.margin_for(les), treated=les.id in treated)
            for i, les in enumerate(lesions)]
