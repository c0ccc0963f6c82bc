"""Decoded row groups of local Parquet data files, kept in memory for the ANN path's reads by key.

A top-k query that reads a payload column (a title, the chunk text) decodes, for each candidate, the key and payload
columns of the row group that holds it: ten candidates spread over a table are ten row groups, ~10 ms of a query at
200k rows (figures: BENCHMARKS.md, design measurements, 'decoded row groups'). A warm process asks for the same row
groups again and again, so it keeps them: one process-wide store, by file, row group and column, the least recently
used dropped beyond ``index.payload_cache_mb`` (256 MB by default; 0 keeps nothing). Beside a group's key column it
keeps the keys sorted, so that finding ten keys is a binary search, not a scan of every row of the groups.

Keeping them is safe because a data file never changes once written: Iceberg and Delta commit new files and drop old
ones from a snapshot, they never rewrite a file in place. A new snapshot reads other files, or the same ones with the
same contents. The key also carries the footer's row count and size as a guard against a file replaced on disk by
hand. A read gives what ``ParquetFile.read_row_groups(groups, columns=...)`` gives: the same columns, types and field
metadata, the rows of the groups in the order asked (the schema-level metadata is not carried).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    import pyarrow.parquet as pq

__all__ = ["ROW_GROUPS", "RowGroupCache"]

DEFAULT_MB = 256

_Key = tuple[str, int, int, int, str]  # path, footer rows, footer size, row group, column


class RowGroupCache:
    """Columns of row groups by (file, group, column), within a byte budget; safe to share between threads."""

    def __init__(self, max_mb: int = DEFAULT_MB) -> None:
        self.max_bytes = max_mb * 1024 * 1024
        self._kept: OrderedDict[_Key, tuple[pa.Field, pa.ChunkedArray]] = OrderedDict()
        self._indexes: OrderedDict[_Key, tuple[tuple[Any, Any] | None, int]] = OrderedDict()  # sorted keys, bytes
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def resize(self, max_mb: int) -> None:
        with self._lock:
            self.max_bytes = max(0, max_mb) * 1024 * 1024
            self._trim()

    def read(self, path: str, metadata: pq.FileMetaData, groups: Sequence[int], columns: Sequence[str]) -> pa.Table:
        """``columns`` of row ``groups`` of the file at ``path`` (its footer ``metadata``), groups in order."""
        import pyarrow.parquet as pq

        if not groups:
            return pq.ParquetFile(path, metadata=metadata).read_row_groups([], columns=list(columns), use_threads=False)
        if self.max_bytes <= 0:
            return pq.ParquetFile(path, metadata=metadata).read_row_groups(
                list(groups), columns=list(columns), use_threads=False
            )
        stamp = (path, metadata.num_rows, metadata.serialized_size)
        parts: list[pa.Table] = []
        file: pq.ParquetFile | None = None
        for g in groups:
            found: dict[str, tuple[pa.Field, pa.ChunkedArray]] = {}
            with self._lock:
                for c in columns:
                    entry = self._kept.get((*stamp, g, c))
                    if entry is not None:
                        self._kept.move_to_end((*stamp, g, c))
                        found[c] = entry
                self.hits += len(found)
                self.misses += len(columns) - len(found)
            missing = [c for c in columns if c not in found]
            if missing:
                file = file or pq.ParquetFile(path, metadata=metadata)
                data = file.read_row_group(g, columns=missing, use_threads=False)
                with self._lock:
                    for c in missing:
                        entry = (data.schema.field(c), data.column(c))
                        found[c] = entry
                        key = (*stamp, g, c)
                        if key not in self._kept:
                            self._kept[key] = entry
                            self._bytes += entry[1].nbytes
                    self._trim()
            fields, arrays = zip(*(found[c] for c in columns), strict=True)
            parts.append(pa.Table.from_arrays(list(arrays), schema=pa.schema(list(fields))))
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    def rows_with_keys(
        self,
        path: str,
        metadata: pq.FileMetaData,
        groups: Sequence[int],
        columns: Sequence[str],
        keys: pa.Array,
    ) -> pa.Table:
        """The rows of ``groups`` whose first column (the key) is one of ``keys``, every match, in file order: what
        ``read(...).filter(pc.is_in(key, keys))`` gives, found by binary search in a sorted copy of each group's keys
        (kept beside its columns) instead of a scan of every row."""
        import pyarrow.compute as pc

        key = columns[0]
        if self.max_bytes <= 0:
            data = self.read(path, metadata, groups, columns)
            return data.filter(pc.is_in(data.column(0), value_set=keys.cast(data.schema.field(0).type)))
        stamp = (path, metadata.num_rows, metadata.serialized_size)
        parts = []
        for g in groups:
            data = self.read(path, metadata, [g], columns)
            index = self._key_index((*stamp, g, key + "\x00sorted"), data.column(0))
            if index is None:  # keys this index cannot order exactly: scan them
                parts.append(data.filter(pc.is_in(data.column(0), value_set=keys.cast(data.schema.field(0).type))))
                continue
            ordered, order = index
            probe = _probe(keys.cast(data.schema.field(0).type), ordered.dtype)
            if probe is None:
                parts.append(data.filter(pc.is_in(data.column(0), value_set=keys.cast(data.schema.field(0).type))))
                continue
            lo, hi = np.searchsorted(ordered, probe, "left"), np.searchsorted(ordered, probe, "right")
            rows = np.sort(np.concatenate([order[a:b] for a, b in zip(lo, hi, strict=True)] or [order[:0]]))
            parts.append(data.take(pa.array(rows, pa.int64())))
        if not parts:
            return self.read(path, metadata, [], columns)
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    def _key_index(self, key: tuple[str, int, int, int, str], column: pa.ChunkedArray) -> tuple[Any, Any] | None:
        with self._lock:
            entry = self._indexes.get(key)
            if entry is not None:
                self._indexes.move_to_end(key)
                return entry[0]
        index = _sorted_keys(column)
        with self._lock:
            if key not in self._indexes:  # another thread may have made it meanwhile
                size = 0 if index is None else index[0].nbytes + index[1].nbytes
                self._indexes[key] = (index, size)
                self._bytes += size
                self._trim()
        return index

    def _trim(self) -> None:
        while self._bytes > self.max_bytes and self._indexes:
            self._bytes -= self._indexes.popitem(last=False)[1][1]
        while self._bytes > self.max_bytes and self._kept:
            _, (_, column) = self._kept.popitem(last=False)
            self._bytes -= column.nbytes

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._indexes.clear()
            self._bytes = 0


def _sorted_keys(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """A group's keys sorted (integers as they are, strings as fixed-width UTF-8 bytes) and the order that sorts
    them; None for keys with nulls, of another type, or strings a fixed-width bytes array cannot hold exactly (a NUL
    character: numpy drops trailing NULs)."""
    values = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if values.null_count:
        return None
    if pa.types.is_integer(values.type):
        arr = values.to_numpy(zero_copy_only=False)
    elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        texts = values.to_pylist()
        if any("\x00" in t for t in texts):
            return None
        arr = np.array([t.encode() for t in texts], dtype=bytes)
    else:
        return None
    order = np.argsort(arr, kind="stable")
    return arr[order], order


def _probe(keys: pa.Array, dtype: np.dtype) -> np.ndarray | None:
    """``keys`` in the sorted keys' representation; None when one cannot be compared exactly (a null, a NUL)."""
    if keys.null_count:
        return None
    if dtype.kind in "iu":
        return keys.to_numpy(zero_copy_only=False)
    encoded = [t.encode() for t in keys.to_pylist()]
    if any(b"\x00" in e for e in encoded):
        return None
    # a key wider than the group's widest is in no row of it; cut to the width, it could match a shorter one
    return np.array([e for e in encoded if len(e) <= dtype.itemsize], dtype=dtype)


ROW_GROUPS = RowGroupCache()  # the process's store (PayloadReader sets its budget from the settings)
