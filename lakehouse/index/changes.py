"""Applying the data files that changed between two snapshots to the Lance dataset, row by row where it pays.

A copy-on-write DELETE, UPDATE or MERGE removes a data file and writes a new one holding most of its rows again.
Deleting every row of the removed file and re-inserting the rewritten one would leave almost the whole index
outside the ANN structure (as slow as a build once folded). Instead the rows are compared by key: a row of a
removed file whose key reappears in an added file with the same vector and stored values stays where it is in
Lance (still covered by the ANN structure) and only its ``_file`` label is rewritten (a column-only change that
keeps row addresses, so the index stays valid); the other rows of removed files are deleted and only new or
changed rows are appended. Keys are read first; vectors only when some key survives the rewrite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.index.store import FILE_COLUMN, IndexMeta, IndexStore, conform
from lakehouse.table.files import FileDiff

if TYPE_CHECKING:
    import lance

    from lakehouse.table.vector_table import VectorTable

Checkpoint = Callable[[str], None]
_RELABEL = "_file__relabel"


@dataclass(frozen=True)
class Applied:
    """What a change did to the Lance dataset."""

    rows_deleted: int = 0
    rows_appended: int = 0
    rows_carried: int = 0  # rows of rewritten files kept in place (relabelled, still covered by the ANN structure)


def quote(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _columns(schema: pa.Schema) -> list[str]:
    return [n for n in schema.names if n != FILE_COLUMN]


def stream_rows(source: VectorTable, snapshot_id: int, tasks: Sequence[Any], schema: pa.Schema) -> pa.RecordBatchReader:
    def batches() -> Iterator[pa.RecordBatch]:
        for part in source.read_files(snapshot_id, tasks, _columns(schema)):
            yield from conform(part, schema).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


def _same(a: pa.ChunkedArray | pa.Array, b: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Element-wise equality where two nulls are equal."""
    eq = pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b)).to_numpy(zero_copy_only=False)
    return np.asarray(eq | both_null, dtype=bool)


def apply_change(store: IndexStore, snapshot_id: int, change: FileDiff, meta: IndexMeta, hook: Checkpoint) -> Applied:
    """Bring the latest Lance version from the indexed snapshot's rows to ``snapshot_id``'s (see module doc)."""
    import lance

    ds = store.open()
    removed = sorted(change.removed)
    if removed and change.added:
        carried = _carry(store, ds, snapshot_id, change, meta, hook)
        if carried is not None:
            return carried
    deleted = 0
    if removed:
        sql = f"{FILE_COLUMN} IN ({quote(removed)})"
        deleted = ds.count_rows(filter=sql)
        ds.delete(sql)
        hook("deleted")
    before = ds.count_rows()
    if change.added:
        ds = lance.write_dataset(
            stream_rows(store.source, snapshot_id, change.added, ds.schema),
            store.lance_uri,
            schema=ds.schema,
            mode="append",
        )
        hook("appended")
    return Applied(rows_deleted=deleted, rows_appended=ds.count_rows() - before)


