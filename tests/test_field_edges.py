"""The truncation wedge along a field edge that cuts the breast, and the streaks it leaves."""
import numpy as np
import pytest

from reconstruction.field_edges import CutEdge, cut_edges, drop_field_edge_bands


def _slab_with_wedge(wedge_mm: float, *, nz: int = 40, ny: int = 300, nx: int = 200, dy: float = 0.2,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A breast filling the field's y-min edge, with a wedge darkening slice by slice."""
    rng = np.random.default_rng(seed)
    a = 100.0 + rng.normal(0, 2.0, (nz, ny, nx))
    a += 5.0 * np.sin(np.arange(nx) / 7.0)[None, None, :]      # tissue: the same in every slice
    breast = np.ones((ny, nx), bool)
    breast[:, 140:] = False                                     # air beyond x = 28 mm
    a[:, ~breast] = 0.0
    y = np.arange(ny) * dy
    for z in range(nz):
        w = wedge_mm * z / (nz - 1)                              # zero in slice 0, full at the far face
        a[z, y < w] -= 30.0 * (1 - y[y < w] / max(w, 1e-6))[:, None]
    return a.astype(np.float32), breast


@pytest.mark.parametrize("wedge_mm", [6.0, 11.0, 20.0])
def test_the_wedge_is_measured_as_wide_as_it_is(wedge_mm):
    a, breast = _slab_with_wedge(wedge_mm)
    edges = {e.name: e for e in cut_edges(a, breast, (1.0, 0.2, 0.2))}
    # the y-min edge is cut (and the y-max one, not darkened); x-max is air, x-min is cut
    assert set(edges) == {"y-min", "y-max", "x-min"}
    assert edges["y-min"].wedge_mm == pytest.approx(wedge_mm, abs=0.15 * wedge_mm + 0.5)
    assert edges["y-max"].wedge_mm == 0.0


def test_a_band_along_a_cut_edge_is_dropped_a_duct_crossing_it_is_not():
    labels = np.zeros((5, 100, 120), np.int32)
    labels[2, 92:97, 10:110] = 1          # along the y-max edge, 0.6-1.6 mm from it
    labels[2, 40:100, 60:62] = 2          # a duct running into that edge
    labels[2, 20:22, 10:110] = 3          # a duct parallel to the edge, far from it
    labels[2, 80:85, 10:110] = 4          # a streak inside a 4 mm wedge, 3-4 mm from the edge
    counts = np.bincount(labels.ravel())
    edge = [CutEdge("y-max", 0, True, 4.0)]
    notes: list[str] = []
    kept = drop_field_edge_bands(labels, [1, 2, 3, 4], counts, edge, spacing_yx=(0.2, 0.2), touch_mm=2.0,
                                 notes=notes)
    # the band goes; the streak inside the wedge stays (it cannot be told from a duct
    # running along the edge) and the wedge is reported
    assert kept == [2, 3, 4] and "edge" in notes[0] and "wedge" in notes[1] and "4 mm" in notes[1]
    # a piece reaching the nipple is a duct, wherever it lies
    assert drop_field_edge_bands(labels, [1, 2, 3], counts, edge, spacing_yx=(0.2, 0.2), touch_mm=2.0,
                                 notes=[], rooted={1}) == [1, 2, 3]
    # no cut edge, nothing dropped
    assert drop_field_edge_bands(labels, [1, 2, 3], counts, [], spacing_yx=(0.2, 0.2), notes=[]) == [1, 2, 3]
