"""The topology report: every change the tree builder made to the lumen's skeleton.

A reconstructed duct tree is never silently "fixed": each system's rooting, each contact
cut between two systems, each cycle broken, each spur pruned, each lumen gap bridged and
each piece left unattached is recorded here with where (physical mm) and why, for the
radiologist (``lines()``) and for machines (``to_dict()``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["SystemRooting", "SystemContact", "CycleBreak", "SpurRemoval", "GapBridge",
           "LoosePiece", "TopologyReport"]


def _xyz(p: np.ndarray | None) -> str:
    if p is None:
        return "(?)"
    return "(" + ", ".join(f"{float(v):.1f}" for v in np.asarray(p).reshape(3)) + ") mm"


def _plain(v):
    """JSON-ready copy of dataclass field values."""
    if isinstance(v, np.ndarray):
        return np.round(v.astype(float), 3).tolist()
    if isinstance(v, (np.floating, float)):
        return round(float(v), 3)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


@dataclass
class SystemRooting:
    """How one orifice was joined to the lumen.

    ``root_mm`` is the centreline point the system starts from (None when no lumen came
    within the tolerance), ``distance_mm`` its distance from the given orifice.
    """

    system: int
    orifice_mm: np.ndarray
    found: bool
    root_mm: np.ndarray | None = None
    distance_mm: float | None = None
    how: str = ""
    n_branches: int = 0
    length_mm: float = 0.0


@dataclass
class SystemContact:
    """Two systems' lumens touched; the centreline was cut at ``point_mm``."""

    systems: tuple[int, int]
    point_mm: np.ndarray


@dataclass
class CycleBreak:
    """A loop in the centreline, broken by removing its weakest edge."""

    point_mm: np.ndarray
    cycle_length_mm: float
    removed_length_mm: float
    removed_radius_mm: float
    system: int | None = None
    reason: str = ""


@dataclass
class SpurRemoval:
    """A short side branch removed as a thinning artefact (wall bump, junction blob).

    ``within_lumen`` is True when the spur was removed because its tip lies inside the
    lumen the ducts around it already describe (a spur of a wide body), whatever its
    length; False when it is shorter than ``threshold_mm``.
    """

    tip_mm: np.ndarray
    base_mm: np.ndarray
    length_mm: float
    local_radius_mm: float
    threshold_mm: float
    within_lumen: bool = False


@dataclass
class GapBridge:
    """An interrupted lumen (filling defect, bubble, poor filling) bridged by a straight
    centreline from the rooted tree (``start_mm``) to a loose piece (``end_mm``).

    ``kind`` is "continuation" (tip to tip: the duct goes on beyond the gap), "side"
    (a piece joining the side of a duct: a branch whose origin was not filled) or "stub"
    (a system seen only as a stub at its orifice, joined to its tree beyond the gap
    whatever the stub's direction; ``piece_angle_deg`` is then None).
    ``detour_mm`` is set for a gap bridged inside the tree: the piece beyond the gap had
    been joined to the tree the long way round (through ducts touching it), and the
    bridge shortened its way from the orifice by this much (the long way was cut where
    the loop closes; see ``CycleBreak``).
    ``branch`` and ``point_range`` say where the bridge ended up in the tree
    (``Branch.bridged``).
    """

    gap: int
    start_mm: np.ndarray
    end_mm: np.ndarray
    length_mm: float
    kind: str
    piece_angle_deg: float | None
    tree_angle_deg: float | None
    piece_length_mm: float
    system: int | None = None
    branch: int | None = None
    point_range: tuple[int, int] | None = None
    detour_mm: float | None = None


@dataclass
class LoosePiece:
    """A piece of centreline not connected to any orifice."""

    length_mm: float
    centroid_mm: np.ndarray
    n_tips: int
    distance_to_tree_mm: float | None
    reason: str = ""


