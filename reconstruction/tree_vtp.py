"""DuctTree <-> VTK polylines (``tree.vtp``): VTK stays at this edge."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .tree import Branch, DuctSystem, DuctTree

__all__ = ["tree_to_polydata", "write_tree_vtp", "read_tree_vtp"]


def tree_to_polydata(tree: DuctTree):
    """One polyline cell per branch; point data ``radius_mm``, ``system``, ``branch``,
    ``generation`` (and ``z_uncertainty_mm`` when known)."""
    import pyvista as pv

    pts, lines, radius, system, branch, gen, zunc = [], [], [], [], [], [], []
    offset = 0
    for b in tree.branches:
        n = len(b.points_mm)
        if n < 2:
            continue
        pts.append(b.points_mm)
        lines.append(np.concatenate([[n], np.arange(offset, offset + n)]))
        offset += n
        radius.append(b.radius_mm)
        system.append(np.full(n, b.system))
        branch.append(np.full(n, b.id))
        gen.append(np.full(n, b.generation))
        zunc.append(b.z_uncertainty_mm if b.z_uncertainty_mm is not None else np.full(n, np.nan))
    if not pts:
        return pv.PolyData()
    poly = pv.PolyData(np.concatenate(pts), lines=np.concatenate(lines))
    poly.point_data["radius_mm"] = np.concatenate(radius).astype(np.float32)
    poly.point_data["system"] = np.concatenate(system).astype(np.int32)
    poly.point_data["branch"] = np.concatenate(branch).astype(np.int32)
    poly.point_data["generation"] = np.concatenate(gen).astype(np.int32)
    poly.point_data["z_uncertainty_mm"] = np.concatenate(zunc).astype(np.float32)
    poly.cell_data["branch"] = np.array([b.id for b in tree.branches if len(b.points_mm) >= 2], np.int32)
    parents = [-1 if b.parent is None else b.parent for b in tree.branches if len(b.points_mm) >= 2]
    poly.cell_data["parent"] = np.array(parents, np.int32)
    return poly


def write_tree_vtp(tree: DuctTree, path: str | Path) -> Path:
    """Write ``tree`` as VTK XML polydata, atomically."""
    path = Path(path)
    poly = tree_to_polydata(tree)
    with atomic_write(path) as tmp:
        poly.save(str(tmp), binary=True)
    return path


def read_tree_vtp(path: str | Path) -> DuctTree:
    """Read a ``tree.vtp`` written by :func:`write_tree_vtp` back into a DuctTree
    (systems' orifices are the first points of their root branches)."""
    import pyvista as pv

    poly = pv.read(str(path))
    branches = []
    cells = poly.lines
    i = 0
    k = 0
    while i < len(cells):
        n = int(cells[i])
        ids = cells[i + 1: i + 1 + n]
        bid = int(poly.cell_data["branch"][k])
        parent = int(poly.cell_data["parent"][k])
        z = poly.point_data["z_uncertainty_mm"][ids]
        branches.append(Branch(id=bid, system=int(poly.point_data["system"][ids[0]]),
                               parent=None if parent < 0 else parent, points_mm=poly.points[ids],
                               radius_mm=poly.point_data["radius_mm"][ids],
                               generation=int(poly.point_data["generation"][ids[0]]),
                               z_uncertainty_mm=None if np.isnan(z).all() else z))
        i += n + 1
        k += 1
    branches.sort(key=lambda b: b.id)
    n_sys = 1 + max((b.system for b in branches), default=-1)
    systems = []
    for s in range(n_sys):
        roots = [b for b in branches if b.system == s and b.parent is None]
        systems.append(DuctSystem(id=s, orifice_mm=roots[0].points_mm[0] if roots else np.zeros(3),
                                  root_branch=roots[0].id if roots else None))
    return DuctTree(branches=branches, systems=systems)
