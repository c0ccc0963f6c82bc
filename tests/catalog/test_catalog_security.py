"""The catalog service's guard rails (issue 12, issue 11's names and dead-service items), on a real service.

Who may call it (bearer tokens from the OAuth2 client-credentials endpoint, a read-only principal), which names and
locations it accepts, what a purge may delete, how much a request may carry, and what a client says when the service
is gone.
"""

from __future__ import annotations

import os
import signal
import stat
import time
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import ForbiddenError, NoSuchTableError

from lakehouse.catalog_client.credentials import load_secret_file
from lakehouse.config import load_settings
from lakehouse.errors import CatalogError, CatalogUnavailableError, InvalidIdentifierError

pytestmark = pytest.mark.integration

SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())])
EMPTY_SCHEMA = {"type": "struct", "fields": [], "schema-id": 0}
BAD_NAMES = [".", "..", "../../../x", "a'b", 'a"b', "a;b", "a\nb", "a/b", "a b", "a\x00b", "a\x1fb", "x" * 300]


def rows(count: int) -> pa.Table:
    return pa.table({"id": list(range(count)), "name": [f"n{i}" for i in range(count)]}, schema=SCHEMA)


def local(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


@pytest.fixture
def rest(catalog_service) -> Catalog:
    return load_catalog("lake", type="rest", **catalog_service.pyiceberg())


@pytest.fixture
def ns(rest: Catalog) -> str:
    name = f"sec_{uuid.uuid4().hex[:8]}"
    rest.create_namespace(name)
    return name


@pytest.fixture
def auth(catalog_service) -> dict[str, str]:
    return catalog_service.headers()


# -- authentication -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/config"),
        ("GET", "/v1/namespaces"),
        ("POST", "/v1/namespaces"),
        ("DELETE", "/v1/namespaces/docs/tables/t?purgeRequested=true"),
        ("POST", "/v1/tables/rename"),
        ("POST", "/api/v1/lineage"),
        ("GET", "/api/v1/lineage/runs"),
        ("GET", "/lineage"),
        ("GET", "/openapi.json"),
        ("GET", "/no/such/path"),
    ],
)
def test_every_endpoint_needs_a_token(catalog_service, method: str, path: str) -> None:
    answer = httpx.request(method, f"{catalog_service.uri}{path}", json={})
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["type"] == "NotAuthorizedException"
    assert "/v1/oauth/tokens" in answer.json()["error"]["message"]
    assert answer.headers["www-authenticate"].startswith("Bearer")
    # a token that is not one of ours, or one of ours past its expiry, is no better
    secrets = load_secret_file(catalog_service.state_dir / "catalog.secret")
    for token in ("lh1.lakehouse.9999999999.x.forged", secrets.issue(secrets.client(), ttl=-1)):
        forged = httpx.request(
            method, f"{catalog_service.uri}{path}", json={}, headers={"Authorization": f"Bearer {token}"}
        )
        assert forged.status_code == 401


