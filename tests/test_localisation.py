"""Clinical localisation: clock face for both breasts and both views, depth, distances.

Coordinates are DICOM LPS: x = patient's Left, y = Posterior, z = Superior.  Facing the
patient, 12:00 is superior and 3:00 (the viewer's right) is the patient's LEFT, so the
clock angle clockwise from 12 is atan2(dL, dS) and the right breast is lateral at 9:00,
the left breast at 3:00.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from planner.lesions import Lesion, Localisation
from planner.localisation import (ClinicalLocalisation, clock_face, localise, localise_lesion,
                                  normalise_laterality)
from reconstruction.frame import ImageFrame
from reconstruction.tree import Branch, DuctSystem, DuctTree

NIPPLE = np.array([10.0, -5.0, 40.0])
S = math.sin(math.radians(60))   # 0.866
CC_AXIS = (0.0, 0.0, 1.0)


def at_hour(hour: float, r: float = 20.0, depth: float = 25.0) -> np.ndarray:
    """A lesion ``r`` mm from the nipple axis at a clock hour, ``depth`` mm posterior."""
    a = math.radians(30.0 * hour)
    return NIPPLE + np.array([r * math.sin(a), depth, r * math.cos(a)])


def loc(center, *, side, view, axis=CC_AXIS, sigma=1.0, **kw):
    return localise(center, 4.0, nipple_mm=NIPPLE, laterality=side, view=view, z_axis_mm=axis,
                    slice_uncertainty_mm=sigma, **kw)


# ------------------------------------------------------------------------- CC views
@pytest.mark.parametrize("side, offset_L_S, expect", [
    # RIGHT breast: the patient's right is -x, which the viewer sees on the left: 9:00.
    ("R", (0.0, 20.0), "12:00"),            # straight up: atan2(0, 20) = 0 deg -> 12:00
    ("R", (-20.0, 0.0), "9:00"),            # lateral (-x): atan2(-20, 0) = -90 deg -> 9:00
    ("R", (20.0, 0.0), "3:00"),             # medial (+x, toward the sternum): +90 deg -> 3:00
    ("R", (0.0, -20.0), "6:00"),            # straight down: 180 deg -> 6:00
    ("R", (-20 * S, 10.0), "10:00"),        # upper outer: atan2(-17.3, 10) = -60 deg -> 10:00
    ("R", (20 * S, 10.0), "2:00"),          # upper inner: +60 deg -> 2:00
    # LEFT breast: lateral is +x (the patient's left), the viewer's right: 3:00.
    ("L", (20.0, 0.0), "3:00"),             # lateral: +90 deg -> 3:00
    ("L", (-20.0, 0.0), "9:00"),            # medial: -90 deg -> 9:00
    ("L", (20 * S, 10.0), "2:00"),          # upper outer: +60 deg -> 2:00
    ("L", (-20 * S, 10.0), "10:00"),        # upper inner: -60 deg -> 10:00
    ("L", (10.0, -20 * S), "5:00"),         # lower outer: atan2(10, -17.3) = 150 deg -> 5:00
    ("L", (0.0, 20.0), "12:00"),
])
def test_clock_cc_both_breasts(side, offset_L_S, expect):
    dL, dS = offset_L_S
    out = loc(NIPPLE + np.array([dL, 30.0, dS]), side=side, view="CC")
    assert isinstance(out, ClinicalLocalisation) and isinstance(out, Localisation)
    assert out.side == side and out.view == "CC"
    assert out.clock == expect
    # S-I slice axis, +-2 mm (2 sigma): at 20 mm from the axis these hours do not move
    assert out.clock_range == (expect,) and not out.clock_uncertain


def test_same_lesion_lateral_is_9_on_the_right_3_on_the_left():
    # lateral for each breast means away from the midline: -x for R, +x for L
    assert loc(NIPPLE + [-25, 20, 0], side="R", view="CC").clock == "9:00"
    assert loc(NIPPLE + [25, 20, 0], side="L", view="CC").clock == "3:00"


def test_subareolar_and_the_hour_shift_across_slices():
    # 2 mm left and 2 mm up of the nipple (2.8 mm < 5 mm in the coronal plane): subareolar
    assert loc(NIPPLE + [2, 15, 2], side="R", view="CC").clock == "subareolar"
    # At 45 deg (1:30, between 1:00 and 2:00) any error along S moves the hour:
    # dL = dS = 14.1; dS +- 2 mm -> atan2(14.1, 12.1..16.1) = 49..41 deg -> 1:00 or 2:00.
    out = loc(NIPPLE + [14.142, 20, 14.142], side="L", view="CC", sigma=1.0)
    assert out.clock_uncertain and set(out.clock_range) == {"1:00", "2:00"}
    assert any("could read" in n for n in out.notes)
    # With no slice uncertainty the clock is given but its uncertainty is unknown
    out = localise(at_hour(10), 4.0, nipple_mm=NIPPLE, laterality="R", view="CC", z_axis_mm=CC_AXIS)
    assert out.clock == "10:00" and out.z_uncertainty_mm is None and not out.clock_uncertain
    assert any("uncertainty unknown" in n for n in out.notes)


# ------------------------------------------------------------------------ MLO views
def mlo_frame(side: str) -> ImageFrame:
    """The image frame of an MLO volume: slice axis rotated 45 deg about the A-P (y) axis.

    Rotation about y by theta: image x -> (cos, 0, -sin), image y -> A-P, image z (the
    slice axis) -> (sin, 0, cos).  theta = +45 deg gives the slice axis (0.71, 0, 0.71),
    superomedial -> inferolateral for the RIGHT breast (medial is +x); theta = -45 deg
    gives (-0.71, 0, 0.71) for the LEFT breast.
    """
    t = math.radians(45.0 if side == "R" else -45.0)
    rot = np.array([[math.cos(t), 0, math.sin(t)], [0, 1, 0], [-math.sin(t), 0, math.cos(t)]])
    return ImageFrame(origin=tuple(NIPPLE), spacing=(0.1, 0.1, 1.0), direction=tuple(rot.ravel()),
                      size=(2000, 2000, 60))


@pytest.mark.parametrize("side, patient_offset, expect", [
    ("R", (0.0, 25.0, 20.0), "12:00"),      # straight up in the patient
    ("R", (-20.0, 25.0, 0.0), "9:00"),      # right breast lateral
    ("R", (-20 * S, 25.0, 10.0), "10:00"),  # right upper outer
    ("L", (20.0, 25.0, 0.0), "3:00"),       # left breast lateral
    ("L", (20 * S, 25.0, 10.0), "2:00"),    # left upper outer
    ("L", (0.0, 25.0, -20.0), "6:00"),
])
def test_clock_mlo_uses_patient_axes_not_image_axes(side, patient_offset, expect):
    frame = mlo_frame(side)
    # Where the lesion sits in the image: its continuous voxel index in the oblique frame.
    ijk = frame.physical_to_index(NIPPLE + np.array(patient_offset))
    center = frame.index_to_physical(ijk)                      # back to patient LPS
    slice_axis = frame.direction_matrix[:, 2]
    out = loc(center, side=side, view="MLO", axis=slice_axis, sigma=0.5)
    assert out.view == "MLO" and out.clock == expect

    # Reading the image axes as if they were L and S gives another hour: the image x/z
    # offsets are the patient's rotated by 45 deg, i.e. 1.5 hours off.
    image_offset = ijk * np.array(frame.spacing)
    naive = clock_face(image_offset)
    assert naive != expect

    # The same lesion in a volume stored with an identity direction (image axes taken as
    # patient axes) cannot be read as MLO: the slice axis is S-I, which is a CC geometry.
    out = loc(image_offset + NIPPLE, side=side, view="MLO", axis=(0, 0, 1))
    assert out.clock is None and any("does not fit" in n for n in out.notes)


def test_mlo_slice_axis_leaning_the_other_way_is_refused():
    # A right MLO's slice axis runs along (+1, 0, +1); (-1, 0, +1) is a left MLO's:
    # laterality or frame is wrong, so no clock rather than a mirrored one.
    out = loc(NIPPLE + [0, 25, 20], side="R", view="MLO", axis=mlo_frame("L").direction_matrix[:, 2])
    assert out.clock is None and any("left-breast MLO" in n for n in out.notes)


def test_view_changes_the_clock_uncertainty():
    # Lesion at 2:00 in the left breast, 10 mm off the nipple axis: dL = 8.66, dS = 5.
    center = NIPPLE + np.array([10 * S, 25.0, 5.0])
    # CC: slice axis S, +-4 mm (sigma 2 mm, 2 sigma): dS from 1 to 9 ->
    #     atan2(8.66, 1) = 83 deg (2.8 h -> 3:00) ... atan2(8.66, 9) = 44 deg (1.5 h -> 1:00)
    cc = loc(center, side="L", view="CC", sigma=2.0)
    assert cc.clock == "2:00" and cc.clock_uncertain and set(cc.clock_range) == {"1:00", "2:00", "3:00"}
    # Left MLO: slice axis (-0.71, 0, 0.71); +-4 mm moves (dL, dS) by (-+2.83, +-2.83):
    #     t=+4: atan2(5.83, 7.83) = 36.7 deg (1.22 h); t=-4: atan2(11.49, 2.17) = 79.3 deg
    #     (2.64 h -> 3:00): the hour can shift too, but differently.
    mlo = loc(center, side="L", view="MLO", axis=mlo_frame("L").direction_matrix[:, 2], sigma=2.0)
    assert mlo.clock == "2:00" and set(mlo.clock_range) == {"1:00", "2:00", "3:00"}
    # Right MLO, lesion at 1:30 direction exactly along its slice axis (1, 0, 1)/sqrt2:
    # the uncertainty moves it radially, so the angle (45 deg) never changes; in CC it does.
    on_axis = NIPPLE + np.array([14.142, 25.0, 14.142])
    r_mlo = loc(on_axis, side="R", view="MLO", axis=mlo_frame("R").direction_matrix[:, 2], sigma=2.0)
    r_cc = loc(on_axis, side="R", view="CC", sigma=2.0)
    assert not r_mlo.clock_uncertain and r_cc.clock_uncertain


def test_nominal_slice_axis_when_not_given():
    out = localise(at_hour(9), 4.0, nipple_mm=NIPPLE, laterality="R", view="MLO", slice_uncertainty_mm=1.0)
    assert out.clock == "9:00" and out.slice_axis_assumed
    assert np.allclose(out.slice_axis_mm, np.array([1, 0, 1]) / math.sqrt(2))


# ------------------------------------------------------------- unknown = no clock
@pytest.mark.parametrize("side, view, why", [
    (None, "CC", "laterality unknown"), ("U", "CC", "laterality unknown"), ("B", "MLO", "laterality unknown"),
    ("R", None, "view unknown"), ("L", "", "view unknown"),
    ("R", "SIO", "not one whose geometry"), ("L", "spot compression", "not one whose geometry"),
])
def test_no_clock_when_side_or_view_unknown(side, view, why):
    out = loc(at_hour(10), side=side, view=view)
    assert out.clock is None and out.clock_range == ()
    assert any(why in n for n in out.notes)
    assert out.distance_from_nipple_mm > 0           # everything else is still reported


def test_laterality_spellings():
    assert normalise_laterality("right") == "R" and normalise_laterality(" L ") == "L"
    with pytest.raises(ValueError, match="laterality"):
        normalise_laterality("north")


# --------------------------------------------------------------- depth and distances
def test_depth_thirds_and_distances():
    kw = dict(chest_wall_mm=90.0, posterior_axis=(0, 2.0, 0))   # axis is normalised
    # 20 mm posterior of 90 mm -> 0.22 -> anterior; 45 -> 0.5 middle; 70 -> 0.78 posterior
    assert loc(NIPPLE + [0, 20, 10], side="R", view="CC", **kw).depth_third == "anterior"
    assert loc(NIPPLE + [0, 45, 10], side="R", view="CC", **kw).depth_third == "middle"
    out = loc(NIPPLE + [0, 70, 10], side="R", view="CC", **kw)
    assert out.depth_third == "posterior" and out.depth_fraction == pytest.approx(70 / 90)
    assert loc(NIPPLE + [0, 20, 10], side="R", view="CC").depth_third is None   # no chest wall
    # straight distance 3-4-5 triangle: (0, 12, 16) -> 20 mm, 2 cm; anterior edge 20 - 2 = 18
    out = loc(NIPPLE + [0, 12, 16], side="R", view="CC", **kw)
    assert out.distance_from_nipple_mm == pytest.approx(20.0) and out.distance_from_nipple_cm == 2
    assert out.anterior_edge_from_nipple_mm == pytest.approx(18.0)
    # far lesions get no anterior edge (near_nipple_mm = 30)
    assert loc(NIPPLE + [0, 40, 16], side="R", view="CC").anterior_edge_from_nipple_mm is None
    assert out.z_uncertainty_mm == 1.0


def test_distance_along_duct_from_orifice_plus_nipple_gap():
    orifice = NIPPLE + [0, 3, 0]                    # orifice 3 mm behind the nipple point
    tree = DuctTree(
        branches=[Branch(0, 0, None, [orifice, orifice + [0, 10, 0]], [1.0, 1.0],
                         z_uncertainty_mm=[0.8, 0.9]),
                  Branch(1, 0, 0, [orifice + [0, 10, 0], orifice + [0, 10, 5], orifice + [0, 10, 12]],
                         [0.8, 0.8, 0.7], z_uncertainty_mm=[0.9, 1.1, 1.2])],
        systems=[DuctSystem(0, orifice, root_branch=0)])
    center = orifice + [0.3, 10, 5.2]
    out = localise(center, 3.0, nipple_mm=NIPPLE, laterality="L", view="CC", tree=tree, branch=1,
                   z_axis_mm=CC_AXIS)
    # nearest vertex of branch 1 is index 1: 10 mm (root) + 5 mm along branch 1
    assert out.distance_along_duct_mm == pytest.approx(15.0)
    assert out.orifice_to_nipple_mm == pytest.approx(3.0)
    assert out.duct_distance_from_nipple_mm == pytest.approx(18.0)
    assert out.z_uncertainty_mm == pytest.approx(1.1)     # the branch's own, no value given

    les = Lesion(id=0, kind="filling_defect", center_mm=center, diameter_mm=3.0, system=0, branch=1)
    via = localise_lesion(les, nipple_mm=NIPPLE, laterality="L", view="CC", tree=tree,
                          z_axis_mm=CC_AXIS, slice_uncertainty_mm=2.0)
    assert via.distance_along_duct_mm == pytest.approx(15.0) and via.z_uncertainty_mm == 2.0


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="center_mm"):
        localise([0, np.nan, 0], 1.0, nipple_mm=NIPPLE, laterality="R", view="CC")
    with pytest.raises(ValueError, match="z_axis_mm"):
        localise(at_hour(3), 1.0, nipple_mm=NIPPLE, laterality="R", view="CC", z_axis_mm=(0, 0, 0))
    with pytest.raises(ValueError, match="chest_wall_mm"):
        localise(at_hour(3), 1.0, nipple_mm=NIPPLE, laterality="R", view="CC", chest_wall_mm=-1,
                 posterior_axis=(0, 1, 0))
