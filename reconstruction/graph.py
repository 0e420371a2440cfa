"""The duct graph: skeleton voxels -> nodes (tips, junctions) and edges (centreline paths).

Nodes are skeleton end points, clusters of 26-connected junction voxels (a junction of a
thinned skeleton is often two or three touching voxels, and one node stands for them all),
and the places later steps cut or join.  An edge is the centreline path between two nodes
in physical mm, first point at its ``u`` node, last at its ``v`` node.  The graph is a
multigraph: two paths may join the same two nodes (a loop), and a path may return to its
own node (a self-loop).  It is small (hundreds to a few thousand edges for a whole breast),
so the editing operations are plain Python on dicts; only the voxel neighbourhood search,
which sees every skeleton voxel, is vectorised.

Edges also carry the continuous array index of every point (for the EDT radius look-up)
and a ``gap`` label per point: -1 where the lumen was observed, ``k >= 0`` on a straight
bridge drawn across lumen gap ``k``.
"""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

__all__ = ["Edge", "DuctGraph", "graph_from_skeleton", "neighbour_pairs"]


@dataclass
class Edge:
    """A centreline path between nodes ``u`` and ``v`` (first point at ``u``)."""

    u: int
    v: int
    points_mm: np.ndarray
    index_zyx: np.ndarray
    gap: np.ndarray
    length_mm: float = field(init=False)

    def __post_init__(self) -> None:
        # cached: Dijkstra and the spanning tree read it many times; edges never change
        self.length_mm = float(np.linalg.norm(np.diff(self.points_mm, axis=0), axis=1).sum())

    @property
    def is_loop(self) -> bool:
        return self.u == self.v

    def reversed(self) -> "Edge":
        return Edge(self.v, self.u, self.points_mm[::-1].copy(), self.index_zyx[::-1].copy(),
                    self.gap[::-1].copy())

    def midpoint_mm(self) -> np.ndarray:
        """The point halfway along the path."""
        seg = np.linalg.norm(np.diff(self.points_mm, axis=0), axis=1)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        k = int(np.argmin(np.abs(s - s[-1] / 2)))
        return self.points_mm[k].copy()


