"""Search results as passages: the chunk text, where it came from (source table, key, path, span, snapshots, model)
and the score. The one search the LangChain and LlamaIndex retrievers share.

Lineage columns the index does not store are read by key from the embeddings table at the snapshot that was
searched; the source path (and any other ``source_columns``) from the source table named by each row's
``source_table``, at the current snapshot of that table.

Example::

    search = PassageSearch("docs.embeddings", k=4, hybrid=True)
    for p in search("how do I vacuum a table"):
        print(p.score, p.metadata["source_key"], p.metadata["chunk_start"], p.text[:60])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import LakehouseError

if TYPE_CHECKING:
    import numpy as np

    from lakehouse.config import Settings
    from lakehouse.index.hybrid import Fusion
    from lakehouse.index.search import VectorIndex
    from lakehouse.table import VectorTable

TEXT_COLUMN = "chunk_text"
LINEAGE = (
    "source_table",
    "source_key",
    "source_snapshot_id",
    "chunk_index",
    "chunk_start",
    "chunk_end",
    "model",
    "model_version",
    "run_id",
)


class IntegrationError(LakehouseError):
    """An optional framework is missing, or a table lacks what a retriever needs. Fields: table, problem."""


def require(module: str, extra: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise IntegrationError(
            f"{module} is not installed",
            hint=f"pip install 'lakehouse[{extra}]'",
            problem="missing-extra",
        ) from exc


@dataclass(frozen=True)
class Passage:
    """One search hit: the text, its score (fused for hybrid searches) and its lineage."""

    key: Any
    text: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


class PassageSearch:
    """A vector (or hybrid) search over an embeddings table that returns :class:`Passage` objects.

    ``hybrid`` is False (vector only), True (default fusion) or a :class:`~lakehouse.index.hybrid.Fusion`.
    """

    def __init__(
        self,
        table: VectorTable | str,
        column: str = "embedding",
        *,
        k: int = 4,
        where: str | None = None,
        as_of: int | None = None,
        hybrid: bool | Fusion = False,
        text_column: str = TEXT_COLUMN,
        source_columns: Sequence[str] = ("path",),
        settings: Settings | None = None,
    ) -> None:
        from lakehouse.table import VectorTable

        self.table = VectorTable.load(table, settings=settings) if isinstance(table, str) else table
        self.column = column
        self.k = k
        self.where = where
        self.as_of = as_of
        self.hybrid = hybrid
        self.text_column = text_column
        self.source_columns = tuple(source_columns)
        self.settings = settings
        self._index: VectorIndex | None = None
        names = _names(self.table)
        if text_column not in names:
            raise IntegrationError(
                f"table {self.table.identifier} has no text column {text_column!r}",
                hint=f"pass text_column= one of {', '.join(names)}",
                table=self.table.identifier,
                problem="text",
            )

    def index(self) -> VectorIndex | None:
        """The column's index, kept open between queries (None: there is none; searches are exact)."""
        from lakehouse.index.search import VectorIndex

        if self._index is None:
            candidate = VectorIndex(self.table, self.column, settings=self.settings)
            if not candidate.store.exists() or candidate.indexed_snapshot is None:
                return None
            self._index = candidate
        return self._index

    def __call__(
        self, query: str, *, k: int | None = None, vector: Sequence[float] | np.ndarray | None = None
    ) -> list[Passage]:
        from lakehouse.index.hybrid import Fusion, hybrid_search
        from lakehouse.index.search import search

        k = k or self.k
        index = self.index()
        if self.hybrid:
            if index is None:
                raise IntegrationError(
                    f"hybrid search needs an index with a full-text column on {self.table.identifier}",
                    hint=f"lakehouse index build {self.table.identifier} --column {self.column} --text "
                    f"{self.text_column}",
                    table=self.table.identifier,
                    problem="index",
                )
            fusion = self.hybrid if isinstance(self.hybrid, Fusion) else Fusion(text_column=self.text_column)
            result = hybrid_search(index, query, k, vector=vector, where=self.where, as_of=self.as_of, fusion=fusion)
        elif index is not None:
            result = index.search(query if vector is None else vector, k, where=self.where, as_of=self.as_of)
        else:
            q = query if vector is None else vector
            result = search(self.table, self.column, q, k, where=self.where, as_of=self.as_of, settings=self.settings)
        return self._passages(result)

    def _passages(self, result: Any) -> list[Passage]:
        rows = result.table
        key = result.key
        snapshot = result.plan.snapshot_id
        wanted = [c for c in (self.text_column, *LINEAGE) if c not in rows.column_names]
        if wanted and rows.num_rows:
            names = set(_names(self.table))
            wanted = [c for c in wanted if c in names]
            extra = _by_key(self.table, key, rows.column(key), wanted, snapshot)
            rows = _join(rows, extra, key)
        out = []
        paths = self._source_values(rows)
        for i, row in enumerate(rows.to_pylist()):
            meta = {c: row[c] for c in LINEAGE if c in row}
            meta.update(
                {c: v for c, v in row.items() if c in ("vector_score", "text_score", "vector_rank", "text_rank")}
            )
            meta.update(paths[i])
            meta.update(table=self.table.identifier, key=row[key], score=row["score"], snapshot_id=snapshot)
            meta["search"] = result.plan.path
            out.append(Passage(row[key], row.get(self.text_column) or "", float(row["score"]), meta))
        return out

    def _source_values(self, rows: pa.Table) -> list[dict[str, Any]]:
        """``source_columns`` of each row's source row (by ``source_key`` in ``source_table``), where they exist."""
        from lakehouse.table import VectorTable

        out: list[dict[str, Any]] = [{} for _ in range(rows.num_rows)]
        if not self.source_columns or not {"source_table", "source_key"} <= set(rows.column_names):
            return out
        tables = rows.column("source_table").to_pylist()
        keys = rows.column("source_key").to_pylist()
        for name in sorted({t for t in tables if t}):
            try:
                src = VectorTable.load(name, settings=self.settings)
            except LakehouseError:
                continue  # the source table is gone: the passages keep their own lineage
            cols = [c for c in self.source_columns if c in _names(src)]
            if not cols or not src.key_column:
                continue
            mine = [k for t, k in zip(tables, keys, strict=True) if t == name]
            found = _by_key(src, src.key_column, pa.array(mine), cols, None)
            lookup = {r[src.key_column]: r for r in found.to_pylist()}
            for i, (t, k) in enumerate(zip(tables, keys, strict=True)):
                if t == name and k in lookup:
                    out[i].update({c: lookup[k][c] for c in cols})
        return out


def _names(table: Any) -> list[str]:
    return list(table.arrow_schema().names)


def _by_key(
    table: Any, key: str, keys: pa.Array | pa.ChunkedArray, columns: Sequence[str], snapshot: int | None
) -> pa.Table:
    plain = [k for k in keys.to_pylist() if k is not None]
    cols = list(dict.fromkeys([key, *columns]))
    if plain and all(isinstance(k, str) and "'" not in k for k in plain):
        where = f"{key} IN (" + ", ".join(f"'{k}'" for k in plain) + ")"
    elif plain and all(isinstance(k, int) for k in plain):
        where = f"{key} IN (" + ", ".join(str(k) for k in plain) + ")"
    else:
        where = None
    rows = table.to_arrow(snapshot_id=snapshot, columns=cols, row_filter=where)
    return rows.filter(pc.is_in(rows.column(key), value_set=pa.array(plain, rows.schema.field(key).type)))


def _join(rows: pa.Table, extra: pa.Table, key: str) -> pa.Table:
    pos = pc.index_in(rows.column(key), value_set=extra.column(key))
    for name in extra.column_names:
        if name != key:
            rows = rows.append_column(name, extra.column(name).take(pos))
    return rows
