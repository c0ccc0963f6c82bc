"""Semantic deduplication: exact (content hash) and near (cosine) duplicates, clustered, one row kept.

Example::

    from lakehouse.dedup import find_duplicates
    from lakehouse.table import VectorTable
    found = find_duplicates(VectorTable.load("docs.embeddings"), "embedding", threshold=0.95)
    found.clusters        # cluster_id, kept_key, dropped_keys, size, kind, max/min similarity
    found.rows_removed, found.tokens_removed

Modules: :mod:`~lakehouse.dedup.pairs` (hash pairs, exact scoring), :mod:`~lakehouse.dedup.neighbours` (near
candidates: the exact batch join of :mod:`lakehouse.index.batch`, or k nearest neighbours through the ANN index),
:mod:`~lakehouse.dedup.clusters` (union-find, the kept-row rule), :mod:`~lakehouse.dedup.find` (the whole pass),
:mod:`~lakehouse.dedup.quality` (precision/recall on planted pairs).
The Spark job that writes the result and filtered tables is :mod:`lakehouse.dedup.job` (``jobs/dedup.py`` submits it).
"""

from lakehouse.dedup.clusters import KEEP_RULE, RESULT_SCHEMA, components
from lakehouse.dedup.find import Duplicates, duplicates_in, find_duplicates, token_counts
from lakehouse.dedup.neighbours import SearchOptions
from lakehouse.dedup.pairs import Pairs
from lakehouse.dedup.quality import PairQuality, cluster_pairs, pair_quality

__all__ = [
    "KEEP_RULE",
    "RESULT_SCHEMA",
    "Duplicates",
    "PairQuality",
    "Pairs",
    "SearchOptions",
    "cluster_pairs",
    "components",
    "duplicates_in",
    "find_duplicates",
    "pair_quality",
    "token_counts",
]