def test_token_endpoint_speaks_oauth2_client_credentials(catalog_service) -> None:
    url = f"{catalog_service.uri}/v1/oauth/tokens"
    client, _, secret = catalog_service.credential.partition(":")
    form = {"grant_type": "client_credentials", "client_id": client, "client_secret": secret, "scope": "catalog"}
    issued = httpx.post(url, data=form).json()
    assert issued["token_type"] == "bearer" and issued["expires_in"] == 3600 and issued["access_token"]
    # HTTP Basic client authentication (pyiceberg's OAuth2AuthManager, OpenLineage) and token exchange (Java refresh)
    basic = httpx.post(url, data={"grant_type": "client_credentials"}, auth=(client, secret))
    assert basic.status_code == 200
    exchange = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": issued["access_token"],
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
    }
    renewed = httpx.post(url, data=exchange).json()["access_token"]
    assert (
        httpx.get(f"{catalog_service.uri}/v1/config", headers={"Authorization": f"Bearer {renewed}"}).status_code == 200
    )
    wrong = httpx.post(url, data={**form, "client_secret": secret + "x"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    unknown_grant = httpx.post(url, data={"grant_type": "password", "username": "u", "password": "p"})
    assert unknown_grant.status_code == 400 and unknown_grant.json()["error"] == "unsupported_grant_type"


def test_the_secret_file_is_private(catalog_service, tmp_path: Path) -> None:
    path = catalog_service.state_dir / "catalog.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    leaked = tmp_path / "catalog.secret"
    leaked.write_text(path.read_text())
    leaked.chmod(0o644)
    with pytest.raises(CatalogError, match="readable by other users"):
        load_secret_file(leaked)


def test_pyiceberg_without_a_credential_is_refused(catalog_service) -> None:
    with pytest.raises(Exception, match="401|Authentication required|NotAuthorized"):
        load_catalog("lake", type="rest", uri=catalog_service.uri, warehouse=catalog_service.warehouse)


# -- the read-only principal --------------------------------------------------------------------------------------
def test_the_read_only_client_loads_but_never_writes(rest: Catalog, ns: str, catalog_service) -> None:
    rest.create_table(f"{ns}.shared", SCHEMA).append(rows(3))
    reader = load_catalog("lake", type="rest", **catalog_service.pyiceberg(read_only=True))
    table = reader.load_table(f"{ns}.shared")
    assert table.scan().to_arrow().num_rows == 3
    assert (ns, "shared") in reader.list_tables(ns)
    with pytest.raises(ForbiddenError, match="read-only"):
        table.append(rows(1))  # the commit is refused: nothing lands
    assert rest.load_table(f"{ns}.shared").scan().to_arrow().num_rows == 3

    base, auth = catalog_service.uri, catalog_service.headers(read_only=True)
    refused = [
        httpx.post(f"{base}/v1/namespaces", json={"namespace": [f"{ns}_r"]}, headers=auth),
        httpx.post(f"{base}/v1/namespaces/{ns}/tables", json={"name": "t", "schema": EMPTY_SCHEMA}, headers=auth),
        httpx.post(f"{base}/v1/namespaces/{ns}/tables/shared", json={"updates": []}, headers=auth),
        httpx.delete(f"{base}/v1/namespaces/{ns}/tables/shared?purgeRequested=true", headers=auth),
        httpx.post(f"{base}/v1/tables/rename", json={}, headers=auth),
        httpx.post(f"{base}/v1/namespaces/{ns}/register", json={}, headers=auth),
        httpx.post(f"{base}/api/v1/lineage", json={}, headers=auth),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert refused[2].json()["error"]["type"] == "ForbiddenException"
    assert rest.table_exists(f"{ns}.shared")
    assert httpx.get(f"{base}/api/v1/lineage/runs", headers=auth).status_code == 200


def test_the_read_only_client_cannot_commit_to_a_table_named_metrics(rest: Catalog, ns: str, catalog_service) -> None:
    # POST .../tables/metrics is a commit, not the scan-metrics report (.../tables/{table}/metrics) readers may send
    rest.create_table(f"{ns}.metrics", SCHEMA)
    base, auth = catalog_service.uri, catalog_service.headers(read_only=True)
    update = {"updates": [{"action": "set-properties", "updates": {"owned": "yes"}}]}
    answer = httpx.post(f"{base}/v1/namespaces/{ns}/tables/metrics", json=update, headers=auth)
    assert answer.status_code == 403, answer.text
    assert "owned" not in rest.load_table(f"{ns}.metrics").properties
    report = httpx.post(f"{base}/v1/namespaces/{ns}/tables/metrics/metrics", json={}, headers=auth)
    assert report.status_code == 204, report.text


def test_the_review_page_takes_a_token_in_the_url(catalog_service) -> None:
    token = catalog_service.headers(read_only=True)["Authorization"].split()[1]
    page = httpx.get(f"{catalog_service.uri}/lineage", params={"access_token": token, "limit": 1}, timeout=60)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    # only the page: the API wants the header
    api = httpx.get(f"{catalog_service.uri}/api/v1/lineage/runs", params={"access_token": token})
    assert api.status_code == 401


# -- names --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_table_names_are_400_and_nothing_is_written(
    catalog_service, ns: str, auth: dict[str, str], name: str
) -> None:
    base = catalog_service.uri
    warehouse = local(catalog_service.warehouse)
    before = {p for p in warehouse.parent.rglob("*") if "metadata" in p.parts}
    body = {"name": name, "schema": EMPTY_SCHEMA}
    answers = [
        httpx.post(f"{base}/v1/namespaces/{ns}/tables", json=body, headers=auth),
        httpx.post(f"{base}/v1/namespaces/{ns}/tables", json={**body, "stage-create": True}, headers=auth),
        httpx.post(f"{base}/v1/namespaces/{ns}/register", json={"name": name, "metadata-location": "/x"}, headers=auth),
        httpx.post(f"{base}/v1/namespaces", json={"namespace": [name]}, headers=auth),
        httpx.post(f"{base}/v1/namespaces", json={"namespace": [ns, name]}, headers=auth),
        httpx.post(
            f"{base}/v1/tables/rename",
            json={"source": {"namespace": [ns], "name": "x"}, "destination": {"namespace": [ns], "name": name}},
            headers=auth,
        ),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["type"] == "BadRequestException" and "[A-Za-z0-9_][A-Za-z0-9_-]{0,127}" in error["message"]
    if "/" not in name:  # a %2F in a path is a '/' to the router
        assert httpx.get(f"{base}/v1/namespaces/{ns}/tables/{_pct(name)}", headers=auth).status_code == 400
    assert {p for p in warehouse.parent.rglob("*") if "metadata" in p.parts} == before


def _pct(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="").replace(".", "%2E")  # a bare '.' or '..' segment would be folded by the client


def test_a_unit_separator_never_splits_a_namespace_part(catalog_service, auth: dict[str, str]) -> None:
    answer = httpx.post(f"{catalog_service.uri}/v1/namespaces", json={"namespace": ["a\x1fb"]}, headers=auth)
    assert answer.status_code == 400
    listed = httpx.get(f"{catalog_service.uri}/v1/namespaces", params={"parent": "a"}, headers=auth)
    assert listed.status_code in (200, 404) and ["a", "b"] not in listed.json().get("namespaces", [])


def test_clients_refuse_bad_names_before_any_request(lake_settings) -> None:
    from lakehouse.table import VectorTable, split_identifier

    for name in ("docs.a;b", "docs.a'b", "docs.a/b", "docs." + "x" * 300, "../../x.t", "docs.a\nb"):
        with pytest.raises(InvalidIdentifierError, match="Invalid (table|namespace) name"):
            split_identifier(name, lake_settings)
    with pytest.raises(InvalidIdentifierError):
        VectorTable.create("docs.bad;name", SCHEMA, vectors=[], key="id", settings=lake_settings)


# -- locations and purge ------------------------------------------------------------------------------------------
def test_the_dot_table_cannot_purge_its_siblings(rest: Catalog, ns: str, catalog_service, auth: dict[str, str]) -> None:
    sibling = rest.create_table(f"{ns}.sibling", SCHEMA)
    sibling.append(rows(2))
    metadata = local(sibling.metadata_location)
    purge = httpx.delete(f"{catalog_service.uri}/v1/namespaces/{ns}/tables/%2E?purgeRequested=true", headers=auth)
    assert purge.status_code == 400
    assert metadata.exists() and rest.load_table(f"{ns}.sibling").scan().to_arrow().num_rows == 2
    # a table located at the namespace folder (the '.' table's location) would hold its sibling: refused
    folder = local(sibling.location()).parent.as_uri()
    outer = {"name": "outer", "location": folder, "schema": EMPTY_SCHEMA}
    answer = httpx.post(f"{catalog_service.uri}/v1/namespaces/{ns}/tables", json=outer, headers=auth)
    assert answer.status_code == 409 and "overlaps" in answer.json()["error"]["message"]


def test_locations_outside_the_warehouse_are_refused(
    ns: str, catalog_service, auth: dict[str, str], tmp_path: Path
) -> None:
    base = f"{catalog_service.uri}/v1/namespaces/{ns}/tables"
    outside = tmp_path / "elsewhere"
    escapes = [outside.as_uri(), str(outside), f"{catalog_service.warehouse}/../../escaped", "s3://other/bucket"]
    for location in escapes:
        answer = httpx.post(base, json={"name": "t", "location": location, "schema": EMPTY_SCHEMA}, headers=auth)
        assert answer.status_code == 400 and "outside the warehouse" in answer.json()["error"]["message"], location
    props = {"name": "t", "schema": EMPTY_SCHEMA, "properties": {"write.metadata.path": outside.as_uri()}}
    assert httpx.post(base, json=props, headers=auth).status_code == 400
    namespace = {"namespace": [f"{ns}_loc"], "properties": {"location": outside.as_uri()}}
    assert httpx.post(f"{catalog_service.uri}/v1/namespaces", json=namespace, headers=auth).status_code == 400
    assert not outside.exists() and not (local(catalog_service.warehouse).parent.parent / "escaped").exists()


def test_a_commit_cannot_move_a_table_out(
    rest: Catalog, ns: str, catalog_service, auth: dict[str, str], tmp_path: Path
) -> None:
    rest.create_table(f"{ns}.stay", SCHEMA)
    body = {"requirements": [], "updates": [{"action": "set-location", "location": tmp_path.as_uri()}]}
    answer = httpx.post(f"{catalog_service.uri}/v1/namespaces/{ns}/tables/stay", json=body, headers=auth)
    assert answer.status_code == 400 and "outside the warehouse" in answer.text
    assert rest.load_table(f"{ns}.stay").location().startswith(catalog_service.warehouse)


def test_register_reads_only_inside_the_warehouse(ns: str, catalog_service, auth: dict[str, str]) -> None:
    body = {"name": "stolen", "metadata-location": "file:///etc/passwd"}
    answer = httpx.post(f"{catalog_service.uri}/v1/namespaces/{ns}/register", json=body, headers=auth)
    assert answer.status_code == 400 and "outside the warehouse" in answer.text


def test_purge_deletes_only_files_inside_the_table_folder(rest: Catalog, ns: str, tmp_path: Path) -> None:
    table = rest.create_table(f"{ns}.mixed", SCHEMA)
    table.append(rows(2))
    foreign = tmp_path / "foreign.parquet"  # a data file of the table that lives elsewhere
    pq.write_table(rows(1), foreign)
    table.add_files([str(foreign)])
    assert rest.load_table(f"{ns}.mixed").scan().to_arrow().num_rows == 3
    folder = local(table.location())
    rest.purge_table(f"{ns}.mixed")
    assert not folder.exists() and foreign.exists()
    with pytest.raises(NoSuchTableError):
        rest.load_table(f"{ns}.mixed")


@pytest.mark.parametrize("prop", ["write.metadata.path", "write.data.path"])
def test_a_purge_cannot_take_a_table_whose_files_live_apart(rest: Catalog, ns: str, catalog_service, prop: str) -> None:
    # the sibling's metadata (or data) lies in another folder, so its metadata folder alone did not show that the
    # namespace folder holds its data: purging a table located at the namespace folder deleted it
    wh = catalog_service.warehouse.rstrip("/")
    apart = f"{wh}/{ns}_apart"
    sibling = rest.create_table(f"{ns}.sibling", SCHEMA, properties={prop: apart})
    sibling.append(rows(3))
    folder = f"{wh}/{ns}" if prop == "write.metadata.path" else apart
    rest.create_table(f"{ns}.around", SCHEMA, location=folder)
    with pytest.raises(Exception, match="overlaps"):
        rest.purge_table(f"{ns}.around")
    assert rest.load_table(f"{ns}.sibling").scan().to_arrow().num_rows == 3


def test_a_purge_that_would_take_another_table_is_refused(tmp_path: Path) -> None:
    """A table whose folder holds another one (as a '.' table made before names were checked did): its purge is
    refused and nothing is dropped."""
    from fastapi.testclient import TestClient

    from catalog.app import create_app
    from lakehouse.catalog_client.credentials import ensure_secret_file

    secrets = ensure_secret_file(tmp_path / "state" / "catalog.secret")
    warehouse = (tmp_path / "wh").as_uri()
    app = create_app(f"sqlite:///{tmp_path / 'c.db'}", warehouse, secrets=secrets)
    legacy = app.state.catalog
    legacy.create_namespace("ns")
    inner = legacy.create_table(("ns", "inner"), SCHEMA)
    folder = local(inner.location()).parent.as_uri()  # the namespace folder
    legacy.create_table(("ns", "outer"), SCHEMA, location=folder)  # straight to the SQL catalog, as before the fix
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {secrets.issue(secrets.client(), 60)}"}
        answer = client.delete("/v1/namespaces/ns/tables/outer?purgeRequested=true", headers=headers)
    assert answer.status_code == 409 and "ns.inner" in answer.json()["error"]["message"]
    assert legacy.table_exists(("ns", "outer")) and local(inner.metadata_location).exists()


# -- sizes ---------------------------------------------------------------------------------------------------------
def test_bodies_over_the_limit_are_413(catalog_service, auth: dict[str, str]) -> None:
    big = {"namespace": ["big"], "properties": {"k": "v" * (11 * 1024 * 1024)}}
    answer = httpx.post(f"{catalog_service.uri}/v1/namespaces", json=big, headers=auth, timeout=60)
    assert answer.status_code == 413 and answer.json()["error"]["type"] == "RequestTooLargeException"

    def chunks():  # no Content-Length: the limit holds on the stream too
        for _ in range(11):
            yield b" " * (1024 * 1024)

    streamed = httpx.post(f"{catalog_service.uri}/v1/namespaces", content=chunks(), headers=auth, timeout=60)
    assert streamed.status_code == 413
    assert httpx.get(f"{catalog_service.uri}/v1/namespaces/big", headers=auth).status_code == 404


def test_oversized_properties_are_400(catalog_service, ns: str, auth: dict[str, str]) -> None:
    base = catalog_service.uri
    large = {"namespace": [f"{ns}_p"], "properties": {"k": "v" * (65 * 1024)}}
    assert httpx.post(f"{base}/v1/namespaces", json=large, headers=auth).status_code == 400
    many = {"updates": {f"k{i}": "v" for i in range(1001)}, "removals": []}
    assert httpx.post(f"{base}/v1/namespaces/{ns}/properties", json=many, headers=auth).status_code == 400


# -- a dead service ------------------------------------------------------------------------------------------------
def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return
        time.sleep(0.05)


def test_a_killed_service_is_a_project_error_that_says_what_to_run(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lakehouse.catalog_client.process import status
    from lakehouse.cli.main import cli
    from lakehouse.sql.duckdb import connect_duckdb
    from lakehouse.table import load_catalog as project_catalog

    settings = load_settings(project_dir=tmp_path, environ={}, home=str(tmp_path / "home"))
    catalog = project_catalog(settings)  # starts the embedded service
    catalog.create_namespace("alive")
    process = status(settings.state_dir)
    assert process is not None
    # the embedded lineage default posts to this service, with a token of its own
    from lakehouse.lineage.transports import embedded_transports

    (http,) = [t for t in embedded_transports(settings) if type(t).__name__ == "HttpTransport"]
    bearer = http.config.auth.get_bearer()
    assert httpx.get(f"{process.uri}/api/v1/lineage/runs", headers={"Authorization": bearer}).status_code == 200
    # analyst SQL's DuckDB attaches as the read-only client: even a write that got past the SQL checks is refused
    import duckdb

    from lakehouse.sql.duckdb import DuckDBExecutor

    analyst = DuckDBExecutor(settings).con
    assert analyst.sql("SELECT count(*) FROM (SHOW ALL TABLES)").fetchone() is not None
    with pytest.raises(duckdb.Error, match="403|read-only|Forbidden"):
        analyst.execute("CREATE SCHEMA lake.sneaky")
    analyst.close()
    assert ("sneaky",) not in catalog.list_namespaces()
    _kill(process.pid)

    with pytest.raises(CatalogUnavailableError) as raised:
        catalog.list_namespaces()
    assert process.uri in str(raised.value) and "lakehouse catalog start" in str(raised.value)
    assert raised.value.uri == process.uri

    # an external catalog that is gone: at connect time, from DuckDB and from the CLI
    external = load_settings(
        project_dir=tmp_path, environ={}, home=str(tmp_path / "home"), catalog={"uri": process.uri, "credential": "a:b"}
    )
    with pytest.raises(CatalogUnavailableError, match="not reachable"):
        project_catalog(external)
    with pytest.raises(CatalogUnavailableError, match="not reachable"):
        connect_duckdb(process.uri, settings.warehouse, tmp_path / "ext", credential="a:b")
    env = {"LAKEHOUSE_HOME": str(tmp_path / "home"), "LAKEHOUSE__CATALOG__URI": process.uri}
    result = CliRunner().invoke(cli, ["tables"], env=env)
    assert result.exit_code != 0 and "is not reachable" in result.output and "Traceback" not in result.output

    # the embedded service comes back on demand
    assert ("alive",) in project_catalog(settings).list_namespaces()
    from lakehouse.catalog_client.process import stop

    stop(settings.state_dir)


def test_spark_args_keep_the_credential_off_the_command_line(catalog_service, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lakehouse.cli.main import cli

    env = {"LAKEHOUSE_HOME": str(tmp_path / "home"), **catalog_service.env}
    result = CliRunner().invoke(cli, ["spark-args"], env=env)
    assert result.exit_code == 0, result.output
    secret = catalog_service.credential.partition(":")[2]
    assert secret not in result.output and "--properties-file" in result.output
    path = Path(result.output.split("--properties-file", 1)[1].split()[0])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"spark.sql.catalog.lake.credential {catalog_service.credential}" in path.read_text()
    assert "spark.sql.catalog.lake.oauth2-server-uri" in result.output


def test_the_cli_prints_a_token_for_curl(catalog_service, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lakehouse.cli.main import cli

    env = {"LAKEHOUSE_HOME": str(tmp_path / "home"), **catalog_service.env}
    result = CliRunner().invoke(cli, ["catalog", "token"], env=env)
    assert result.exit_code == 0, result.output
    headers = {"Authorization": f"Bearer {result.output.strip()}"}
    assert httpx.get(f"{catalog_service.uri}/v1/config", headers=headers).status_code == 200
