"""Appending to an Iceberg vector table through DuckDB's attached catalog (``INSERT INTO lake.ns.t``).

DuckDB 1.5.5's iceberg extension can write to a REST catalog it attached, but it neither knows the vector spec (a
raw INSERT takes a 383-d or all-zero vector into a 384-d cosine column) nor retries a commit that lost a race: the
409 reaches the caller as ``TransactionException: ... Conflict_409`` (12 of 20 inserts from four connections in a
trial here). :func:`append_duckdb` validates the batch exactly as :meth:`VectorTable.append` does and retries a lost
commit with the same backoff and re-validation (:func:`~lakehouse.table.retry.retry_commit`); DuckDB reads the
table's current metadata again in the next transaction, so a retried INSERT lands on the new snapshot.

The analyst SQL entry points stay read-only (their connection authenticates as the read-only client); this is a
writer's API, over a connection that authenticates as a writer (:func:`connect_writer`).

    >>> con = connect_writer()                                                   # doctest: +SKIP
    >>> append_duckdb(con, VectorTable.load("docs.embeddings"), batch)           # doctest: +SKIP
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.table.retry import retry_commit
from lakehouse.vector import refuse_empty

if TYPE_CHECKING:
    import duckdb

    from lakehouse.config import Settings
    from lakehouse.table.iceberg import IcebergVectorTable


def connect_writer(settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the project's catalog attached (as ``settings.catalog.name``) with write access."""
    from lakehouse.catalog_client.connection import connect_catalog
    from lakehouse.config import load_settings
    from lakehouse.sql.duckdb import connect_duckdb

    settings = settings or load_settings()
    catalog = connect_catalog(settings)
    return connect_duckdb(
        catalog.uri,
        settings.warehouse,
        settings.state_dir / "duckdb_extensions",
        alias=settings.catalog.name,
        credential=catalog.credential,
        token=catalog.token,
        oauth2_server_uri=catalog.oauth2_server_uri,
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lost_commit_race(exc: BaseException) -> bool:
    """DuckDB's error for an Iceberg commit the catalog refused with 409 (nothing was committed)."""
    import duckdb

    # 409 as a status, not as digits of a UUID or snapshot id in the message of another error: a 5xx leaves the
    # commit's state unknown (it may have landed), and retrying it could append the batch twice
    status = re.search(r"(?<![0-9A-Za-z-])409(?![0-9A-Za-z-])", str(exc))
    return isinstance(exc, duckdb.TransactionException) and status is not None


def append_duckdb(
    con: duckdb.DuckDBPyConnection,
    table: IcebergVectorTable,
    data: pa.Table | Mapping[str, Any],
    *,
    alias: str = "lake",
    timeout_s: float | None = None,
) -> int:
    """Validate ``data`` against ``table``'s vector spec and key, then ``INSERT`` it through ``con``'s attached
    Iceberg catalog ``alias`` (the catalog setting's name, ``lake`` by default) in one commit, retrying lost commit
    races; returns the number of rows appended.

    Bad input raises :class:`~lakehouse.errors.VectorValidationError` before anything reaches DuckDB.
    """
    batch = data if isinstance(data, pa.Table) else pa.table(dict(data))
    refuse_empty(batch, table.identifier)
    namespace, name = table.iceberg.name()[-2:]
    target = f"{_quote(alias)}.{_quote(namespace)}.{_quote(name)}"
    view = f"_lakehouse_append_{uuid.uuid4().hex}"

    def attempt() -> int:
        conformed = table.conform_batch(batch)  # the spec and schema as they are now (re-read after a lost race)
        con.register(view, conformed)
        try:
            con.execute(f"INSERT INTO {target} SELECT * FROM {_quote(view)}")
        finally:
            con.unregister(view)
        return conformed.num_rows

    return retry_commit(
        attempt, conflict=lost_commit_race, refresh=table.refresh, table=table.identifier, timeout_s=timeout_s
    )