@dataclass
class TopologyReport:
    """Everything the tree builder changed or could not do, in plain words and in data.

    Examples
    --------
    >>> r = TopologyReport()
    >>> r.lines()[0]
    'No systems were rooted.'
    """

    systems: list[SystemRooting] = field(default_factory=list)
    contacts: list[SystemContact] = field(default_factory=list)
    cycles: list[CycleBreak] = field(default_factory=list)
    spurs: list[SpurRemoval] = field(default_factory=list)
    gaps: list[GapBridge] = field(default_factory=list)
    pieces: list[LoosePiece] = field(default_factory=list)
    artefact_loops: int = 0
    skeleton: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    # --------------------------------------------------------------- numbers
    @property
    def loose_length_mm(self) -> float:
        return float(sum(p.length_mm for p in self.pieces))

    @property
    def n_systems_rooted(self) -> int:
        return sum(1 for s in self.systems if s.found)

    # ------------------------------------------------------------- exporting
    def to_dict(self) -> dict:
        """JSON-ready dict (numbers rounded to 0.001 mm)."""
        return {
            "systems": [_plain(asdict(s)) for s in self.systems],
            "contacts": [_plain(asdict(c)) for c in self.contacts],
            "cycles": [_plain(asdict(c)) for c in self.cycles],
            "spurs": [_plain(asdict(s)) for s in self.spurs],
            "gaps": [_plain(asdict(g)) for g in self.gaps],
            "pieces": [_plain(asdict(p)) for p in self.pieces],
            "loose_length_mm": round(self.loose_length_mm, 3),
            "artefact_loops": int(self.artefact_loops),
            "skeleton": _plain(self.skeleton),
            "notes": list(self.notes),
        }

    def lines(self, *, max_items: int = 8) -> list[str]:
        """The report as short plain sentences, most important first."""
        out: list[str] = []
        if not self.systems:
            out.append("No systems were rooted.")
        for s in self.systems:
            if s.found:
                out.append(f"System {s.system}: {s.n_branches} branches, {s.length_mm:.1f} mm of duct, "
                           f"rooted {s.distance_mm:.1f} mm from its orifice at {_xyz(s.orifice_mm)}"
                           + (f" ({s.how})." if s.how else "."))
            else:
                out.append(f"System {s.system}: not reconstructed: {s.how} (orifice at {_xyz(s.orifice_mm)}).")
        for c in self.contacts:
            out.append(f"Systems {c.systems[0]} and {c.systems[1]} touched at {_xyz(c.point_mm)}; "
                       "the centreline was cut there to keep them separate trees.")
        if self.cycles:
            out.append(f"{len(self.cycles)} cycle(s) broken (ducts do not normally anastomose: a loop "
                       "is two ducts touching or a hole in the mask).")
            for c in self.cycles[:max_items]:
                where = "" if c.system is None else f" in system {c.system}"
                out.append(f"  Cycle{where} at {_xyz(c.point_mm)}: a loop of {c.cycle_length_mm:.1f} mm; "
                           f"removed {c.removed_length_mm:.1f} mm of centreline (mean radius "
                           f"{c.removed_radius_mm:.2f} mm), {c.reason}.")
            if len(self.cycles) > max_items:
                out.append(f"  ... and {len(self.cycles) - max_items} more cycles.")
        else:
            out.append("No cycles found.")
        if self.spurs:
            tot = sum(s.length_mm for s in self.spurs)
            out.append(f"{len(self.spurs)} spur(s) removed ({tot:.1f} mm in all): side branches shorter "
                       "than their threshold (a multiple of the local lumen radius), or ending inside the "
                       "lumen of the ducts around them, taken as wall bumps.")
            for s in sorted(self.spurs, key=lambda s: -s.length_mm)[:max_items]:
                why = ("its tip lies inside the neighbouring ducts' lumen" if s.within_lumen
                       else f"threshold {s.threshold_mm:.1f} mm")
                out.append(f"  Spur at {_xyz(s.tip_mm)}: {s.length_mm:.1f} mm long, local radius "
                           f"{s.local_radius_mm:.2f} mm, {why}.")
            if len(self.spurs) > max_items:
                out.append(f"  ... and {len(self.spurs) - max_items} shorter spurs.")
        else:
            out.append("No spurs removed.")
        if self.gaps:
            out.append(f"{len(self.gaps)} lumen gap(s) bridged: the duct is interrupted there (filling "
                       "defect, air bubble or poor filling); look there for lesions.")
            for g in self.gaps[:max_items]:
                where = "" if g.branch is None else (f" on branch {g.branch}, points "
                                                     f"{g.point_range[0]}-{g.point_range[1]}")
                sysw = "" if g.system is None else f" in system {g.system}"
                joins = (f"joining a {g.piece_length_mm:.1f} mm piece" if g.detour_mm is None else
                         f"instead of a way round {g.detour_mm:.1f} mm longer")
                out.append(f"  Gap{sysw}{where}: {g.length_mm:.1f} mm from {_xyz(g.start_mm)} to "
                           f"{_xyz(g.end_mm)} ({g.kind}, {joins}).")
            if len(self.gaps) > max_items:
                out.append(f"  ... and {len(self.gaps) - max_items} more gaps.")
        else:
            out.append("No lumen gaps bridged.")
        if self.pieces:
            out.append(f"{len(self.pieces)} pieces ({self.loose_length_mm:.1f} mm of centreline) not "
                       "connected to any orifice.")
            for p in sorted(self.pieces, key=lambda p: -p.length_mm)[:max_items]:
                dist = "" if p.distance_to_tree_mm is None else f", {p.distance_to_tree_mm:.1f} mm from the tree"
                out.append(f"  Piece of {p.length_mm:.1f} mm at {_xyz(p.centroid_mm)}{dist}: {p.reason}.")
            if len(self.pieces) > max_items:
                out.append(f"  ... and {len(self.pieces) - max_items} smaller pieces.")
        else:
            out.append("All centreline is connected to an orifice.")
        if self.artefact_loops:
            out.append(f"{self.artefact_loops} tiny skeleton loop(s) (a few voxels round) removed.")
        out.extend(self.notes)
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())
