"""A Delta version's data files, read file by file with pyarrow: the add actions, the checks that make a plain
Parquet read correct, and the reader itself.

delta-rs's own ``to_pyarrow_table``/``to_pyarrow_dataset`` are not used: in deltalake 1.6.6 a process that called them
now and then aborts at exit ("terminate called without an active exception", 4 of 120 short scripts here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.errors import UnsupportedDeltaFeatureError
from lakehouse.vector import storage_type

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = [
    "DeltaDataFile",
    "DeltaFileTask",
    "check_file_readable",
    "count_rows",
    "data_file",
    "ensure_local_dir",
    "live_files",
    "read_data_file",
    "read_version",
    "storage_schema",
]


@dataclass(frozen=True)
class DeltaDataFile:
    file_path: str  # the add action's path as the log has it: relative to the table (URL-encoded) or absolute
    record_count: int
    partition_values: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class DeltaFileTask:
    """A Delta add action in the shape of a scan task. Copy-on-write Delta has no delete files, so a file's identity
    is its path."""

    file: DeltaDataFile
    delete_files: tuple[()] = ()


# Reader features whose files a plain Parquet reader cannot interpret correctly: deletion vectors hide rows inside
# files, column mapping renames physical columns. Anything else listed here is safe to read file by file.
_FILE_SAFE_READER_FEATURES = frozenset({"timestampNtz", "v2Checkpoint", "vacuumProtocolCheck", "checkpointProtection"})


def storage_schema(schema: pa.Schema, vector_columns: Sequence[str]) -> pa.Schema:
    """The Delta schema of a batch: vector columns become non-null ``list<float>``."""
    return pa.schema(
        [pa.field(f.name, storage_type(), nullable=False) if f.name in vector_columns else f for f in schema]
    )


def check_file_readable(dt: DeltaTable, location: str) -> None:
    """Refuse a table whose snapshot cannot be read correctly as plain Parquet files (deletion vectors, column
    mapping, unknown reader features): better an error than wrong rows."""
    protocol = dt.protocol()
    features = set(protocol.reader_features or [])
    mode = dt.metadata().configuration.get("delta.columnMapping.mode", "none")
    if "columnMapping" in features or mode not in ("none", None):
        raise UnsupportedDeltaFeatureError(
            f"Delta table {location} uses column mapping (mode {mode!r}): its Parquet column names are not the "
            "table's column names, so it cannot be read file by file",
            hint="read it with deltalake/DuckDB, or with Spark and the Delta jars "
            "(spark.packages=io.delta:delta-spark_2.12:3.3.2)",
            location=location,
            feature="columnMapping",
        )
    if "deletionVectors" in features:
        # delta-rs cannot write deletion vectors, but another engine may have: refuse rather than count deleted rows.
        raise UnsupportedDeltaFeatureError(
            f"Delta table {location} has the deletionVectors reader feature: rows deleted through a deletion vector "
            "are still in the Parquet files, so reading the files would return deleted rows",
            hint="run OPTIMIZE/REORG ... APPLY (PURGE) with an engine that supports deletion vectors and disable them "
            "(delta.enableDeletionVectors=false), or read with Spark and the Delta jars",
            location=location,
            feature="deletionVectors",
        )
    unknown = features - _FILE_SAFE_READER_FEATURES
    if unknown or protocol.min_reader_version > 3:
        raise UnsupportedDeltaFeatureError(
            f"Delta table {location} needs reader feature(s) "
            f"{', '.join(sorted(unknown)) or protocol.min_reader_version} that the file-by-file reader "
            "does not implement",
            hint="read it with an engine that supports them",
            location=location,
            feature=",".join(sorted(unknown)),
        )


def data_file(location: str, path: str) -> tuple[Any, str]:
    """The pyarrow filesystem and path of a data file named by an add action (relative to the table, URL-encoded,
    or absolute)."""
    from urllib.parse import unquote

    from pyarrow import fs

    path = unquote(path)  # the log URL-encodes paths (a partition value "x y" is the folder "x%20y")
    if "://" in path:
        return fs.FileSystem.from_uri(path)
    if path.startswith("/"):
        return fs.LocalFileSystem(), path
    filesystem, root = fs.FileSystem.from_uri(location if "://" in location else f"file://{location}")
    return filesystem, f"{root.rstrip('/')}/{path}"


def read_data_file(
    location: str, path: str, partition_values: Mapping[str, Any], columns: Sequence[str], schema: pa.Schema
) -> pa.Table:
    """``columns`` of one data file as ``schema`` types: partition columns from the add action's values, columns the
    file lacks (written before a schema change) as nulls."""
    import pyarrow.dataset as pads

    stored = pa.schema([schema.field(c) for c in columns if c not in partition_values])
    filesystem, file_path = data_file(location, path)
    data = pads.dataset(file_path, schema=stored, format="parquet", filesystem=filesystem).to_table()
    for name in columns:
        if name in partition_values:
            kind = schema.field(name).type
            value = partition_values[name]
            data = data.append_column(pa.field(name, kind), pa.array([value] * data.num_rows).cast(kind))
    return data.select(list(columns))


def live_files(dt: DeltaTable) -> list[tuple[str, int | None, dict[str, Any]]]:
    """A version's data files from its add actions: (path, record count if the log has it, partition values)."""
    partitions = list(dt.metadata().partition_columns)
    return [
        (add["path"], add.get("num_records"), {c: add.get(f"partition.{c}") for c in partitions})
        for add in pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    ]


def count_rows(dt: DeltaTable, location: str) -> int:
    """A version's row count from its add actions' ``numRecords`` (the Parquet footer of files the log has none
    for)."""
    import pyarrow.parquet as pq

    total = 0
    for path, records, _ in live_files(dt):
        if records is None:
            filesystem, file_path = data_file(location, path)
            with filesystem.open_input_file(file_path) as f:
                records = pq.ParquetFile(f).metadata.num_rows
        total += int(records)
    return total


def read_version(dt: DeltaTable, location: str, columns: Sequence[str] | None = None) -> pa.Table:
    """Read one version file by file with pyarrow (refusing what plain Parquet readers get wrong, see
    :func:`check_file_readable`); the columns keep their Delta storage types.

    delta-rs's own ``to_pyarrow_table``/``to_pyarrow_dataset`` are not used: in deltalake 1.6.6 a process that called
    them now and then aborts at exit ("terminate called without an active exception", 4 of 120 short scripts here).
    """
    check_file_readable(dt, location)
    schema = pa.schema(dt.schema().to_arrow())
    cols = list(columns) if columns else schema.names
    parts = [read_data_file(location, path, values, cols, schema) for path, _, values in live_files(dt)]
    return pa.concat_tables(parts) if parts else schema.empty_table().select(cols)


def ensure_local_dir(location: str) -> None:
    """delta-rs creates object-store prefixes itself but wants a local table folder's parents to exist."""
    from pathlib import Path

    if location.startswith("file://"):
        Path(location[len("file://") :]).mkdir(parents=True, exist_ok=True)
    elif "://" not in location:
        Path(location).mkdir(parents=True, exist_ok=True)
