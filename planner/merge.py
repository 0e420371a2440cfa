"""Automatic findings + radiologists' marks -> the lesions the plan must treat.

Rules (in order):

1. Every mark is paired with the nearest finding it *touches*: centre distance
   ``<= max(confirm_distance_mm, finding radius + on_duct_tolerance_mm)``.  The second
   term lets a click anywhere on a large cyst confirm it; the first absorbs the several
   millimetres by which a click in a DBT slice can miss a small defect along the slice axis.
2. A real finding with at least one mark is *confirmed*: source ``"auto+annotated"``, the
   finding's kind, centre and diameter (measured in 3D by the detector; the click is
   only as good as the slice it was placed in), the radiologist's label, confidence 1.
   Several marks on one finding make one lesion (and a warning).
3. A real finding without a mark stays an ``"auto"`` lesion with the detector's confidence.
4. An air-bubble finding (``is_artefact`` or kind ``air_bubble``) is never a lesion on its
   own.  If a radiologist marked it, the mark wins: an ``"annotated"`` lesion at the mark,
   and a warning that the detector had called it a bubble.
5. A mark that touches no finding is an ``"annotated"`` lesion of its own.
6. System and branch: a finding keeps those the detector gave; otherwise the lesion is
   placed on the nearest centreline point that lies within the local lumen radius +
   ``on_duct_tolerance_mm`` (:func:`locate_on_tree`) of its centre; for a finding, whose
   size is measured, its own radius is added (a cyst at a duct's end has its centre well
   beyond the lumen).  A lesion on no duct is kept with ``system = branch = None`` and a
   warning: a radiologist's mark is never dropped.

Diameter of a mark-only lesion: the mark's own (from its text or a measurement), else the
bubble's measured size for a marked bubble, else ``default_diameter_mm`` with a warning,
since margins depend on it.
"""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from reconstruction.findings import Finding
from reconstruction.tree import DuctTree, resample_polyline

from .lesions import LESION_KINDS, Lesion
from .markups import Mark

__all__ = ["TreeLocation", "TreeLocator", "locate_on_tree", "merge_findings_and_marks"]

# Words in a mark's label or description that say the radiologist suspects malignancy;
# they switch the lesion to the DCIS margin (2 mm, SSO-ASTRO-ASCO).
_MALIGNANT_RE = re.compile(r"\b(dcis|carcinoma|cancer|malignan\w*|bi-?rads\s*(?:4[abc]?|5))\b",
                           re.IGNORECASE)


class TreeLocation(NamedTuple):
    """Where a point sits on the duct tree."""

    system: int
    branch: int
    point_index: int
    distance_mm: float


class TreeLocator:
    """Nearest-centreline queries on one tree (build once, query many times).

    The centrelines are densified to ``step_mm`` before the k-d tree is built, so the
    distance is to the polyline, not only to its (possibly sparse) vertices; each dense
    sample remembers the nearest original vertex, which is what ``point_index`` reports
    (``DuctTree.distance_along_duct_mm`` counts vertices).

    Parameters
    ----------
    tree : DuctTree
    step_mm : float
        Densification step; the distance error is at most half of it.
    """

    def __init__(self, tree: DuctTree, *, step_mm: float = 0.25) -> None:
        if step_mm <= 0:
            raise ValueError(f"step_mm must be positive, got {step_mm}")
        pts, rad, bid, vix = [], [], [], []
        for b in tree.branches:
            n = len(b.points_mm)
            if n == 0:
                continue
            values = np.stack([b.radius_mm, np.arange(n, dtype=float)], axis=1)
            if n == 1:
                p, v = b.points_mm, values
            else:
                p, v = resample_polyline(b.points_mm, step_mm=step_mm, values=values)
            pts.append(p)
            rad.append(v[:, 0])
            vix.append(np.rint(v[:, 1]).astype(int))
            bid.append(np.full(len(p), b.id))
        self.tree = tree
        self.points = np.concatenate(pts) if pts else np.zeros((0, 3))
        self.radius = np.concatenate(rad) if rad else np.zeros(0)
        self.branch = np.concatenate(bid) if bid else np.zeros(0, int)
        self.vertex = np.concatenate(vix) if vix else np.zeros(0, int)
        self._kd = cKDTree(self.points) if len(self.points) else None
        self._max_radius = float(self.radius.max()) if len(self.radius) else 0.0

    def nearest(self, point_mm: npt.ArrayLike) -> tuple[TreeLocation, float] | None:
        """The nearest centreline sample regardless of tolerance, and its lumen radius."""
        if self._kd is None:
            return None
        d, i = self._kd.query(np.asarray(point_mm, dtype=float).reshape(3))
        b = int(self.branch[i])
        return TreeLocation(self.tree.branches[b].system, b, int(self.vertex[i]), float(d)), float(self.radius[i])

    def locate(self, point_mm: npt.ArrayLike, *, tolerance_mm: float) -> TreeLocation | None:
        """The nearest centreline point whose lumen (radius + ``tolerance_mm``) holds the point."""
        if self._kd is None:
            return None
        p = np.asarray(point_mm, dtype=float).reshape(3)
        idx = self._kd.query_ball_point(p, r=self._max_radius + tolerance_mm)
        if not idx:
            return None
        idx = np.asarray(idx)
        d = np.linalg.norm(self.points[idx] - p, axis=1)
        ok = d <= self.radius[idx] + tolerance_mm
        if not np.any(ok):
            return None
        j = idx[ok][np.argmin(d[ok])]
        b = int(self.branch[j])
        return TreeLocation(self.tree.branches[b].system, b, int(self.vertex[j]),
                            float(np.linalg.norm(self.points[j] - p)))


