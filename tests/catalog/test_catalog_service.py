"""The Iceberg REST catalog service, exercised through pyiceberg's RestCatalog, raw HTTP and DuckDB."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import (
    NamespaceAlreadyExistsError,
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.table import Table

from lakehouse.catalog_client.process import ensure_running, status, stop

pytestmark = pytest.mark.integration

SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())])


def rows(start: int, count: int) -> pa.Table:
    return pa.table({"id": list(range(start, start + count)), "name": [f"n{i}" for i in range(count)]}, schema=SCHEMA)


def local_path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


def metadata_files(table: Table) -> list[Path]:
    return sorted((local_path(table.location()) / "metadata").glob("*.metadata.json"))


@pytest.fixture
def rest(catalog_service) -> Catalog:
    return load_catalog("lake", type="rest", **catalog_service.pyiceberg())


@pytest.fixture
def ns(rest: Catalog) -> str:
    name = f"ns_{uuid.uuid4().hex[:8]}"
    rest.create_namespace(name)
    return name


def test_healthz_names_service_warehouse_and_database(catalog_service) -> None:
    health = httpx.get(f"{catalog_service.uri}/healthz").json()
    assert health["service"] == "lakehouse-iceberg-rest-catalog"
    assert health["warehouse"] == catalog_service.warehouse
    assert health["database"] == catalog_service.database_url
    assert health["pid"] == catalog_service.process.pid


def test_namespace_crud(rest: Catalog, catalog_service) -> None:
    name = f"crud_{uuid.uuid4().hex[:8]}"
    rest.create_namespace(name, {"owner": "search"})
    assert (name,) in rest.list_namespaces()
    assert rest.namespace_exists(name)
    assert rest.load_namespace_properties(name)["owner"] == "search"

    summary = rest.update_namespace_properties(name, removals={"owner"}, updates={"team": "ml"})
    assert summary.removed == ["owner"] and summary.updated == ["team"]
    assert rest.load_namespace_properties(name).get("team") == "ml"

    rest.create_namespace((name, "child"))
    assert (name, "child") in rest.list_namespaces(name)

    rest.drop_namespace((name, "child"))
    rest.drop_namespace(name)
    assert not rest.namespace_exists(name)
    with pytest.raises(NoSuchNamespaceError):
        rest.load_namespace_properties(name)

    response = httpx.get(f"{catalog_service.uri}/v1/namespaces/{name}", headers=catalog_service.headers())
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "NoSuchNamespaceException"
    assert response.json()["error"]["code"] == 404


def test_create_append_load_scan(rest: Catalog, ns: str) -> None:
    table = rest.create_table(f"{ns}.docs", SCHEMA)
    table.append(rows(0, 3))
    table.append(rows(3, 2))

    loaded = rest.load_table(f"{ns}.docs")
    assert loaded.scan().to_arrow().num_rows == 5
    assert sorted(loaded.scan(row_filter="id >= 3").to_arrow()["id"].to_pylist()) == [3, 4]
    assert rest.list_tables(ns) == [(ns, "docs")]
    assert rest.table_exists(f"{ns}.docs")


def test_multi_part_namespace_travels_with_the_unit_separator(rest: Catalog) -> None:
    parent = f"mp_{uuid.uuid4().hex[:8]}"
    rest.create_namespace(parent)
    rest.create_namespace((parent, "inner"))
    table = rest.create_table((parent, "inner", "t"), SCHEMA)
    table.append(rows(0, 2))
    assert rest.load_table((parent, "inner", "t")).scan().to_arrow().num_rows == 2
    assert rest.list_tables((parent, "inner")) == [(parent, "inner", "t")]


def test_missing_table_is_a_clean_404(rest: Catalog, ns: str, catalog_service) -> None:
    with pytest.raises(NoSuchTableError):
        rest.load_table(f"{ns}.nope")
    assert not rest.table_exists(f"{ns}.nope")

    auth = catalog_service.headers()
    response = httpx.get(f"{catalog_service.uri}/v1/namespaces/{ns}/tables/nope", headers=auth)
    assert response.status_code == 404
    assert response.json() == {
        "error": {"message": f"Table does not exist: {ns}.nope", "type": "NoSuchTableException", "code": 404}
    }
    assert httpx.head(f"{catalog_service.uri}/v1/namespaces/{ns}/tables/nope", headers=auth).status_code == 404


def test_missing_namespace_is_404(rest: Catalog) -> None:
    with pytest.raises(NoSuchNamespaceError):
        rest.create_table("no_such_namespace.t", SCHEMA)
    with pytest.raises(NoSuchNamespaceError):
        rest.list_tables("no_such_namespace")


def test_duplicate_create_is_409_and_leaves_no_orphan(rest: Catalog, ns: str, catalog_service) -> None:
    table = rest.create_table(f"{ns}.dup", SCHEMA)
    with pytest.raises(TableAlreadyExistsError):
        rest.create_table(f"{ns}.dup", SCHEMA)
    # The second create wrote its metadata file before the database refused the row: it must be gone.
    assert len(metadata_files(table)) == 1

    with pytest.raises(NamespaceAlreadyExistsError):
        rest.create_namespace(ns)


def test_malformed_bodies_are_400(catalog_service, ns: str) -> None:
    base, auth = catalog_service.uri, catalog_service.headers()
    json_type = {"content-type": "application/json", **auth}
    not_json = httpx.post(f"{base}/v1/namespaces", content=b"{not json", headers=json_type)
    assert not_json.status_code == 400
    assert not_json.json()["error"]["type"] == "BadRequestException"

    bad_schema = httpx.post(
        f"{base}/v1/namespaces/{ns}/tables", json={"name": "t", "schema": {"type": "nope"}}, headers=auth
    )
    assert bad_schema.status_code == 400

    bad_update = httpx.post(
        f"{base}/v1/namespaces/{ns}/tables/t", json={"updates": [{"action": "explode"}]}, headers=auth
    )
    assert bad_update.status_code == 400


def test_failed_requirement_is_409(rest: Catalog, ns: str, catalog_service) -> None:
    table = rest.create_table(f"{ns}.req", SCHEMA)
    table.append(rows(0, 1))
    body = {
        "requirements": [{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": 1}],
        "updates": [{"action": "set-properties", "updates": {"k": "v"}}],
    }
    response = httpx.post(
        f"{catalog_service.uri}/v1/namespaces/{ns}/tables/req", json=body, headers=catalog_service.headers()
    )
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "CommitFailedException"
    assert "k" not in rest.load_table(f"{ns}.req").properties


def test_concurrent_appends_lose_nothing_and_leave_no_orphans(catalog_service, ns: str) -> None:
    writers, rounds, per_append = 2, 6, 10
    setup = load_catalog("lake", type="rest", **catalog_service.pyiceberg())
    setup.create_table(f"{ns}.hot", SCHEMA)
    log = catalog_service.state_dir / "catalog.log"
    conflicts_before = log.read_text().count("409 CommitFailedException")
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            catalog = load_catalog("lake", type="rest", **catalog_service.pyiceberg())
            table = catalog.load_table(f"{ns}.hot")
            for r in range(rounds):
                barrier.wait(timeout=30)
                table.append(rows((index * rounds + r) * per_append, per_append))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    table = setup.load_table(f"{ns}.hot")
    ids = table.scan().to_arrow()["id"].to_pylist()
    assert sorted(ids) == list(range(writers * rounds * per_append))
    assert len(table.metadata.snapshots) == writers * rounds
    # Every metadata file on disk is the current one or in the metadata log: losers cleaned up after themselves.
    referenced = {local_path(entry.metadata_file) for entry in table.metadata.metadata_log}
    referenced.add(local_path(table.metadata_location))
    assert set(metadata_files(table)) == referenced
    # The race really happened and was resolved by 409 + client retry.
    assert log.read_text().count("409 CommitFailedException") > conflicts_before


def test_rename(rest: Catalog, ns: str) -> None:
    rest.create_table(f"{ns}.before", SCHEMA).append(rows(0, 2))
    other = f"{ns}_dest"
    rest.create_namespace(other)
    rest.rename_table(f"{ns}.before", f"{other}.after")
    assert not rest.table_exists(f"{ns}.before")
    assert rest.load_table(f"{other}.after").scan().to_arrow().num_rows == 2
    with pytest.raises(NoSuchTableError):
        rest.rename_table(f"{ns}.before", f"{ns}.again")


def test_drop_and_purge(rest: Catalog, ns: str) -> None:
    kept = rest.create_table(f"{ns}.kept_files", SCHEMA)
    kept.append(rows(0, 2))
    rest.drop_table(f"{ns}.kept_files")
    assert not rest.table_exists(f"{ns}.kept_files")
    assert metadata_files(kept), "a plain drop keeps the files"

    purged = rest.create_table(f"{ns}.purged", SCHEMA)
    purged.append(rows(0, 2))
    location = local_path(purged.location())
    assert any(location.rglob("*.parquet"))
    rest.purge_table(f"{ns}.purged")
    assert not rest.table_exists(f"{ns}.purged")
    assert not location.exists()

    with pytest.raises(NoSuchTableError):
        rest.drop_table(f"{ns}.purged")
    rest.create_table(f"{ns}.blocker", SCHEMA)
    with pytest.raises(NamespaceNotEmptyError):
        rest.drop_namespace(ns)


def test_manager_reuses_a_live_server_and_stops_it(tmp_path: Path) -> None:
    state, warehouse = tmp_path / "state", (tmp_path / "wh").as_uri()
    database_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    results = []

    def start() -> None:
        results.append(ensure_running(state, database_url=database_url, warehouse=warehouse, timeout=60))

    # Two starters at once: the file lock makes them share one server.
    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0].pid == results[1].pid

    again = ensure_running(state, database_url=database_url, warehouse=warehouse)
    assert again.pid == results[0].pid
    assert status(state) == again

    assert stop(state)
    assert status(state) is None
    assert not (state / "catalog.json").exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{again.uri}/healthz", timeout=2)
    assert not stop(state)


def test_duckdb_reads_a_pyiceberg_table(rest: Catalog, ns: str, catalog_service, tmp_path: Path) -> None:
    from lakehouse.sql.duckdb import connect_duckdb

    rest.create_table(f"{ns}.for_duck", SCHEMA).append(rows(0, 4))
    con = connect_duckdb(
        catalog_service.uri,
        catalog_service.warehouse,
        tmp_path / "duckdb_extensions",
        credential=catalog_service.reader_credential,
    )
    try:
        assert con.sql(f"SELECT count(*), sum(id) FROM lake.{ns}.for_duck").fetchone() == (4, 6)
    finally:
        con.close()
