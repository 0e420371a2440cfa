"""The duct graph's geodesic distances."""
from __future__ import annotations

import numpy as np

from reconstruction.graph import DuctGraph


def _ladder(n: int = 30, seed: int = 0) -> DuctGraph:
    """A ladder of straight edges with random rung lengths: many loops, many paths."""
    rng = np.random.default_rng(seed)
    g = DuctGraph()
    nodes = [[g.add_node([x, y, 0.0], [0, y, x]) for y in (0.0, 1.0)] for x in range(n)]
    for x in range(n):
        a, b = nodes[x]
        h = rng.uniform(0.5, 3.0)
        g.add_edge(a, b, [[x, 0, 0], [x, h, 0], [x, 1, 0]], np.zeros((3, 3)))
        if x + 1 < n:
            for side in (0, 1):
                g.add_edge(nodes[x][side], nodes[x + 1][side], [[x, side, 0], [x + 1, side, 0]], np.zeros((2, 3)))
    return g


def test_a_search_stopped_at_its_target_gives_the_targets_full_distance():
    g = _ladder()
    full = g.dijkstra([0])
    for target in list(g.nodes)[::7]:
        assert g.dijkstra([0], target=target)[target] == full[target]


def test_an_unreachable_target_is_absent():
    g = _ladder(5)
    lone = g.add_node([100.0, 0, 0], [0, 0, 100])
    assert lone not in g.dijkstra([0], target=lone)
