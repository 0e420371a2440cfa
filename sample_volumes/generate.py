"""Assemble a sample: grow ducts, place lesions, image them with DBT physics, keep the truth."""
from __future__ import annotations

import copy
import zlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from reconstruction.frame import ImageFrame
from reconstruction.tree import DuctTree
from reconstruction.volume import Volume

from .dbt import SCANNERS, Scanner, detect, fbp_reconstruct, forward_project
from .ducts import BreastGeometry, TreeParameters, grow_tree
from .lesion_models import LesionSpec
from .phantom import GridSpec, Materials, render_lumen, tissue_attenuation
from .presets import Preset, get_preset

__all__ = ["DUCT_MODELS", "Sample", "make_sample", "patient_direction", "VALUE_SCALE"]

#: Reconstructed attenuation (1/mm) is stored x1000 (i.e. 1/m), a DBT-like value range.
VALUE_SCALE = 1000.0

Progress = Callable[[str, float], None]


@dataclass
class Sample:
    """A generated galactogram and everything true about it.

    Attributes
    ----------
    volume : Volume
        The reconstructed DBT volume (physical mm frame).
    truth : dict
        The ``truth.json`` content (physical mm).
    preset : Preset
    seed : int
    """

    volume: Volume
    truth: dict
    preset: Preset
    seed: int


def patient_direction(laterality: str, view: str) -> np.ndarray:
    """Image axes in patient LPS for a DBT volume (columns: x, y, z image axes).

    Image x runs from the chest wall to the nipple (anterior, LPS -Y); image z from the
    detector to the paddle: superior for CC, toward superomedial for MLO (45 degrees), medial
    for ML; image y completes a right-handed frame.
    """
    x_axis = np.array([0.0, -1.0, 0.0])
    medial = np.array([1.0, 0.0, 0.0]) if laterality == "R" else np.array([-1.0, 0.0, 0.0])
    superior = np.array([0.0, 0.0, 1.0])
    if view == "CC":
        z_axis = superior
    elif view == "MLO":
        z_axis = (medial + superior) / np.sqrt(2.0)
    elif view in ("ML", "LM"):
        z_axis = medial
    else:
        raise ValueError(f"unknown view {view!r}; expected CC, MLO or ML")
    y_axis = np.cross(z_axis, x_axis)
    return np.stack([x_axis, y_axis, z_axis], axis=1)


def _local_to_physical(frame: ImageFrame, local: np.ndarray) -> np.ndarray:
    """Local breast mm (x, y, z) -> physical mm: slice k sits at local z = (k + 0.5) dz."""
    idx = np.asarray(local, float) / np.asarray(frame.spacing) - np.array([0.0, 0.0, 0.5])
    return frame.index_to_physical(idx)


def _tree_to_physical(tree: DuctTree, frame: ImageFrame) -> DuctTree:
    out = copy.deepcopy(tree)
    for b in out.branches:
        b.points_mm = _local_to_physical(frame, b.points_mm)
    for s in out.systems:
        s.orifice_mm = _local_to_physical(frame, s.orifice_mm)
    out.nipple_mm = _local_to_physical(frame, tree.nipple_mm)
    return out


def _with_retries(fn, seed: int, attempts: int = 12):
    """Run ``fn(rng)``; a lesion that fits no duct of this tree tries a derived seed."""
    last = None
    for k in range(attempts):
        try:
            return fn(np.random.default_rng([seed, k]))
        except RuntimeError as exc:  # "no duct segment fits" -> grow another tree
            last = exc
    raise RuntimeError(f"could not build this sample from seed {seed}: {last}")


DUCT_MODELS: dict[str, TreeParameters] = {
    "standard": TreeParameters(),
    # Ducts thinner and more tortuous than the standard model: half-width main ducts,
    # terminal ducts down to 0.15 mm radius, and more than twice the direction noise.
    # Not a preset's model: a check that the reconstruction does not rest on the
    # standard model's calibre and straightness.
    "thin-tortuous": TreeParameters(main_radius_mm=(0.45, 0.75), min_radius_mm=0.15, tortuosity=0.12),
}


def _grow(preset: Preset, breast: BreastGeometry, rng: np.random.Generator, params: TreeParameters):
    tree = grow_tree(breast, rng, n_systems=preset.n_systems, params=params)
    for b in tree.branches:
        b.opacified = np.ones(len(b.points_mm), bool)
    lesions = preset.populate(tree, rng)
    return tree, lesions


