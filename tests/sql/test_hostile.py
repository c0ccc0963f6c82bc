"""Hostile analyst SQL (tests/sql/fixtures/hostile.sql) is refused on DuckDB and Spark before either engine runs it,
and the DuckDB connection itself refuses files outside the warehouse, URLs and setting changes (defence in depth)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lakehouse.errors import SqlError, UnsafeSqlError
from lakehouse.sql import SqlSession, transpile
from lakehouse.sql.parse import parse_sql
from lakehouse.sql.safety import FUNCTIONS, MAX_K

FIXTURE = Path(__file__).parent / "fixtures" / "hostile.sql"


def _corpus() -> list[tuple[str, str, str]]:
    """(names, probes, sql) per entry: the comment says what the refusal must name, and what the entry probes."""
    entries = []
    for block in FIXTURE.read_text().split("\n\n"):
        lines = [line for line in block.strip().splitlines() if line]
        if not lines or not lines[0].startswith("-- ") or len(lines) < 2 or lines[1].startswith("--"):
            continue  # the header
        names, _, probes = lines[0][3:].partition(": ")
        entries.append((names, probes, "\n".join(lines[1:])))
    return entries


CORPUS = _corpus()
IDS = [f"{i:02d} {names}: {probes}"[:70] for i, (names, probes, _) in enumerate(CORPUS)]


def _refused(run: object, sql: str, names: str) -> UnsafeSqlError:
    with pytest.raises(UnsafeSqlError) as info:
        run(sql)  # type: ignore[operator]
    err = info.value
    said = f"{err} {err.fields.get('statement')}".lower()
    assert names.lower() in said, f"the refusal should name {names!r}: {err}"
    assert err.hint, "a refusal says what to do instead"
    return err


def test_the_corpus_covers_every_kind() -> None:
    probes = " ".join(p for _, p, _ in CORPUS).lower()
    for kind in ("file", "url", "reflection", "setting", "extension", "deep", "huge k", "filter"):
        assert kind in probes, kind
    assert len(CORPUS) >= 60


@pytest.mark.parametrize(("names", "probes", "sql"), CORPUS, ids=IDS)
def test_refused_at_parse(names: str, probes: str, sql: str) -> None:
    _refused(parse_sql, sql, names)


@pytest.mark.integration
@pytest.mark.parametrize(("names", "probes", "sql"), CORPUS, ids=IDS)
def test_refused_on_duckdb(names: str, probes: str, sql: str, duck: SqlSession) -> None:
    _refused(duck.query, sql, names)


@pytest.mark.spark
@pytest.mark.integration
def test_refused_on_spark(spark, lake_settings, sql_tables) -> None:  # noqa: ANN001
    session = SqlSession(lake_settings, engine="spark", spark=spark)
    for names, _, sql in CORPUS:  # one test: each refusal is instant (no Spark job; test_spark runs the real ones)
        _refused(session.query, sql, names)


def test_deep_nesting_is_a_refusal_not_a_recursion_error() -> None:
    for sql in (
        "SELECT " + "(" * 500 + "1" + ")" * 500,
        "SELECT " + "NOT " * 2000 + "TRUE",
        "SELECT " + " + ".join(["1"] * 3000),
        "SELECT * FROM vector_search(table => 't', column => 'v', query => [1, 2], k => 1, filter => '"
        + "(" * 2000
        + "a = 1"
        + ")" * 2000
        + "')",
    ):
        with pytest.raises(UnsafeSqlError, match="deep|nest"):
            parse_sql(sql)


def test_transpile_refuses_too() -> None:
    for to in ("spark", "duckdb", "snowflake"):
        _refused(lambda s, to=to: transpile(s, to), "SELECT * FROM read_csv('/etc/passwd')", "read_csv")


def test_k_up_to_the_limit_passes_the_check() -> None:
    parse_sql(f"SELECT * FROM vector_search(table => 'ns.t', column => 'v', query => [1, 2], k => {MAX_K})")


def test_legitimate_queries_pass_the_check() -> None:
    for sql in (
        "SELECT d.title, cosine_similarity(e.embedding, embed('x')) AS s FROM lake.docs.embeddings e "
        "JOIN lake.docs.documents d ON d.key = e.source_key WHERE d.mime = 'text/html' ORDER BY s DESC LIMIT 5",
        "SELECT * FROM vector_search(table => 'lake.docs.embeddings', column => 'embedding', "
        "query => embed('snapshot isolation'), k => 5, filter => 'chunk_index = 0 AND source_key LIKE ''d%''')",
        "WITH top AS (SELECT source_key, max(inner_product(embedding, [1, 0])) AS m FROM docs.embeddings "
        "GROUP BY source_key) SELECT t.*, row_number() OVER (ORDER BY m DESC) AS r FROM top t",
        "SELECT CASE WHEN length(title) > 3 THEN upper(title) ELSE coalesce(mime, '?') END, "
        "date_trunc('day', now()), count(*) FILTER (WHERE mime = 'x'), regexp_replace(title, 'a', 'b'), "
        "list_contains([1, 2], 1), title::VARCHAR, a[1], EXTRACT(year FROM current_date) FROM t, UNNEST([1]) u(a)",
        "SELECT * FROM lake.docs.documents WHERE key IN (SELECT source_key FROM lake.docs.embeddings) "
        "UNION ALL SELECT * FROM lake.docs.documents",
        "EXPLAIN SELECT l2_distance(embedding, [1, 2]) AS d FROM docs.embeddings ORDER BY d LIMIT 3",
        "SELECT * FROM (VALUES (1, 'a')) v(x, y)",
    ):
        parse_sql(sql)


def test_every_allow_listed_name_is_upper_case_and_none_reads_anything() -> None:
    assert all(n == n.upper() for n in FUNCTIONS)
    for name in ("READ_CSV", "READ_TEXT", "GLOB", "REFLECT", "JAVA_METHOD", "GETENV", "CURRENT_SETTING", "QUERY"):
        assert name not in FUNCTIONS


# -- the engine's own controls -----------------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A local TCP socket; the list collects what any connection to it sent."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    received.append(conn.recv(200) or b"<connected>")
                except OSError:
                    received.append(b"<connected>")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1], received
    finally:
        stop.set()
        thread.join()
        srv.close()


def _url_reads(port: int) -> list[str]:
    url = f"http://127.0.0.1:{port}/x"
    return [
        f"SELECT * FROM read_csv('{url}')",
        f"SELECT * FROM '{url}.parquet'",
        f"SELECT * FROM vector_search(table => 'lake.sqlt.embeddings', column => 'embedding', query => embed('x'), "
        f"k => 5, filter => 'chunk_index IN (SELECT 1 FROM read_csv(''{url}''))')",
    ]


@pytest.mark.integration
def test_a_url_read_opens_no_connection_on_duckdb(duck: SqlSession, listener: tuple[int, list[bytes]]) -> None:
    port, received = listener
    for sql in _url_reads(port):
        with pytest.raises(UnsafeSqlError):
            duck.query(sql)
    # past the dialect check, the connection itself refuses the URL (enable_external_access=false)
    with pytest.raises(UnsafeSqlError, match="outside the warehouse"):
        duck.executor.run(f"SELECT * FROM read_csv('http://127.0.0.1:{port}/x')")
    with pytest.raises(UnsafeSqlError):
        duck.executor.run(f"SELECT * FROM read_text('http://127.0.0.1:{port}/y')")
    assert received == [], f"DuckDB connected to the listener: {received}"


@pytest.mark.spark
@pytest.mark.integration
def test_a_url_read_opens_no_connection_on_spark(spark, lake_settings, sql_tables, listener) -> None:  # noqa: ANN001
    port, received = listener
    session = SqlSession(lake_settings, engine="spark", spark=spark)
    for sql in _url_reads(port):
        with pytest.raises(UnsafeSqlError):
            session.query(sql)
    assert received == []


@pytest.mark.integration
def test_the_duckdb_connection_refuses_files_outside_the_warehouse(duck: SqlSession, lake_settings) -> None:  # noqa: ANN001
    """Defence in depth: SQL sent straight to the engine, past the dialect's allow-lists."""
    run = duck.executor.run
    warehouse = lake_settings.warehouse_path
    for sql in (
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        f"SELECT * FROM read_json('{lake_settings.state_dir}/catalog.json')",
        f"SELECT * FROM read_text('{warehouse}/../../../etc/hostname')",  # no walking out with ..
        f"SELECT * FROM read_text('{warehouse}-sibling/x')",  # a prefix of the name is not the folder
        "COPY (SELECT 1) TO '/tmp/lakehouse-copy.csv'",
        "ATTACH '/tmp/lakehouse-other.db' AS other",
    ):
        with pytest.raises(UnsafeSqlError, match="outside the warehouse") as info:
            run(sql)
        assert info.value.statement == "file access"
    for sql in (
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "SET lock_configuration = false",
        "RESET allowed_directories",
    ):
        with pytest.raises(SqlError, match="locked|Cannot"):
            run(sql)
    with pytest.raises(SqlError):
        run("LOAD '/tmp/lakehouse-evil.duckdb_extension'")
    # and the session still answers from the catalog
    assert duck.query("SELECT count(*) AS n FROM lake.sqlt.documents").column("n").to_pylist() == [30]


