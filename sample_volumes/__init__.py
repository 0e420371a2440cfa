"""Seeded, simulated DBT galactograms that carry their ground truth.

Uses reconstruction's types (frame, tree, volume) and file helpers, never its algorithms:
the truth stays independent of what is measured against it.
"""
from .dbt import SCANNERS, Scanner
from .files import VOLUME_NAMES, write_sample
from .generate import Sample, make_sample, patient_direction
from .presets import PRESETS, Preset, get_preset, preset_names
from .writers import write_volume

__all__ = ["SCANNERS", "Scanner", "Sample", "make_sample", "patient_direction", "PRESETS", "Preset",
           "get_preset", "preset_names", "write_sample", "write_volume", "VOLUME_NAMES"]
