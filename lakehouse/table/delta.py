"""``DeltaVectorTable``: a Delta Lake table with vector columns, read and written from Python through delta-rs.

The public surface is :class:`~lakehouse.table.VectorTable`'s; where Iceberg says snapshot id, Delta says version
(``snapshot_id`` is the Delta version). The vector spec and key column live in the Delta table configuration under the
same ``lakehouse.vector.<column>.*`` / ``lakehouse.key-column`` keys, vector columns are stored as ``array<float>``
(non-null elements) and come back as ``fixed_size_list<float32, dim>``. Where a table lives: see
:mod:`lakehouse.table.formats`. Spark writes the same tables through :mod:`lakehouse.table.spark.delta_write`;
data files are read one by one (:mod:`lakehouse.table.delta_files`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa

from lakehouse.catalog_client.names import split_identifier
from lakehouse.config import Settings, TableFormat, load_settings
from lakehouse.errors import TableNotFoundError, UnsupportedDeltaFeatureError, VectorSpecError
from lakehouse.table.base import as_vector_arrays, conform, creation_properties
from lakehouse.table.delta_files import (
    DeltaDataFile,
    DeltaFileTask,
    check_file_readable,
    count_rows,
    live_files,
    read_data_file,
    read_version,
    storage_schema,
)
from lakehouse.table.delta_files import ensure_local_dir as _ensure_local_dir
from lakehouse.table.files import FileSet, labelled
from lakehouse.table.formats import delta_location
from lakehouse.table.history import SnapshotInfo
from lakehouse.table.retry import DELTA_COMMIT_RETRIES, retry_commit
from lakehouse.table.vector_table import VectorTable
from lakehouse.vector import VectorSpec, check_table, refuse_empty, specs_from_properties

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyiceberg.schema import Schema

    from lakehouse.table.files import RowFilter
    from lakehouse.table.payload import PayloadReader

__all__ = ["DeltaVectorTable", "check_file_readable", "read_version", "storage_schema"]

_VERSIONS_KEPT = 8  # older versions' handles kept per table (each holds its version's file list)


class DeltaVectorTable(VectorTable):
    """A Delta table whose vector columns are described by :class:`VectorSpec` entries in its configuration.

    Example::

        t = DeltaVectorTable.create("docs.embeddings", schema, vectors=[VectorSpec("embedding", dim=384)], key="id")
        t.append(batch)                      # validated, one commit; returns the new version
        t.to_arrow(version=0)                # time travel
    """

    format: ClassVar[TableFormat] = "delta"
    snapshot_unit: ClassVar[str] = "version"
    properties_without_snapshot: ClassVar[bool] = False  # every configuration change is a new version
    read_through_catalog: ClassVar[bool] = False  # engines read the log at its location

    def __init__(self, table: DeltaTable, identifier: str, location: str) -> None:
        self._table = table
        self._identifier = identifier
        self._location = location
        self._versions: dict[int, DeltaTable] = {}
        self._filter_schema: tuple[int, Schema] | None = None

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        identifier: str,
        *,
        catalog: Any = None,
        settings: Settings | None = None,
        format: TableFormat | None = None,
        location: str | None = None,
        version: int | None = None,
    ) -> DeltaVectorTable:
        """Load the Delta table at ``location`` (default: the identifier's place under the Delta root)."""
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
        catalog: Any = None,
        settings: Settings | None = None,
        exist_ok: bool = False,
        format: TableFormat | None = None,
        location: str | None = None,
        partition_by: Sequence[str] = (),
    ) -> DeltaVectorTable:
        """Create a Delta table whose ``vectors`` columns carry their spec in the table configuration."""
        from deltalake import DeltaTable

        settings = settings or load_settings()
        config = creation_properties(schema, vectors, key, properties, also_required=partition_by)
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
            storage_schema(schema, [s.column for s in vectors]),
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
        self._versions.clear()  # the log is read again: an older version may have been cleaned up meanwhile
        return self

    def _at(self, version: int | None) -> DeltaTable:
        from deltalake import DeltaTable

        if version is None or version == self.version:
            return self._table
        if version not in self._versions:
            if len(self._versions) >= _VERSIONS_KEPT:
                self._versions.clear()
            self._versions[version] = DeltaTable(self._location, version=version)
        return self._versions[version]

    @property
    def identity(self) -> str:
        """The location and the id in the metaData action (a new id when the table is re-created there)."""
        return f"delta:{self._location}:{self._table.metadata().id}"

    def arrow_schema(self) -> pa.Schema:
        return self.schema()

    def schema_at(self, snapshot_id: int) -> pa.Schema:
        return pa.schema(self._at(snapshot_id).schema().to_arrow())

    def filter_schema(self) -> Schema:
        """The Delta schema as a pyiceberg schema (fresh field ids), so filters are parsed and bound as on Iceberg."""
        from pyiceberg.catalog import Catalog
        from pyiceberg.schema import assign_fresh_schema_ids

        if self._filter_schema is None or self._filter_schema[0] != self.version:
            converted = assign_fresh_schema_ids(Catalog._convert_schema_if_needed(self.arrow_schema()))
            self._filter_schema = (self.version, converted)
        return self._filter_schema[1]

    def warehouse(self) -> str | None:
        """The warehouse of a table in the default layout, ``<warehouse>/_delta/<namespace>/<table>``."""
        location = self._location.rstrip("/")
        suffix = "/" + self.warehouse_path()
        return location[: -len(suffix)] if location.endswith(suffix) and "://" in location else None

    def warehouse_path(self) -> str:
        # apart from Iceberg tables': an Iceberg and a Delta table may share an identifier
        ns, name = self.identifier.rsplit(".", 1)
        return f"_delta/{ns.replace('.', '/')}/{name}"

    # -- history ----------------------------------------------------------------------------------------------------
    def snapshots(self) -> list[SnapshotInfo]:
        found = [
            SnapshotInfo(int(h["version"]), int(h.get("timestamp") or 0))
            for h in self.history()
            if h.get("version") is not None
        ]
        return sorted(found, key=lambda s: s.id)

    def snapshot_as_of(self, timestamp_ms: int) -> int | None:
        """The latest version committed at or before ``timestamp_ms``."""
        at = [s for s in self.snapshots() if s.timestamp_ms <= timestamp_ms]
        return at[-1].id if at else None

    def has_snapshot(self, snapshot_id: int) -> bool:
        if not isinstance(snapshot_id, int) or snapshot_id < 0 or snapshot_id > self.version:
            return False
        try:
            self._at(snapshot_id)
        except Exception:  # delta-rs raises its own DeltaError when a version's log was cleaned up
            return False
        return True

    def ancestry_problem(self, base: int, snapshot_id: int) -> str:
        # a Delta log is linear: an older version is an ancestor while it can be read
        if base > snapshot_id:
            return f"version {base} is newer than the current version {snapshot_id} (table recreated?)"
        return ""

    def app_version(self, snapshot_id: int | None) -> int:
        """The version itself (0: none)."""
        return 0 if snapshot_id is None else int(snapshot_id)

    def unreadable_errors(self) -> tuple[type[Exception], ...]:
        from deltalake.exceptions import DeltaError

        return (OSError, DeltaError)

    # -- data files ---------------------------------------------------------------------------------------------------
    def files_at(self, snapshot_id: int | None) -> FileSet:
        """A version's add actions, by path (refused when the files cannot be read one by one, see
        :func:`~lakehouse.table.delta_files.check_file_readable`)."""
        if snapshot_id is None:
            return FileSet(None, {})
        dt = self._at(snapshot_id)
        check_file_readable(dt, self._location)
        tasks: dict[str, Any] = {}
        for path, records, values in live_files(dt):
            tasks[path] = DeltaFileTask(DeltaDataFile(path, int(records or 0), tuple(values.items())))
        return FileSet(snapshot_id, tasks)

    def file_read_problem(self, snapshot_id: int | None = None) -> str | None:
        try:
            check_file_readable(self._at(snapshot_id), self._location)
        except UnsupportedDeltaFeatureError as exc:
            return str(exc).splitlines()[0]
        return None

    def _read_file(self, task: DeltaFileTask, columns: Sequence[str], schema: pa.Schema) -> pa.Table:
        parts = dict(task.file.partition_values)
        return read_data_file(self._location, task.file.file_path, parts, columns, schema)

    def read_files(self, snapshot_id: int, tasks: Sequence[Any], columns: Sequence[str]) -> Iterator[pa.Table]:
        dt = self._at(snapshot_id)
        schema = pa.schema(dt.schema().to_arrow())
        specs = specs_from_properties(dt.metadata().configuration)
        for task in tasks:
            yield labelled(self._read_file(task, columns, schema), columns, specs, task.file.file_path)

    def read(self, snapshot_id: int, columns: Sequence[str], flt: RowFilter | None = None) -> pa.Table:
        dt = self._at(snapshot_id)
        schema = pa.schema(dt.schema().to_arrow())
        cols = list(dict.fromkeys([*columns, *(flt.columns if flt else ())]))
        parts = []
        for task in self.files_at(snapshot_id).tasks.values():
            data = self._read_file(task, cols, schema)
            parts.append(flt.apply(data, self.filter_schema()) if flt else data)
        out = pa.concat_tables(parts) if parts else schema.empty_table().select(cols)
        return as_vector_arrays(out.select(list(columns)), specs_from_properties(dt.metadata().configuration))

    def read_keys(
        self,
        reader: PayloadReader,
        snapshot_id: int,
        key: str,
        keys: pa.Array | pa.ChunkedArray,
        columns: Sequence[str],
        files: Sequence[str] | None,
    ) -> tuple[pa.Table, int] | None:
        return reader.read_delta(self, snapshot_id, key, keys, columns, files)

    # -- how SQL engines read it ------------------------------------------------------------------------------------
    def duckdb_relation(self, name: str, snapshot_id: int | None) -> str:
        """``delta_scan`` of the log (a Delta version is its own argument: DuckDB's AT is for attached catalogs)."""
        location = self._location.removeprefix("file://").replace("'", "''")
        at = f", version => {int(snapshot_id)}" if snapshot_id is not None else ""
        return f"delta_scan('{location}'{at})"

    def spark_relation(self, spark: Any, name: str, snapshot_id: int | None) -> str:
        """A temporary view of the version's files (no Delta jars needed), registered in ``spark``'s session."""
        ns, table = self.identifier.rsplit(".", 1)
        view = f"lakehouse_delta_{ns}_{table}_{'latest' if snapshot_id is None else int(snapshot_id)}"
        self.spark_frame(spark, snapshot_id).createOrReplaceTempView(view)
        return view

    def spark_frame(self, spark: Any, snapshot_id: int | None = None, *, catalog: str = "lake") -> Any:
        """The version's files read by Spark (natively where the session has the Delta jars)."""
        from lakehouse.table.spark.delta_read import read_delta_table

        return read_delta_table(spark, self._location, version=snapshot_id)

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
        """Row count from the snapshot's file statistics (see :func:`~lakehouse.table.delta_files.count_rows`)."""
        return count_rows(self._at(version if version is not None else snapshot_id), self.location)

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        return list(self._table.history(limit))

    def __deepcopy__(self, memo: dict[int, Any]) -> DeltaVectorTable:
        # a handle, not a value (delta-rs tables cannot be copied): query trees that carry it in their metadata copy
        return self

    def __repr__(self) -> str:
        specs = ", ".join(f"{s.column}[{s.dim}, {s.metric}]" for s in self.specs.values())
        return f"DeltaVectorTable({self.identifier}, version={self.version}, vectors=[{specs}])"
