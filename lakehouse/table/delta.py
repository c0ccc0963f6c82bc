"""``DeltaVectorTable``: a Delta Lake table with vector columns, read and written from Python through delta-rs.

The public surface is :class:`~lakehouse.table.VectorTable`'s; where Iceberg says snapshot id, Delta says version
(``snapshot_id`` is the Delta version). The vector spec and key column live in the Delta table configuration under the
same ``lakehouse.vector.<column>.*`` / ``lakehouse.key-column`` keys, vector columns are stored as ``array<float>``
(non-null elements) and come back as ``fixed_size_list<float32, dim>``. Where a table lives: see
:mod:`lakehouse.table.formats`. Spark writes the same tables through :mod:`lakehouse.spark.delta_write`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from lakehouse.catalog_client.names import split_identifier
from lakehouse.config import Settings, load_settings
from lakehouse.errors import (
    TableNotFoundError,
    UnsupportedDeltaFeatureError,
    VectorSpecError,
)
from lakehouse.table.base import VectorColumns, as_vector_arrays, conform
from lakehouse.table.formats import delta_location
from lakehouse.table.retry import DELTA_COMMIT_RETRIES, retry_commit
from lakehouse.vector import (
    KEY_COLUMN_PROPERTY,
    VectorSpec,
    check_table,
    refuse_empty,
    specs_from_properties,
    storage_type,
)

if TYPE_CHECKING:
    from deltalake import DeltaTable

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


class DeltaVectorTable(VectorColumns):
    """A Delta table whose vector columns are described by :class:`VectorSpec` entries in its configuration.

    Example::

        t = DeltaVectorTable.create("docs.embeddings", schema, vectors=[VectorSpec("embedding", dim=384)], key="id")
        t.append(batch)                      # validated, one commit; returns the new version
        t.to_arrow(version=0)                # time travel
    """

    format = "delta"

    def __init__(self, table: DeltaTable, identifier: str, location: str) -> None:
        self._table = table
        self._identifier = identifier
        self._location = location

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        identifier: str,
        *,
        settings: Settings | None = None,
        location: str | None = None,
        version: int | None = None,
    ) -> DeltaVectorTable:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError as DeltaNotFound

        settings = settings or load_settings()
        ns, name = split_identifier(identifier, settings)
        location = location or delta_location(identifier, settings)
        try:
            table = DeltaTable(location, version=version)
        except DeltaNotFound as exc:
            raise TableNotFoundError(
                f"Delta table {ns}.{name} does not exist at {location}",
                hint="create it with VectorTable.create(..., format='delta') or a job's --format delta",
                identifier=f"{ns}.{name}",
                location=location,
            ) from exc
        return cls(table, f"{ns}.{name}", location)

    @classmethod
    def exists(cls, identifier: str, *, settings: Settings | None = None, location: str | None = None) -> bool:
        from deltalake import DeltaTable

        settings = settings or load_settings()
        return DeltaTable.is_deltatable(location or delta_location(identifier, settings))

    @classmethod
    def create(
        cls,
        identifier: str,
        schema: pa.Schema,
        *,
        vectors: Sequence[VectorSpec],
        key: str,
        properties: Mapping[str, str] | None = None,
        settings: Settings | None = None,
        exist_ok: bool = False,
        location: str | None = None,
        partition_by: Sequence[str] = (),
    ) -> DeltaVectorTable:
        """Create a Delta table whose ``vectors`` columns carry their spec in the table configuration."""
        from deltalake import DeltaTable

        settings = settings or load_settings()
        specs = {s.column: s for s in vectors}
        missing = [c for c in [key, *specs, *partition_by] if c not in schema.names]
        if missing:
            raise VectorSpecError(
                f"column(s) {', '.join(missing)} are not in the schema ({', '.join(schema.names)})",
                hint="the key column, partition columns and every vector column must be part of the schema",
            )
        config = {KEY_COLUMN_PROPERTY: key, **(properties or {})}
        for spec in specs.values():
            config.update(spec.to_properties())
        location = location or delta_location(identifier, settings)
        if DeltaTable.is_deltatable(location):
            if exist_ok:
                return cls.load(identifier, settings=settings, location=location)
            raise VectorSpecError(
                f"Delta table {identifier} already exists at {location}", hint="load it, or pass exist_ok=True"
            )
        _ensure_local_dir(location)
        # lakehouse.* keys are not Delta properties: delta-rs must be told to accept them.
        table = DeltaTable.create(
            location,
            storage_schema(schema, list(specs)),
            mode="ignore" if exist_ok else "error",
            partition_by=list(partition_by) or None,
            configuration=config,
            raise_if_key_not_exists=False,
        )
        ns, name = split_identifier(identifier, settings)
        return cls(table, f"{ns}.{name}", location)

    # -- metadata -----------------------------------------------------------------------------------------------
    @property
    def identifier(self) -> str:
        return self._identifier

    @property
    def location(self) -> str:
        return self._location

    @property
    def delta(self) -> DeltaTable:
        """The underlying ``deltalake.DeltaTable``."""
        return self._table

    @property
    def properties(self) -> dict[str, str]:
        return {k: v for k, v in self._table.metadata().configuration.items() if v is not None}

    @property
    def partition_columns(self) -> list[str]:
        return list(self._table.metadata().partition_columns)

    @property
    def version(self) -> int:
        return int(self._table.version())

    @property
    def snapshot_id(self) -> int | None:
        """The Delta version (the lineage columns' ``source_snapshot_id`` for a Delta source)."""
        return self.version

    def schema(self) -> pa.Schema:
        return pa.schema(self._table.schema().to_arrow())

    def refresh(self) -> DeltaVectorTable:
        from deltalake import DeltaTable

        self._table = DeltaTable(self._location)
        return self

    def _at(self, version: int | None) -> DeltaTable:
        from deltalake import DeltaTable

        if version is None or version == self.version:
            return self._table
        return DeltaTable(self._location, version=version)

    # -- writes -------------------------------------------------------------------------------------------------
    def append(
        self, data: pa.Table | Mapping[str, Any], *, app_id: str | None = None, app_version: int | None = None
    ) -> int | None:
        """Validate every vector column and the key, then append in one commit; returns the new version.

        A bad batch (a bad vector, a null or missing key, no rows at all) raises
        :class:`~lakehouse.errors.VectorValidationError` and the version is unchanged. With ``app_id``/``app_version``
        (a Delta ``txn`` action) a batch whose app version was already committed is skipped, so a retried writer
        never appends twice. delta-rs rebases an append over concurrent commits itself; past its retries the append
        is tried again from a fresh read of the table (:func:`~lakehouse.table.retry.retry_commit`).
        """
        from deltalake.exceptions import CommitFailedError

        batch = data if isinstance(data, pa.Table) else pa.table(dict(data))
        refuse_empty(batch, self.identifier)
        check_table(batch, self.specs, self.key_column)  # fail fast, before reading the log again
        self.refresh()
        return retry_commit(
            lambda: self._append_once(batch, app_id, app_version),
            conflict=lambda exc: isinstance(exc, CommitFailedError),
            refresh=self.refresh,
            table=self.identifier,
        )

    def _append_once(self, batch: pa.Table, app_id: str | None, app_version: int | None) -> int:
        from deltalake import CommitProperties, Transaction, write_deltalake

        if app_id is not None and app_version is not None:
            done = self._table.transaction_version(app_id)
            if done is not None and done >= app_version:
                return self.version  # this app version is already in (a concurrent retry of the same writer won)
        specs = self.specs
        data = conform(check_table(batch, specs, self.key_column), self.schema(), specs, self.identifier)
        txns = [Transaction(app_id, app_version)] if app_id is not None and app_version is not None else None
        write_deltalake(
            self._table,
            data,
            mode="append",
            commit_properties=CommitProperties(app_transactions=txns, max_commit_retries=DELTA_COMMIT_RETRIES),
        )
        return self.refresh().version

    # -- reads --------------------------------------------------------------------------------------------------
    def to_arrow(
        self,
        *,
        version: int | None = None,
        snapshot_id: int | None = None,
        columns: Sequence[str] | None = None,
        row_filter: str | None = None,
    ) -> pa.Table:
        """Read the table (optionally at a version) with vector columns as ``fixed_size_list<float32, dim>``.

        ``row_filter`` is a SQL predicate (DataFusion syntax), e.g. ``"source_table = 'docs.documents'"``.
        """
        dt = self._at(version if version is not None else snapshot_id)
        if row_filter:
            from deltalake import QueryBuilder

            cols = ", ".join(f'"{c}"' for c in columns) if columns else "*"
            table = pa.table(
                QueryBuilder().register("t", dt).execute(f"SELECT {cols} FROM t WHERE {row_filter}").read_all()
            )
        else:
            table = read_version(dt, self.location, columns)
        return as_vector_arrays(table, specs_from_properties(dt.metadata().configuration))

    def vectors(
        self, column: str | None = None, *, version: int | None = None, snapshot_id: int | None = None
    ) -> tuple[pa.Array, np.ndarray]:
        """The key column and a numpy view of one vector column at ``version`` (alias ``snapshot_id``)."""
        return super().vectors(column, snapshot_id=version if version is not None else snapshot_id)

    def count(self, *, version: int | None = None, snapshot_id: int | None = None) -> int:
        """Row count from the snapshot's file statistics (the Parquet footer of files the log has no ``numRecords``
        for)."""
        import pyarrow.parquet as pq

        dt = self._at(version if version is not None else snapshot_id)
        total = 0
        for path, records, _ in live_files(dt):
            if records is None:
                filesystem, file_path = data_file(self.location, path)
                with filesystem.open_input_file(file_path) as f:
                    records = pq.ParquetFile(f).metadata.num_rows
            total += int(records)
        return total

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        return list(self._table.history(limit))

    def __deepcopy__(self, memo: dict[int, Any]) -> DeltaVectorTable:
        # a handle, not a value (delta-rs tables cannot be copied): query trees that carry it in their metadata copy
        return self

    def __repr__(self) -> str:
        specs = ", ".join(f"{s.column}[{s.dim}, {s.metric}]" for s in self.specs.values())
        return f"DeltaVectorTable({self.identifier}, version={self.version}, vectors=[{specs}])"


def _ensure_local_dir(location: str) -> None:
    """delta-rs creates object-store prefixes itself but wants a local table folder's parents to exist."""
    from pathlib import Path

    if location.startswith("file://"):
        Path(location[len("file://") :]).mkdir(parents=True, exist_ok=True)
    elif "://" not in location:
        Path(location).mkdir(parents=True, exist_ok=True)


def lineage_dataset(
    table: DeltaVectorTable,
    settings: Settings,
    *,
    version: int | None = None,
    output: bool = False,
    extra_facets: Mapping[str, Any] | None = None,
) -> Any:
    """An OpenLineage input (or output) dataset for a Delta table at ``version``: same namespace and name as an
    Iceberg table's, the Delta version as the dataset version, an Arrow schema facet and the table location."""
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    from lakehouse.lineage import facets as f
    from lakehouse.lineage.events import dataset_name, dataset_namespace

    version = table.version if version is None else version
    facets: dict[str, Any] = {"schema": f.schema_facet_from_arrow(table.schema())}
    version_facet = f.version_facet(version)
    if version_facet is not None:
        facets["version"] = version_facet
    facets.update(extra_facets or {})
    cls = OutputDataset if output else InputDataset
    return cls(namespace=dataset_namespace(settings), name=dataset_name(table.identifier, settings), facets=facets)
