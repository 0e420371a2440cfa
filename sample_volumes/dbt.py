"""Digital breast tomosynthesis physics: projections over an arc, quantum noise, FBP.

Geometry: the X-ray tube sweeps an arc in the plane spanned by the detector's ``y`` axis
(parallel to the chest wall) and ``z`` (detector -> paddle), as in clinical systems.  We
use the parallel-beam (shear) approximation of each projection: a ray at angle ``theta``
maps a point at height ``z`` above the detector to ``y + z tan(theta)``.  This keeps what
makes DBT hard — a limited angular range, hence a missing wedge of frequencies, blur and
ripple ("slinky") ghosts along z — while projecting and back-projecting by fast 1D shifts.
Magnification of the divergent beam is left out: it moves points by the same amount in
every projection and adds nothing to depth blur.

Reconstruction: filtered back-projection with a ramp filter along the sweep axis,
Hann spectral apodisation and a low-frequency floor (as commercial DBT-FBP keeps some of
the tissue background), onto slices every ``slice_mm`` through the compressed thickness.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["Scanner", "SCANNERS", "add_shifted", "forward_project", "detect", "fbp_reconstruct"]


@dataclass(frozen=True)
class Scanner:
    """A DBT acquisition: projection count and total arc, plus dose.

    Attributes
    ----------
    name : str
    n_projections : int
    arc_deg : float
        Total angular range, centred on the detector normal.
    fluence_per_mm2 : float
        Incident photons per mm^2 per projection (quantum noise level).
    detector_blur_px : float
        Gaussian sigma (detector pixels) of detector and focal-spot blur.
    """

    name: str
    n_projections: int
    arc_deg: float
    fluence_per_mm2: float = 6.0e4
    detector_blur_px: float = 0.6

    @property
    def angles_rad(self) -> np.ndarray:
        half = 0.5 * np.deg2rad(self.arc_deg)
        return np.linspace(-half, half, self.n_projections)


#: Vendor-like arcs (DOMAIN.md): the narrow arc is the default and the hardest for depth.
SCANNERS = {
    "narrow": Scanner("narrow", 15, 15.0),
    "medium": Scanner("medium", 9, 25.0, fluence_per_mm2=1.0e5),
    "wide": Scanner("wide", 25, 50.0, fluence_per_mm2=3.6e4),
}


def add_shifted(out: np.ndarray, img: np.ndarray, shift: float, weight: float = 1.0) -> None:
    """``out[j] += weight * img[j - shift]`` along axis 0, linear interpolation, zero outside.

    Examples
    --------
    >>> out = np.zeros(4); add_shifted(out, np.array([1.0, 2.0]), 1.5); out.tolist()
    [0.0, 0.5, 1.5, 1.0]
    """
    i0 = int(np.floor(shift))
    f = shift - i0
    for k, w in ((i0, (1.0 - f) * weight), (i0 + 1, f * weight)):
        if w == 0.0:
            continue
        j0, j1 = max(k, 0), min(out.shape[0], img.shape[0] + k)
        if j1 > j0:
            out[j0:j1] += w * img[j0 - k: j1 - k]


def forward_project(volume: np.ndarray, *, z_mm: np.ndarray, dz_mm: float, dy_mm: float,
                    angles_rad: np.ndarray, out_ny: int, y_offset_px: float = 0.0) -> np.ndarray:
    """Line integrals of ``volume`` (z, y, x) for each angle: shape (n_angles, out_ny, nx).

    ``y_offset_px`` places the volume's y index 0 at that detector row.
    """
    n_ang = len(angles_rad)
    proj = np.zeros((n_ang, out_ny, volume.shape[2]), np.float32)
    for a, theta in enumerate(angles_rad):
        w = dz_mm / np.cos(theta)
        t = np.tan(theta) / dy_mm
        for k in range(volume.shape[0]):
            sl = volume[k]
            if not sl.any():
                continue
            add_shifted(proj[a], sl, y_offset_px + z_mm[k] * t, w)
    return proj


def detect(line_integrals: np.ndarray, *, scanner: Scanner, pixel_area_mm2: float,
           rng: np.random.Generator) -> np.ndarray:
    """Blur, Poisson-sample and log-convert projections (quantum-noise limited detector)."""
    out = np.empty_like(line_integrals)
    n0 = scanner.fluence_per_mm2 * pixel_area_mm2
    for a in range(line_integrals.shape[0]):
        p = ndimage.gaussian_filter(line_integrals[a], scanner.detector_blur_px)
        counts = rng.poisson(n0 * np.exp(-p)).astype(np.float32)
        out[a] = -np.log(np.maximum(counts, 0.5) / n0)
    return out


def _fbp_filter(n: int, dy_mm: float, *, floor: float, cutoff: float) -> np.ndarray:
    f = np.abs(np.fft.rfftfreq(n, dy_mm))
    f_nyq = 0.5 / dy_mm
    ramp = np.maximum(f / f_nyq, floor)
    hann = np.where(f <= cutoff * f_nyq, 0.5 + 0.5 * np.cos(np.pi * f / (cutoff * f_nyq)), 0.0)
    return (ramp * hann).astype(np.float32)


def fbp_reconstruct(projections: np.ndarray, *, angles_rad: np.ndarray, dy_mm: float,
                    slice_z_mm: np.ndarray, floor: float = 0.08, cutoff: float = 0.9,
                    progress=None) -> np.ndarray:
    """Filtered back-projection onto slices at heights ``slice_z_mm``: shape (nz, ny, nx).

    The result is scaled so that a uniform in-focus slab reads its attenuation (1/mm).
    """
    n_ang, ny, nx = projections.shape
    n_pad = int(2 ** np.ceil(np.log2(2 * ny)))
    h = _fbp_filter(n_pad, dy_mm, floor=floor, cutoff=cutoff)
    filtered = np.empty_like(projections)
    for a in range(n_ang):
        spec = np.fft.rfft(projections[a], n=n_pad, axis=0)
        filtered[a] = np.fft.irfft(spec * h[:, None], n=n_pad, axis=0)[:ny]
    # Normalise: back-projecting a filtered uniform projection of a 1 mm slab gives 1.
    gain = 1.0 / (n_ang * h[0] / max(floor, 1e-6)) if h[0] > 0 else 1.0 / n_ang
    vol = np.zeros((len(slice_z_mm), ny, nx), np.float32)
    for k, z in enumerate(slice_z_mm):
        for a, theta in enumerate(angles_rad):
            add_shifted(vol[k], filtered[a], -z * np.tan(theta) / dy_mm, gain * np.cos(theta))
        if progress is not None:
            progress(k + 1, len(slice_z_mm))
    return vol
