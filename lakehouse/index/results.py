"""What a search returns: the rows, best first, and the plan that says how they were found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from lakehouse.index.store import SCORE_COLUMN
from lakehouse.vector import Metric, top_k

# How a search was answered: the ANN index alone, the index plus an exact scan of rows it does not hold yet, an
# exact scan of the rows a selective filter keeps, or an exact scan of the table (no usable index).
SearchPath = Literal["index", "index+tail", "exact-filtered", "exact"]


@dataclass(frozen=True)
class SearchPlan:
    """How a search was answered, and why (``explain``)."""

    path: SearchPath
    reason: str
    snapshot_id: int | None
    indexed_snapshot: int | None = None
    lance_version: int | None = None
    index_type: str | None = None
    excluded_files: int = 0
    tail_files: int = 0
    tail_rows: int = 0
    filter: str | None = None
    filter_rows: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class SearchResult:
    """The k best rows (key, ``score`` higher-is-better, stored columns), best first, and the plan that found them."""

    table: pa.Table
    plan: SearchPlan
    key: str

    @property
    def keys(self) -> list[Any]:
        return self.table.column(self.key).to_pylist()

    @property
    def scores(self) -> np.ndarray:
        return self.table.column(SCORE_COLUMN).to_numpy()

    def to_pylist(self) -> list[dict[str, Any]]:
        return self.table.to_pylist()

    def __len__(self) -> int:
        return self.table.num_rows


def to_score(distance: np.ndarray, metric: str) -> np.ndarray:
    # Lance distances: cosine -> 1 - cos, dot -> 1 - dot, l2 -> squared L2; lakehouse scores are higher-is-better
    if metric == "l2":
        return -np.sqrt(np.maximum(distance, 0.0))
    return 1.0 - distance


def ranked(
    rows: pa.Table, matrix: np.ndarray, query: np.ndarray, k: int, metric: Metric, keep: Sequence[str]
) -> pa.Table:
    idx, scores = top_k(matrix, query, k, metric)
    out = rows.select(list(keep)).take(pa.array(idx, pa.int64()))
    return out.append_column(SCORE_COLUMN, pa.array(scores.astype(np.float64)))
