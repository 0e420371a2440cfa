"""Where a lesion is, the way radiologists and surgeons say it.

Coordinates are DICOM patient LPS millimetres: ``+x`` toward the patient's Left, ``+y``
Posterior, ``+z`` Superior.  Conventions (``shared/DOMAIN.md``, Reporting conventions):

Clock face
    As the viewer faces the patient: 12:00 is superior and the viewer's right (3:00) is
    the patient's LEFT.  So the right breast is lateral at 9:00 and the left breast at
    3:00, and the same formula serves both breasts.  From the nipple-to-lesion vector
    ``d`` projected on the coronal plane (its L and S components)::

        angle = atan2(d_L, d_S)              # clockwise from 12, in degrees
        hour  = floor(angle / 30 + 0.5) mod 12, 0 -> 12     # whole hours

    Within ``subareolar_radius_mm`` (default 5 mm) of the nipple in the coronal plane the
    hour means nothing and the clock reads ``"subareolar"`` (directly behind the nipple).
Laterality and view
    The clock is None, never a guess, when the side is unknown, when the view is unknown
    or one whose geometry this module does not interpret, or when the image's slice axis
    does not fit the view (then the image axes are probably not patient axes: e.g. an
    MLO volume stored with an identity direction matrix).  Views and the slice axis they
    imply: CC (also XCCL, XCCM) S-I; MLO (also LMO) oblique in the coronal plane, 20-70
    degrees from S-I, superomedial to inferolateral (along ``(+1, 0, +1)`` for the right
    breast, ``(-1, 0, +1)`` for the left); ML/LM left-right.
Clock uncertainty
    DBT resolves the slice axis poorly (several mm).  In both CC and MLO that axis lies in
    the coronal plane, so it moves the clock: the lesion is slid along the slice axis by
    ``± clock_sigmas * slice_uncertainty_mm`` and every hour it passes through is listed
    in ``clock_range``; ``clock_uncertain`` is True when there is more than one.
Depth third
    Depth of the lesion centre along ``posterior_axis`` (nipple -> chest wall) as a
    fraction of the nipple-to-chest-wall depth: anterior < 1/3 <= middle < 2/3 <= posterior.
Distances
    ``distance_from_nipple_mm``: straight line, nipple to lesion centre (also whole cm).
    ``distance_along_duct_mm``: centreline distance from the system's orifice to the
    lesion's nearest centreline vertex (``DuctTree.distance_along_duct_mm``), as the
    ``Localisation`` field is defined.  The orifice sits on the nipple surface a few mm
    from the nipple point; that gap is reported separately (``orifice_to_nipple_mm``) and
    their sum is ``duct_distance_from_nipple_mm``, the length a probe passed into the
    orifice travels to reach the lesion (give or take the nipple's own few mm).
    ``anterior_edge_from_nipple_mm``: for lesions within ``near_nipple_mm`` (30 mm) of
    the nipple, the distance from the nipple to the nearest point of the lesion (centre
    distance minus radius, at least 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .lesions import Localisation

if TYPE_CHECKING:
    from reconstruction.tree import DuctTree

    from .lesions import Lesion

__all__ = ["ClinicalLocalisation", "clock_angle_deg", "clock_face", "localise", "localise_lesion",
           "normalise_laterality", "normalise_view"]

_VIEWS = {
    "CC": "CC", "CRANIOCAUDAL": "CC", "XCCL": "CC", "XCCM": "CC",
    "MLO": "MLO", "MEDIOLATERALOBLIQUE": "MLO", "LMO": "MLO", "LATEROMEDIALOBLIQUE": "MLO",
    "ML": "ML", "LM": "ML", "MEDIOLATERAL": "ML", "LATEROMEDIAL": "ML",
}
_UNKNOWN = {"", "U", "UNKNOWN", "NONE", "?"}


@dataclass
class ClinicalLocalisation(Localisation):
    """A :class:`~planner.lesions.Localisation` with the reasons and uncertainty behind it.

    It is a ``Localisation`` (every field of the contract keeps its meaning); the extra
    fields are all optional.

    Attributes
    ----------
    view : {"CC", "MLO", "ML"} or None
        The view family the geometry was interpreted as.
    clock_angle_deg : float or None
        Clockwise angle from 12:00 as the viewer faces the patient, in [0, 360).
    clock_range : tuple of str
        Every clock reading reachable within the slice-axis uncertainty (the clock first).
    clock_uncertain : bool
        True when ``clock_range`` holds more than one reading.
    distance_from_nipple_cm : int or None
        ``distance_from_nipple_mm`` in whole centimetres, as reports give it.
    orifice_to_nipple_mm : float or None
        Straight gap from the nipple point to the system's orifice.
    duct_distance_from_nipple_mm : float or None
        ``orifice_to_nipple_mm + distance_along_duct_mm``.
    depth_fraction : float or None
        Depth along the nipple -> chest-wall axis over the nipple-to-chest-wall depth.
    slice_axis_mm : tuple of 3 float or None
        The slice axis used for the uncertainty (unit vector, LPS).
    slice_axis_assumed : bool
        True when no slice axis was given and the view's nominal one was used.
    notes : list of str
        Why something is None or uncertain, one line each.
    """

    view: str | None = None
    clock_angle_deg: float | None = None
    clock_range: tuple[str, ...] = ()
    clock_uncertain: bool = False
    distance_from_nipple_cm: int | None = None
    orifice_to_nipple_mm: float | None = None
    duct_distance_from_nipple_mm: float | None = None
    depth_fraction: float | None = None
    slice_axis_mm: tuple[float, float, float] | None = None
    slice_axis_assumed: bool = False
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ small pure helpers
def normalise_laterality(laterality: str | None) -> str | None:
    """``"R"``/``"L"`` from R, RIGHT, L, LEFT (any case); None when unknown (None, "", U, B).

    Raises
    ------
    ValueError
        For any other text, since a mistyped side must not pass silently.
    """
    if laterality is None:
        return None
    s = str(laterality).strip().upper()
    if s in ("R", "RIGHT"):
        return "R"
    if s in ("L", "LEFT"):
        return "L"
    if s in _UNKNOWN or s in ("B", "BOTH"):  # DICOM B (both) cannot place one lesion
        return None
    raise ValueError(f"laterality must be R, L, RIGHT or LEFT (or unknown), got {laterality!r}")


def normalise_view(view: str | None) -> str | None:
    """View family ``"CC"``, ``"MLO"`` or ``"ML"``; None for unknown or uninterpretable views.

    Examples
    --------
    >>> normalise_view("mlo"), normalise_view("XCCL"), normalise_view("SIO")
    ('MLO', 'CC', None)
    """
    if view is None:
        return None
    key = "".join(ch for ch in str(view).upper() if ch.isalnum())
    return _VIEWS.get(key)


def clock_angle_deg(vector_lps: npt.ArrayLike) -> float:
    """Clockwise angle from 12:00 (viewer facing the patient) of a nipple->lesion vector, [0, 360)."""
    v = np.asarray(vector_lps, dtype=float).reshape(3)
    return float(math.degrees(math.atan2(v[0], v[2])) % 360.0)


def clock_face(vector_lps: npt.ArrayLike, *, subareolar_radius_mm: float = 5.0) -> str:
    """Whole-hour clock reading of a nipple->lesion vector in LPS mm.

    Parameters
    ----------
    vector_lps : (3,) array
        Lesion minus nipple, LPS mm.
    subareolar_radius_mm : float
        Closer than this to the nipple in the coronal plane reads ``"subareolar"``.

    Returns
    -------
    str
        ``"1:00"`` ... ``"12:00"`` or ``"subareolar"``.

    Examples
    --------
    >>> clock_face([0, 30, 20]), clock_face([-20, 0, 0]), clock_face([20, 0, 0])
    ('12:00', '9:00', '3:00')
    >>> clock_face([-17.32, 5, 10])   # up and toward the patient's right: 10 o'clock
    '10:00'
    """
    v = np.asarray(vector_lps, dtype=float).reshape(3)
    if math.hypot(v[0], v[2]) < subareolar_radius_mm:
        return "subareolar"
    hour = int(math.floor(clock_angle_deg(v) / 30.0 + 0.5)) % 12
    return f"{hour or 12}:00"


def _unit(v: npt.ArrayLike, what: str) -> np.ndarray:
    a = np.asarray(v, dtype=float).reshape(-1)
    n = float(np.linalg.norm(a)) if a.shape == (3,) else 0.0
    if a.shape != (3,) or not np.all(np.isfinite(a)) or n == 0:
        raise ValueError(f"{what} must be a non-zero finite 3-vector, got {v!r}")
    return a / n


def _nominal_slice_axis(view: str, side: str) -> np.ndarray:
    if view == "CC":
        return np.array([0.0, 0.0, 1.0])
    if view == "ML":
        return np.array([1.0, 0.0, 0.0])
    s = 1.0 if side == "R" else -1.0  # superomedial -> inferolateral at 45 degrees
    return np.array([s, 0.0, 1.0]) / math.sqrt(2.0)


def _slice_axis_problem(axis: np.ndarray, view: str, side: str, tol_deg: float) -> str:
    """Why ``axis`` does not fit ``view`` (empty when it does)."""
    lo = math.cos(math.radians(tol_deg))
    if view == "CC" and abs(axis[2]) < lo:
        return "a CC view should have a superior-inferior slice axis"
    if view == "ML" and abs(axis[0]) < lo:
        return "an ML/LM view should have a left-right slice axis"
    if view == "MLO":
        tilt = math.degrees(math.atan2(abs(axis[0]), abs(axis[2])))
        if abs(axis[1]) > math.sin(math.radians(tol_deg)) or not tol_deg <= tilt <= 90.0 - tol_deg:
            return ("an MLO view should have a slice axis oblique in the coronal plane "
                    f"({tol_deg:g}-{90 - tol_deg:g} degrees from superior-inferior)")
        if (axis[0] * axis[2] > 0) != (side == "R"):
            other = "left" if side == "R" else "right"
            return (f"the slice axis leans like a {other}-breast MLO (superomedial is "
                    f"{'+x' if side == 'R' else '-x'} for this side): laterality or frame may be wrong")
    return ""


def _fmt_axis(a: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in a) + ")"


# -------------------------------------------------------------------------- localise
def localise(center_mm: npt.ArrayLike, diameter_mm: float, *, nipple_mm: npt.ArrayLike,
             laterality: str | None, view: str | None, chest_wall_mm: float | None = None,
             posterior_axis: npt.ArrayLike | None = None, tree: "DuctTree | None" = None,
             branch: int | None = None, point_index: int | None = None,
             z_axis_mm: npt.ArrayLike | None = None, slice_uncertainty_mm: float | None = None,
             near_nipple_mm: float = 30.0, subareolar_radius_mm: float = 5.0,
             clock_sigmas: float = 2.0, axis_tolerance_deg: float = 20.0) -> ClinicalLocalisation:
    """Clinical localisation of one lesion (conventions in the module docstring).

    Parameters
    ----------
    center_mm : (3,) array
        Lesion centre, LPS mm.
    diameter_mm : float
        Lesion diameter, mm.
    nipple_mm : (3,) array
        Nipple position, LPS mm.
    laterality : str or None
        ``"R"``/``"L"``/``"RIGHT"``/``"LEFT"``; None (or U/B) when unknown.
    view : str or None
        ``"CC"``, ``"MLO"``, ``"ML"``, ``"LM"``, ``"XCCL"``, ``"LMO"``...; None when unknown.
    chest_wall_mm : float, optional
        Nipple-to-chest-wall depth along ``posterior_axis``.
    posterior_axis : (3,) array, optional
        Direction from the nipple to the chest wall (normalised here).
    tree : DuctTree, optional
    branch, point_index : int, optional
        Where the lesion sits on ``tree``; ``point_index`` defaults to the branch vertex
        nearest the lesion centre.
    z_axis_mm : (3,) array, optional
        The image's slice axis in LPS (third column of the direction matrix).  When
        absent, the view's nominal axis is assumed for the uncertainty only.
    slice_uncertainty_mm : float, optional
        1-sigma position uncertainty along the slice axis.  When absent, the branch's
        ``z_uncertainty_mm`` at ``point_index`` is used if the tree has it.
    near_nipple_mm : float
        Lesions closer than this get ``anterior_edge_from_nipple_mm``.
    subareolar_radius_mm : float
        Coronal distance from the nipple below which the clock reads "subareolar".
    clock_sigmas : float
        The clock's uncertainty covers ``± clock_sigmas * slice_uncertainty_mm`` (2: ~95 %).
    axis_tolerance_deg : float
        How far the slice axis may stray from the view's expected geometry.

    Returns
    -------
    ClinicalLocalisation

    Raises
    ------
    ValueError
        Non-finite positions, a negative diameter or depth, a zero axis, an unreadable
        laterality, or a branch/point index not in ``tree``.

    Examples
    --------
    >>> loc = localise([-17.32, 25, 10], 4.0, nipple_mm=[0, 0, 0], laterality="R", view="CC",
    ...                z_axis_mm=[0, 0, 1], slice_uncertainty_mm=1.0,
    ...                chest_wall_mm=90.0, posterior_axis=[0, 1, 0])
    >>> loc.side, loc.clock, loc.clock_uncertain, loc.depth_third, loc.distance_from_nipple_cm
    ('R', '10:00', False, 'anterior', 3)
    """
    c = np.asarray(center_mm, dtype=float).reshape(-1)
    n = np.asarray(nipple_mm, dtype=float).reshape(-1)
    if c.shape != (3,) or not np.all(np.isfinite(c)):
        raise ValueError(f"center_mm must be three finite mm values, got {center_mm!r}")
    if n.shape != (3,) or not np.all(np.isfinite(n)):
        raise ValueError(f"nipple_mm must be three finite mm values, got {nipple_mm!r}")
    diameter = float(diameter_mm)
    if not math.isfinite(diameter) or diameter < 0:
        raise ValueError(f"diameter_mm must be a non-negative finite value, got {diameter_mm!r}")
    if slice_uncertainty_mm is not None and (not math.isfinite(slice_uncertainty_mm) or slice_uncertainty_mm < 0):
        raise ValueError(f"slice_uncertainty_mm must be a non-negative finite value, got {slice_uncertainty_mm!r}")

    side = normalise_laterality(laterality)
    fam = normalise_view(view)
    d = c - n
    dist = float(np.linalg.norm(d))
    out = ClinicalLocalisation(side=side, view=fam, distance_from_nipple_mm=dist,
                               distance_from_nipple_cm=int(math.floor(dist / 10.0 + 0.5)))
    notes = out.notes

    # ---- along the duct
    b = None
    if tree is not None and branch is not None:
        if not 0 <= branch < len(tree.branches):
            raise ValueError(f"branch {branch} is not in the tree ({len(tree.branches)} branches)")
        b = tree.branches[branch]
        if len(b.points_mm) == 0:
            b = None
    if b is not None:
        if point_index is None:
            point_index = int(np.argmin(np.linalg.norm(b.points_mm - c, axis=1)))
        if not 0 <= point_index < len(b.points_mm):
            raise ValueError(f"point_index {point_index} is outside branch {branch} ({len(b.points_mm)} points)")
        out.distance_along_duct_mm = float(tree.distance_along_duct_mm(branch, point_index))
        if 0 <= b.system < len(tree.systems):
            gap = float(np.linalg.norm(tree.systems[b.system].orifice_mm - n))
            out.orifice_to_nipple_mm = gap
            out.duct_distance_from_nipple_mm = gap + out.distance_along_duct_mm
        if slice_uncertainty_mm is None and b.z_uncertainty_mm is not None:
            slice_uncertainty_mm = float(b.z_uncertainty_mm[point_index])
    out.z_uncertainty_mm = None if slice_uncertainty_mm is None else float(slice_uncertainty_mm)

    # ---- near the nipple: the anterior edge
    if dist <= near_nipple_mm:
        out.anterior_edge_from_nipple_mm = max(0.0, dist - 0.5 * diameter)

    # ---- depth third
    if chest_wall_mm is not None and posterior_axis is not None:
        if not math.isfinite(chest_wall_mm) or chest_wall_mm <= 0:
            raise ValueError(f"chest_wall_mm must be a positive finite depth, got {chest_wall_mm!r}")
        depth = float(d @ _unit(posterior_axis, "posterior_axis"))
        frac = depth / float(chest_wall_mm)
        out.depth_fraction = frac
        out.depth_third = "anterior" if frac < 1 / 3 else "middle" if frac < 2 / 3 else "posterior"
        if frac > 1.0:
            notes.append(f"lesion lies {depth:.0f} mm deep, beyond the {chest_wall_mm:.0f} mm "
                         "nipple-to-chest-wall estimate")
    else:
        notes.append("depth third unknown: no chest-wall depth or nipple->chest-wall axis")

    # ---- clock face: only when side, view and geometry are all interpretable
    if side is None:
        notes.append("clock not given: laterality unknown")
        return out
    if fam is None:
        notes.append("clock not given: view unknown" if view is None or str(view).strip().upper() in _UNKNOWN
                     else f"clock not given: view {view!r} is not one whose geometry is interpreted "
                          "(CC, MLO, ML/LM)")
        return out
    if z_axis_mm is not None:
        axis = _unit(z_axis_mm, "z_axis_mm")
        problem = _slice_axis_problem(axis, fam, side, axis_tolerance_deg)
        if problem:
            notes.append(f"clock not given: slice axis {_fmt_axis(axis)} does not fit a {side} {fam} view "
                         f"({problem}); the image axes may not be patient axes")
            return out
    else:
        axis = _nominal_slice_axis(fam, side)
        out.slice_axis_assumed = True
    out.slice_axis_mm = tuple(float(v) for v in axis)
    out.clock = clock_face(d, subareolar_radius_mm=subareolar_radius_mm)
    if out.clock != "subareolar":
        out.clock_angle_deg = clock_angle_deg(d)

    # The slice axis lies in the coronal plane for CC, MLO and ML alike, so its
    # uncertainty moves the lesion around the clock: list every reading it can reach.
    reach = clock_sigmas * (out.z_uncertainty_mm or 0.0)
    readings = [out.clock]
    if reach > 0:
        for t in np.linspace(-reach, reach, 401):
            r = clock_face(d + t * axis, subareolar_radius_mm=subareolar_radius_mm)
            if r not in readings:
                readings.append(r)
    elif out.z_uncertainty_mm is None:
        notes.append("clock uncertainty unknown: no slice-axis uncertainty given")
    out.clock_range = tuple(readings)
    out.clock_uncertain = len(readings) > 1
    if out.clock_uncertain:
        notes.append(f"clock {out.clock} could read {', '.join(readings[1:])} within "
                     f"±{reach:.1f} mm along the slice axis")
    if out.slice_axis_assumed and reach > 0:
        notes.append(f"slice axis not given; assumed the nominal {fam} axis {_fmt_axis(axis)}")
    return out


def localise_lesion(lesion: "Lesion", *, nipple_mm: npt.ArrayLike, laterality: str | None,
                    view: str | None, tree: "DuctTree | None" = None,
                    **options: object) -> ClinicalLocalisation:
    """:func:`localise` for a :class:`~planner.lesions.Lesion`, on its own branch.

    The lesion is not modified: assign the result to ``lesion.localisation``.  Other
    keyword options (``chest_wall_mm``, ``posterior_axis``, ``z_axis_mm``,
    ``slice_uncertainty_mm``, ...) pass through.
    """
    return localise(lesion.center_mm, lesion.diameter_mm, nipple_mm=nipple_mm, laterality=laterality,
                    view=view, tree=tree, branch=lesion.branch if tree is not None else None,
                    **options)  # type: ignore[arg-type]
