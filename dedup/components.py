"""Pure core of clustering: candidate edges from shared keys, then connected components.

Nodes are *rank keys* (see :func:`dedup.stage.node_keys`): strings whose byte
order is the keeper order (earliest fetch, then longest text, then smallest id).
So the smallest node of a connected component is its keeper, and the
components algorithm below, which labels every node with its component's
minimum, picks the keeper with no extra pass.

Connected components use the alternating Large-Star / Small-Star algorithm of
Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014),
written here with pyarrow group-bys because no maintained Python library runs
it on partitioned edge lists. Each step only needs the edges of one node
together, so it runs on hash partitions of the edge list (one Ray task per
partition, :mod:`dedup.stage`) and no process ever holds the whole graph; the
number of rounds grows as O(log^2 n) of the largest component in the worst case,
and is 2-4 on dedup graphs, whose components are small stars and short chains.

Every function takes and returns pyarrow tables with string columns ``u`` and
``v`` and never needs to see more than one partition.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

EDGE_SCHEMA = pa.schema([pa.field("u", pa.string(), nullable=False), pa.field("v", pa.string(), nullable=False)])
KEY_SCHEMA = pa.schema([pa.field("key", pa.uint64(), nullable=False), pa.field("node", pa.string(), nullable=False)])


def empty_edges() -> pa.Table:
    return EDGE_SCHEMA.empty_table()


def _distinct(edges: pa.Table) -> pa.Table:
    if edges.num_rows == 0:
        return empty_edges()
    return edges.group_by(["u", "v"]).aggregate([]).select(["u", "v"]).cast(EDGE_SCHEMA)


def symmetric(edges: pa.Table) -> pa.Table:
    """Both directions of every edge, self-loops removed, distinct."""
    flipped = pa.table({"u": edges.column("v"), "v": edges.column("u")})
    both = pa.concat_tables([edges.select(["u", "v"]).cast(EDGE_SCHEMA), flipped.cast(EDGE_SCHEMA)])
    both = both.filter(pc.not_equal(both.column("u"), both.column("v")))
    return _distinct(both)


def star_edges(keys: pa.Table) -> tuple[pa.Table, int]:
    """Candidate edges from rows (key, node) that share a key: every node to the key's smallest node.

    A star per key is enough, since only connectivity matters, and it is
    n-1 edges where all pairs would be n(n-1)/2. Returns (edges u>v, number of
    keys shared by two or more distinct nodes).
    """
    if keys.num_rows == 0:
        return empty_edges(), 0
    keys = keys.group_by(["key", "node"]).aggregate([])  # a node can repeat a key (identical bands)
    agg = keys.group_by("key").aggregate([("node", "min"), ("node", "count")])
    agg = agg.filter(pc.greater(agg.column("node_count"), 1))
    if agg.num_rows == 0:
        return empty_edges(), 0
    joined = keys.join(agg.select(["key", "node_min"]), "key", join_type="inner")
    edges = joined.filter(pc.not_equal(joined.column("node"), joined.column("node_min")))
    edges = pa.table({"u": edges.column("node"), "v": edges.column("node_min")})
    return _distinct(edges), agg.num_rows


def large_star(sym: pa.Table) -> tuple[pa.Table, bool, pa.Table]:
    """One Large-Star step on symmetric edges grouped by ``u``.

    For each node u with neighbourhood N(u) and m = min(N(u) + u), link every
    larger neighbour v > u to m. Returns (new edges oriented v>m, whether this
    input already is a forest of stars centred on their minimum, and the
    leaf->root assignments the input holds if it is).

    The star test is local to u: in a star forest every node either has only
    larger neighbours (a root) or exactly one neighbour, which is smaller (a leaf).
    """
    if sym.num_rows == 0:
        return empty_edges(), True, empty_edges()
    agg = sym.group_by("u").aggregate([("v", "min"), ("v", "count")])
    m = pc.if_else(pc.less(agg.column("v_min"), agg.column("u")), agg.column("v_min"), agg.column("u"))
    agg = agg.append_column("m", m)
    is_leaf = pc.and_(pc.equal(agg.column("v_count"), 1), pc.less(agg.column("v_min"), agg.column("u")))
    is_root = pc.greater(agg.column("v_min"), agg.column("u"))
    converged = bool(pc.all(pc.or_(is_leaf, is_root)).as_py())
    leaves = agg.filter(is_leaf)
    assignments = pa.table({"u": leaves.column("u"), "v": leaves.column("v_min")}).cast(EDGE_SCHEMA)
    joined = sym.join(agg.select(["u", "m"]), "u", join_type="inner")
    up = joined.filter(pc.greater(joined.column("v"), joined.column("u")))
    out = pa.table({"u": up.column("v"), "v": up.column("m")}).cast(EDGE_SCHEMA)
    return _distinct(out), converged, assignments


def small_star(oriented: pa.Table) -> pa.Table:
    """One Small-Star step on edges u>v grouped by ``u``.

    For each node u with smaller neighbours N(u) and m = min(N(u)), link u and
    every other v in N(u) to m. Returns symmetric edges for the next Large-Star.
    """
    if oriented.num_rows == 0:
        return empty_edges()
    oriented = oriented.filter(pc.greater(oriented.column("u"), oriented.column("v")))
    agg = oriented.group_by("u").aggregate([("v", "min")])
    joined = oriented.join(agg, "u", join_type="inner")
    others = joined.filter(pc.not_equal(joined.column("v"), joined.column("v_min")))
    out = pa.concat_tables([
        pa.table({"u": others.column("v"), "v": others.column("v_min")}).cast(EDGE_SCHEMA),
        pa.table({"u": agg.column("u"), "v": agg.column("v_min")}).cast(EDGE_SCHEMA),
    ])
    return symmetric(out)


def components_in_memory(edges: pa.Table, max_rounds: int = 200) -> pa.Table:
    """Leaf->root assignments of all edges in one process (tests and tiny inputs).

    The same steps the distributed stage runs, on a single partition.
    """
    sym = symmetric(edges)
    for _ in range(max_rounds):
        oriented, converged, assignments = large_star(sym)
        if converged:
            return assignments
        sym = small_star(oriented)
    raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
