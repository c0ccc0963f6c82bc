"""DuckDB attached to the project's Iceberg REST catalog, working offline, and the DuckDB executor.

DuckDB would download its extensions on first use; here they come from the ``duckdb-extension-*`` wheels, loaded by
path, with autoinstall off and the extension directory inside the project's state folder.

Once the catalog is attached the connection is locked down with DuckDB's own settings (:func:`lock_down`):
``allowed_directories`` is the warehouse (and the Delta root), ``enable_external_access=false`` refuses every other
file and every URL (no ``read_csv('/etc/passwd')``, no ``read_csv('http://...')``, no COPY elsewhere, no extension
loading), and ``lock_configuration=true`` refuses any SET that would undo it. The attached catalog keeps working: the
iceberg extension talks to it through its own HTTP client, not through DuckDB's file systems. (External access off
alone refuses the warehouse too: every Iceberg scan failed on its manifest list; hence the allowed directories.) Not
gated by these settings, so refused by the dialect instead (lakehouse.sql.safety): a new ``ATTACH ... (TYPE
iceberg, ENDPOINT ...)`` still calls its endpoint, and ``delta_scan`` reads a ``_delta_log`` outside the allowed
directories (its data files are refused).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from lakehouse.config import Settings, load_settings
from lakehouse.errors import CatalogError, CatalogUnavailableError, EnvironmentSetupError, SqlError, UnsafeSqlError
from lakehouse.sql.execute import Executor
from lakehouse.sql.hints import duckdb_hint
from lakehouse.sql.render import in_list
from lakehouse.sql.rowembed import register_duckdb
from lakehouse.sql.targets import Render

__all__ = ["DuckDBExecutor", "connect_duckdb", "lock_down"]

# httpfs carries the HTTP client the iceberg extension uses to talk to a REST catalog; avro reads manifests.
_EXTENSIONS = ("httpfs", "avro", "iceberg")
_OPTIONAL_EXTENSIONS = ("delta",)  # Delta tables (delta_scan); without it only Iceberg tables can be queried


def connect_duckdb(
    uri: str,
    warehouse: str,
    extension_dir: str | os.PathLike[str],
    *,
    alias: str = "lake",
    database: str = ":memory:",
    credential: str | None = None,
    token: str | None = None,
    oauth2_server_uri: str | None = None,
    allowed_directories: Sequence[str] = (),
    lock: bool = True,
) -> duckdb.DuckDBPyConnection:
    """Open DuckDB with the Iceberg REST catalog at ``uri`` attached as ``alias``.

    With ``lock`` (the default) the connection then reads and writes files only under ``warehouse`` and
    ``allowed_directories``, opens no URL itself, and cannot change a setting (:func:`lock_down`).

    ``credential`` (``client_id:secret``, exchanged at ``oauth2_server_uri``, default ``<uri>/v1/oauth/tokens``, and
    refreshed by the extension) or ``token`` authenticate to the catalog through a temporary iceberg secret.

    Example:
        >>> con = connect_duckdb(proc.uri, proc.warehouse, ".lakehouse/duckdb_extensions")  # doctest: +SKIP
        >>> con.sql("SELECT count(*) FROM lake.docs.chunks").fetchone()  # doctest: +SKIP
    """
    Path(extension_dir).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        database,
        config={
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
            "extension_directory": str(extension_dir),
        },
    )
    try:
        for name in _EXTENSIONS:
            con.load_extension(str(_extension_file(name)))
        for name in _OPTIONAL_EXTENSIONS:
            try:
                con.load_extension(str(_extension_file(name)))
            except EnvironmentSetupError:
                pass
        auth = "AUTHORIZATION_TYPE 'none'"
        if credential or token:
            secret = _identifier(f"{alias}_catalog_auth")
            if token:
                options = f"TOKEN {_quote(token)}"
            else:
                client_id, _, client_secret = str(credential).rpartition(":")
                endpoint = oauth2_server_uri or f"{uri.rstrip('/')}/v1/oauth/tokens"
                options = (
                    f"CLIENT_ID {_quote(client_id)}, CLIENT_SECRET {_quote(client_secret)}, "
                    f"OAUTH2_SERVER_URI {_quote(endpoint)}"
                )
            auth = f"SECRET {secret}"
        try:
            if credential or token:  # the extension fetches its token right here
                con.execute(f"CREATE OR REPLACE TEMPORARY SECRET {secret} (TYPE iceberg, {options})")
            con.execute(
                f"ATTACH {_quote(warehouse)} AS {_identifier(alias)} (TYPE iceberg, ENDPOINT {_quote(uri)}, {auth})"
            )
        except duckdb.Error as exc:
            raise _attach_error(uri, exc) from exc
        if lock:
            lock_down(con, [warehouse, *allowed_directories])
    except BaseException:
        con.close()
        raise
    return con


def _attach_error(uri: str, exc: duckdb.Error) -> CatalogError:
    text = str(exc).strip()
    lowered = text.lower()
    if any(m in lowered for m in ("could not connect", "couldn't connect", "connection refused", "failed to connect")):
        return CatalogUnavailableError(
            f"The catalog service at {uri} is not reachable (DuckDB: {text[:200]})",
            hint="run `lakehouse catalog start` (or any lakehouse command, which starts the embedded service); "
            "`lakehouse catalog status` shows it; for an external catalog check catalog.uri",
            uri=uri,
        )
    return CatalogError(
        f"DuckDB could not attach the catalog at {uri}: {text[:500]}",
        hint="a 401/403 means the credential is missing or wrong (catalog.credential / catalog.token)",
        uri=uri,
    )


def lock_down(con: duckdb.DuckDBPyConnection, folders: Sequence[str]) -> None:
    """Let ``con`` touch files only under ``folders`` (local paths or URIs) and no URL, and freeze its settings.

    Irreversible for the connection: any later SET or RESET fails with "the configuration has been locked".
    """
    prefixes = sorted({_folder(f) for f in folders if f})
    con.execute(f"SET allowed_directories = [{', '.join(_quote(p) for p in prefixes)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _folder(location: str) -> str:
    """A folder as an ``allowed_directories`` prefix: a local path made absolute, with the trailing slash that keeps
    ``/wh`` from also allowing ``/wh-other``."""
    if location.startswith("file://") or "://" not in location:
        location = str(Path(_local(location)).expanduser().resolve())
    return location.rstrip("/") + "/"


def _extension_file(name: str) -> Path:
    version = duckdb.__version__
    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            candidate = Path(root) / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
            if candidate.is_file():
                return candidate
    raise EnvironmentSetupError(
        f"The DuckDB {name} extension for duckdb {version} is not installed",
        hint=f"pip install 'duckdb-extension-{name}=={version}'",
        extension=name,
        duckdb_version=version,
    )


def _local(location: str) -> str:
    return location.removeprefix("file://")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _identifier(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


_SLOTS = 16  # candidate schemas a DuckDB session keeps a registered name for
_PREPARED = 64  # texts a DuckDB session keeps a prepared statement (or a first sighting) for


class _Slot:
    """What one registered name reads: the rows of the query now running (an Arrow stream), or nothing between
    queries."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rows: pa.Table | None = None

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        if self.rows is None:
            raise SqlError(
                f"{self.name} holds the candidate rows of one query and is read only by it",
                hint="query the table itself: FROM lake.<namespace>.<table>",
            )
        return self.rows.__arrow_c_stream__(requested_schema)


