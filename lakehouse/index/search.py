"""Search that answers like the table, not like a stale index (Iceberg snapshots and Delta versions alike).

For a snapshot S: when a Lance version is tagged with S it answers alone. When the index lags (current snapshot
newer than the indexed one), the indexed version answers with the rows of files removed since excluded (a prefilter
on ``_file``) and the rows of files added since are scanned exactly (numpy) and merged. ``as_of`` an older snapshot
with no tagged version, a filter on a column the index does not store, or no index at all: exact search over the
table at S. A filter is planned by its selectivity (:mod:`lakehouse.index.selectivity`): exact over the matching
rows when that is cheaper, else prefiltered ANN probing partitions in proportion to 1/selectivity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from lakehouse.config import IndexSettings, Settings, load_settings
from lakehouse.errors import VectorIndexError
from lakehouse.index.build import IndexParams, vector_index
from lakehouse.index.filters import Filter, parse_filter
from lakehouse.index.query import query_vector
from lakehouse.index.residency import resident_version
from lakehouse.index.resident import ResidentIVF
from lakehouse.index.results import SearchPlan, SearchResult, ranked, to_score
from lakehouse.index.selectivity import plan_filtered
from lakehouse.index.store import FILE_COLUMN, SCORE_COLUMN, IndexMeta, IndexStore
from lakehouse.table import VectorTable
from lakehouse.table.files import FileSet, diff
from lakehouse.vector import VectorSpec, to_numpy

if TYPE_CHECKING:
    import lance


class VectorIndex:
    """The ANN index of one vector column, kept in step with the table's snapshots.

    Example::

        index = VectorIndex.open(VectorTable.load("docs.embeddings"), "embedding")
        hits = index.search("refund policy", k=10, where="lang = 'en'")
        hits.keys, hits.plan.path
    """

    def __init__(self, table: VectorTable, column: str, *, settings: Settings | None = None) -> None:
        self.table = table
        self.spec: VectorSpec = table.spec(column)
        self.column = column
        self.store = IndexStore(table, column, settings=settings)
        self.source = self.store.source
        self.settings = settings
        self._datasets: dict[int, lance.LanceDataset] = {}
        self._tags: dict[int, int] = {}
        self._tags_at: str | None = None  # the table metadata the tags were read at (Iceberg)
        self._files: dict[int, FileSet] = {}
        self._tails: dict[tuple[int, int], pa.Table | None] = {}  # one entry: rows newer than the index
        self._counts: dict[tuple[int, str], int] = {}  # (Lance version, filter) -> matching rows; versions never change
        self._metas: dict[int, IndexMeta] = {}  # Lance version -> its index record
        self._has_ann: dict[int, bool] = {}  # Lance version -> whether it holds an ANN structure
        self._param_sets: dict[
            tuple[Any, ...], tuple[IndexMeta, IndexParams, dict[str, Any]]
        ] = {}  # (record, overrides) -> params
        self._index_settings: IndexSettings | None = settings.index if settings is not None else None

    @classmethod
    def open(cls, table: VectorTable | str, column: str, *, settings: Settings | None = None) -> VectorIndex:
        vt = VectorTable.load(table, settings=settings) if isinstance(table, str) else table
        index = cls(vt, column, settings=settings)
        index.meta  # noqa: B018 - fail now, clearly, when there is no index
        return index

    def with_table(self, table: VectorTable) -> VectorIndex:
        """This index over another handle of the same table (say, reloaded to see a newer snapshot), keeping what never
        changes: the newest Lance versions already opened, whose ANN structures stay loaded (a fresh open searched
        dozens of times slower: BENCHMARKS.md, design measurements, 'loaded ANN structures'), the newest file lists, the
        exact tail and the filter counts. Tags are read again when they can have moved, i.e. unless the new handle holds
        the very table metadata they were read at (an index build or refresh always ends by recording its snapshot in
        the table: a new metadata file). Reading them opened the newest Lance version and listed its tags, a noticeable
        share of every similarity query (figures: BENCHMARKS.md, design measurements, 'index tag reads')."""
        other = VectorIndex(table, self.column, settings=self.settings)
        other._datasets = dict(sorted(self._datasets.items())[-2:])
        other._files = dict(list(self._files.items())[-2:])
        other._tails, other._counts = dict(self._tails), dict(self._counts)
        other._index_settings = self._index_settings
        other._metas, other._has_ann = dict(self._metas), dict(self._has_ann)
        other._param_sets = dict(self._param_sets)  # keyed by the records' identity, and the records are shared
        if self._tags_at is not None and self._tags_at == other._metadata_location():
            other._tags, other._tags_at = dict(self._tags), self._tags_at
        return other

    def _metadata_location(self) -> str | None:
        """The metadata file of this handle where the index record lives in table properties (Iceberg), else None
        (Delta: the record lives beside the index)."""
        return self.table.metadata_location

    # -- state ------------------------------------------------------------------------------------------------
    def _dataset(self, version: int | None = None) -> lance.LanceDataset:
        if version is None:
            return self.store.open()
        if version not in self._datasets:
            self._datasets[version] = self.store.open(version)
        return self._datasets[version]

    @property
    def meta(self) -> IndexMeta:
        indexed = self.indexed_snapshot
        version = self._tag(indexed) if indexed is not None else None
        if version is None:
            return self.store.meta(self._dataset(None))
        if version not in self._metas:  # a Lance version never changes: its record is read once
            self._metas[version] = self.store.meta(self._dataset(version))
        return self._metas[version]

    @property
    def indexed_snapshot(self) -> int | None:
        return self.store.indexed_snapshot()

    def _tag(self, snapshot_id: int) -> int | None:
        if snapshot_id not in self._tags:
            # a miss is final when the tags were read at this handle's table metadata (the table's newest snapshot
            # is not tagged while the index lags: without this, every query re-read them)
            at = self._metadata_location()
            if at is None or at != self._tags_at:
                self._tags, self._tags_at = self.store.tags(self.store.open()), at
        return self._tags.get(snapshot_id)

    def _file_set(self, snapshot_id: int) -> FileSet:
        if snapshot_id not in self._files:
            self._files[snapshot_id] = self.source.files_at(snapshot_id)
        return self._files[snapshot_id]

    # -- queries ----------------------------------------------------------------------------------------------
    def query_vector(self, query: str | Sequence[float] | np.ndarray) -> np.ndarray:
        """The query as float32 ``(dim,)``: embeds text with the column's model, validates a vector."""
        return query_vector(self.spec, query)

    def search(
        self,
        query: str | Sequence[float] | np.ndarray,
        k: int = 10,
        *,
        where: str | None = None,
        as_of: int | None = None,
        nprobes: int | None = None,
        refine_factor: int | None = None,
        ef: int | None = None,
        exact_filter_rows: int | None = None,
        with_vectors: bool = False,
    ) -> SearchResult:
        """The ``k`` rows nearest to ``query`` at the table's current snapshot (or ``as_of``), best first.

        ``with_vectors`` adds each row's vector and, where known, ``_file`` (the data file it was read from), so a
        caller can rank or join the rows without reading the table again.
        """
        if not isinstance(k, int) or k < 1:
            raise VectorIndexError(f"k must be a positive integer, got {k!r}", column=self.column, problem="k")
        q = self.query_vector(query)
        flt = self._filter(where)
        snapshot_id = self._snapshot(as_of)
        carry = (self.column, FILE_COLUMN) if with_vectors else ()
        if snapshot_id is None:
            empty = pa.table(
                {self.table.key_column or "key": pa.array([], pa.string()), SCORE_COLUMN: pa.array([], pa.float64())}
            )
            return SearchResult(empty, SearchPlan("exact", "the table has no snapshot", None), empty.column_names[0])
        indexed = self.indexed_snapshot
        meta = self.meta
        overrides: dict[str, Any] = {
            k_: v for k_, v in {"nprobes": nprobes, "refine_factor": refine_factor, "ef": ef}.items() if v
        }
        params, shown = self._params(meta, overrides)
        base = SearchPlan(
            "exact",
            "",
            snapshot_id,
            indexed,
            index_type=meta.index_type,
            filter=where,
            params=dict(shown),
        )
        if flt is not None and not flt.columns <= {meta.key, *meta.store}:
            missing = sorted(flt.columns - {meta.key, *meta.store})
            return self._exact(
                q,
                k,
                snapshot_id,
                flt,
                replace(
                    base,
                    reason=(
                        f"the filter reads column(s) {', '.join(missing)} the index does not store "
                        f"(stored: {', '.join(meta.store) or 'none'}); exact search over the table"
                    ),
                ),
                carry,
            )
        version = self._tag(snapshot_id)
        if version is not None:
            plan = replace(
                base, path="index", lance_version=version, reason=f"index version tagged for snapshot {snapshot_id}"
            )
            return self._indexed(q, k, version, (), None, flt, params, meta, plan, exact_filter_rows, carry)
        if as_of is not None and as_of != self.source.current_snapshot():
            tagged = ", ".join(str(s) for s in sorted(self._tags)) or "none"
            return self._exact(
                q,
                k,
                snapshot_id,
                flt,
                replace(
                    base,
                    reason=(
                        f"no index version is tagged for snapshot {snapshot_id} (tagged: {tagged}); "
                        "exact search over the table"
                    ),
                ),
                carry,
            )
        if indexed is None or self._tag(indexed) is None:
            plan = replace(base, reason="the index has no usable tagged version")
            return self._exact(q, k, snapshot_id, flt, plan, carry)
        version = self._tag(indexed)
        change = diff(self._file_set(indexed).identities, self._file_set(snapshot_id))
        tail = self._tail(indexed, snapshot_id, change.added, meta) if change.added else None
        plan = replace(
            base,
            path="index+tail",
            lance_version=version,
            excluded_files=len(change.removed),
            tail_files=len(change.added),
            tail_rows=tail.num_rows if tail is not None else 0,
            reason=f"the index is at snapshot {indexed}, the table at {snapshot_id}: rows of "
            f"{len(change.added)} newer file(s) scanned exactly, {len(change.removed)} file(s) excluded",
        )
        removed = sorted(change.removed)
        return self._indexed(q, k, version, removed, tail, flt, params, meta, plan, exact_filter_rows, carry)  # type: ignore[arg-type]

    def explain(self, query: str | Sequence[float] | np.ndarray, k: int = 10, **options: Any) -> SearchPlan:
        """The plan a search takes (it runs the search: the plan depends on what the filter matches)."""
        return self.search(query, k, **options).plan

    # -- paths ------------------------------------------------------------------------------------------------
    def _filter(self, where: str | None) -> Filter | None:
        if not where:
            return None
        return parse_filter(where, self.source.filter_schema(), table=self.store.identifier, column=self.column)

    def _snapshot(self, as_of: int | None) -> int | None:
        if as_of is None:
            return self.source.current_snapshot()
        if not self.source.has_snapshot(as_of):
            raise VectorIndexError(
                f"table {self.store.identifier} has no snapshot {as_of}",
                hint="list its snapshots (table.snapshots()); `lakehouse index status` shows the tagged ones",
                table=self.store.identifier,
                column=self.column,
                problem="snapshot",
            )
        return as_of

    def _tail(self, indexed: int, snapshot_id: int, tasks: Sequence[Any], meta: IndexMeta) -> pa.Table | None:
        key = (indexed, snapshot_id)
        if key not in self._tails:
            cols = [meta.key, self.column, *meta.store]
            parts = list(self.source.read_files(snapshot_id, tasks, cols))
            self._tails = {key: pa.concat_tables(parts, promote_options="permissive") if parts else None}
        return self._tails[key]

    def _exact(
        self,
        q: np.ndarray,
        k: int,
        snapshot_id: int,
        flt: Filter | None,
        plan: SearchPlan,
        carry: Sequence[str] = (),
    ) -> SearchResult:
        meta = self.meta
        cols = list(dict.fromkeys([meta.key, self.column, *meta.store, *(flt.columns if flt else ())]))
        rows = self.source.read(snapshot_id, cols, flt)
        keep = list(dict.fromkeys([meta.key, *meta.store, *(c for c in carry if c != FILE_COLUMN)]))  # no file here
        out = ranked(rows, to_numpy(rows.column(self.column), self.spec.dim), q, k, self.spec.metric, keep)
        return SearchResult(out, replace(plan, path="exact", filter_rows=rows.num_rows if flt else None), meta.key)

    def _indexed(
        self,
        q: np.ndarray,
        k: int,
        version: int,
        excluded: Sequence[str],
        tail: pa.Table | None,
        flt: Filter | None,
        params: IndexParams,
        meta: IndexMeta,
        plan: SearchPlan,
        exact_filter_rows: int | None,
        carry: Sequence[str] = (),
    ) -> SearchResult:
        ds = self._dataset(version)
        clauses = [f"({flt.sql})"] if flt else []
        live = None  # the rows of files removed since the index was built are searched out, so not counted either
        if excluded:
            live = f"{FILE_COLUMN} NOT IN (" + ", ".join("'" + f.replace("'", "''") + "'" for f in excluded) + ")"
            clauses.append(live)
        sql = " AND ".join(clauses) or None
        keep = list(dict.fromkeys([meta.key, *meta.store, *carry]))
        if version not in self._has_ann:
            self._has_ann[version] = vector_index(ds, self.column) is not None
        has_ann = self._has_ann[version]
        notes = list(plan.notes) + ([] if has_ann else ["no ANN structure (flat index): Lance scans exactly"])
        matched = self._count(ds, version, sql) if (flt and has_ann) else None  # type: ignore[arg-type]
        decision = None
        if matched is not None:
            # every index type: exact over the matching rows when cheaper, else probes widened by 1/selectivity
            rows = self._count(ds, version, live) if live else ds.count_rows()
            decision = plan_filtered(matched, rows, meta.dim, params, exact_rows=exact_filter_rows)
            plan = replace(plan, reason=plan.reason + "; " + decision.reason)
        resident, mask = self._resident(ds, version, meta, keep, flt, excluded) if has_ann else (None, None)
        if resident is not None:
            notes.append(f"index version {version} searched in memory (lakehouse.index.resident)")

        def exact() -> pa.Table:
            return resident.exact(q, k, keep, mask) if resident else self._exact_lance(ds, q, k, sql, keep)

        if decision is not None and decision.path == "exact":
            found = exact()
        else:
            if decision is not None:
                params = decision.params
                plan = replace(plan, params={**plan.params, "nprobes": params.nprobes})
            if resident is not None:
                found = resident.search(q, k, params.nprobes or 1, keep, mask)
            else:
                found = self._ann(ds, q, k, sql, keep, params, meta.metric)
            if has_ann and found.num_rows < k:
                matched = ds.count_rows(filter=sql) if matched is None else matched
                if found.num_rows < min(k, matched):
                    notes.append(f"ANN returned {found.num_rows} of {k}: answered exactly over the filtered rows")
                    found = exact()
        if tail is not None and tail.num_rows:
            rows = flt.apply(tail, self.source.filter_schema()) if flt else tail
            if rows.num_rows:
                extra = ranked(rows, to_numpy(rows.column(self.column), self.spec.dim), q, k, self.spec.metric, keep)
                found = pa.concat_tables([found, extra.cast(found.schema)])
        if resident is None or (tail is not None and tail.num_rows):  # a resident answer comes ranked, k at most
            order = np.argsort(-found.column(SCORE_COLUMN).to_numpy(), kind="stable")[:k]
            found = found.take(pa.array(order, pa.int64()))
        return SearchResult(found, replace(plan, filter_rows=matched, notes=tuple(notes)), meta.key)

    def _params(self, meta: IndexMeta, overrides: dict[str, Any]) -> tuple[IndexParams, dict[str, Any]]:
        """The search parameters for this record and these overrides, and the ones a plan shows (kept: dataclass
        conversions were a visible share of a resident search)."""
        key = (id(meta), *sorted(overrides.items()))
        if key not in self._param_sets:
            if len(self._param_sets) >= 256:
                self._param_sets.clear()
            params = replace(IndexParams.from_dict(dict(meta.params)), **overrides)
            shown = {k: v for k, v in params.to_dict().items() if k in ("nprobes", "refine_factor", "ef")}
            self._param_sets[key] = (meta, params, shown)
        _, params, shown = self._param_sets[key]
        return params, shown

    def _resident(
        self,
        ds: lance.LanceDataset,
        version: int,
        meta: IndexMeta,
        keep: Sequence[str],
        flt: Filter | None,
        excluded: Sequence[str],
    ) -> tuple[ResidentIVF | None, np.ndarray | None]:
        """This version held in memory when the settings want it now and it holds every column the search reads
        (:mod:`lakehouse.index.residency`), with the rows the filter and the removed files leave; else (None, None)."""
        if self._index_settings is None:
            self._index_settings = (self.settings or load_settings()).index
        columns = [meta.key, *meta.store, self.column, FILE_COLUMN]
        resident = resident_version(ds, version, self.column, meta.metric, columns, self._index_settings)
        needed = {*keep, *(flt.columns if flt else ()), *([FILE_COLUMN] if excluded else [])}
        if resident is None or not needed <= resident.columns:
            return None, None
        return resident, resident.mask(flt, self.source.filter_schema() if flt else None, excluded)

    def _count(self, ds: lance.LanceDataset, version: int, sql: str) -> int:
        # a scan of the filter's columns (ms at 1M rows), paid once per filter and index version
        if (version, sql) not in self._counts:
            if len(self._counts) >= 1024:
                self._counts.clear()
            self._counts[(version, sql)] = ds.count_rows(filter=sql)
        return self._counts[(version, sql)]

    def _ann(
        self,
        ds: lance.LanceDataset,
        q: np.ndarray,
        k: int,
        sql: str | None,
        keep: list[str],
        params: IndexParams,
        metric: str,
    ) -> pa.Table:
        nearest: dict[str, Any] = {"column": self.column, "q": q, "k": k, "metric": metric}
        for name in ("nprobes", "refine_factor", "ef"):
            if getattr(params, name):
                nearest[name] = getattr(params, name)
        if "ef" in nearest:  # Lance asks the HNSW graph for k * refine_factor candidates and refuses ef below that
            nearest["ef"] = max(nearest["ef"], k * (params.refine_factor or 1))
        res = ds.to_table(
            nearest=nearest,
            columns=[*keep, "_distance"],
            filter=sql,
            prefilter=True,
            disable_scoring_autoprojection=True,
        )
        scores = to_score(res.column("_distance").to_numpy(), metric)
        return res.select(keep).append_column(SCORE_COLUMN, pa.array(scores.astype(np.float64)))

    def _exact_lance(self, ds: lance.LanceDataset, q: np.ndarray, k: int, sql: str | None, keep: list[str]) -> pa.Table:
        rows = ds.to_table(columns=list(dict.fromkeys([*keep, self.column])), filter=sql)
        return ranked(rows, to_numpy(rows.column(self.column), self.spec.dim), q, k, self.spec.metric, keep)


