"""Lumen mask -> rooted duct trees: tiny hand-drawn volumes and invariants."""
from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from reconstruction.frame import ImageFrame
from reconstruction.skeleton import choose_grid, thin_to_curves
from reconstruction.topology import TopologyReport
from reconstruction.treebuild import build_tree, smooth_polyline, z_uncertainty_mm

import tiny_volumes as tv

ANISO = (0.2, 0.2, 1.0)     # DBT-like: 1 mm slices
ISO = (0.2, 0.2, 0.2)
IN_PLANE_VOXEL = 0.2


# ----------------------------------------------------------------------------- helpers
@functools.lru_cache(maxsize=None)
def volume(name: str, spacing=ANISO, flip=(False, False, False), order="C") -> tv.TinyVolume:
    return {**tv.ALL_FIXTURES, **tv.DBT_FIXTURES}[name](spacing_xyz=spacing, flip_xyz=flip, order=order)


@functools.lru_cache(maxsize=None)
def built(name: str, spacing=ANISO, flip=(False, False, False), order="C"):
    v = volume(name, spacing, flip, order)
    tree, report = build_tree(v.mask, v.frame, orifices_mm=v.orifices_mm)
    tree.validate()
    return v, tree, report


def dist_to_polyline(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance of each point to a polyline (mm)."""
    p = np.asarray(points, float)[:, None, :]
    a, b = poly[:-1][None], poly[1:][None]
    d = b - a
    t = np.clip(np.sum((p - a) * d, axis=-1) / np.maximum(np.sum(d * d, axis=-1), 1e-12), 0, 1)
    return np.linalg.norm(p - (a + t[..., None] * d), axis=-1).min(axis=1)


def match(tree, drawn: list[tv.DrawnBranch]) -> dict[int, int]:
    """Drawn branch index -> tree branch id (nearest by median distance), one to one."""
    out = {}
    for i, d in enumerate(drawn):
        cost = [np.median(dist_to_polyline(b.points_mm, d.points_mm)) for b in tree.branches]
        out[i] = int(np.argmin(cost))
        assert min(cost) < 0.6, f"no reconstructed branch follows drawn branch {i} (best {min(cost):.2f} mm)"
    assert len(set(out.values())) == len(out), f"two drawn branches matched one branch: {out}"
    return out


def interior_radius(branch, drawn_radius: float) -> float:
    """Median radius away from the junction ball and the tip cap."""
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(branch.points_mm, axis=0), axis=1))])
    keep = (s > 1.5 * drawn_radius) & (s < s[-1] - 1.5 * drawn_radius)
    return float(np.median(branch.radius_mm[keep] if keep.any() else branch.radius_mm))


def check_against_drawing(v: tv.TinyVolume, tree, *, length_tol=0.10, radius_tol=IN_PLANE_VOXEL + 0.05):
    assert len(tree.systems) == v.n_systems
    assert len(tree.branches) == len(v.branches)
    m = match(tree, v.branches)
    for i, d in enumerate(v.branches):
        b = tree.branches[m[i]]
        assert b.length_mm == pytest.approx(d.length_mm, rel=length_tol), f"drawn branch {i}"
        assert abs(interior_radius(b, d.radius_mm) - d.radius_mm) <= radius_tol, f"drawn branch {i}"
        assert b.generation == d.generation
        assert b.system == d.system
        assert b.parent == (None if d.parent is None else m[d.parent])
    return m


# ------------------------------------------------------------------------- fixtures
@pytest.mark.parametrize("spacing", [ANISO, ISO], ids=["aniso", "iso"])
def test_y_fork(spacing):
    v, tree, report = built("y_fork", spacing)
    check_against_drawing(v, tree)
    root = tree.branches[tree.systems[0].root_branch]
    assert root.parent is None and root.generation == 1
    assert np.linalg.norm(root.points_mm[0] - v.orifices_mm[0]) < 0.3    # starts at the orifice
    assert sorted(tree.children(root.id)) == [1, 2]
    assert not report.cycles and not report.gaps and not report.pieces
    for b in tree.branches:
        assert b.z_uncertainty_mm is not None and len(b.z_uncertainty_mm) == len(b.points_mm)
        assert np.all(b.z_uncertainty_mm >= 0.5 * v.frame.spacing[2] - 1e-9)
    assert [b.id for b in tree.branches] == list(range(len(tree.branches)))


@pytest.mark.parametrize("spacing", [ANISO, ISO], ids=["aniso", "iso"])
def test_loop_is_reported_and_broken(spacing):
    v, tree, report = built("loop", spacing)
    assert len(report.cycles) == 1
    cyc = report.cycles[0]
    assert cyc.system == 0
    thin_arm = np.array([[12.0, 10.0, 4.0], v.extra["thin_arm_mm"], [24.0, 10.0, 4.0]])
    assert dist_to_polyline(cyc.point_mm[None], thin_arm)[0] < 1.0      # broken on the thin arm
    assert "loop" in " ".join(report.lines()).lower()
    # the thin arm is kept as a tip that ends where the loop closed; the thick way round
    # carries the duct on
    assert len(tree.branches) == 3
    thin = [b for b in tree.branches if np.median(dist_to_polyline(b.points_mm, thin_arm)) < 0.5]
    assert len(thin) == 1 and tree.is_tip(thin[0].id)
    assert thin[0].mean_radius_mm < 0.85
    main = [b for b in tree.branches if b.id != thin[0].id]
    assert sum(b.length_mm for b in main) == pytest.approx(v.branches[0].length_mm, rel=0.10)
    # tree, not graph: no branch is its own ancestor, one root
    tree.validate()


def test_loop_weak_edge_removed_whole_when_asked():
    v = volume("loop")
    tree, report = build_tree(v.mask, v.frame, orifices_mm=v.orifices_mm, loop_cut_factor=np.inf)
    assert len(report.cycles) == 1 and report.cycles[0].removed_length_mm > 10
    assert len(tree.branches) == 1
    assert tree.branches[0].length_mm == pytest.approx(v.branches[0].length_mm, rel=0.10)


@pytest.mark.parametrize("spacing", [ANISO, ISO], ids=["aniso", "iso"])
def test_broken_duct_is_bridged(spacing):
    v, tree, report = built("broken_duct", spacing)
    check_against_drawing(v, tree)
    assert len(report.gaps) == 1 and not report.pieces
    gap = report.gaps[0]
    assert gap.kind == "continuation"
    assert gap.length_mm == pytest.approx(v.extra["gap_mm"], abs=1.0)
    root = tree.branches[tree.systems[0].root_branch]
    assert len(root.bridged) == 1 and gap.branch == root.id and gap.point_range == root.bridged[0]
    a, b = root.bridged[0]
    seg = np.array([v.extra["gap_from_mm"], v.extra["gap_to_mm"]])
    assert np.all(dist_to_polyline(root.points_mm[a:b + 1], seg) < 0.6)     # the bridge is the gap
    assert root.length_mm > 20                                             # and stays one duct
    assert np.all(root.z_uncertainty_mm[a:b + 1] >= v.frame.spacing[2] - 1e-9)
    assert any("gap" in line.lower() for line in report.lines())


def test_gap_longer_than_max_gap_is_reported_not_dropped():
    v = volume("broken_duct")
    tree, report = build_tree(v.mask, v.frame, orifices_mm=v.orifices_mm, max_gap_mm=2.0)
    assert not report.gaps
    assert len(tree.branches) == 1
    assert len(report.pieces) == 1
    piece = report.pieces[0]
    assert piece.length_mm > 20 and piece.distance_to_tree_mm == pytest.approx(4.0, abs=1.0)
    assert "1 pieces (" in " ".join(report.lines())
    assert "not connected to any orifice" in " ".join(report.lines())


@pytest.mark.parametrize("spacing", [ANISO, ISO], ids=["aniso", "iso"])
def test_two_systems_stay_separate(spacing):
    v, tree, report = built("two_systems", spacing)
    check_against_drawing(v, tree)
    for s, system in enumerate(tree.systems):
        assert system.root_branch is not None and system.opacified
        assert np.allclose(system.orifice_mm, v.orifices_mm[s])
        root = tree.branches[system.root_branch]
        assert root.system == s and np.linalg.norm(root.points_mm[0] - v.orifices_mm[s]) < 0.3
    assert [len(tree.branch_ids(s)) for s in range(2)] == [1, 3]
    assert report.contacts, "the touching lumens must be reported"
    assert min(np.linalg.norm(c.point_mm - v.extra["contact_mm"]) for c in report.contacts) < 1.5


@pytest.mark.parametrize("spacing", [ANISO, ISO], ids=["aniso", "iso"])
def test_spur_is_pruned_and_reported(spacing):
    v, tree, report = built("spur", spacing)
    check_against_drawing(v, tree)            # the real side branch stays
    near = [s for s in report.spurs if np.linalg.norm(s.tip_mm - v.extra["spur_tip_mm"]) < 1.0]
    assert near, "the wall bump must be reported as a pruned spur"
    assert near[0].length_mm < near[0].threshold_mm
    bump = np.array([v.extra["spur_base_mm"], v.extra["spur_tip_mm"]])
    for b in tree.branches:            # and no branch runs up the bump
        assert np.sum(dist_to_polyline(b.points_mm, bump) < 0.2) <= 2


@pytest.mark.parametrize("spacing", [ANISO, ISO], ids=["aniso", "iso"])
def test_a_dilated_segment_is_one_wide_branch_not_a_star(spacing):
    v, tree, report = built("dilated", spacing)
    assert len(tree.branches) == 1, [round(b.length_mm, 1) for b in tree.branches]
    b = tree.branches[0]
    lo, hi = v.extra["body_x_mm"]
    inside = (b.points_mm[:, 0] > lo + 1.0) & (b.points_mm[:, 0] < hi - 1.0)
    # the centreline runs up to 1 mm off the balls' centres: inscribed radius 1.9-2.5 mm
    assert 0.75 * v.extra["body_radius_mm"] <= np.median(b.radius_mm[inside]) <= v.extra["body_radius_mm"] + 0.3
    outside = b.points_mm[:, 0] > hi + 3.0
    assert np.median(b.radius_mm[outside]) == pytest.approx(0.7, abs=IN_PLANE_VOXEL + 0.05)


def test_a_wide_flat_lumen_at_the_orifice_still_roots_its_system():
    # The stub from the orifice into the flat body is shorter than the body is wide, so
    # pruning takes it; the system must start in the body, not vanish.
    v, tree, report = built("wide_ampulla")
    assert report.systems[0].found, report.systems[0].how
    assert "wide lumen" in report.systems[0].how
    lo, hi = v.extra["body_x_mm"]
    assert lo <= report.systems[0].root_mm[0] <= hi     # rooted in the body
    assert len(tree.branches) == 1
    pts = tree.branches[0].points_mm
    assert np.linalg.norm(pts[0] - v.orifices_mm[0]) <= 4.0     # from the orifice
    assert pts[-1, 0] == pytest.approx(32.0, abs=1.0)           # to the duct's end


def test_a_stub_at_the_orifice_is_joined_to_the_duct_beyond_its_gap():
    # No tip of the duct points back at the stub, and the stub runs away from it: only a
    # join that ignores the stub's direction keeps the duct.
    v, tree, report = built("stub_at_orifice")
    assert len(tree.systems) == 1 and report.systems[0].found
    assert tree.system_length_mm(0) >= 6.0 + 0.9 * v.extra["duct_mm"]
    stubs = [g for g in report.gaps if g.kind == "stub"]
    assert len(stubs) == 1 and stubs[0].length_mm <= 7.0 and stubs[0].piece_angle_deg is None
    assert not report.pieces


def test_a_duct_whose_end_points_at_a_longer_piece_joins_it():
    # The longer piece's tips point away from the duct: the duct's own tip looks across.
    v, tree, report = built("duct_beyond_a_side_gap")
    assert tree.system_length_mm(0) >= 12.0 + 0.9 * v.extra["duct_mm"]
    (gap,) = report.gaps
    assert gap.kind == "side" and gap.length_mm == pytest.approx(5.1, abs=0.6)
    assert gap.start_mm[0] < gap.end_mm[0]         # from the rooted side to the piece
    assert not report.pieces


def test_radius_of_a_one_slice_staircase_is_its_width_not_its_step():
    """A thin duct one slice deep whose depth steps every 0.3 mm (DBT's depth jitter from
    column to column: a 3D EDT reads about one pixel there)."""
    frame = tv.box_frame(spacing_xyz=(0.1, 0.1, 1.0))
    mask = np.zeros(frame.shape_zyx, bool)
    x = frame.array_index_to_physical(np.stack(np.meshgrid([0], [0], np.arange(frame.shape_zyx[2]),
                                                           indexing="ij"), -1).reshape(-1, 3).astype(float))[:, 0]
    ys = frame.array_index_to_physical(np.stack(np.meshgrid([0], np.arange(frame.shape_zyx[1]), [0],
                                                            indexing="ij"), -1).reshape(-1, 3).astype(float))[:, 1]
    rows = np.abs(ys - 10.0) <= 0.5                   # 1 mm wide: radius 0.5 mm
    for i, xv in enumerate(x):
        if 2.0 <= xv <= 32.0:
            z = 4 + (int(xv / 0.3) % 2)               # one slice up, one slice down
            mask[z, rows, i] = True
    tree, _ = build_tree(mask, frame, orifices_mm=[[2.0, 10.0, 4.5]])
    r = np.concatenate([b.radius_mm for b in tree.branches])
    assert np.median(r) == pytest.approx(0.5, abs=0.12)


# ------------------------------------------------------------------------ invariants
def test_memory_order_does_not_matter():
    _, tree_c, rep_c = built("y_fork", ANISO, order="C")
    v_f = volume("y_fork", ANISO, order="F")
    assert v_f.mask.flags["F_CONTIGUOUS"] and not v_f.mask.flags["C_CONTIGUOUS"]
    tree_f, rep_f = build_tree(v_f.mask, v_f.frame, orifices_mm=v_f.orifices_mm)
    assert len(tree_f.branches) == len(tree_c.branches)
    for a, b in zip(tree_c.branches, tree_f.branches):
        assert a.parent == b.parent
        np.testing.assert_allclose(a.points_mm, b.points_mm)
        np.testing.assert_allclose(a.radius_mm, b.radius_mm)
    assert rep_c.to_dict() == rep_f.to_dict()


@pytest.mark.parametrize("name", sorted(tv.ALL_FIXTURES))
def test_anisotropic_and_isotropic_give_the_same_tree(name):
    _, t_aniso, _ = built(name, ANISO)
    _, t_iso, _ = built(name, ISO)
    assert len(t_aniso.branches) == len(t_iso.branches)
    assert len(t_aniso.systems) == len(t_iso.systems)
    for b in t_iso.branches:
        cost = [np.median(dist_to_polyline(a.points_mm, b.points_mm)) for a in t_aniso.branches]
        a = t_aniso.branches[int(np.argmin(cost))]
        assert min(cost) < 0.6
        assert a.length_mm == pytest.approx(b.length_mm, rel=0.10)
        assert a.generation == b.generation


def test_flipped_direction_puts_points_in_the_right_place():
    flip = (True, False, True)                 # x and z image axes point the other way
    v, tree, report = built("y_fork", ANISO, flip)
    assert not np.allclose(v.frame.direction_matrix, np.eye(3))
    check_against_drawing(v, tree)
    drawn = [d.points_mm for d in v.branches]
    for b in tree.branches:
        d = np.min([dist_to_polyline(b.points_mm, poly) for poly in drawn], axis=0)
        assert np.median(d) < 0.3 and d.max() < 1.0
    # same physical tree as the unflipped volume
    _, plain, _ = built("y_fork", ANISO)
    assert sorted(round(b.length_mm, 0) for b in tree.branches) == \
        pytest.approx(sorted(round(b.length_mm, 0) for b in plain.branches), abs=1.0)


def test_empty_mask_is_refused():
    f = tv.box_frame()
    with pytest.raises(ValueError, match="no lumen found"):
        build_tree(np.zeros(f.shape_zyx, bool), f, orifices_mm=[[2.0, 10.0, 4.0]])


def test_solid_mask_is_refused():
    f = ImageFrame.identity((10, 20, 30), spacing=(0.2, 0.2, 1.0))
    with pytest.raises(ValueError, match="solid"):
        build_tree(np.ones(f.shape_zyx, bool), f, orifices_mm=[[1.0, 1.0, 1.0]])


def test_single_voxel_and_bad_inputs_are_refused():
    f = ImageFrame.identity((10, 20, 30), spacing=(0.2, 0.2, 1.0))
    m = np.zeros(f.shape_zyx, bool)
    m[5, 10, 15] = True
    with pytest.raises(ValueError, match="no lumen centreline"):
        build_tree(m, f, orifices_mm=[[3.0, 2.0, 5.0]])
    with pytest.raises(ValueError, match="shape"):
        build_tree(m[:, :, :-1], f, orifices_mm=[[3.0, 2.0, 5.0]])
    with pytest.raises(ValueError, match="orifices"):
        build_tree(m, f, orifices_mm=[])
    with pytest.raises(ValueError, match="orifices_mm"):
        build_tree(m, f, orifices_mm=[[1.0, 2.0]])


def test_orifice_without_lumen_gives_an_empty_reported_system():
    v = volume("y_fork")
    far = np.array([30.0, 2.0, 4.0])
    tree, report = build_tree(v.mask, v.frame, orifices_mm=[v.orifices_mm[0], far])
    tree.validate()
    assert len(tree.systems) == 2
    assert tree.systems[1].root_branch is None and not tree.systems[1].opacified
    assert not report.systems[1].found
    assert any(line.startswith("System 1: not reconstructed") for line in report.lines())
    assert len(tree.branch_ids(0)) == 3


def test_nipple_alone_roots_one_system():
    v = volume("y_fork")
    tree, report = build_tree(v.mask, v.frame, orifices_mm=[], nipple_mm=[1.0, 10.0, 4.0])
    tree.validate()
    assert len(tree.systems) == 1 and len(tree.branches) == 3
    assert np.allclose(tree.nipple_mm, [1.0, 10.0, 4.0])
    assert any("nipple" in n for n in report.notes)


def test_intensity_is_accepted_and_checked():
    v = volume("loop")
    tree, report = build_tree(v.mask, v.frame, orifices_mm=v.orifices_mm, intensity=v.mask.astype(np.float32))
    assert len(report.cycles) == 1
    with pytest.raises(ValueError, match="intensity"):
        build_tree(v.mask, v.frame, orifices_mm=v.orifices_mm, intensity=np.zeros((3, 3, 3)))


def test_report_is_plain_words_and_json():
    _, _, report = built("broken_duct", ANISO)
    assert isinstance(report, TopologyReport)
    lines = report.lines()
    assert all(isinstance(s, str) and s for s in lines)
    assert lines[0].startswith("System 0:")
    d = json.loads(json.dumps(report.to_dict()))
    assert set(d) >= {"systems", "cycles", "spurs", "gaps", "pieces", "contacts"}
    assert d["gaps"][0]["branch"] == 0


# --------------------------------------------------------------------------- helpers
def test_thinning_keeps_flat_boxes():
    # scikit-image's 3D Lee thinning returns nothing for this box (its issue 3757)
    box = np.zeros((6, 12, 60), bool)
    box[2:4, 2:10, 2:58] = True
    sk = thin_to_curves(box)
    zz, yy, xx = np.nonzero(sk)
    assert len(xx) >= 40 and xx.min() <= 5 and xx.max() >= 54


def test_grid_choice_is_near_isotropic():
    assert choose_grid((1.0, 0.1, 0.1), voxel_mm=0.3) == ((1, 3, 3), (3, 1, 1))
    assert choose_grid((0.2, 0.2, 0.2), voxel_mm=0.3) == ((1, 1, 1), (1, 1, 1))


def test_smoothing_pins_end_points():
    rng = np.random.default_rng(0)
    p = np.cumsum(rng.normal(size=(40, 3)) * 0.2 + [0.3, 0, 0], axis=0)
    q = smooth_polyline(p, sigma_mm=1.0)
    np.testing.assert_allclose(q[[0, -1]], p[[0, -1]])
    assert np.linalg.norm(np.diff(q, axis=0), axis=1).sum() < np.linalg.norm(np.diff(p, axis=0), axis=1).sum()


def test_z_uncertainty_model():
    f = ImageFrame.identity((10, 10, 10), spacing=(0.1, 0.1, 1.0))
    flat = np.array([[0.0, 0, 0], [5, 0, 0], [10, 0, 0]])
    steep = np.array([[0.0, 0, 0], [1, 0, 5], [2, 0, 10]])
    base = z_uncertainty_mm(flat, [2.0] * 3, f)
    np.testing.assert_allclose(base, 0.5)                                   # half a slice
    assert np.all(z_uncertainty_mm(steep, [2.0] * 3, f) > 1.5)              # steep in z
    assert np.all(z_uncertainty_mm(flat, [0.3] * 3, f) > 1.0)               # thin
    assert np.all(z_uncertainty_mm(flat, [2.0] * 3, f, bridged=[True] * 3) >= 1.0)
    # the slice axis follows the frame's direction, not the physical z
    turned = ImageFrame(origin=(0, 0, 0), spacing=(0.1, 0.1, 1.0), direction=(0, 0, 1, 0, 1, 0, 1, 0, 0),
                        size=(10, 10, 10))
    assert np.all(z_uncertainty_mm(flat, [2.0] * 3, turned) > 1.5)