def _append_hidden(tree: DuctTree, hidden: DuctTree) -> DuctTree:
    """Add systems that took no contrast (ids after the opacified ones)."""
    nb, ns = len(tree.branches), len(tree.systems)
    extra_b = [dataclasses.replace(b, id=b.id + nb, system=b.system + ns,
                                   parent=None if b.parent is None else b.parent + nb,
                                   opacified=np.zeros(len(b.points_mm), bool)) for b in hidden.branches]
    extra_s = [dataclasses.replace(s, id=s.id + ns, opacified=False,
                                   root_branch=None if s.root_branch is None else s.root_branch + nb)
               for s in hidden.systems]
    return DuctTree(branches=tree.branches + extra_b, systems=tree.systems + extra_s, nipple_mm=tree.nipple_mm)


def _breast_for(preset: Preset, rng: np.random.Generator) -> BreastGeometry:
    nx, ny, nz = preset.size_xyz
    dx, dy, dz = preset.spacing_mm
    field_x, field_y = nx * dx, ny * dy
    depth = min(preset.breast_depth_mm, field_x - 15.0)
    return BreastGeometry(depth_mm=depth, half_width_mm=max(0.62 * field_y, 0.6 * depth),
                          center_y_mm=0.5 * field_y + rng.uniform(-3, 3), thickness_mm=nz * dz,
                          areola_radius_mm=rng.uniform(15.0, 22.0))


def make_sample(name: str | Preset, *, seed: int = 0, scanner: str | None = None,
                ducts: str | None = None, progress: Progress | None = None) -> Sample:
    """Generate the sample ``name`` deterministically from ``seed``.

    Parameters
    ----------
    name : str or Preset
        A preset name (``sample_volumes.preset_names()``) or a Preset.
    seed : int
        Same seed, same voxels.
    scanner : str, optional
        Override the preset's arc: "narrow" (15 x 15 deg), "medium" (9 x 25), "wide" (25 x 50).
    ducts : str, optional
        Duct-tree model (``DUCT_MODELS``): "standard" (the default) or "thin-tortuous".
    progress : callable, optional
        ``progress(stage, fraction)`` for long runs.

    Returns
    -------
    Sample
    """
    preset = get_preset(name) if isinstance(name, str) else name
    scan: Scanner = SCANNERS[scanner or preset.scanner]
    params = DUCT_MODELS.get(ducts or "standard")
    if params is None:
        raise ValueError(f"unknown duct model {ducts!r}: choose from {', '.join(DUCT_MODELS)}")
    say = progress or (lambda stage, frac: None)
    # The preset's name joins the seed: each case gets its own tree, reproducibly.
    salt = zlib.crc32(preset.name.encode())
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, salt]).spawn(4)]
    nx, ny, nz = preset.size_xyz
    dx, dy, dz = preset.spacing_mm
    breast = _breast_for(preset, rngs[0])

    say("growing duct tree", 0.0)
    tree, lesions = _with_retries(lambda rng: _grow(preset, breast, rng, params), seed * 7919 + salt)
    # Systems a breast has but that took no contrast: truth only, never rendered.
    hidden = grow_tree(breast, rngs[1], n_systems=2, params=params)
    tree = _append_hidden(tree, hidden)

    materials = Materials()
    slice_z = (np.arange(nz) + 0.5) * dz
    say("simulating tissue", 0.1)
    coarse = max(0.3, 2 * dx)
    tgrid = GridSpec((0.5, 0.5 * coarse, 0.5 * coarse), (1.0, coarse, coarse),
                     (int(round(nz * dz)), int(np.ceil(ny * dy / coarse)), int(np.ceil(nx * dx / coarse))))
    mu_tissue = tissue_attenuation(tgrid, breast, rngs[2], materials=materials)

    say("rendering opacified ducts", 0.2)
    opac = DuctTree(branches=[b for b in tree.branches if tree.systems[b.system].opacified],
                    systems=[s for s in tree.systems if s.opacified], nipple_mm=tree.nipple_mm)
    pts = np.concatenate([b.points_mm for b in opac.branches] +
                         [np.asarray([c for c, _ in les.pools]).reshape(-1, 3) for les in lesions])
    pad = 8.0
    ix0, ix1 = max(int((pts[:, 0].min() - pad) / dx), 0), min(int((pts[:, 0].max() + pad) / dx) + 1, nx)
    iy0, iy1 = max(int((pts[:, 1].min() - pad) / dy), 0), min(int((pts[:, 1].max() + pad) / dy) + 1, ny)
    dz_obj = 0.5 * dz
    dgrid = GridSpec((0.5 * dz_obj, iy0 * dy, ix0 * dx), (dz_obj, dy, dx),
                     (int(round(nz * dz / dz_obj)), iy1 - iy0, ix1 - ix0))
    lumen = render_lumen(opac, lesions, dgrid)

    say("projecting", 0.35)
    angles = scan.angles_rad
    p_tissue = forward_project(mu_tissue, z_mm=tgrid.axes()[0], dz_mm=tgrid.spacing[0], dy_mm=coarse,
                               angles_rad=angles, out_ny=tgrid.shape[1])
    rows = (np.arange(ny) * dy - tgrid.origin[1]) / coarse
    cols = (np.arange(nx) * dx - tgrid.origin[2]) / coarse
    # Tissue projections live on the coarse grid: interpolate them onto the detector.
    proj = np.stack([ndimage.map_coordinates(p, np.meshgrid(rows, cols, indexing="ij", sparse=False),
                                             order=1, mode="nearest") for p in p_tissue]).astype(np.float32)
    del p_tissue
    p_lumen = forward_project(lumen * (materials.contrast - materials.gland), z_mm=dgrid.axes()[0],
                              dz_mm=dz_obj, dy_mm=dy, angles_rad=angles, out_ny=ny, y_offset_px=iy0)
    proj[:, :, ix0:ix1] += p_lumen
    del p_lumen, lumen

    say("detecting (quantum noise)", 0.55)
    detected = detect(proj, scanner=scan, pixel_area_mm2=dx * dy, rng=rngs[3])
    del proj
    say("reconstructing (FBP)", 0.6)
    recon = fbp_reconstruct(detected, angles_rad=angles, dy_mm=dy, slice_z_mm=slice_z,
                            progress=lambda k, n: say("reconstructing (FBP)", 0.6 + 0.4 * k / n))
    array = (recon * VALUE_SCALE).astype(np.float32)

    direction = patient_direction(preset.laterality, preset.view)
    origin = direction @ np.array([-0.5 * nx * dx, -0.5 * ny * dy, 0.0]) + np.array([12.25, -37.5, 41.0])
    frame = ImageFrame(origin=tuple(origin), spacing=(dx, dy, dz), direction=tuple(direction.ravel()),
                       size=(nx, ny, nz))
    volume = Volume(array=array, frame=frame, laterality=preset.laterality, view=preset.view,
                    source=f"sample:{preset.name}:seed={seed}",
                    metadata={"manufacturer": "ductplan simulator", "scanner": scan.name,
                              "n_projections": scan.n_projections, "arc_deg": scan.arc_deg})
    truth = _truth(preset, seed, scan, frame, breast, tree, lesions)
    say("done", 1.0)
    return Sample(volume=volume, truth=truth, preset=preset, seed=seed)


