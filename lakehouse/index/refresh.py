"""Building an index, and refreshing it incrementally from the table's history (Iceberg snapshots, Delta versions).

A refresh compares the data files of the indexed snapshot with those of the current one (metadata only: Iceberg
manifests, the Delta log; see :class:`~lakehouse.table.VectorTable`), deletes from Lance the rows of
files that went away (``_file``), appends the rows of files that arrived, folds new rows into the ANN structure once
they are a large enough share (:class:`FoldPolicy`), tags the Lance version with the snapshot and, last of all,
records the snapshot (:meth:`~lakehouse.index.store.IndexStore.commit`). Until that last step, readers keep using the
previous tagged version; a refresh that dies half-way is rolled back to it and redone by the next one.

Folding. Appended rows sit outside the ANN structure, where every query scans them exactly, which soon costs a query a
noticeable share of its time. Once they are worth indexing they are folded in as a *delta segment*: an index over the
new rows only, on the trained partitions, costing in proportion to the new rows (a small share of a full build). Every
segment is probed with the same ``nprobes``, so each one adds a little to a query (figures: BENCHMARKS.md, design
measurements, 'fold policy'); at :attr:`FoldPolicy.max_segments` the new rows are merged with the latest, smaller delta
segments instead (cheap for IVF_PQ; IVF_HNSW_SQ rebuilds the graph of the merged rows). Once a large share of the rows
came after the last training, the partitions, trained without them, are retrained: a full build, once per
:attr:`FoldPolicy.retrain_share` of new rows. Measurements: BENCHMARKS.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from lakehouse.config import Settings
from lakehouse.errors import VectorIndexError
from lakehouse.index.build import (
    AnnLayout,
    IndexParams,
    IndexType,
    ann_layout,
    choose_params,
    fold,
    index_meta,
    lance_schema,
    train,
    vector_index,
)
from lakehouse.index.changes import apply_change, stream_rows
from lakehouse.index.fulltext import carry_text, index_columns, text_store, update_text, with_text
from lakehouse.index.store import FILE_COLUMN, META_KEY, IndexMeta, IndexStore
from lakehouse.table import VectorTable
from lakehouse.table.files import FileSet, diff

if TYPE_CHECKING:
    import lance

Checkpoint = Callable[[str], None]
# Fold rows outside the ANN structure once they are this share of all rows, or this many. Scanning them costs every
# query more than a delta segment does, and the fold itself is cheap beside a build (figures: BENCHMARKS.md, design
# measurements, 'fold policy').
FOLD_THRESHOLD = 0.01
FOLD_ROWS = 10_000
MAX_SEGMENTS = 4  # a fold that would leave more ANN segments merges the delta segments into one instead
RETRAIN_SHARE = 1 / 3  # a fold due when this share of the rows came after the last training retrains instead
COMPACT_FRAGMENTS = 64  # compact once a refresh leaves more fragments than this
RETENTION = timedelta(hours=1)  # untagged Lance versions younger than this survive cleanup (in-flight readers)
KEEP_TAGS = 10  # tagged versions kept for as-of searches (plus the indexed one)


@dataclass(frozen=True)
class FoldPolicy:
    """When a refresh folds appended rows into the ANN structure, and how.

    A fold is due once the rows outside the ANN structure exceed ``threshold`` of all rows or ``max_rows``. It is a
    delta segment; when there are ``max_segments`` segments already, a merge of the new rows with the latest delta
    segments (size-tiered, see :func:`_tail_to_merge`); a retraining when more than ``retrain_share`` of the rows
    came after the last training (they were assigned to partitions trained without them; ``retrain_share=1``: never).
    Example::

        refresh("docs.embeddings", "embedding", fold_policy=FoldPolicy(max_segments=2))
    """

    threshold: float = FOLD_THRESHOLD
    max_rows: int = FOLD_ROWS
    max_segments: int = MAX_SEGMENTS  # at least 2: the trained segment and one delta
    retrain_share: float = RETRAIN_SHARE

    def __post_init__(self) -> None:
        if self.max_segments < 2:
            # folding into the trained segment itself would lose track of which rows it was trained on
            raise VectorIndexError(
                f"FoldPolicy.max_segments must be at least 2, not {self.max_segments}",
                hint="2 keeps the trained segment and one delta segment that every fold rewrites",
                problem="fold",
            )

    def due(self, layout: AnnLayout) -> bool:
        outside = layout.unindexed
        return outside > 0 and (outside > self.threshold * layout.rows or outside > self.max_rows)


# What a refresh did: a first build, a rebuild from scratch (spec, stored columns or index type changed, or history
# that cannot be followed), an incremental update from the table's history, or nothing (the index is current).
RefreshAction = Literal["build", "rebuild", "incremental", "noop"]


@dataclass(frozen=True)
class RefreshResult:
    table: str
    column: str
    action: RefreshAction
    reason: str
    from_snapshot: int | None
    to_snapshot: int | None
    files_added: int = 0
    files_removed: int = 0
    rows_added: int = 0
    trained: bool = False
    folded: bool = False  # appended rows went into the ANN structure (delta segment, merge or retraining)
    merged: bool = False  # ... and the delta segments were merged into one
    segments: int | None = None  # ANN segments after the refresh (None: no ANN structure)
    rows_outside_ann: int | None = None  # rows every query still scans exactly
    versions_removed: int = 0
    lance_version: int | None = None
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _table(table: VectorTable | str, settings: Settings | None) -> VectorTable:
    return VectorTable.load(table, settings=settings) if isinstance(table, str) else table.refresh()


def _no_snapshot(source: VectorTable, column: str) -> VectorIndexError:
    return VectorIndexError(
        f"table {source.identifier} has no snapshot yet: nothing to index",
        hint="append rows first",
        table=source.identifier,
        column=column,
        problem="empty",
    )


def _full(
    store: IndexStore,
    meta: IndexMeta,
    snapshot_id: int,
    files: FileSet,
    started: float,
    action: RefreshAction,
    reason: str,
    *,
    retention: timedelta,
    keep_tags: int,
    checkpoint: Checkpoint,
    from_snapshot: int | None = None,
) -> RefreshResult:
    import lance

    schema = lance_schema(store.source, meta)
    mode = "overwrite" if store.exists() else "create"
    rows = stream_rows(store.source, snapshot_id, list(files.tasks.values()), schema)
    ds = lance.write_dataset(rows, store.lance_uri, schema=schema, mode=mode)
    checkpoint("written")
    trained = train(ds, meta.column, IndexParams.from_dict(dict(meta.params)), meta.metric)
    index_columns(store.open(), meta)
    ds = store.open()
    checkpoint("trained")
    store.commit(ds, snapshot_id)
    removed = store.cleanup(ds, retention=retention, keep_tags=keep_tags)
    layout = ann_layout(ds, meta.column)
    return RefreshResult(
        store.identifier,
        meta.column,
        action,
        reason,
        from_snapshot,
        snapshot_id,
        files_added=len(files.tasks),
        rows_added=ds.count_rows(),
        trained=trained,
        segments=layout.segments if layout else None,
        rows_outside_ann=layout.unindexed if layout else None,
        versions_removed=removed,
        lance_version=ds.version,
        seconds=time.perf_counter() - started,
    )


def build(
    table: VectorTable | str,
    column: str,
    *,
    index_type: IndexType = "auto",
    store: Sequence[str] = (),
    text: str | Sequence[str] = (),
    settings: Settings | None = None,
    wait: float = 0.0,
    retention: timedelta = RETENTION,
    keep_tags: int = KEEP_TAGS,
    checkpoint: Checkpoint | None = None,
    **params: object,
) -> RefreshResult:
    """(Re)build the index of ``column`` from the table's current snapshot.

    ``params`` override chosen parameters (``num_partitions``, ``nprobes``...); ``text`` names column(s) to store
    with a full-text (BM25) index for hybrid search (:mod:`lakehouse.index.hybrid`). Example::

        build("docs.embeddings", "embedding", index_type="ivf_pq", store=["lang"], text="chunk_text")
    """
    started = time.perf_counter()
    vt = _table(table, settings)
    idx = IndexStore(vt, column, settings=settings)
    with idx.lock(wait=wait):
        idx.source.refresh()
        snapshot_id = idx.source.current_snapshot()
        if snapshot_id is None:
            raise _no_snapshot(idx.source, column)
        files = idx.source.files_at(snapshot_id)
        meta = index_meta(idx.source, column, text_store(store, text), index_type, files.record_count)
        meta = with_text(meta, text, idx.source) if text else meta
        if params:
            merged = IndexParams.from_dict({**dict(meta.params), **params}).to_dict()
            meta = IndexMeta(**{**meta.__dict__, "params": merged, "overrides": tuple(sorted(params))})
        return _full(
            idx,
            meta,
            snapshot_id,
            files,
            started,
            "build",
            "requested",
            retention=retention,
            keep_tags=keep_tags,
            checkpoint=checkpoint or (lambda _: None),
        )


def _base_identities(source: VectorTable, ds: lance.LanceDataset, snapshot_id: int) -> dict[str, frozenset[str]]:
    if source.has_snapshot(snapshot_id):
        return source.files_at(snapshot_id).identities
    # the indexed snapshot was expired from the table: what the index holds is the truth
    files = ds.to_table(columns=[FILE_COLUMN]).column(FILE_COLUMN).unique().to_pylist()
    return {f: frozenset() for f in files}


def _tail_to_merge(deltas: Sequence[int], new: int) -> int:
    """How many of the latest delta segments (``deltas``: their rows, oldest first) to merge with ``new`` rows: the
    latest one, then older ones while they hold no more rows than the merge so far. Deltas stay ordered by size, and
    a row is rewritten a logarithmic number of times before the next training (an IVF_HNSW_SQ merge rebuilds the
    graph of every row it rewrites)."""
    merged = new
    count = 0
    for rows in reversed(deltas):
        if count and rows > merged:
            break
        merged += rows
        count += 1
    return count


def _fold(ds: lance.LanceDataset, meta: IndexMeta, params: IndexParams, policy: FoldPolicy) -> tuple[str, str] | None:
    """Fold the appended rows into the ANN structure when the policy says so: what was done (``delta``, ``merge``,
    ``retrain``) and a note saying why, or None."""
    layout = ann_layout(ds, meta.column)
    if layout is None or not policy.due(layout):
        return None
    if layout.since_training > policy.retrain_share * layout.rows:
        # chosen again for the current row count (partitions, HNSW beam), as a build would; what the user set stays
        kept = {k: v for k, v in params.to_dict().items() if k in meta.overrides}
        fresh = choose_params(layout.rows, meta.dim, "auto" if meta.requested == "auto" else params.index_type, **kept)
        if not fresh.is_ann:  # auto would go flat (the table shrank): keep the ANN type until a rebuild
            fresh = choose_params(layout.rows, meta.dim, params.index_type, **kept)
        if train(ds, meta.column, fresh, meta.metric):
            if fresh != params:
                changed = replace(meta, index_type=fresh.index_type, params=fresh.to_dict())
                ds.update_schema_metadata({META_KEY: changed.to_json()})
            why = f"{layout.since_training} of {layout.rows} rows came after the last training"
            switch = (
                f"; auto: {params.index_type} -> {fresh.index_type}" if fresh.index_type != params.index_type else ""
            )
            return "retrain", f"retrained the ANN structure: {why} (more than {policy.retrain_share:.0%}){switch}"
    if layout.segments >= policy.max_segments:
        merge = _tail_to_merge(layout.segment_rows[1:], layout.unindexed)
        fold(ds, meta.column, merge=merge)
        return "merge", f"folded {layout.unindexed} rows, merging the latest {merge} delta segment(s) with them"
    fold(ds, meta.column)
    return "delta", f"folded {layout.unindexed} rows as a delta segment"


def refresh(
    table: VectorTable | str,
    column: str,
    *,
    index_type: IndexType | None = None,
    store: Sequence[str] | None = None,
    settings: Settings | None = None,
    fold_threshold: float | None = None,
    fold_policy: FoldPolicy | None = None,
    wait: float = 0.0,
    retention: timedelta = RETENTION,
    keep_tags: int = KEEP_TAGS,
    checkpoint: Checkpoint | None = None,
) -> RefreshResult:
    """Bring the index of ``column`` to the table's current snapshot, reading only the files that changed.

    Builds the index when there is none; rebuilds when the vector spec, the stored columns or the requested type
    changed, or when the snapshot has merge-on-read delete files. A second refresh with no new snapshot is a no-op.
    ``checkpoint(step)`` is called after each step (``relabelled``, ``deleted``, ``appended``, ``folded``): a test hook.
    Rows of rewritten files (copy-on-write DELETE/UPDATE/MERGE) are matched by key: unchanged ones stay in place.
    When appended rows are folded into the ANN structure: ``fold_policy`` (``fold_threshold`` replaces its share).
    """
    started = time.perf_counter()
    hook = checkpoint or (lambda _: None)
    policy = fold_policy or FoldPolicy()
    if fold_threshold is not None:
        policy = replace(policy, threshold=fold_threshold)
    vt = _table(table, settings)
    idx = IndexStore(vt, column, settings=settings)
    source = idx.source
    with idx.lock(wait=wait):
        source.refresh()
        snapshot_id = source.current_snapshot()
        indexed = idx.indexed_snapshot()
        latest = idx.open() if idx.exists() else None
        tags = idx.tags(latest) if latest is not None else {}
        old_meta = idx.meta(latest) if latest is not None else None

        def full(action: RefreshAction, reason: str) -> RefreshResult:
            if snapshot_id is None:
                raise _no_snapshot(source, column)
            files = source.files_at(snapshot_id)
            requested = index_type or (old_meta.requested if old_meta else "auto")
            stored = store if store is not None else (old_meta.store if old_meta else ())
            meta = carry_text(index_meta(source, column, stored, requested, files.record_count), old_meta)
            return _full(
                idx,
                meta,
                snapshot_id,
                files,
                started,
                action,
                reason,
                retention=retention,
                keep_tags=keep_tags,
                checkpoint=hook,
                from_snapshot=indexed,
            )

        if latest is None or old_meta is None or indexed is None or indexed not in tags:
            return full("build", "no index yet" if latest is None else "the table records no usable indexed snapshot")
        spec = vt.spec(column)
        if (spec.dim, spec.metric, spec.model, spec.model_version) != old_meta.spec_fingerprint():
            return full("rebuild", "the vector spec changed")
        if store is not None and tuple(dict.fromkeys(store)) != old_meta.store:
            return full("rebuild", "the stored columns changed")
        if index_type is not None and index_type != old_meta.requested:
            return full("rebuild", f"index type changed from {old_meta.requested} to {index_type}")

        notes: list[str] = []
        if latest.version != tags[indexed]:
            if snapshot_id in tags and tags[snapshot_id] == latest.version:
                idx.commit(latest, snapshot_id)  # died after tagging, before recording: finish the job
                return RefreshResult(
                    idx.identifier,
                    column,
                    "incremental",
                    "completed an interrupted refresh",
                    indexed,
                    snapshot_id,
                    lance_version=latest.version,
                    seconds=time.perf_counter() - started,
                )
            idx.open(tags[indexed]).restore()
            notes.append(f"rolled back unfinished work after version {tags[indexed]} (an interrupted refresh)")
        elif snapshot_id == indexed:
            return RefreshResult(
                idx.identifier,
                column,
                "noop",
                "the index is at the table's current snapshot",
                indexed,
                snapshot_id,
                lance_version=latest.version,
                seconds=time.perf_counter() - started,
            )
        assert snapshot_id is not None
        ds = idx.open()
        target = source.files_at(snapshot_id)
        if target.has_deletes:
            return full(
                "rebuild",
                f"snapshot {snapshot_id} has merge-on-read delete files; "
                "incremental refresh applies copy-on-write changes only",
            )
        change = diff(_base_identities(source, ds, indexed), target)
        applied = apply_change(idx, snapshot_id, change, old_meta, hook)
        if applied.rows_appended and old_meta.text:
            update_text(idx.open(), old_meta)
        if applied.rows_carried:
            notes.append(f"{applied.rows_carried} rows of rewritten files matched by key and kept in place")
        ds = idx.open()
        trained = folded = merged = False
        params = IndexParams.from_dict(dict(old_meta.params))
        if old_meta.requested == "auto" and (not params.is_ann or vector_index(ds, column) is None):
            # a table that outgrew the flat index gets its first ANN structure now; an ANN index whose row count
            # calls for another type switches at its next retraining (_fold), not on the refresh that crossed the
            # line: that would make one +1% refresh as slow as a build
            fresh = choose_params(ds.count_rows(), old_meta.dim, "auto")
            if fresh.index_type != params.index_type:
                notes.append(f"auto: {params.index_type} -> {fresh.index_type} at {ds.count_rows()} rows")
                params = fresh
                meta = IndexMeta(**{**old_meta.__dict__, "index_type": fresh.index_type, "params": fresh.to_dict()})
                ds.update_schema_metadata({META_KEY: meta.to_json()})
                existing = vector_index(ds, column)
                if existing is not None and not fresh.is_ann:
                    ds.drop_index(existing["name"])
                if fresh.is_ann:
                    trained = train(ds, column, fresh, old_meta.metric)
        if params.is_ann and not trained:
            if vector_index(ds, column) is None:
                trained = train(ds, column, params, old_meta.metric)
            else:
                done = _fold(ds, old_meta, params, policy)
                if done is not None:
                    notes.append(done[1])
                    folded, trained, merged = True, done[0] == "retrain", done[0] == "merge"
                    hook("folded")
        ds = idx.open()
        if len(ds.get_fragments()) > COMPACT_FRAGMENTS:
            ds.optimize.compact_files()
            ds = idx.open()
        idx.commit(ds, snapshot_id)
        removed = idx.cleanup(ds, retention=retention, keep_tags=keep_tags)
        layout = ann_layout(ds, column)
        return RefreshResult(
            idx.identifier,
            column,
            "incremental",
            "applied the files changed since the indexed snapshot",
            indexed,
            snapshot_id,
            files_added=len(change.added),
            files_removed=len(change.removed),
            rows_added=applied.rows_appended,
            trained=trained,
            folded=folded,
            merged=merged,
            segments=layout.segments if layout else None,
            rows_outside_ann=layout.unindexed if layout else None,
            versions_removed=removed,
            lance_version=ds.version,
            seconds=time.perf_counter() - started,
            notes=tuple(notes),
        )
