"""Duplicate pairs -> clusters (union-find) -> one kept row per cluster.

The rule for the kept row (``KEEP_RULE``): the member with the lexicographically smallest key (keys compared as
strings). It depends only on the cluster's members, not on the order rows were read or pairs were found, so the same
data always keeps the same rows. ``cluster_id`` is derived from the kept key, so it is stable across runs too.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from lakehouse.dedup.pairs import Pairs

KEEP_RULE = "smallest key (string order)"

RESULT_SCHEMA = pa.schema(
    [
        pa.field("cluster_id", pa.string(), nullable=False),
        pa.field("kept_key", pa.string(), nullable=False),
        pa.field("dropped_keys", pa.list_(pa.string()), nullable=False),
        pa.field("size", pa.int32(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # exact: all members share a content hash; near otherwise
        pa.field("max_similarity", pa.float64()),  # cosine of dropped members to the kept row
        pa.field("min_similarity", pa.float64()),
    ]
)


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Union-find over the pairs: the root (smallest position) of each of ``n`` rows' component."""
    parent = np.arange(n, dtype=np.int64)
    if left.size == 0:
        return parent
    p = parent.tolist()  # scalar work is faster on a list than on numpy

    def find(x: int) -> int:
        while p[x] != x:
            p[x] = p[p[x]]  # path halving
            x = p[x]
        return x

    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            if ra < rb:
                p[rb] = ra
            else:
                p[ra] = rb
    return np.fromiter((find(x) for x in range(n)), dtype=np.int64, count=n)


def cluster_id(kept_key: str) -> str:
    return hashlib.sha256(kept_key.encode("utf-8")).hexdigest()[:16]


def clusters(keys: pa.Array, unit: np.ndarray, pairs: Pairs, codes: np.ndarray | None) -> tuple[pa.Table, np.ndarray]:
    """Clusters of size >= 2 as a ``RESULT_SCHEMA`` table (sorted by kept key), and the positions of dropped rows."""
    n = len(keys)
    roots = components(n, pairs.left, pairs.right)
    members = np.flatnonzero(roots != np.arange(n)) if n else np.empty(0, np.int64)
    members = np.union1d(members, roots[members])  # every row in a cluster of size >= 2
    if members.size == 0:
        return RESULT_SCHEMA.empty_table(), np.empty(0, np.int64)
    names = np.asarray(keys.take(pa.array(members)).cast(pa.string()).to_pylist(), dtype=object)
    order = np.lexsort((names.astype(str), roots[members]))  # by cluster, then key: the first of each is kept
    members, names, groups = members[order], names[order], roots[members[order]]
    first = np.ones(members.shape[0], bool)
    first[1:] = groups[1:] != groups[:-1]
    starts = np.flatnonzero(first)
    kept_pos = members[first]
    kept_of = np.repeat(kept_pos, np.diff(np.append(starts, members.shape[0])))
    sim = np.einsum("ij,ij->i", unit[members], unit[kept_of]).astype(np.float64)
    dropped = ~first
    rows: dict[str, list[object]] = {f.name: [] for f in RESULT_SCHEMA}
    bounds = np.append(starts, members.shape[0])
    for c in range(starts.shape[0]):
        lo, hi = bounds[c], bounds[c + 1]
        kept = str(names[lo])
        s = sim[lo + 1 : hi]
        same = codes is not None and bool(np.all(codes[members[lo:hi]] == codes[members[lo]]))
        rows["cluster_id"].append(cluster_id(kept))
        rows["kept_key"].append(kept)
        rows["dropped_keys"].append([str(k) for k in names[lo + 1 : hi]])
        rows["size"].append(int(hi - lo))
        rows["kind"].append("exact" if same else "near")
        rows["max_similarity"].append(float(s.max()))
        rows["min_similarity"].append(float(s.min()))
    table = pa.table(rows, schema=RESULT_SCHEMA)
    table = table.take(pa.array(np.argsort(np.asarray(rows["kept_key"], dtype=str), kind="stable")))
    return table, np.sort(members[dropped])