class DuckDBExecutor(Executor):
    """The embedded default: the catalog attached as ``lake``; vector columns read as ``FLOAT[dim]``.

    The ANN path's candidate rows reach DuckDB as an Arrow stream under a name registered once per schema of rows
    (a view whose column types are fixed when it is made) and handed each query's rows for that query only:
    registering a view and dropping it again for every query cost more than the query itself (figures: BENCHMARKS.md,
    design measurements, 'DuckDB candidate registration').
    """

    target = "duckdb"
    relations = True
    query_column = True

    def __init__(
        self, settings: Settings | None = None, *, connection: duckdb.DuckDBPyConnection | None = None
    ) -> None:
        from lakehouse.catalog_client.connection import connect_catalog
        from lakehouse.table.formats import delta_root

        self.settings = settings or load_settings()
        if connection is None:
            # analyst SQL only reads: on the embedded service it runs as the read-only client
            catalog = connect_catalog(self.settings, read_only=True)
            connection = connect_duckdb(
                catalog.uri,
                self.settings.warehouse,
                self.settings.state_dir / "duckdb_extensions",
                alias=self.settings.catalog.name,
                credential=catalog.credential,
                token=catalog.token,
                oauth2_server_uri=catalog.oauth2_server_uri,
                allowed_directories=[delta_root(self.settings)],  # Delta tables are read with delta_scan(path)
            )
        self.con = connection
        self._slots: OrderedDict[pa.Schema, _Slot] = OrderedDict()
        self._names = itertools.count()
        # run_again: SQL text -> its prepared statement's name, or None when the text was seen once
        self._prepared: OrderedDict[str, str | None] = OrderedDict()
        register_duckdb(self.con)  # embed(<column>, 'model') runs as lakehouse_embed (lakehouse.sql.rowembed)

    def run(self, sql: str) -> pa.Table:
        try:
            # execute, not sql(): sql() builds a relation (parse + bind) and then runs it, a little slower (figures:
            # BENCHMARKS.md, design measurements, 'DuckDB execute')
            return self.con.execute(sql).to_arrow_table()
        except duckdb.PermissionException as exc:  # the lock-down, for SQL that got past the dialect's allow-lists
            raise UnsafeSqlError(
                f"the DuckDB session refused access outside the warehouse: {str(exc).strip().splitlines()[0]}",
                hint="analyst SQL reads tables through the catalog (FROM lake.<namespace>.<table>); a table stored "
                "outside the warehouse and the Delta root (catalog.allow_external_locations) cannot be read here",
                statement="file access",
                engine="duckdb",
                sql=sql[:2000],
            ) from exc
        except duckdb.Error as exc:
            raise SqlError(
                f"DuckDB could not run the query: {str(exc).strip()}",
                hint=duckdb_hint(exc),
                engine="duckdb",
                sql=sql[:2000],
            ) from exc

    def run_again(self, sql: str) -> pa.Table:
        """A text that reads only registered relations, run from a prepared statement from its second time on.

        Such a text (the ANN path's, with the query vector in a column of the candidates: lakehouse.sql.querycolumn)
        is the same for every query of a shape, and DuckDB's parse, bind and optimisation of it were a third of its
        cost over ten rows (figures: BENCHMARKS.md, design measurements, 'prepared candidate queries'). The relation
        is a view over whichever rows the slot holds when the statement executes. A text seen once is only noted: a
        shape that comes once is not worth a PREPARE. (A text with a vector's numbers in it changes every query and
        never comes here: :meth:`~lakehouse.sql.rendered.RenderCache.text`.)
        """
        if sql not in self._prepared:
            self._prepared[sql] = None
            self._trim_prepared()
            return self.run(sql)
        self._prepared.move_to_end(sql)
        name = self._prepared[sql]
        if name is None:
            name = f"lakehouse_prepared_{next(self._names)}"
            try:
                self.con.execute(f"PREPARE {name} AS {sql}")
            except duckdb.Error:  # not preparable: run as text, the ordinary errors and all
                return self.run(sql)
            self._prepared[sql] = name
        try:
            return self.con.execute(f"EXECUTE {name}").to_arrow_table()
        except duckdb.Error:  # whatever went wrong, the text run says it the ordinary way (or succeeds)
            self._deallocate(sql)
            return self.run(sql)

    def _trim_prepared(self) -> None:
        while len(self._prepared) > _PREPARED:
            self._deallocate(next(iter(self._prepared)))

    def _deallocate(self, sql: str) -> None:
        name = self._prepared.pop(sql, None)
        if name is not None:
            try:
                self.con.execute(f"DEALLOCATE {name}")
            except duckdb.Error:
                pass

    def scan(self) -> Render:
        return _scan

    def register(self, rows: pa.Table) -> str | None:
        slot = self._slots.get(rows.schema)
        if slot is None:
            slot = _Slot(f"lakehouse_candidates_{next(self._names)}")
            slot.rows = rows  # the view takes its column types from them
            self.con.register(slot.name, slot)
            self._slots[rows.schema] = slot
            while len(self._slots) > _SLOTS:
                gone = self._slots.popitem(last=False)[1].name
                for text in [t for t in self._prepared if _identifier(gone) in t]:  # statements over its view
                    self._deallocate(text)
                self.con.unregister(gone)
        self._slots.move_to_end(rows.schema)
        slot.rows = rows
        return slot.name

    def release(self, name: str) -> None:
        for slot in self._slots.values():
            if slot.name == name:
                slot.rows = None

    def close(self) -> None:
        self.con.close()


def _scan(g: object, e: object) -> str:
    from lakehouse.sql.targets import LakeScan

    assert isinstance(e, LakeScan)
    if e.args.get("relation"):
        return f"SELECT * FROM {_identifier(e.args['relation'])}"
    table = e.this.sql("duckdb")
    casts = e.args.get("casts") or []
    star = (
        "*"
        if not casts
        else "* REPLACE ("
        + ", ".join(f"CAST({_identifier(c)} AS FLOAT[{dim}]) AS {_identifier(c)}" for c, dim in casts)
        + ")"
    )
    # the table says how DuckDB reads it at the snapshot (a Delta table: delta_scan of its log)
    sql = f"SELECT {star} FROM {e.args['lake'].table.duckdb_relation(table, e.args.get('snapshot'))}"
    if e.args.get("key"):
        sql += " WHERE " + in_list(e.args["key"], e.args.get("keys") or [], "duckdb")
    return sql