def _truth(preset: Preset, seed: int, scan: Scanner, frame: ImageFrame, breast: BreastGeometry,
           tree: DuctTree, lesions: list[LesionSpec]) -> dict:
    phys = _tree_to_physical(tree, frame)
    to_phys = lambda p: np.round(_local_to_physical(frame, p), 4).tolist()  # noqa: E731
    lesion_rows, artefact_rows = [], []
    for les in lesions:
        row = {"kind": les.kind, "center_mm": to_phys(les.center), "diameter_mm": round(float(les.diameter_mm), 3),
               "system": les.system, "branch": les.branch, "point_index": les.point_index,
               "obstructing": bool(les.obstructing), "suspected_dcis": bool(les.suspected_dcis)}
        if les.artefact:
            artefact_rows.append({"id": len(artefact_rows), **row})
        else:
            lesion_rows.append({"id": len(lesion_rows), **row})
    chest_wall_center = _local_to_physical(frame, np.array([0.0, breast.center_y_mm, 0.5 * breast.thickness_mm]))
    return {
        "schema": "ductplan.truth/1",
        "preset": preset.name,
        "description": preset.description,
        "seed": seed,
        "scanner": {"name": scan.name, "n_projections": scan.n_projections, "arc_deg": scan.arc_deg},
        "frame": frame.to_dict(),
        "laterality": preset.laterality,
        "view": preset.view,
        "nipple_mm": to_phys(breast.nipple_tip),
        "breast": {"thickness_mm": breast.thickness_mm, "depth_mm": breast.depth_mm + breast.nipple_length_mm,
                   "areola_radius_mm": round(breast.areola_radius_mm, 2),
                   "chest_wall_center_mm": np.round(chest_wall_center, 4).tolist()},
        "opacified_systems": [s.id for s in tree.systems if s.opacified],
        "tree": phys.to_dict(),
        "lesions": lesion_rows,
        "artefacts": artefact_rows,
        "clinical": dict(preset.clinical),
        "expected_procedure": preset.expected_procedure,
    }
