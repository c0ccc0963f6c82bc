"""Where an index stands against its table: indexed vs current snapshot (a Delta version for Delta tables), rows not
yet in it or not yet in its ANN structure, the ANN segments, size, type, parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lakehouse.config import Settings
from lakehouse.index.build import ann_layout
from lakehouse.index.store import IndexStore
from lakehouse.table import VectorTable


@dataclass(frozen=True)
class IndexStatus:
    table: str
    column: str
    exists: bool
    uri: str
    table_snapshot: int | None = None
    indexed_snapshot: int | None = None
    up_to_date: bool = False
    index_type: str | None = None
    requested_type: str | None = None
    metric: str | None = None
    stored_columns: tuple[str, ...] = ()
    rows: int | None = None  # rows in the indexed version
    rows_outside_ann: int | None = None  # in the index but not yet folded into the ANN structure (flat-scanned)
    ann_segments: int | None = None  # the trained segment plus delta segments folded in since (each one searched)
    rows_since_training: int | None = None  # rows the ANN partitions were not trained on (folded or not)
    table_rows_not_indexed: int | None = None  # rows in table files newer than the index (scanned exactly)
    files_removed_since: int | None = None
    lance_version: int | None = None
    tagged_snapshots: tuple[int, ...] = ()
    size_bytes: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def status(table: VectorTable | str, column: str, *, settings: Settings | None = None) -> IndexStatus:
    """Describe the index of ``column`` (whether or not one exists)."""
    vt = VectorTable.load(table, settings=settings) if isinstance(table, str) else table.refresh()
    vt.spec(column)  # unknown column -> VectorSpecError
    store = IndexStore(vt, column, settings=settings)
    source = store.source
    current = source.current_snapshot()
    if not store.exists():
        return IndexStatus(store.identifier, column, False, store.uri, table_snapshot=current)
    latest = store.open()
    tags = store.tags(latest)
    indexed = store.indexed_snapshot()
    ds = store.open(tags[indexed]) if indexed in tags else latest
    meta = store.meta(ds)
    pending = removed = None
    if indexed is not None and current is not None and source.has_snapshot(indexed):
        change = source.diff(indexed, current)
        pending, removed = change.added_rows, len(change.removed)
    layout = ann_layout(ds, column)
    return IndexStatus(
        store.identifier,
        column,
        True,
        store.uri,
        table_snapshot=current,
        indexed_snapshot=indexed,
        up_to_date=indexed is not None and indexed == current,
        index_type=meta.index_type
        if layout is not None or meta.index_type == "flat"
        else f"{meta.index_type} (untrained)",
        requested_type=meta.requested,
        metric=meta.metric,
        stored_columns=meta.store,
        rows=ds.count_rows(),
        rows_outside_ann=layout.unindexed if layout is not None else None,
        ann_segments=layout.segments if layout is not None else None,
        rows_since_training=layout.since_training if layout is not None else None,
        table_rows_not_indexed=pending,
        files_removed_since=removed,
        lance_version=ds.version,
        tagged_snapshots=tuple(sorted(tags)),
        size_bytes=store.size_bytes(),
        params=dict(meta.params),
    )