def _carry(
    store: IndexStore,
    ds: lance.LanceDataset,
    snapshot_id: int,
    change: FileDiff,
    meta: IndexMeta,
    hook: Checkpoint,
) -> Applied | None:
    """The by-key path; None when no key of a removed file reappears (the caller deletes and appends by file)."""
    import lance

    removed = sorted(change.removed)
    in_removed = f"{FILE_COLUMN} IN ({quote(removed)})"
    old_keys = ds.to_table(columns=[meta.key], filter=in_removed).column(meta.key)
    # Keys come back as the files store them: a Spark-written file says ``string`` where Lance (from the Iceberg
    # schema) says ``large_string``; compare them in the index's type.
    parts = store.source.read_files(snapshot_id, change.added, [meta.key]) if change.added else []
    new_keys = pa.chunked_array(
        [chunk for p in parts for chunk in conform(p, ds.schema).column(meta.key).chunks], type=old_keys.type
    )
    if not len(old_keys) or not len(new_keys) or not pc.any(pc.is_in(new_keys, value_set=old_keys)).as_py():
        return None
    if pc.count_distinct(old_keys).as_py() != len(old_keys) or pc.count_distinct(new_keys).as_py() != len(new_keys):
        return None  # keys are not unique here: matching rows by key would be guesswork

    schema = ds.schema
    cols = [meta.key, meta.column, *meta.store]
    old = ds.to_table(columns=cols, filter=in_removed)
    parts = store.source.read_files(snapshot_id, change.added, _columns(schema))
    new = pa.concat_tables([conform(p, schema) for p in parts])
    pos = pc.index_in(new.column(meta.key), value_set=old.column(meta.key))
    matched = pc.is_valid(pos).to_numpy(zero_copy_only=False)
    where = np.flatnonzero(matched)
    old_pos = pa.array(pos.to_numpy(zero_copy_only=False)[where].astype(np.int64))
    same = np.zeros(new.num_rows, dtype=bool)
    if len(where):
        a = new.take(pa.array(where, pa.int64()))
        b = old.take(old_pos)
        dim = meta.dim
        va = a.column(meta.column).combine_chunks().flatten().to_numpy().reshape(-1, dim)
        vb = b.column(meta.column).combine_chunks().flatten().to_numpy().reshape(-1, dim)
        ok = np.all(va == vb, axis=1)
        for name in meta.store:
            ok &= _same(a.column(name), b.column(name))
        same[where] = ok
    del old
    kept = new.filter(pa.array(same))
    if kept.num_rows:
        _relabel(store, ds, meta.key, kept.column(meta.key), kept.column(FILE_COLUMN), set(removed))
        hook("relabelled")
    ds = store.open()
    deleted = ds.count_rows(filter=in_removed)
    if deleted:
        ds.delete(in_removed)
    hook("deleted")
    fresh = new.filter(pa.array(~same))
    if fresh.num_rows:
        lance.write_dataset(fresh.cast(schema), store.lance_uri, schema=schema, mode="append")
        hook("appended")
    return Applied(rows_deleted=deleted, rows_appended=fresh.num_rows, rows_carried=kept.num_rows)


def _plain(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Keys as a numpy array that sorts and compares like the keys (strings as objects)."""
    return values.to_numpy(zero_copy_only=False)


def _relabel(
    store: IndexStore,
    ds: lance.LanceDataset,
    key: str,
    keys: pa.ChunkedArray,
    files: pa.ChunkedArray,
    removed: set[str],
) -> None:
    """Point the rows with ``keys`` (now in removed files) at their new ``files``, rewriting only the ``_file``
    column: row addresses do not move, so the ANN structure keeps covering them."""
    import lance

    # the kept keys, sorted once: each batch is looked up by binary search (pc.index_in would rebuild a hash
    # table of every kept key for every batch, minutes at 1M rows)
    plain = np.asarray(_plain(keys))
    order = np.argsort(plain, kind="stable")
    sorted_keys = plain[order]
    new_files = np.asarray(files.to_numpy(zero_copy_only=False), dtype=object)[order]
    removed_arr = pa.array(sorted(removed), pa.string())
    out_schema = pa.schema([pa.field(_RELABEL, pa.string())])

    @lance.batch_udf(output_schema=out_schema)
    def relabel(batch: pa.RecordBatch) -> pa.RecordBatch:
        old = batch.column(FILE_COLUMN)
        # deleted rows of a fragment arrive as nulls: they match nothing
        live = pc.and_(pc.is_valid(batch.column(key)), pc.fill_null(pc.is_in(old, value_set=removed_arr), False))
        out = np.asarray(old.to_numpy(zero_copy_only=False), dtype=object)
        rows = np.flatnonzero(live.to_numpy(zero_copy_only=False))
        if len(rows):
            probe = np.asarray(_plain(batch.column(key).take(pa.array(rows))))
            pos = np.minimum(np.searchsorted(sorted_keys, probe), len(sorted_keys) - 1)
            hit = sorted_keys[pos] == probe
            out[rows[hit]] = new_files[pos[hit]]
        return pa.record_batch([pa.array(out, pa.string())], schema=out_schema)

    ds.add_columns(relabel, read_columns=[key, FILE_COLUMN], batch_size=65_536)
    ds = store.open()
    ds.drop_columns([FILE_COLUMN])
    ds = store.open()
    # stays nullable: Lance hands add_columns the deleted rows of a fragment as nulls, and refuses nulls in a
    # non-nullable column read back (pylance 14), so the next relabel of a fragment with deletions would fail
    ds.alter_columns({"path": _RELABEL, "name": FILE_COLUMN})  # type: ignore[dict-item]  # lance types one as Iterable