class DuctGraph:
    """A small editable multigraph of centreline paths.

    Attributes
    ----------
    pos_mm : dict[int, ndarray]
        Node positions, physical mm.
    index_zyx : dict[int, ndarray]
        Node positions as continuous array indices.
    edges : dict[int, Edge]
    incident : dict[int, set[int]]
        Edge ids touching each node.
    """

    def __init__(self) -> None:
        self.pos_mm: dict[int, np.ndarray] = {}
        self.index_zyx: dict[int, np.ndarray] = {}
        self.edges: dict[int, Edge] = {}
        self.incident: dict[int, set[int]] = {}
        self._next_node = 0
        self._next_edge = 0

    # ------------------------------------------------------------------ editing
    def add_node(self, pos_mm: np.ndarray, index_zyx: np.ndarray) -> int:
        n = self._next_node
        self._next_node += 1
        self.pos_mm[n] = np.asarray(pos_mm, float).copy()
        self.index_zyx[n] = np.asarray(index_zyx, float).copy()
        self.incident[n] = set()
        return n

    def add_edge(self, u: int, v: int, points_mm: np.ndarray, index_zyx: np.ndarray,
                 gap: np.ndarray | None = None) -> int:
        e = self._next_edge
        self._next_edge += 1
        pts = np.asarray(points_mm, float).reshape(-1, 3)
        if gap is None:
            gap = np.full(len(pts), -1, np.int64)
        self.edges[e] = Edge(u, v, pts, np.asarray(index_zyx, float).reshape(-1, 3),
                             np.asarray(gap, np.int64).reshape(-1))
        self.incident[u].add(e)
        self.incident[v].add(e)
        return e

    def remove_edge(self, e: int) -> Edge:
        edge = self.edges.pop(e)
        self.incident[edge.u].discard(e)
        self.incident[edge.v].discard(e)
        return edge

    def remove_node(self, n: int) -> None:
        for e in list(self.incident[n]):
            self.remove_edge(e)
        del self.incident[n], self.pos_mm[n], self.index_zyx[n]

    # ----------------------------------------------------------------- queries
    @property
    def nodes(self) -> list[int]:
        return list(self.incident)

    def degree(self, n: int) -> int:
        """Edge ends at ``n`` (a self-loop counts twice)."""
        es = self.incident[n]
        if len(es) == 1:
            (e,) = es
            return 2 if self.edges[e].is_loop else 1
        return sum(2 if self.edges[e].u == self.edges[e].v else 1 for e in es)

    def other(self, e: int, n: int) -> int:
        edge = self.edges[e]
        return edge.v if edge.u == n else edge.u

    def edge_from(self, e: int, n: int) -> Edge:
        """Edge ``e`` oriented to start at node ``n``."""
        edge = self.edges[e]
        return edge if edge.u == n else edge.reversed()

    def components(self) -> list[set[int]]:
        """Node sets of the connected components."""
        seen: set[int] = set()
        comps = []
        for n in self.incident:
            if n in seen:
                continue
            comp, stack = {n}, [n]
            while stack:
                a = stack.pop()
                for e in self.incident[a]:
                    b = self.other(e, a)
                    if b not in comp:
                        comp.add(b)
                        stack.append(b)
            seen |= comp
            comps.append(comp)
        return comps

    def component_edges(self, nodes: set[int]) -> set[int]:
        return {e for n in nodes for e in self.incident[n]}

    def dijkstra(self, sources: list[int], *, target: int | None = None) -> dict[int, float]:
        """Geodesic (along-centreline) distance in mm from the nearest of ``sources``.

        With ``target``, the search stops once the target's distance is final: the
        result then holds the target's distance (when reachable); other entries may be
        longer than their true distance.
        """
        dist = {s: 0.0 for s in sources}
        heap = [(0.0, s) for s in sources]
        heapq.heapify(heap)
        while heap:
            d, a = heapq.heappop(heap)
            if d > dist.get(a, np.inf):
                continue
            if a == target:
                break
            for e in self.incident[a]:
                b = self.other(e, a)
                nd = d + self.edges[e].length_mm
                if nd < dist.get(b, np.inf):
                    dist[b] = nd
                    heapq.heappush(heap, (nd, b))
        return dist

    # ---------------------------------------------------------------- surgery
    def split_edge(self, e: int, k: int) -> tuple[int, int, int]:
        """Put a node at interior point ``k`` of edge ``e``.

        Returns
        -------
        node, first, second : int
            The new node, the edge from ``u`` to it (points ``0..k``), and the edge from
            it to ``v``.
        """
        edge = self.edges[e]
        if not 0 < k < len(edge.points_mm) - 1:
            raise ValueError(f"split point {k} is not interior to edge {e} ({len(edge.points_mm)} points)")
        self.remove_edge(e)
        n = self.add_node(edge.points_mm[k], edge.index_zyx[k])
        first = self.add_edge(edge.u, n, edge.points_mm[: k + 1], edge.index_zyx[: k + 1], edge.gap[: k + 1])
        second = self.add_edge(n, edge.v, edge.points_mm[k:], edge.index_zyx[k:], edge.gap[k:])
        return n, first, second

    def cut_edge(self, e: int, k: int) -> tuple[int | None, int | None]:
        """Cut edge ``e`` at point ``k`` into two pieces that no longer touch.

        Each side ends at a new leaf node placed at point ``k``.  A side with a single
        point (``k`` at an end) is dropped.  Returns the two new leaves (or None).
        """
        edge = self.remove_edge(e)
        leaves: list[int | None] = [None, None]
        if k > 0:
            a = self.add_node(edge.points_mm[k], edge.index_zyx[k])
            self.add_edge(edge.u, a, edge.points_mm[: k + 1], edge.index_zyx[: k + 1], edge.gap[: k + 1])
            leaves[0] = a
        if k < len(edge.points_mm) - 1:
            b = self.add_node(edge.points_mm[k], edge.index_zyx[k])
            self.add_edge(b, edge.v, edge.points_mm[k:], edge.index_zyx[k:], edge.gap[k:])
            leaves[1] = b
        return leaves[0], leaves[1]

    def merge_degree2(self, *, protect: set[int] | frozenset[int] = frozenset()) -> int:
        """Join the two paths through every plain degree-2 node; return how many merged.

        Protected nodes (roots) stay, so a root keeps its place at a branch end.
        """
        merged = 0
        for n in list(self.incident):
            if n in protect or n not in self.incident or len(self.incident[n]) != 2:
                continue
            e1, e2 = self.incident[n]
            if self.edges[e1].is_loop or self.edges[e2].is_loop:
                continue
            a_side = self.edge_from(e1, n).reversed()  # a -> n
            b_side = self.edge_from(e2, n)             # n -> b
            gap = np.concatenate([a_side.gap, b_side.gap[1:]])
            gap[len(a_side.gap) - 1] = max(a_side.gap[-1], b_side.gap[0])
            self.remove_edge(e1)
            self.remove_edge(e2)
            self.add_edge(a_side.u, b_side.v,
                          np.concatenate([a_side.points_mm, b_side.points_mm[1:]]),
                          np.concatenate([a_side.index_zyx, b_side.index_zyx[1:]]), gap)
            del self.incident[n], self.pos_mm[n], self.index_zyx[n]
            merged += 1
        return merged

    def drop_isolated(self, *, protect: set[int] | frozenset[int] = frozenset()) -> list[int]:
        """Remove nodes without edges (except protected ones); return their ids."""
        gone = [n for n, es in self.incident.items() if not es and n not in protect]
        for n in gone:
            self.remove_node(n)
        return gone


# ---------------------------------------------------------------- voxels -> graph
_OFFSETS = np.array([o for o in itertools.product((-1, 0, 1), repeat=3) if any(o)], np.int64)