def locate_on_tree(point_mm: npt.ArrayLike, tree: DuctTree | None, *,
                   tolerance_mm: float) -> TreeLocation | None:
    """Place a point on the duct tree.

    Parameters
    ----------
    point_mm : (3,) array
        Physical mm, image frame.
    tree : DuctTree or None
    tolerance_mm : float
        How far outside the local lumen (centreline distance minus radius) the point may
        lie and still count as on the duct.

    Returns
    -------
    TreeLocation or None
        ``(system, branch, point_index, distance_mm)`` of the nearest centreline point
        whose radius + tolerance reaches the point; None when no duct is that close (or
        there is no tree).

    Examples
    --------
    >>> from reconstruction.tree import Branch, DuctSystem
    >>> t = DuctTree([Branch(0, 0, None, [[0, 0, 0], [10, 0, 0]], [1, 1])], [DuctSystem(0, [0, 0, 0], 0)])
    >>> loc = locate_on_tree([6, 1.5, 0], t, tolerance_mm=1.0)
    >>> loc.system, loc.branch, loc.point_index, round(loc.distance_mm, 2)
    (0, 0, 1, 1.5)
    >>> locate_on_tree([6, 5, 0], t, tolerance_mm=1.0) is None
    True
    """
    if tree is None:
        return None
    return TreeLocator(tree).locate(point_mm, tolerance_mm=tolerance_mm)


def _is_bubble(f: Finding) -> bool:
    return bool(f.is_artefact) or f.kind == "air_bubble"


def _fmt(p: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in p) + ") mm"


