"""Lance ANN indexes kept in step with table snapshots (Iceberg snapshots, Delta versions), and search that answers
like the table.

Example::

    from lakehouse.index import build, refresh, open_index
    build("docs.embeddings", "embedding", store=["lang"])
    refresh("docs.embeddings", "embedding")        # after new snapshots: only the changed data files are read
    hits = open_index("docs.embeddings", "embedding").search("refund policy", k=10, where="lang = 'en'")
    hybrid_search(open_index("docs.embeddings", "embedding"), "refund policy", k=10)   # built with text="chunk_text"
    DeltaVectorTable.load("docs.chunks").index("embedding").search(vector, k=5, as_of=12)   # Delta version 12
"""

from lakehouse.index.batch import NeighbourPairs, knn, pairs_within
from lakehouse.index.build import INDEX_TYPES, IndexParams, IndexType, choose_params
from lakehouse.index.hybrid import Fusion, hybrid_search
from lakehouse.index.refresh import RefreshResult, build, refresh
from lakehouse.index.search import SearchPlan, SearchResult, VectorIndex, open_index, search
from lakehouse.index.status import IndexStatus, status
from lakehouse.table.base import register_index_opener

register_index_opener(open_index)  # table.index(column): tables know nothing of indexes, so the index tells them

__all__ = [
    "Fusion",
    "INDEX_TYPES",
    "IndexParams",
    "IndexStatus",
    "IndexType",
    "NeighbourPairs",
    "RefreshResult",
    "SearchPlan",
    "SearchResult",
    "VectorIndex",
    "build",
    "choose_params",
    "hybrid_search",
    "knn",
    "open_index",
    "pairs_within",
    "refresh",
    "search",
    "status",
]
