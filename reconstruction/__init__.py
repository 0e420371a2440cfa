"""Reconstruction: from a DBT galactogram volume to a rooted 3D duct tree."""
from .frame import ImageFrame
from .tree import Branch, DuctSystem, DuctTree, polyline_length, resample_polyline
from .volume import Volume

__all__ = ["ImageFrame", "Branch", "DuctSystem", "DuctTree", "Volume",
           "polyline_length", "resample_polyline"]
