"""The reconstruction pipeline: volume -> lumen mask -> nipple and orifices -> DuctTree."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .depth_prune import prune_tip_artefacts
from .depth_refine import refine_tree_depths
from .detours import DetourOptions, bridge_detours, locate_bridges
from .orifices import drop_stub_systems, extend_to_nipple, find_orifices
from .segment import Segmentation, segment_lumen
from .topology import TopologyReport
from .tree import DuctTree
from .treebuild import build_tree
from .volume import Volume

__all__ = ["Reconstruction", "reconstruct", "find_orifices"]

Progress = Callable[[str, float], None]

#: How close to the nipple a duct's visible lumen must come to drain through it: the same
#: reach decides which lumen pieces are kept (segmentation) and which are systems.
NIPPLE_REACH_MM = 15.0


@dataclass
class Reconstruction:
    """Everything the reconstruction learnt from one volume.

    Attributes
    ----------
    tree : DuctTree
        One rooted tree per opacified system (physical mm).
    topology : TopologyReport
        Cycles broken, gaps bridged, spurs pruned, pieces not attached.
    segmentation : Segmentation
        The lumen mask (working grid) and its contrast map.
    nipple_mm : (3,) ndarray
    nipple_given : bool
        True when the user gave the nipple (``--nipple``).
    notes : list of str
    """

    tree: DuctTree
    topology: TopologyReport
    segmentation: Segmentation
    nipple_mm: np.ndarray
    nipple_given: bool
    notes: list[str] = field(default_factory=list)


def reconstruct(volume: Volume, *, nipple_mm: np.ndarray | None = None,
                progress: Progress | None = None, max_gap_mm: float = 12.0) -> Reconstruction:
    """Reconstruct the opacified duct tree of a galactogram volume.

    Parameters
    ----------
    volume : Volume
    nipple_mm : (3,) array, optional
        Overrides the automatic nipple.
    progress : callable, optional
        ``progress(stage, fraction)``.
    max_gap_mm : float
        Longest lumen interruption bridged within one duct.

    Raises
    ------
    ValueError
        When no breast, no nipple or no contrast-filled duct can be found.
    """
    say = progress or (lambda stage, frac: None)
    say("segmenting the opacified lumen", 0.0)
    given = nipple_mm is not None
    seg = segment_lumen(volume.array, volume.frame, root_radius_mm=NIPPLE_REACH_MM,
                        nipple_mm=None if nipple_mm is None else np.asarray(nipple_mm, float))
    nipple = seg.nipple_mm
    say("finding orifices", 0.4)
    search = find_orifices(seg, nipple, reach_mm=NIPPLE_REACH_MM)
    orifices = search.lumen_starts_mm
    say("building the duct tree", 0.5)
    tree, report = build_tree(seg.mask, seg.frame, orifices_mm=orifices, nipple_mm=nipple,
                              intensity=seg.contrast, max_gap_mm=max_gap_mm)
    say("deciding each duct's depth where it is in focus", 0.8)
    tree, depth_notes = refine_tree_depths(tree, seg.contrast, seg.frame)
    report.notes.extend(depth_notes)
    say("pruning depth artefacts", 0.9)
    # Only now, with every duct at its own in-focus depth, are the rails of one smeared
    # lumen on top of each other (two ducts crossing in projection are not).
    tree, pruned, rails, dark = prune_tip_artefacts(tree, seg.contrast, seg.frame)
    tree, stubs = drop_stub_systems(tree, report)
    report.notes.extend(stubs)
    stems = extend_to_nipple(tree, report, nipple, volume=volume.array, frame=volume.frame)
    report.notes.extend(stems)
    # A duct's far side joined to the tree through a touching duct, not across its gap:
    # bridge the gap so the duct is one chain and distances along it are true.  (Last:
    # before the pruning, the tips it removes offer bridges of their own.)
    axis = tuple(float(v) for v in seg.frame.direction_matrix[:, 2])
    tree, detours = bridge_detours(tree, options=DetourOptions(max_gap_mm=max_gap_mm, slice_axis=axis))
    for g in detours:
        g.gap = len(report.gaps)
        report.gaps.append(g)
    if detours:
        report.notes.append(f"{len(detours)} duct(s) reached the long way round (through a duct they touch) "
                            f"re-hung across their lumen gap: up to {max(g.detour_mm for g in detours):.0f} mm "
                            "shorter from the orifice.")
        # Each cut leaves two tips where the two ways met: one may be a stub of a column
        # along the slice axis, a rail or a dark end, now exposed.
        tree, more_pruned, more_rails, more_dark = prune_tip_artefacts(tree, seg.contrast, seg.frame)
        pruned, rails, dark = pruned + more_pruned, rails + more_rails, dark + more_dark
    # (Pruning renumbered the branches and re-hanging reversed some: say where each
    # bridged gap lies in the final tree.)
    locate_bridges(tree, report.gaps)
    tree.validate()
    if pruned:
        # The report above counted branches before pruning: say what changed, and how much.
        report.notes.append(f"{len(pruned)} tip branch(es) running along the slice axis "
                            f"removed as depth artefacts; {len(tree.branches)} branches remain.")
        report.notes.extend(pruned[:20])
    if rails:
        report.notes.append(f"{len(rails)} tip branch(es) lying along other branches removed (rails of one "
                            f"lumen smeared across slices); {len(tree.branches)} branches remain.")
        report.notes.extend(rails[:20])
    if dark:
        report.notes.append(f"{len(dark)} tip branch(es) with no contrast along them at their decided depth "
                            f"removed; {len(tree.branches)} branches remain.")
        report.notes.extend(dark[:20])
    notes = list(seg.notes) + search.notes + [f"{len(orifices)} orifice(s) found at the nipple",
                               f"{len(pruned)} tip branch(es) running along the slice axis removed"]
    say("reconstruction done", 1.0)
    return Reconstruction(tree=tree, topology=report, segmentation=seg, nipple_mm=nipple,
                          nipple_given=given, notes=notes)
