"""Excision geometry: exact SDFs, closed manifold meshes, reach, margins."""
from __future__ import annotations

import numpy as np
import pytest
from test_planner_fixtures import NIPPLE, lesion, long_duct, on_branch, two_systems

from planner import PlanSettings, build_excision, check_mesh, compute_margins, mesh_sdf
from planner.sdf import Frustum, RoundCone, Sphere, Union, sample_sdf
from reconstruction.frame import ImageFrame

RNG = np.random.default_rng(7)


# ------------------------------------------------------------------ exact SDFs
@pytest.mark.parametrize("r1, r2", [(1.0, 4.0), (3.0, 3.0), (5.0, 0.5), (6.0, 1.0)])
def test_round_cone_sdf_is_exact_outside_and_signed_inside(r1, r2):
    a, b = np.array([0.0, 0, 0]), np.array([10.0, 3, -2])
    p = RNG.uniform(-12, 22, (1500, 3))
    d = RoundCone(a, b, r1, r2).sdf(p)
    # The hull of two balls is the union of the linearly interpolated balls.
    t = np.linspace(0, 1, 2001)
    c = a + t[:, None] * (b - a)
    r = r1 + t * (r2 - r1)
    brute = np.min(np.linalg.norm(p[:, None] - c[None], axis=2) - r[None], axis=1)
    out = brute > 0
    assert np.abs(d[out] - brute[out]).max() < 1e-3
    clear = np.abs(d) > 1e-3
    assert np.array_equal((d < 0)[clear], (brute < 0)[clear])


def test_round_cone_inside_is_exact_for_a_capsule():
    s = RoundCone((0, 0, 0), (20, 0, 0), 3.0, 3.0)
    assert s.sdf([[10, 1, 0]])[0] == pytest.approx(-2.0)
    assert s.sdf([[0, 0, 0]])[0] == pytest.approx(-3.0)


def test_frustum_sdf_matches_brute_force():
    f = Frustum((1, 2, 3), (1, 1, 0.2), depth=25.0, r_top=7.0, r_base=20.0)
    ax = np.asarray(f.axis)
    u = np.cross(ax, [0, 0, 1.0])
    u /= np.linalg.norm(u)
    v = np.cross(ax, u)
    # dense samples of the surface: two caps and the side
    th = np.linspace(0, 2 * np.pi, 721)[:-1]
    ring = np.cos(th)[:, None] * u + np.sin(th)[:, None] * v
    surf = []
    for rr in np.linspace(0, 7, 71):
        surf.append(np.asarray(f.apex) + rr * ring)
    for rr in np.linspace(0, 20, 201):
        surf.append(np.asarray(f.apex) + 25 * ax + rr * ring)
    for y in np.linspace(0, 25, 251):
        surf.append(np.asarray(f.apex) + y * ax + (7 + 13 * y / 25) * ring)
    surf = np.concatenate(surf)
    p = np.asarray(f.apex) + RNG.uniform(-30, 40, (400, 3))
    from scipy.spatial import cKDTree
    brute = cKDTree(surf).query(p)[0]
    d = f.sdf(p)
    assert np.abs(np.abs(d) - brute).max() < 0.15  # surface sampled every ~0.1-0.2 mm
    x, y = f.local(p)
    inside = (y >= 0) & (y <= 25) & (x <= 7 + 13 * y / 25)
    assert np.array_equal(d < 0, inside)


def test_rounded_frustum_keeps_caps_side_and_radii():
    f = Frustum((0, 0, 0), (0, 0, 1), depth=25.0, r_top=7.0, r_base=20.0, rounding=1.0)
    on = [[0, 0, 0], [0, 0, 25], [13.5, 0, 12.5], [0, -13.5, 12.5]]
    assert np.abs(f.sdf(on)).max() < 1e-9
    assert f.sdf([[20.0, 0, 25]])[0] > 0  # only the rim is rounded off


def test_union_and_sampling_have_the_right_sign_everywhere():
    u = Union((Sphere((0, 0, 0), 3.0), RoundCone((0, 0, 0), (15, 0, 0), 1.0, 1.0)))
    grid, origin = sample_sdf(u, spacing_mm=0.5)
    idx = np.argwhere(np.ones(grid.shape, bool))
    pts = origin + 0.5 * idx
    exact = u.sdf(pts)
    g = grid.ravel()
    assert np.array_equal(g < 0, exact < 0)
    band = np.abs(exact) < 1.0
    assert np.abs(g[band] - exact[band]).max() < 1e-5


# ------------------------------------------------------------------ meshes
def test_sphere_mesh_is_closed_manifold_with_the_right_volume():
    v, f = mesh_sdf(Sphere((3, -2, 7), 6.0), spacing_mm=0.5)
    t = check_mesh(v, f)
    assert t.closed and t.manifold and t.watertight and t.n_components == 1 and t.euler == 2
    assert t.volume_mm3 == pytest.approx(4 / 3 * np.pi * 6 ** 3, rel=0.02)


