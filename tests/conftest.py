"""Shared fixtures: sample volumes are generated once per test session."""
from __future__ import annotations

import functools
import os

import pytest

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


@functools.lru_cache(maxsize=None)
def cached_sample(name: str, seed: int = 0):
    """The sample ``name`` (generated once per session; treat it as read-only)."""
    from sample_volumes import make_sample

    return make_sample(name, seed=seed)


@pytest.fixture(scope="session")
def sample_of():
    return cached_sample