@pytest.mark.integration
def test_a_placeholder_cannot_smuggle_a_subquery_into_a_filter(duck: SqlSession) -> None:
    sql = (
        "SELECT embedding_id FROM vector_search(table => 'lake.sqlt.embeddings', column => 'embedding', "
        "query => embed('retry'), k => :k, filter => :f)"
    )
    with pytest.raises(UnsafeSqlError, match="subquery"):
        duck.query(sql, params={"k": 5, "f": "chunk_index IN (SELECT 1 FROM read_text('/etc/hostname'))"})
    with pytest.raises(UnsafeSqlError, match="k =>"):
        duck.query(sql, params={"k": MAX_K + 1, "f": "chunk_index = 0"})
    assert duck.query(sql, params={"k": 3, "f": "chunk_index = 0"}).num_rows == 3
    # numbers alone are checked after binding too (only a query whose bound values are all vectors skips the check)
    vector_k = sql.replace("query => embed('retry')", "query => :q").replace(", filter => :f", "")
    q = np.ones(16, dtype=np.float32)
    with pytest.raises(UnsafeSqlError, match="k =>"):
        duck.query(vector_k, params={"q": q, "k": MAX_K + 1})
    assert duck.query(vector_k, params={"q": q, "k": 2}).num_rows == 2


@pytest.mark.integration
def test_lakehouse_sql_refuses_a_file_read_with_exit_code_3(lake_settings, sql_tables, monkeypatch) -> None:  # noqa: ANN001
    from click.testing import CliRunner

    import lakehouse.cli.main as main
    from lakehouse.cli.main import cli

    monkeypatch.setattr(main, "load_settings", lambda **kw: lake_settings)
    for sql, names in (
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
        ("SELECT reflect('java.lang.System', 'getProperty', 'user.name')", "reflect"),
    ):
        obj = {"settings_factory": lambda **kw: lake_settings}
        result = CliRunner().invoke(cli, ["sql", "--no-serve", sql], obj=obj, catch_exceptions=False)
        assert result.exit_code == 3, result.output
        assert names in result.output and "root:" not in result.output