def test_check_mesh_finds_holes_and_nonmanifold_edges():
    v, f = mesh_sdf(Sphere((0, 0, 0), 3.0), spacing_mm=0.5)
    t = check_mesh(v, f[1:])
    assert not t.closed and t.boundary_edges == 3
    extra = np.vstack([f, f[:1]])                           # a face used twice
    assert check_mesh(v, extra).nonmanifold_edges == 3
    with pytest.raises(ValueError):
        check_mesh(v, f.astype(float))


def _assert_good_mesh(ex):
    t = ex.topology
    assert t.closed and t.manifold and t.watertight, t.to_dict()
    assert t.n_components == 1 and t.euler == 2
    assert ex.volume_cm3 > 0


# ------------------------------------------------------------------ microdochectomy
def test_microdochectomy_sleeve_follows_the_duct_with_margins():
    t = two_systems()
    les = [lesion(0, on_branch(t, 1, 15.0)),
           lesion(1, on_branch(t, 2, 20.0) + [0.5, 0, 0], 6.0, suspected_dcis=True)]
    s = PlanSettings()
    ex = build_excision("microdochectomy", t, les, nipple_mm=NIPPLE, settings=s)
    _assert_good_mesh(ex)
    assert ex.treated == (0, 1) and ex.beyond_reach == {}
    m = compute_margins(ex, les, settings=s)
    assert m[0].required_mm == 5.0 and m[0].min_margin_mm >= 5.0 - 1e-6
    assert m[1].required_mm == 2.0 and m[1].min_margin_mm >= 2.0 - 1e-6
    # from the orifice ...
    assert ex.sdf([t.systems[0].orifice_mm])[0] < 0
    # ... to beyond the most distal lesion, along the duct
    assert ex.sdf([on_branch(t, 1, 15.0 + 2.0 + 5.0 - 0.2)])[0] < 0
    assert ex.sdf([on_branch(t, 1, 30.0)])[0] > 0
    # the other system's ducts stay, beyond the nipple region
    assert ex.sdf([on_branch(t, 4, 10.0)])[0] > 0
    assert ex.duct["system"] == 0 and set(ex.duct["branches"]) == {0, 1, 2}
    # the distal margin is the setting: the duct length removed follows the lesion
    assert ex.depth_mm == pytest.approx(t.branches[0].length_mm + 20.0 + 3.0 + 2.0, abs=0.05)
    # mesh vertices lie on the exact surface (within the grid's reach)
    assert np.abs(ex.sdf(ex.vertices)).max() < 0.5


def test_lesion_off_the_centreline_keeps_its_margin():
    t = two_systems()
    les = [lesion(0, on_branch(t, 1, 20.0) + [0, 2.5, 0], 8.0)]
    ex = build_excision("microdochectomy", t, les, nipple_mm=NIPPLE)
    _assert_good_mesh(ex)
    assert compute_margins(ex, les)[0].min_margin_mm >= 5.0 - 1e-6


def test_lesion_beyond_duct_reach_is_flagged_and_extended_only_on_request():
    t = long_duct()
    far = on_branch(t, 1, 70.0)           # ~82 mm along the duct
    les = [lesion(0, on_branch(t, 1, 10.0)), lesion(1, far)]
    ex = build_excision("microdochectomy", t, les, nipple_mm=NIPPLE)
    _assert_good_mesh(ex)
    assert ex.treated == (0,) and 1 in ex.beyond_reach
    w = " ".join(ex.warnings)
    assert "wire" in w and "radar" in w and "segmental excision" in w and "not included" in w
    m = compute_margins(ex, les)
    assert m[0].adequate and m[1].min_margin_mm < 0 and not m[1].treated
    # the duct itself is removed as far as usual toward it
    assert ex.depth_mm == pytest.approx(60.0, abs=0.05)

    ex2 = build_excision("microdochectomy", t, les, nipple_mm=NIPPLE,
                         settings=PlanSettings(extend_to_lesions=True))
    _assert_good_mesh(ex2)
    assert ex2.treated == (0, 1) and ex2.extended == (1,)
    assert all(m.adequate for m in compute_margins(ex2, les))
    assert "extended" in " ".join(ex2.warnings)


def test_lesion_on_no_duct_in_a_microdochectomy():
    t = two_systems()
    les = [lesion(0, on_branch(t, 1, 15.0)), lesion(1, [-25.0, 15.0, 20.0], kind="annotated",
                                                     source="annotated")]
    ex = build_excision("microdochectomy", t, les, nipple_mm=NIPPLE)
    assert ex.treated == (0,) and ex.beyond_reach[1] == "lies on no opacified duct"
    s = PlanSettings(extend_to_lesions=True)
    ex = build_excision("microdochectomy", t, les, nipple_mm=NIPPLE, settings=s)
    _assert_good_mesh(ex)  # bridged to the duct: one piece
    assert all(m.treated and m.adequate for m in compute_margins(ex, les, settings=s))


