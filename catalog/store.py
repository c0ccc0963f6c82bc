"""The catalog behind the REST service: pyiceberg's ``SqlCatalog`` plus what a REST server needs on top.

``SqlCatalog`` writes a table's new metadata file *before* it swaps the pointer in the database. When the swap
fails (a requirement does not hold, another writer won the race, a duplicate create) that file is left behind;
``ServiceCatalog`` records every metadata file written during one operation and deletes the ones the catalog does
not end up referencing.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from pyiceberg.catalog.rest import CreateTableRequest
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.io import FileIO
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.serializers import FromInputFile
from pyiceberg.table import CommitTableResponse, StagedTable, Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER
from pyiceberg.table.update import AssertCreate, SetLocationUpdate, SetPropertiesUpdate, TableRequirement, TableUpdate
from pyiceberg.typedef import Identifier
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from catalog.errors import BadRequest, Conflict
from catalog.locations import PATH_PROPERTIES, Locations, local_path, table_location_of

__all__ = ["ServiceCatalog", "open_catalog"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Metadata files written by the operation running in this context (one request = one context).
_written: ContextVar[list[tuple[FileIO, str]] | None] = ContextVar("catalog_written_metadata", default=None)


class _Named:
    """The only thing ``SqlCatalog.commit_table`` needs from its ``table`` argument is ``name()``."""

    def __init__(self, identifier: Identifier) -> None:
        self._identifier = identifier

    def name(self) -> Identifier:
        return self._identifier


class ServiceCatalog(SqlCatalog):
    """A ``SqlCatalog`` that cleans up after failed commits and serves the REST protocol's extra verbs.

    It keeps every table inside the warehouse (:class:`~catalog.locations.Locations`) and purges only files that lie
    in the purged table's own folder.
    """

    locations: Locations
    _location_select: Select[str | None] | None = None  # metadata_location's statement, built on first use

    # An instance method where the base has a staticmethod: it is always called as self._write_metadata(...).
    def _write_metadata(self, metadata: TableMetadata, io: FileIO, metadata_path: str) -> None:  # type: ignore
        # every metadata file the service writes passes here: the last line of defence for the warehouse boundary
        self.locations.check(metadata.location)
        self.locations.check(metadata_path, "metadata file location")
        super()._write_metadata(metadata, io, metadata_path)
        if (written := _written.get()) is not None:
            written.append((io, metadata_path))

    @contextmanager
    def _cleanup_on_failure(self, identifier: Identifier) -> Iterator[None]:
        token = _written.set([])
        try:
            yield
        except BaseException:
            if written := _written.get():
                self._delete_unreferenced(identifier, written)
            raise
        finally:
            _written.reset(token)

    def _delete_unreferenced(self, identifier: Identifier, written: list[tuple[FileIO, str]]) -> None:
        # Never delete a file the catalog points at, whatever failed after the swap.
        try:
            current = self.load_table(identifier).metadata_location
        except NoSuchTableError:
            current = None
        for io, path in written:
            if path == current:
                continue
            try:
                io.delete(path)
                logger.info("deleted orphan metadata file %s", path)
            except Exception:  # noqa: BLE001 - cleanup must not hide the original error
                logger.warning("could not delete orphan metadata file %s", path, exc_info=True)

    def guarded(self, identifier: Identifier, operation: Callable[[], T]) -> T:
        """Run ``operation``; if it fails, delete the metadata files it wrote that no table references."""
        with self._cleanup_on_failure(identifier):
            return operation()

    def _check_new_table(self, identifier: Identifier, request: CreateTableRequest) -> None:
        self.locations.check_properties(request.properties)
        if request.location:
            self.locations.check(request.location)
            self._refuse_overlap(request.location, identifier)

    def _refuse_overlap(self, location: str, identifier: Identifier, *, thorough: bool = False) -> None:
        for other, other_location in self._other_folders(identifier, thorough=thorough):
            if Locations.contains(location, other_location) or Locations.contains(other_location, location):
                raise Conflict(
                    f"The location {location!r} overlaps table {'.'.join(other)} at {other_location!r}; "
                    "a table folder may hold no other table"
                )

    def _other_folders(self, identifier: Identifier, *, thorough: bool) -> Iterator[tuple[Identifier, str]]:
        """Each other table's metadata folder; ``thorough`` (before a purge deletes a folder) adds its location and
        the folders its path properties send files to, which a write.metadata.path elsewhere keeps apart from it."""
        for other, folder in self.table_locations():
            if other == identifier:
                continue
            yield other, folder
            if not thorough:
                continue
            try:
                metadata = self.load_table(other).metadata
            except (NoSuchTableError, OSError, ValueError):
                continue  # unreadable: its metadata folder is all that is known
            yield other, metadata.location
            for name in PATH_PROPERTIES:
                if metadata.properties.get(name):
                    yield other, metadata.properties[name]

    def table_locations(self) -> list[tuple[Identifier, str]]:
        """Every table of this catalog with the folder its current metadata file lies in."""
        query = select(IcebergTables.table_namespace, IcebergTables.table_name, IcebergTables.metadata_location)
        with Session(self.engine) as session:
            rows = session.execute(query.where(IcebergTables.catalog_name == self.name)).all()
        return [
            ((*namespace.split("."), name), table_location_of(metadata))
            for namespace, name, metadata in rows
            if metadata
        ]

    def metadata_location(self, identifier: Identifier) -> str:
        """The table's current metadata file: one row of the catalog database, the file itself is not read (what a
        conditional load compares with the client's ETag).

        A Core statement built once with bound parameters, on a pooled connection: the ORM session the other lookups
        use cost several times the query itself, and every conditional load asks this (figures: BENCHMARKS.md,
        design measurements, 'catalog loadTable 304 path').
        """
        namespace = self.namespace_to_string(self.namespace_from(identifier))
        name = self.table_name_from(identifier)
        with self.engine.connect() as connection:
            location = connection.execute(
                self._location_query(), {"catalog": self.name, "namespace": namespace, "name": name}
            ).scalar()
        if not location:
            raise NoSuchTableError(f"Table does not exist: {namespace}.{name}")
        return str(location)

    def _location_query(self) -> Select[str | None]:
        if self._location_select is None:
            query = select(IcebergTables.metadata_location).where(
                IcebergTables.catalog_name == bindparam("catalog"),
                IcebergTables.table_namespace == bindparam("namespace"),
                IcebergTables.table_name == bindparam("name"),
            )
            if (type_filter := self._iceberg_type_filter()) is not None:
                query = query.where(type_filter)
            self._location_select = query
        return self._location_select

    def create_from_request(self, namespace: Identifier, request: CreateTableRequest) -> Table:
        """Create and register a table from a REST ``CreateTableRequest``."""
        identifier = (*namespace, request.name)
        self._check_new_table(identifier, request)
        return self.guarded(
            identifier,
            lambda: self.create_table(
                identifier,
                schema=request.table_schema,
                location=request.location,
                partition_spec=request.partition_spec or UNPARTITIONED_PARTITION_SPEC,
                sort_order=request.write_order or UNSORTED_SORT_ORDER,
                properties=request.properties,
            ),
        )

    def stage_from_request(self, namespace: Identifier, request: CreateTableRequest) -> StagedTable:
        """Build a table's first metadata without registering it (``stage-create``); the client commits it later."""
        identifier = (*namespace, request.name)
        if not self.namespace_exists(namespace):
            raise NoSuchNamespaceError(f"Namespace does not exist: {'.'.join(namespace)}")
        if self.table_exists(identifier):
            raise TableAlreadyExistsError(f"Table {'.'.join(identifier)} already exists")
        self._check_new_table(identifier, request)
        staged = self._create_staged_table(
            identifier,
            schema=request.table_schema,
            location=request.location,
            partition_spec=request.partition_spec or UNPARTITIONED_PARTITION_SPEC,
            sort_order=request.write_order or UNSORTED_SORT_ORDER,
            properties=request.properties,
        )
        self.locations.check(staged.metadata.location)
        _make_local_table_dirs(staged.metadata.location)
        return staged

    def commit(
        self, identifier: Identifier, requirements: tuple[TableRequirement, ...], updates: tuple[TableUpdate, ...]
    ) -> CommitTableResponse:
        """Apply a REST commit. With an ``assert-create`` requirement a missing table is created (CTAS, REPLACE)."""
        for update in updates:
            if isinstance(update, SetLocationUpdate):
                self.locations.check(update.location)
            elif isinstance(update, SetPropertiesUpdate):
                self.locations.check_properties(update.updates)
        creating = any(isinstance(r, AssertCreate) for r in requirements)
        if creating:
            if not self.namespace_exists(identifier[:-1]):
                raise NoSuchNamespaceError(f"Namespace does not exist: {'.'.join(identifier[:-1])}")
        elif not self.table_exists(identifier):
            raise NoSuchTableError(f"Table does not exist: {'.'.join(identifier)}")
        return self.guarded(
            identifier,
            lambda: self.commit_table(_Named(identifier), requirements, updates),  # type: ignore[arg-type]
        )

    def register(self, identifier: Identifier, metadata_location: str) -> Table:
        """Register an existing metadata file as a table, if it and the table it describes lie in the warehouse."""
        self.locations.check(metadata_location, "metadata location")
        io = self._load_file_io(location=metadata_location)
        try:
            metadata = FromInputFile.table_metadata(io.new_input(metadata_location))
        except (OSError, ValueError) as exc:
            raise BadRequest(f"Cannot read table metadata at {metadata_location!r}: {exc}") from None
        self.locations.check(metadata.location)
        self._refuse_overlap(metadata.location, identifier)
        return self.register_table(identifier, metadata_location)

    def drop(self, identifier: Identifier, *, purge: bool) -> None:
        """Drop a table; with ``purge`` also delete its files, but only those inside its own folder.

        A purge is refused (409, nothing dropped) when another table lives inside that folder, and it never deletes
        a file outside it (a manifest may name any path) or a folder outside the warehouse.
        """
        if not purge:
            self.drop_table(identifier)
            return
        table = self.load_table(identifier)
        location = table.metadata.location
        self._refuse_overlap(location, identifier, thorough=True)
        self.drop_table(identifier)
        io = self._load_file_io(table.metadata.properties, table.metadata_location)
        files = {table.metadata_location, *(entry.metadata_file for entry in table.metadata.metadata_log)}
        for snapshot in table.metadata.snapshots:
            files.add(snapshot.manifest_list)
            for manifest in snapshot.manifests(io):
                files.add(manifest.manifest_path)
                files.update(e.data_file.file_path for e in manifest.fetch_manifest_entry(io, discard_deleted=False))
        for path in sorted(files):
            if not Locations.contains(location, path):
                logger.warning("purge of %s: kept %s, which lies outside the table folder", identifier, path)
                continue
            try:
                io.delete(path)
            except OSError:
                logger.warning("purge of %s: could not delete %s", identifier, path, exc_info=True)
        if self.locations.allow_external or self.locations.inside_warehouse(location):
            # what the metadata does not know about (empty folders, stray files) goes with the folder
            if (folder := local_path(location)) is not None and folder.exists():
                shutil.rmtree(folder.resolve(), ignore_errors=True)


def open_catalog(
    database_url: str, warehouse: str, *, name: str = "lake", allow_external_locations: bool = False
) -> ServiceCatalog:
    """Open (and initialise if needed) the SQL catalog at ``database_url`` for ``warehouse``."""
    catalog = ServiceCatalog(name, uri=database_url, warehouse=warehouse)
    catalog.locations = Locations(warehouse, allow_external_locations)
    return catalog


def _make_local_table_dirs(location: str) -> None:
    # Spark's Hadoop FileIO writes into these on a staged create; make them exist on a local warehouse.
    if (path := local_path(location)) is not None:
        (path / "metadata").mkdir(parents=True, exist_ok=True)
        (path / "data").mkdir(parents=True, exist_ok=True)