def neighbour_pairs(voxels: np.ndarray) -> sparse.csr_matrix:
    """26-neighbourhood adjacency of integer voxels ``(N, 3)`` as a sparse N x N matrix.

    Sorted linear keys and ``searchsorted`` instead of a label volume: memory follows
    the number of skeleton voxels, not the size of the grid.
    """
    n = len(voxels)
    v = np.asarray(voxels, np.int64) + 1          # padding: no neighbour key wraps around
    dims = v.max(axis=0) + 2 if n else np.ones(3, np.int64)
    key = (v[:, 0] * dims[1] + v[:, 1]) * dims[2] + v[:, 2]
    order = np.argsort(key, kind="stable")
    ks = key[order]
    rows, cols = [], []
    for dz, dy, dx in _OFFSETS:
        nk = key + (dz * dims[1] + dy) * dims[2] + dx
        pos = np.minimum(np.searchsorted(ks, nk), n - 1)
        hit = ks[pos] == nk
        rows.append(np.flatnonzero(hit))
        cols.append(order[pos[hit]])
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    return sparse.csr_matrix((np.ones(len(r), np.int8), (r, c)), shape=(n, n))


def graph_from_skeleton(voxels: np.ndarray, points_mm: np.ndarray, index_zyx: np.ndarray) -> DuctGraph:
    """Build the duct graph from skeleton voxels.

    Parameters
    ----------
    voxels : (N, 3) int ndarray
        Skeleton voxels on the grid (26-connectivity).
    points_mm : (N, 3) ndarray
        Their physical positions.
    index_zyx : (N, 3) ndarray
        Their continuous array indices.

    Returns
    -------
    DuctGraph
        Nodes: end points (1 neighbour), junction clusters (26-connected voxels with
        3 or more neighbours, one node at their centroid), isolated voxels, and one node
        on each closed ring without junctions.  Edges: the voxel paths between them.

    Examples
    --------
    >>> vox = np.array([[0, 0, x] for x in range(5)] + [[0, 1, 2], [0, 2, 2]])
    >>> g = graph_from_skeleton(vox, vox * 1.0, vox * 1.0)
    >>> len(g.nodes), len(g.edges)
    (4, 3)
    """
    g = DuctGraph()
    n = len(voxels)
    if n == 0:
        return g
    adj = neighbour_pairs(voxels)
    indptr, indices = adj.indptr, adj.indices
    deg = np.diff(indptr)
    nbrs = [indices[indptr[i]:indptr[i + 1]].tolist() for i in range(n)]
    node_of = np.full(n, -1, np.int64)
    members: dict[int, list[int]] = {}

    junction = np.flatnonzero(deg >= 3)
    if len(junction):
        sub = adj[junction][:, junction]
        ncl, lab = connected_components(sub, directed=False)
        for c in range(ncl):
            mem = junction[lab == c]
            nid = g.add_node(points_mm[mem].mean(axis=0), index_zyx[mem].mean(axis=0))
            node_of[mem] = nid
            members[nid] = mem.tolist()
    for i in np.flatnonzero(deg <= 1):
        nid = g.add_node(points_mm[i], index_zyx[i])
        node_of[i] = nid
        members[nid] = [int(i)]

    visited = np.zeros(n, bool)
    direct: set[tuple[int, int]] = set()

    def add_path(path: list[int]) -> None:
        u, v = int(node_of[path[0]]), int(node_of[path[-1]])
        pts = points_mm[path].copy()
        idx = index_zyx[path].copy()
        pts[0], idx[0] = g.pos_mm[u], g.index_zyx[u]      # junction clusters: start at the centroid
        pts[-1], idx[-1] = g.pos_mm[v], g.index_zyx[v]
        g.add_edge(u, v, pts, idx)

    def trace(a: int, b: int) -> None:
        path, prev, cur = [a, b], a, b
        visited[b] = True
        while True:
            nb = nbrs[cur]                      # a path voxel has exactly two neighbours
            nxt = nb[0] if nb[0] != prev else nb[1]
            path.append(nxt)
            if node_of[nxt] >= 0:
                break
            visited[nxt] = True
            prev, cur = cur, nxt
        add_path(path)

    for nid, mem in list(members.items()):
        for a in mem:
            for b in nbrs[a]:
                if node_of[b] == nid:
                    continue
                if node_of[b] >= 0:               # two nodes side by side: a one-step edge
                    key = (min(a, b), max(a, b))
                    if key not in direct:
                        direct.add(key)
                        add_path([a, b])
                elif not visited[b]:
                    trace(a, b)

    # closed rings without any junction or end: give each a node and trace it round
    for i in np.flatnonzero((deg == 2) & (node_of < 0) & ~visited):
        if visited[i] or node_of[i] >= 0:
            continue
        nid = g.add_node(points_mm[i], index_zyx[i])
        node_of[i] = nid
        trace(int(i), nbrs[i][0])
    return g