def test_lesion_outside_the_volume_is_beyond_reach():
    t = two_systems()
    frame = ImageFrame(origin=(-30.0, -30.0, -2.0), spacing=(0.5, 0.5, 1.0),
                       direction=tuple(np.eye(3).ravel()), size=(121, 121, 40))  # z up to 37 mm
    les = [lesion(0, on_branch(t, 1, 10.0)), lesion(1, on_branch(t, 1, 35.0))]
    assert not frame.contains_physical(les[1].center_mm)
    ex = build_excision("microdochectomy", t, les, nipple_mm=NIPPLE, frame=frame)
    assert ex.beyond_reach[1] == "lies outside the imaged volume"
    assert ex.treated == (0,)


# ------------------------------------------------------------------ Hadfield
@pytest.mark.parametrize("depth, radius", [(25.0, 20.0), (20.0, 15.0), (30.0, 22.0)])
def test_hadfield_cone_depth_and_radius_as_set(depth, radius):
    t = two_systems()
    axis = np.array([0.0, 0.0, 1.0])
    s = PlanSettings(cone_depth_mm=depth, cone_base_radius_mm=radius, cone_axis=(0, 0, 1))
    ex = build_excision("hadfield", t, [], nipple_mm=NIPPLE, settings=s)
    _assert_good_mesh(ex)
    assert ex.depth_mm == depth
    assert ex.cone["depth_mm"] == depth and ex.cone["base_radius_mm"] == radius
    # exact shape: caps at 0 and depth on the axis, side through the set radii
    r_mid = 7.0 + (radius - 7.0) * 0.5
    on = [[0, 0, 0], [0, 0, depth], [r_mid, 0, depth / 2], [0, r_mid, depth / 2]]
    assert np.abs(ex.sdf(on)).max() < 1e-9
    # the mesh spans 0..depth along the axis and reaches the base radius
    y = ex.vertices @ axis
    assert y.min() == pytest.approx(0.0, abs=0.3) and y.max() == pytest.approx(depth, abs=0.3)
    # ... and the base radius, less what rounding the rim (rho) takes off the corner
    rho, k = ex.cone["rim_rounding_mm"], (radius - 7.0) / depth
    assert 0 < rho <= 1.0
    rim = radius - rho * (np.sqrt(1 + k * k) + k - 1)
    radial = np.linalg.norm(ex.vertices[:, :2], axis=1)
    assert radial.max() == pytest.approx(rim, abs=0.1)
    frustum = np.pi * depth / 3 * (49 + 7 * radius + radius ** 2) / 1000
    assert ex.volume_cm3 == pytest.approx(frustum, rel=0.03)


def test_cone_radius_defaults_to_areola_then_20mm_and_axis_to_the_tree():
    t = two_systems()
    ex = build_excision("hadfield", t, [], nipple_mm=NIPPLE, areolar_radius_mm=16.0)
    assert ex.cone["base_radius_mm"] == 16.0
    ex = build_excision("hadfield", t, [], nipple_mm=NIPPLE)
    assert ex.cone["base_radius_mm"] == 20.0
    pts, _, _ = t.all_points()
    expected = pts.mean(axis=0) / np.linalg.norm(pts.mean(axis=0))
    assert np.allclose(ex.cone["axis"], expected)


def test_unusual_cone_depth_warns():
    ex = build_excision("hadfield", two_systems(), [], nipple_mm=NIPPLE,
                        settings=PlanSettings(cone_depth_mm=40.0))
    assert any("usual" in w for w in ex.warnings)


def test_hadfield_lesion_near_the_wall_keeps_margin_deep_one_is_flagged():
    t = two_systems()
    s = PlanSettings(cone_axis=(0, 0, 1))
    near_wall = lesion(0, [11.0, 0, 12.0], 4.0)          # wall at r = 13.2 mm there
    deep = lesion(1, on_branch(t, 4, 30.0))               # ~38 mm deep
    les = [near_wall, deep]
    ex = build_excision("hadfield", t, les, nipple_mm=NIPPLE, settings=s)
    _assert_good_mesh(ex)
    m = compute_margins(ex, les, settings=s)
    assert m[0].treated and m[0].min_margin_mm >= 5.0 - 1e-6
    assert not m[1].treated and m[1].min_margin_mm < 0
    assert "deeper than the 25 mm" in ex.beyond_reach[1]
    assert any("radioguided" in w for w in ex.warnings)

    s2 = PlanSettings(cone_axis=(0, 0, 1), extend_to_lesions=True)
    ex2 = build_excision("hadfield", t, les, nipple_mm=NIPPLE, settings=s2)
    _assert_good_mesh(ex2)
    assert all(m.treated and m.adequate for m in compute_margins(ex2, les, settings=s2))
    assert ex2.depth_mm == 25.0 and ex2.max_distance_from_nipple_mm > 40.0


def test_build_excision_rejects_other_kinds_and_missing_axis():
    t = two_systems()
    with pytest.raises(ValueError, match="no excision"):
        build_excision("none", t, [], nipple_mm=NIPPLE)
    with pytest.raises(ValueError, match="cone_axis"):
        build_excision("hadfield", t.__class__([], []), [], nipple_mm=NIPPLE)
