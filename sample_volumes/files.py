"""Write a sample to disk: the volume, its ``truth.json`` and a preview picture."""
from __future__ import annotations

import json
from pathlib import Path

from reconstruction.atomic import atomic_write

from .generate import Sample
from .preview import render_preview
from .writers import write_volume

__all__ = ["write_sample", "VOLUME_NAMES"]

#: File name of the volume in a sample folder, per format.
VOLUME_NAMES = {"nrrd": "volume.nrrd", "nifti": "volume.nii.gz", "mha": "volume.mha",
                "dicom": "volume.dcm", "dicom-series": "volume_dicom"}


def write_sample(sample: Sample, outdir: str | Path, *, fmt: str = "nrrd", preview: bool = True) -> dict[str, Path]:
    """Write ``sample`` into ``outdir`` (created if needed); every file atomically.

    Returns
    -------
    dict
        ``{"volume": ..., "truth": ..., "preview": ...}`` paths.
    """
    if fmt not in VOLUME_NAMES:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(VOLUME_NAMES)}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {"volume": write_volume(sample.volume, outdir / VOLUME_NAMES[fmt], fmt=fmt)}
    truth_path = outdir / "truth.json"
    with atomic_write(truth_path) as tmp:
        tmp.write_text(json.dumps(sample.truth, indent=1))
    paths["truth"] = truth_path
    if preview:
        paths["preview"] = render_preview(sample.volume, sample.truth, outdir / "preview.png")
    return paths
