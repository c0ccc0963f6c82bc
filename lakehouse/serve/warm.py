"""What a ``lakehouse serve`` process keeps warm between requests, and the two things it answers: search and SQL.

Kept: the embedding models (loaded by the first query that embeds text, then kept by the model registry), one pyiceberg
catalog client per worker thread, the opened Lance indexes (their ANN structures stay loaded: a fresh open searched
dozens of times slower; BENCHMARKS.md, design measurements, 'loaded ANN structures'), the payload reader's file listings
and footers, and a pool of DuckDB :class:`~lakehouse.sql.SqlSession` objects (a DuckDB connection serves one thread at a
time). Every request still asks the catalog for the table's current metadata, conditionally (``If-None-Match``: a 304
with no body while it is unchanged, :mod:`lakehouse.table.loads`), so an answer is never older than the table: a write
committed before a request is seen by it (unless ``catalog.metadata_max_age_s`` asks for reuse within a window).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.errors import SqlError, VectorIndexError

if TYPE_CHECKING:
    from lakehouse.index.results import SearchResult
    from lakehouse.sql.api import SqlSession
    from lakehouse.table import VectorTable

__all__ = ["SearchQuery", "Warm"]

# lineage columns of an embeddings table (lakehouse.embed): where a chunk came from
SOURCE_TABLE, SOURCE_KEY, CHUNK_START, CHUNK_END, CHUNK_TEXT = (
    "source_table",
    "source_key",
    "chunk_start",
    "chunk_end",
    "chunk_text",
)
_SOURCE_COLUMNS = ("path", "title")  # read from the source table by key, where it has them


@dataclass(frozen=True)
class SearchQuery:
    table: str
    column: str
    text: str | None = None
    vector: Sequence[float] | None = None
    k: int = 10
    filter: str | None = None
    as_of: int | None = None
    hybrid: dict[str, Any] | None = None  # None: vector only; {}: hybrid with the default fusion
    columns: Sequence[str] | None = None  # the row columns to return (default: every non-vector column)
    options: dict[str, int] | None = None  # nprobes, refine_factor, ef


class Warm:
    """The warm state of one service process. Thread-safe: the web server calls it from its worker threads."""

    def __init__(self, settings: Settings, *, sql_sessions: int = 2) -> None:
        self.settings = settings
        self.started = time.time()
        self._local = threading.local()
        self._indexes: dict[tuple[str, str, str], Any] = {}
        self._indexes_lock = threading.Lock()
        self._sessions: queue.LifoQueue[SqlSession] = queue.LifoQueue()
        self._session_slots = threading.BoundedSemaphore(max(1, sql_sessions))
        self._all_sessions: list[SqlSession] = []
        self.requests = {"search": 0, "sql": 0}

    # -- shared pieces ----------------------------------------------------------------------------------------
    def catalog(self) -> Any:
        """This thread's catalog client (pyiceberg's REST client keeps an HTTP session: one per thread)."""
        cat = getattr(self._local, "catalog", None)
        if cat is None:
            from lakehouse.table import load_catalog

            cat = self._local.catalog = load_catalog(self.settings)
        return cat

    def table(self, name: str) -> VectorTable:
        from lakehouse.table import VectorTable

        return VectorTable.load(name, catalog=self.catalog(), settings=self.settings)

    def index(self, vt: VectorTable, column: str) -> Any:
        """The kept index of ``vt.column`` over this request's table handle (this request's own copy: it mutates
        its caches while searching), or None when there is none. :meth:`keep` puts it back once done."""
        from lakehouse.index import VectorIndex

        with self._indexes_lock:
            kept = self._indexes.get(_index_key(vt, column))
            if kept is not None:
                return kept.with_table(vt)
        index = VectorIndex(vt, column, settings=self.settings)
        if not index.store.exists() or index.indexed_snapshot is None:
            return None
        return index

    def keep(self, index: Any) -> None:
        """Keep a finished request's index (ANN structures loaded, tags, file lists) for the next request."""
        with self._indexes_lock:
            self._indexes[_index_key(index.table, index.column)] = index

    @property
    def payload(self) -> Any:
        """This thread's payload reader (its file listings and footers are kept between requests; its caches are
        not shared between threads)."""
        reader = getattr(self._local, "payload", None)
        if reader is None:
            from lakehouse.table.payload import PayloadReader

            reader = self._local.payload = PayloadReader(self.settings.index.payload_cache_mb)
        return reader

    @contextmanager
    def session(self) -> Iterator[SqlSession]:
        """A DuckDB session of the pool (at most ``sql_sessions`` exist; a request waits for a free one)."""
        from lakehouse.sql import SqlSession

        self._session_slots.acquire()
        try:
            try:
                s = self._sessions.get_nowait()
            except queue.Empty:
                s = SqlSession(self.settings)
                self._all_sessions.append(s)
            try:
                yield s
            finally:
                self._sessions.put(s)
        finally:
            self._session_slots.release()

    def close(self) -> None:
        for s in self._all_sessions:
            s.close()

    def health(self) -> dict[str, Any]:
        from lakehouse.embed.registry import _CACHE

        return {
            "status": "ok",
            "uptime_s": round(time.time() - self.started, 1),
            "warm": {
                "models": sorted({m.name for m in list(_CACHE.values())}),
                "indexes": sorted(f"{t}.{c}" for t, _, c in self._indexes),
                "sql_sessions": len(self._all_sessions),
            },
            "requests": dict(self.requests),
        }

    # -- POST /v1/search --------------------------------------------------------------------------------------
    def search(self, q: SearchQuery) -> dict[str, Any]:
        self.requests["search"] += 1
        _one_torch_thread()
        started = time.perf_counter()
        vt = self.table(q.table)
        spec = vt.spec(q.column)
        loaded = time.perf_counter()
        query: Any = q.text if q.vector is None else np.asarray(q.vector, dtype=np.float32)
        if q.text is not None and (q.hybrid is None or q.vector is None):
            from lakehouse.index.query import query_vector

            query = query_vector(spec, q.text)  # the model loads here, once per process
            _one_torch_thread()
        embedded = time.perf_counter()
        index = self.index(vt, q.column)
        found = self._find(vt, index, q, query)
        if index is not None:
            self.keep(index)
        searched = time.perf_counter()
        rows = self._rows(vt, q, found)
        done = time.perf_counter()
        plan = found.plan.to_dict()
        plan.update(index_used=found.plan.path.startswith("index"), exact=not found.plan.path.startswith("index"))
        plan["table"], plan["column"] = vt.identifier, q.column
        ms = {
            "catalog": (loaded - started) * 1e3,
            "embed": (embedded - loaded) * 1e3,
            "search": (searched - embedded) * 1e3,
            "rows": (done - searched) * 1e3,
            "total": (done - started) * 1e3,
        }
        return {"results": rows, "plan": plan, "ms": {k: round(v, 3) for k, v in ms.items()}}

    def _find(self, vt: VectorTable, index: Any, q: SearchQuery, query: Any) -> SearchResult:
        options = dict(q.options or {})
        if q.hybrid is not None:
            if index is None:
                raise VectorIndexError(
                    f"hybrid search needs an index with a full-text column on {vt.identifier}.{q.column}",
                    hint=f"build one: lakehouse index build {vt.identifier} --column {q.column} (with its text column)",
                    table=vt.identifier,
                    column=q.column,
                    problem="hybrid",
                )
            hybrid_search, fusion_type = _hybrid()
            vector = None if isinstance(query, str) else query
            fusion = fusion_type(**q.hybrid)
            return hybrid_search(
                index, q.text, q.k, vector=vector, where=q.filter, as_of=q.as_of, fusion=fusion, **options
            )
        if index is None:
            from lakehouse.index import search

            return search(vt, q.column, query, q.k, where=q.filter, as_of=q.as_of, settings=self.settings)
        return index.search(query, q.k, where=q.filter, as_of=q.as_of, with_vectors=True, **options)

    def _rows(self, vt: VectorTable, q: SearchQuery, found: SearchResult) -> list[dict[str, Any]]:
        """Each hit with its row's columns (read by key at the searched snapshot), text, source and span."""
        from lakehouse.index.store import FILE_COLUMN, SCORE_COLUMN

        names = vt.column_names()
        vectors = set(vt.specs)
        wanted = [c for c in (q.columns or names) if c not in vectors]
        unknown = [c for c in wanted if c not in names]
        if unknown:
            raise VectorIndexError(
                f"table {vt.identifier} has no column(s) {', '.join(unknown)}",
                hint=f"columns: {', '.join(c for c in names if c not in vectors)}",
                table=vt.identifier,
                problem="columns",
            )
        hits = found.table
        key = found.key
        have = set(hits.column_names)
        missing = [c for c in wanted if c not in have]
        extra = None
        if missing and hits.num_rows:
            extra = self._payload_rows(vt, found, missing)
            if extra is None:
                extra = self._by_key(vt, found, missing)
        columns = {c: (hits if c in have else extra).column(c) for c in wanted if c in have or extra is not None}  # type: ignore[union-attr]
        scores = hits.column(SCORE_COLUMN).to_pylist()
        extras = [c for c in ("vector_score", "text_score", "vector_rank", "text_rank") if c in have]
        records = pa.table(columns).to_pylist() if hits.num_rows else []
        sources = self._sources(records)
        out = []
        for i, record in enumerate(records):
            item: dict[str, Any] = {"key": hits.column(key)[i].as_py(), "score": scores[i]}
            item.update({c: hits.column(c)[i].as_py() for c in extras})
            item["text"] = record.get(CHUNK_TEXT)
            if SOURCE_KEY in record:
                item["source"] = {
                    "table": record.get(SOURCE_TABLE),
                    "key": record.get(SOURCE_KEY),
                    "span": [record.get(CHUNK_START), record.get(CHUNK_END)],
                    **sources.get((record.get(SOURCE_TABLE), record.get(SOURCE_KEY)), {}),
                }
            item["row"] = {c: v for c, v in record.items() if c != FILE_COLUMN}
            out.append(item)
        return out

    def _payload_rows(self, vt: VectorTable, found: SearchResult, columns: Sequence[str]) -> pa.Table | None:
        """``columns`` for the hits' keys, in their order, from the data files they came from (``_file``, when the
        search carried it; else the snapshot's files, pruned by key statistics); None when that cannot be exact."""
        from lakehouse.index.store import FILE_COLUMN

        hits, snapshot = found.table, found.plan.snapshot_id
        if snapshot is None:
            return None
        files = list(dict.fromkeys(hits.column(FILE_COLUMN).to_pylist())) if FILE_COLUMN in hits.column_names else None
        keys = hits.column(found.key)
        got = self.payload.read(vt, snapshot, found.key, keys, columns, files)
        return None if got is None else got[0]

    def _by_key(self, vt: VectorTable, found: SearchResult, wanted: Sequence[str]) -> pa.Table:
        """The rows of ``found``'s keys at its snapshot, in its order (when the payload reader cannot say exactly)."""
        from lakehouse.index.filters import parse_filter

        snapshot = found.plan.snapshot_id
        if snapshot is None:  # a table without a snapshot: the search found no rows, so there are none to read
            return found.table.slice(0, 0)
        keys = found.table.column(found.key).to_pylist()
        literal = ", ".join(_sql_literal(k) for k in keys)
        flt = parse_filter(f"{found.key} IN ({literal})", vt.filter_schema(), table=vt.identifier)
        cols = list(dict.fromkeys([found.key, *wanted]))
        rows = vt.read(snapshot, cols, flt)
        at = {k: i for i, k in enumerate(rows.column(found.key).to_pylist())}
        return rows.take(pa.array([at[k] for k in keys], pa.int64()))

    def _sources(self, records: list[dict[str, Any]]) -> dict[tuple[Any, Any], dict[str, Any]]:
        """``path`` and ``title`` of each hit's source document, read by key from the source table (current
        snapshot); none where the source table is gone or has no such columns."""
        wanted: dict[str, list[Any]] = {}
        for r in records:
            if r.get(SOURCE_TABLE) and r.get(SOURCE_KEY) is not None:
                wanted.setdefault(r[SOURCE_TABLE], []).append(r[SOURCE_KEY])
        out: dict[tuple[Any, Any], dict[str, Any]] = {}
        for name, keys in wanted.items():
            try:
                found = self._source_rows(name, list(dict.fromkeys(keys)))
            except Exception:  # a gone or unreadable source table leaves the hits without a path, not failed
                continue
            out.update({(name, k): v for k, v in found.items()})
        return out

    def _source_rows(self, name: str, keys: list[Any]) -> dict[Any, dict[str, Any]]:
        from lakehouse.index.filters import parse_filter

        vt = self.table(name)
        key = vt.key_column
        names = set(vt.column_names())
        cols = [c for c in _SOURCE_COLUMNS if c in names]
        if not key or not cols or vt.snapshot_id is None:
            return {}
        flt = parse_filter(
            f"{key} IN ({', '.join(_sql_literal(k) for k in keys)})", vt.filter_schema(), table=vt.identifier
        )
        rows = vt.read(vt.snapshot_id, [key, *cols], flt).to_pylist()
        return {r[key]: {c: r[c] for c in cols} for r in rows}

    # -- POST /v1/sql -----------------------------------------------------------------------------------------
    def sql(self, text: str, params: Any = None, *, max_rows: int = 10_000) -> dict[str, Any]:
        self.requests["sql"] += 1
        _one_torch_thread()
        started = time.perf_counter()
        with self.session() as s:
            s.last = {}  # an EXPLAIN leaves it as it was
            result = s.query(text, params)
            last = dict(s.last)
        _one_torch_thread()
        truncated = result.num_rows > max_rows
        if truncated:
            result = result.slice(0, max_rows)
        plan = {k: v for k, v in last.items() if k not in ("sql", "ms")}
        if not last:
            plan = {"path": "explain"}
        elapsed = (time.perf_counter() - started) * 1e3
        return {
            "columns": result.column_names,
            "rows": result.to_pylist(),
            "truncated": truncated,
            "plan": plan,
            "ms": {**{k: round(v, 3) for k, v in (last.get("ms") or {}).items()}, "total": round(elapsed, 3)},
        }


def _one_torch_thread() -> None:
    """One intra-op thread for the model, once it is loaded: a request embeds one short query, and requests run in
    parallel. torch's default (one thread per core) spins its workers against each other and the other requests:
    on busy shared cores one thread embedded a query many times faster (figures: BENCHMARKS.md, design
    measurements, 'one torch thread per query')."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _hybrid() -> tuple[Any, Any]:
    """The retrieval engineer's hybrid search (``lakehouse.index.hybrid``), or a clear refusal while it is absent."""
    try:
        from lakehouse.index.hybrid import Fusion, hybrid_search
    except ImportError as exc:
        raise SqlError(
            "hybrid search is not available in this installation (lakehouse.index.hybrid is missing)",
            hint="search without 'hybrid', or upgrade lakehouse",
        ) from exc
    return hybrid_search, Fusion


def _index_key(vt: VectorTable, column: str) -> tuple[str, str, str]:
    return (vt.identifier, vt.identity, column)  # a dropped and re-created table is another table


def _sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SqlError(f"cannot look up key {value!r} by value", hint="keys must be strings or numbers")
    return repr(value)
