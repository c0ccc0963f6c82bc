"""Decoded row groups of local Parquet data files, kept in memory for the ANN path's reads by key.

A top-k query that reads a payload column (a title, the chunk text) decodes, for each candidate, the key and payload
columns of the row group that holds it: ten candidates spread over a table are ten row groups, ~10 ms of a query at
200k rows (figures: BENCHMARKS.md, design measurements, 'decoded row groups'). A warm process asks for the same row
groups again and again, so it keeps them: one process-wide store, by file, row group and column, the least recently
used dropped beyond ``index.payload_cache_mb`` (256 MB by default; 0 keeps nothing).

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
from typing import TYPE_CHECKING

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

    def _trim(self) -> None:
        while self._bytes > self.max_bytes and self._kept:
            _, (_, column) = self._kept.popitem(last=False)
            self._bytes -= column.nbytes

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._bytes = 0


ROW_GROUPS = RowGroupCache()  # the process's store (PayloadReader sets its budget from the settings)