def merge_findings_and_marks(findings: list[Finding], marks: list[Mark], tree: DuctTree | None, *,
                             confirm_distance_mm: float = 5.0, on_duct_tolerance_mm: float = 2.0,
                             default_diameter_mm: float = 5.0) -> tuple[list[Lesion], list[str]]:
    """Merge automatic findings and radiologists' marks into lesions (rules in the module doc).

    Parameters
    ----------
    findings : list of Finding
        From the detector, bubbles included.
    marks : list of Mark
        From :func:`planner.markups.read_markups`.
    tree : DuctTree or None
        For system/branch of each lesion; None leaves marks unplaced (with a warning).
    confirm_distance_mm : float
        A mark this close to a finding's centre confirms it.
    on_duct_tolerance_mm : float
        Slack beyond a finding's radius (for confirming) and beyond the lumen radius (for
        being on a duct).
    default_diameter_mm : float
        Diameter of a mark-only lesion whose size nobody gave (a typical papilloma).

    Returns
    -------
    lesions : list of Lesion
        Ids 0..n-1: confirmed and automatic lesions in finding order, then mark-only
        lesions in mark order.
    warnings : list of str
        One line each, for the plan's ``warnings``.

    Raises
    ------
    ValueError
        A non-positive distance or diameter setting, or a finding kind that is not a lesion kind.
    """
    for name, v in (("confirm_distance_mm", confirm_distance_mm),
                    ("on_duct_tolerance_mm", on_duct_tolerance_mm),
                    ("default_diameter_mm", default_diameter_mm)):
        if not np.isfinite(v) or v < 0 or (name == "default_diameter_mm" and v == 0):
            raise ValueError(f"{name} must be a non-negative finite mm value, got {v}")
    warnings: list[str] = []
    locator = TreeLocator(tree) if tree is not None and tree.branches else None

    # ---- pair each mark with the nearest finding it touches
    owner: list[int | None] = []
    for m in marks:
        best, best_d = None, np.inf
        for fi, f in enumerate(findings):
            d = float(np.linalg.norm(m.position_mm - f.center_mm))
            reach = max(confirm_distance_mm, 0.5 * float(f.diameter_mm) + on_duct_tolerance_mm)
            if d <= reach and d < best_d:
                best, best_d = fi, d
        owner.append(best)
    marks_of: dict[int, list[int]] = {}
    for mi, fi in enumerate(owner):
        if fi is not None:
            marks_of.setdefault(fi, []).append(mi)

    lesions: list[Lesion] = []

    def place(center: np.ndarray, system: int | None, branch: int | None, what: str, *,
              extra_mm: float = 0.0) -> tuple[int | None, int | None]:
        if system is not None and branch is not None:
            return system, branch
        if locator is None:
            return None, None
        loc = locator.locate(center, tolerance_mm=on_duct_tolerance_mm + extra_mm)
        if loc is not None:
            return loc.system, loc.branch
        near = locator.nearest(center)
        assert near is not None
        warnings.append(f"{what} at {_fmt(center)} lies on no opacified duct: nearest centreline "
                        f"{near[0].distance_mm:.1f} mm away (lumen radius {near[1]:.1f} mm + "
                        f"{on_duct_tolerance_mm + extra_mm:g} mm tolerance); kept without a duct system")
        return None, None

    # ---- findings (confirmed or automatic); bubbles only when marked
    bubble_marks: list[tuple[int, Finding]] = []
    for fi, f in enumerate(findings):
        mine = marks_of.get(fi, [])
        if _is_bubble(f):
            bubble_marks.extend((mi, f) for mi in mine)
            continue
        if f.kind not in LESION_KINDS:
            raise ValueError(f"finding {fi} has kind {f.kind!r}, which is not a lesion kind {LESION_KINDS}")
        labels = [marks[mi].label for mi in mine if marks[mi].label]
        text = " ".join(marks[mi].label + " " + marks[mi].description for mi in mine)
        if len(mine) > 1:
            warnings.append(f"{len(mine)} marks ({', '.join(repr(marks[mi].name) for mi in mine)}) "
                            f"lie on the same {f.kind} at {_fmt(f.center_mm)}; merged into one lesion")
        system, branch = place(f.center_mm, f.system, f.branch, f"{f.kind} finding",
                               extra_mm=0.5 * float(f.diameter_mm))
        lesions.append(Lesion(
            id=len(lesions), kind=f.kind, center_mm=f.center_mm.copy(), diameter_mm=float(f.diameter_mm),
            source="auto+annotated" if mine else "auto",
            # a radiologist's confirmation settles the detector's doubt
            confidence=1.0 if mine else float(f.confidence),
            system=system, branch=branch, label=" / ".join(labels),
            suspected_dcis=bool(f.details.get("suspected_dcis", False)) or bool(_MALIGNANT_RE.search(text)),
            notes=[f"confirmed by mark {marks[mi].name!r} ({np.linalg.norm(marks[mi].position_mm - f.center_mm):.1f} mm"
                   f" from the detector's centre)" for mi in mine]))

    # ---- marks that are lesions of their own (alone, or on a bubble)
    bubble_of = dict(bubble_marks)
    for mi, m in enumerate(marks):
        fi = owner[mi]
        bubble = bubble_of.get(mi)
        if fi is not None and bubble is None:
            continue  # it confirmed a real finding above
        notes: list[str] = []
        diameter = m.diameter_mm
        if bubble is not None:
            warnings.append(f"mark {m.name!r} at {_fmt(m.position_mm)} lies on what the detector called an "
                            f"air bubble ({bubble.diameter_mm:.1f} mm, confidence {bubble.confidence:.2f}); "
                            "kept as a lesion because a radiologist marked it (bubbles move between "
                            "acquisitions: compare views)")
            notes.append("the detector had called this an air bubble")
            if diameter is None:
                diameter = float(bubble.diameter_mm)
                notes.append(f"diameter {diameter:.1f} mm measured by the detector")
        if diameter is None:
            diameter = float(default_diameter_mm)
            warnings.append(f"mark {m.name!r} gives no diameter; assumed {diameter:g} mm for margins")
            notes.append(f"diameter assumed ({diameter:g} mm)")
        system, branch = place(m.position_mm, None, None, f"mark {m.name!r}")
        lesions.append(Lesion(
            id=len(lesions), kind="annotated", center_mm=m.position_mm.copy(), diameter_mm=float(diameter),
            source="annotated", confidence=1.0, system=system, branch=branch, label=m.label,
            suspected_dcis=bool(_MALIGNANT_RE.search(m.label + " " + m.description)), notes=notes))

    if marks and locator is None:
        warnings.append("no duct tree: radiologists' marks could not be placed on a duct system")
    return lesions, warnings
