"""Planner settings: every surgical length the plan depends on, in millimetres."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .lesions import Lesion

__all__ = ["PlanSettings"]


def _positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of millimetres, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        expected = "a finite value >= 0" if allow_zero else "a finite value > 0"
        raise ValueError(f"{name} must be {expected} (mm), got {value!r}")
    return v


@dataclass(frozen=True)
class PlanSettings:
    """Surgical parameters of the plan (all lengths in mm).

    Parameters
    ----------
    margin_mm : float
        Margin of normal tissue distal to and around a benign lesion (papilloma has no
        standard margin; 5 mm is a design default, not a guideline).
    dcis_margin_mm : float
        Margin around a lesion with ``suspected_dcis`` (SSO-ASTRO-ASCO: 2 mm).
    sleeve_mm : float
        Tissue taken around the duct wall along the excised duct (microdochectomy).
    max_duct_excision_mm : float
        How far along a duct, from its orifice, a microdochectomy reaches; lesions farther
        along need image-guided localisation (2-5 cm is usual practice).
    cone_depth_mm : float
        Depth of the Hadfield retroareolar cone from the nipple (2-3 cm usual).
    cone_base_radius_mm : float or None
        Radius of the cone's deep base; None: the areolar radius when known, else
        ``default_areolar_radius_mm``.
    cone_apex_radius_mm : float
        Radius of the cone just under the nipple, where all ducts are divided (the nipple
        is ~14 mm across, so the ducts' orifices lie within ~7 mm of its centre).
    cone_axis : tuple of 3 float or None
        Direction nipple -> chest wall in image mm; None: from the nipple toward the
        centroid of the tree's points.
    default_areolar_radius_mm : float
        Cone base radius when neither ``cone_base_radius_mm`` nor an areolar radius is
        given (real areolae are typically 15-25 mm in radius: an assumption).
    extend_to_lesions : bool
        Extend the excision to lesions beyond its reach (otherwise they are flagged for
        image-guided localisation and left out).
    older_age_years : float
        Age from which bloody discharge favours a Hadfield procedure.
    prefer_hadfield_when_older : bool
        When True, an older woman with bloody discharge who does not wish to breastfeed
        gets Hadfield instead of a microdochectomy; when False (default) it is advice only.
    grid_spacing_mm : float
        Sampling of the excision's signed distance function for meshing.
    duct_snap_mm : float
        A lesion touches a duct when its surface comes within this distance of the duct
        wall (marks and DBT depth are uncertain by a few mm); a lesion touching ducts of
        two systems cannot be assigned to one of them.
    min_system_length_mm : float
        A "system" with less opacified duct than this is a stub, not a ductal system a
        lesion can lie in: a lesion that also touches a longer system is not made
        ambiguous by it (see ``planner.sites.locate_lesions``).  An opacified system runs
        on past its first branch point, on average 8 mm from the nipple (8 +/- 5.5 mm,
        DOMAIN.md); shorter pieces at the nipple are contrast on the skin, reflux into the
        first millimetres of another orifice, or fragments of a reconstruction.  0
        disables it.

    Raises
    ------
    ValueError
        For a non-positive or non-finite length, or a zero cone axis.

    Examples
    --------
    >>> s = PlanSettings(margin_mm=4.0)
    >>> s.cone_depth_mm, s.margin_mm
    (25.0, 4.0)
    """

    margin_mm: float = 5.0
    dcis_margin_mm: float = 2.0
    sleeve_mm: float = 3.0
    max_duct_excision_mm: float = 60.0
    cone_depth_mm: float = 25.0
    cone_base_radius_mm: float | None = None
    cone_apex_radius_mm: float = 7.0
    cone_axis: tuple[float, float, float] | None = None
    default_areolar_radius_mm: float = 20.0
    extend_to_lesions: bool = False
    older_age_years: float = 50.0
    prefer_hadfield_when_older: bool = False
    grid_spacing_mm: float = 0.5
    duct_snap_mm: float = 2.0
    min_system_length_mm: float = 8.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "margin_mm", _positive("margin_mm", self.margin_mm, allow_zero=True))
        set_(self, "dcis_margin_mm", _positive("dcis_margin_mm", self.dcis_margin_mm, allow_zero=True))
        set_(self, "sleeve_mm", _positive("sleeve_mm", self.sleeve_mm, allow_zero=True))
        set_(self, "max_duct_excision_mm", _positive("max_duct_excision_mm", self.max_duct_excision_mm))
        set_(self, "cone_depth_mm", _positive("cone_depth_mm", self.cone_depth_mm))
        if self.cone_base_radius_mm is not None:
            set_(self, "cone_base_radius_mm", _positive("cone_base_radius_mm", self.cone_base_radius_mm))
        set_(self, "cone_apex_radius_mm", _positive("cone_apex_radius_mm", self.cone_apex_radius_mm))
        set_(self, "default_areolar_radius_mm",
             _positive("default_areolar_radius_mm", self.default_areolar_radius_mm))
        set_(self, "older_age_years", _positive("older_age_years", self.older_age_years))
        set_(self, "grid_spacing_mm", _positive("grid_spacing_mm", self.grid_spacing_mm))
        set_(self, "duct_snap_mm", _positive("duct_snap_mm", self.duct_snap_mm, allow_zero=True))
        set_(self, "min_system_length_mm",
             _positive("min_system_length_mm", self.min_system_length_mm, allow_zero=True))
        if self.grid_spacing_mm > 2.0:
            raise ValueError(f"grid_spacing_mm must be <= 2 mm to resolve margins, got {self.grid_spacing_mm}")
        if self.cone_axis is not None:
            axis = np.asarray(self.cone_axis, dtype=float)
            if axis.shape != (3,) or not np.all(np.isfinite(axis)) or np.linalg.norm(axis) == 0:
                raise ValueError(f"cone_axis must be a non-zero 3-vector, got {self.cone_axis!r}")
            set_(self, "cone_axis", tuple(float(v) for v in axis))
        for name in ("extend_to_lesions", "prefer_hadfield_when_older"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

    def margin_for(self, lesion: Lesion) -> float:
        """The margin (mm) a lesion needs: ``dcis_margin_mm`` when DCIS is suspected."""
        return self.dcis_margin_mm if lesion.suspected_dcis else self.margin_mm

    def cone_base_radius(self, areolar_radius_mm: float | None = None) -> float:
        """Cone base radius (mm): the setting, else the areolar radius, else the default."""
        if self.cone_base_radius_mm is not None:
            return self.cone_base_radius_mm
        if areolar_radius_mm is not None:
            return _positive("areolar_radius_mm", areolar_radius_mm)
        return self.default_areolar_radius_mm

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        d = asdict(self)
        if d["cone_axis"] is not None:
            d["cone_axis"] = list(d["cone_axis"])
        return d
