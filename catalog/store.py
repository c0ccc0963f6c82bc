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
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlparse

from pyiceberg.catalog.rest import CreateTableRequest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.io import FileIO
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.table import CommitTableResponse, StagedTable, Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER
from pyiceberg.table.update import AssertCreate, TableRequirement, TableUpdate
from pyiceberg.typedef import Identifier

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
    """A ``SqlCatalog`` that cleans up after failed commits and serves the REST protocol's extra verbs."""

    # An instance method where the base has a staticmethod: it is always called as self._write_metadata(...).
    def _write_metadata(self, metadata: TableMetadata, io: FileIO, metadata_path: str) -> None:  # type: ignore

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

    def create_from_request(self, namespace: Identifier, request: CreateTableRequest) -> Table:
        """Create and register a table from a REST ``CreateTableRequest``."""
        identifier = (*namespace, request.name)
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
        staged = self._create_staged_table(
            identifier,
            schema=request.table_schema,
            location=request.location,
            partition_spec=request.partition_spec or UNPARTITIONED_PARTITION_SPEC,
            sort_order=request.write_order or UNSORTED_SORT_ORDER,
            properties=request.properties,
        )
        _make_local_table_dirs(staged.metadata.location)
        return staged

    def commit(
        self, identifier: Identifier, requirements: tuple[TableRequirement, ...], updates: tuple[TableUpdate, ...]
    ) -> CommitTableResponse:
        """Apply a REST commit. With an ``assert-create`` requirement a missing table is created (CTAS, REPLACE)."""
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

    def drop(self, identifier: Identifier, *, purge: bool) -> None:
        """Drop a table; with ``purge`` also delete its data, manifests and metadata files."""
        if not purge:
            self.drop_table(identifier)
            return
        location = self.load_table(identifier).metadata.location
        self.purge_table(identifier)
        _remove_local_table_dir(location, self.properties.get("warehouse", ""))


def open_catalog(database_url: str, warehouse: str, *, name: str = "lake") -> ServiceCatalog:
    """Open (and initialise if needed) the SQL catalog at ``database_url`` for ``warehouse``."""
    return ServiceCatalog(name, uri=database_url, warehouse=warehouse)


def _local_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and uri.startswith("/"):
        return Path(uri)
    return None


def _make_local_table_dirs(location: str) -> None:
    # Spark's Hadoop FileIO writes into these on a staged create; make them exist on a local warehouse.
    if (path := _local_path(location)) is not None:
        (path / "metadata").mkdir(parents=True, exist_ok=True)
        (path / "data").mkdir(parents=True, exist_ok=True)


def _remove_local_table_dir(location: str, warehouse: str) -> None:
    # purge_table deletes the files the metadata knows about; remove what is left (empty folders, stray files),
    # but only for a local table that lives inside this warehouse.
    path, root = _local_path(location), _local_path(warehouse)
    if path is None or root is None:
        return
    path, root = path.resolve(), root.resolve()
    if path != root and root in path.parents and path.exists():
        shutil.rmtree(path, ignore_errors=True)