def open_index(table: VectorTable | str, column: str, *, settings: Settings | None = None) -> VectorIndex:
    """The index of ``column`` (raises :class:`VectorIndexError` when none was built). ``VectorTable.index`` twin."""
    return VectorIndex.open(table, column, settings=settings)


def search(
    table: VectorTable | str,
    column: str,
    query: str | Sequence[float] | np.ndarray,
    k: int = 10,
    *,
    where: str | None = None,
    as_of: int | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> SearchResult:
    """Nearest rows of ``table`` by ``column``: through the index when there is one, exactly otherwise."""
    vt = VectorTable.load(table, settings=settings) if isinstance(table, str) else table
    index = VectorIndex(vt, column, settings=settings)
    if not index.store.exists() or index.indexed_snapshot is None:
        return _exact_without_index(vt, column, query, k, where, as_of, index)
    return index.search(query, k, where=where, as_of=as_of, **options)


def _exact_without_index(
    vt: VectorTable, column: str, query: Any, k: int, where: str | None, as_of: int | None, index: VectorIndex
) -> SearchResult:
    q = index.query_vector(query)
    flt = index._filter(where)
    snapshot_id = index._snapshot(as_of)
    key = vt.key_column or index.source.arrow_schema().names[0]
    rows = index.source.read(snapshot_id, [key, column], flt)  # type: ignore[arg-type]  # None: no rows yet
    out = ranked(rows, to_numpy(rows.column(column), index.spec.dim), q, k, index.spec.metric, [key])
    plan = SearchPlan(
        "exact",
        f"no index on {index.store.identifier}.{column}: exact search over the table "
        f"(build one with `lakehouse index build {index.store.identifier} --column {column}`)",
        snapshot_id,
        filter=flt.sql if flt else None,
        filter_rows=rows.num_rows if flt else None,
    )
    return SearchResult(out, plan, key)
