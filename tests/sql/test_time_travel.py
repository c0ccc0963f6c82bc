"""Time travel in similarity SQL is honoured on DuckDB and Spark, over Iceberg and Delta, or refused clearly.

Each table gets three appends (snapshots S0, S1, S2) and a flat index built at S1 (so tagged for S1 only). The rows
of the last append lie nearest the query vector, so a top-k at S1 that silently read the current table would return
them. Expected answers are computed with numpy from the rows each snapshot holds.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.errors import SqlError, SqlParseError, SqlPlanError
from lakehouse.sql import SqlSession
from lakehouse.table import VectorTable
from lakehouse.table.history import snapshots
from lakehouse.vector import VectorSpec

pytestmark = pytest.mark.integration

DIM, K = 16, 5
QUERY = np.linspace(-1, 1, DIM).astype(np.float32)
LITERAL = "[" + ", ".join(np.format_float_positional(x, unique=True, trim="-") for x in QUERY) + "]"
SIZES = (30, 30, 20)  # rows per append: S0, S1, S2


@dataclass
class Travelled:
    name: str
    snapshots: list[int]  # S0, S1, S2
    keys: list[list[str]]  # keys live at each snapshot
    vectors: dict[str, np.ndarray]
    unit: str


def _batch(start: int, n: int, near: bool, rng: np.random.Generator) -> pa.Table:
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    if near:  # close to the query: the nearest rows of the current table
        vectors = (QUERY + 0.05 * vectors).astype(np.float32)
    return pa.table(
        {
            "key": [f"r{start + i:03d}" for i in range(n)],
            "grp": ["a" if (start + i) % 2 else "b" for i in range(n)],
            "n": pa.array(range(start, start + n), pa.int64()),  # not stored in the index: read by key at S
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
        }
    )


def _make(settings: Settings, fmt: str) -> Travelled:
    from lakehouse.index import build

    rng = np.random.default_rng(5)
    schema = pa.schema(
        [("key", pa.string()), ("grp", pa.string()), ("n", pa.int64()), ("embedding", pa.list_(pa.float32()))]
    )
    name = f"tt.{fmt}_{uuid.uuid4().hex[:6]}"
    vt = VectorTable.create(
        name,
        schema,
        vectors=[VectorSpec("embedding", dim=DIM)],
        key="key",
        settings=settings,
        **({"format": "delta"} if fmt == "delta" else {}),
    )
    ids: list[int] = []
    keys: list[list[str]] = []
    vectors: dict[str, np.ndarray] = {}
    start = 0
    for i, n in enumerate(SIZES):
        batch = _batch(start, n, near=i == 2, rng=rng)
        vt.append(batch)
        vt = vt.refresh()
        ids.append(int(vt.snapshot_id))  # type: ignore[arg-type]
        keys.append((keys[-1] if keys else []) + batch.column("key").to_pylist())
        matrix = np.asarray(batch.column("embedding").combine_chunks().flatten()).reshape(-1, DIM)
        vectors.update(zip(batch.column("key").to_pylist(), matrix, strict=True))
        start += n
        if i == 1:
            build(vt, "embedding", index_type="flat", store=["grp"], settings=settings)  # tagged for S1
        time.sleep(0.01)  # distinct commit times, for the timestamp forms
    return Travelled(name, ids, keys, vectors, "version" if fmt == "delta" else "snapshot")


@pytest.fixture(scope="module", params=["iceberg", "delta"])
def travelled(request: pytest.FixtureRequest, lake_settings: Settings) -> Travelled:
    return _make(lake_settings, request.param)


@pytest.fixture(scope="module", params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def session(request: pytest.FixtureRequest, lake_settings: Settings):  # noqa: ANN201
    spark = request.getfixturevalue("spark") if request.param == "spark" else None
    with SqlSession(lake_settings, engine=request.param, spark=spark) as s:
        yield s


def _top(t: Travelled, at: int, where: str | None = None) -> list[str]:
    """The exact top-K keys at snapshot index ``at``."""
    live = [k for k in t.keys[at] if where is None or (int(k[1:]) % 2 == 1) == (where == "a")]
    m = np.stack([t.vectors[k] for k in live])
    scores = m @ QUERY / (np.linalg.norm(m, axis=1) * np.linalg.norm(QUERY))
    return [live[i] for i in np.argsort(-scores, kind="stable")[:K]]


def _count(session: SqlSession, sql: str) -> int:
    return int(session.query(sql).column(0)[0].as_py())


def test_count_at_each_snapshot_in_every_syntax(session: SqlSession, travelled: Travelled) -> None:
    t, (s0, s1, s2) = travelled, travelled.snapshots
    committed = {s.id: s for s in snapshots(VectorTable.load(t.name, settings=session.settings))}
    assert _count(session, f"SELECT count(*) FROM lake.{t.name}") == sum(SIZES)
    for i, sid in enumerate((s0, s2)):
        assert _count(session, f"SELECT count(*) FROM lake.{t.name} AT (VERSION => {sid})") == sum(SIZES[: 2 * i + 1])
    at = committed[s1].committed.strftime("%Y-%m-%d %H:%M:%S.%f")
    clauses = [f"AT (VERSION => {s1})", f"FOR VERSION AS OF {s1}"]
    if not (session.engine == "spark" and t.unit == "version"):  # Spark reads a Delta version in ~3 s: keep it short
        # a time becomes a snapshot id before any engine sees it, so the forms need no engine of their own
        clauses += [
            f"FOR TIMESTAMP AS OF '{at}'",
            f"FOR SYSTEM_TIME AS OF '{at}'",
            f"AT (TIMESTAMP => TIMESTAMP '{at}')",
        ]
    for clause in clauses:
        assert _count(session, f"SELECT count(*) FROM lake.{t.name} {clause}") == sum(SIZES[:2]), clause
    # one table at two snapshots in one query
    both = session.query(
        f"SELECT (SELECT count(*) FROM lake.{t.name} FOR VERSION AS OF {s0}) AS a, "
        f"(SELECT count(*) FROM lake.{t.name} x) AS b"
    )
    assert both.to_pylist() == [{"a": SIZES[0], "b": sum(SIZES)}]


def test_top_k_at_an_older_snapshot_uses_the_index_tagged_for_it(session: SqlSession, travelled: Travelled) -> None:
    t, (s0, s1, _) = travelled, travelled.snapshots
    sql = (
        f"SELECT key, cosine_similarity(embedding, {LITERAL}) AS score FROM lake.{t.name} {{at}} "
        f"ORDER BY score DESC LIMIT {K}"
    )
    now = session.query(sql.format(at=""))
    assert now.column("key").to_pylist() == _top(t, 2)
    assert set(_top(t, 2)) <= set(t.keys[2]) - set(t.keys[1]), "the last append holds the nearest rows"
    at = f"FOR VERSION AS OF {s1}" if session.engine == "spark" else f"AT (VERSION => {s1})"  # each engine's own
    old = session.query(sql.format(at=at))
    assert session.last["path"] == "ann", session.last["reason"]
    assert session.last["snapshot_id"] == s1
    assert session.last["index"]["path"] == "index", "the index version tagged for S1"
    assert old.column("key").to_pylist() == _top(t, 1)
    # a column the index does not store comes from the table's files at S1
    with_payload = session.query(
        f"SELECT key, n FROM lake.{t.name} {at} ORDER BY cosine_similarity(embedding, {LITERAL}) DESC LIMIT {K}"
    )
    assert session.last["path"] == "ann" and session.last["snapshot_id"] == s1
    assert with_payload.to_pylist() == [{"key": k, "n": int(k[1:])} for k in _top(t, 1)]
    # S0 has no tagged index version: the index searches exactly at S0
    old = session.query(sql.format(at=f"FOR VERSION AS OF {s0}"))
    assert session.last["snapshot_id"] == s0 and session.last["index"]["path"] == "exact"
    assert old.column("key").to_pylist() == _top(t, 0)
    # with a prefilter on a stored column, and through vector_search's exact expansion over a CTE-free subquery
    filtered = session.query(
        f"SELECT key FROM lake.{t.name} FOR VERSION AS OF {s1} WHERE grp = 'a' "
        f"ORDER BY cosine_similarity(embedding, {LITERAL}) DESC LIMIT {K}"
    )
    assert filtered.column("key").to_pylist() == _top(t, 1, "a")


def test_explain_names_the_snapshot(session: SqlSession, travelled: Travelled) -> None:
    t, s1 = travelled, travelled.snapshots[1]
    ann = session.explain(
        f"SELECT key FROM lake.{t.name} FOR VERSION AS OF {s1} "
        f"ORDER BY cosine_similarity(embedding, {LITERAL}) DESC LIMIT {K}"
    )
    assert f"at {t.unit} {s1}" in ann and "index version tagged" in ann, ann
    exact = session.explain(f"SELECT count(*) FROM lake.{t.name} AT (VERSION => {s1})")
    assert f"read at {t.unit} {s1}" in exact, exact
    sql_line = next(line for line in exact.splitlines() if line.startswith("sql: "))
    forms = (f"VERSION => {s1}", f"VERSION AS OF {s1}", f"version => {s1}", f"_{s1})")  # the last: Spark's Delta view
    assert any(f in sql_line for f in forms), sql_line


def test_snapshots_that_do_not_exist_and_forms_that_cannot_be_honoured_are_refused(
    session: SqlSession, travelled: Travelled
) -> None:
    t, s1 = travelled, travelled.snapshots[1]
    with pytest.raises(SqlPlanError, match=f"has no {t.unit} 123") as info:
        session.query(f"SELECT count(*) FROM lake.{t.name} FOR VERSION AS OF 123")
    assert str(s1) in info.value.hint
    with pytest.raises(SqlPlanError, match="no .* as old as"):
        session.query(f"SELECT count(*) FROM lake.{t.name} FOR TIMESTAMP AS OF '2001-01-01 00:00:00'")
    with pytest.raises(SqlPlanError, match="reads a range of versions"):
        session.query(f"SELECT count(*) FROM lake.{t.name} FOR SYSTEM_TIME BETWEEN 1 AND 2")
    with pytest.raises(SqlPlanError, match="constant timestamp"):
        session.query(f"SELECT count(*) FROM lake.{t.name} FOR TIMESTAMP AS OF now() - INTERVAL 1 HOUR")
    with pytest.raises(SqlPlanError, match="is not a point"):
        session.query(f"SELECT count(*) FROM lake.{t.name} BEFORE (STATEMENT => 5)")
    with pytest.raises(SqlPlanError, match="only catalog tables"):
        session.query(f"WITH c AS (SELECT * FROM lake.{t.name}) SELECT count(*) FROM c FOR VERSION AS OF {s1}")
    with pytest.raises(SqlError):
        session.query(f"SELECT count(*) FROM lake.{t.name} FOR VERSION AS OF 'no-such-tag'")


def test_iceberg_tag_names_a_snapshot(lake_settings: Settings) -> None:
    t = _make(lake_settings, "iceberg")
    vt = VectorTable.load(t.name, settings=lake_settings)
    vt.iceberg.manage_snapshots().create_tag(t.snapshots[0], "first").commit()
    with SqlSession(lake_settings) as s:
        assert _count(s, f"SELECT count(*) FROM lake.{t.name} FOR VERSION AS OF 'first'") == SIZES[0]
        with pytest.raises(SqlPlanError, match="no branch or tag named 'nope' \\(branches and tags: first, main\\)"):
            s.query(f"SELECT count(*) FROM lake.{t.name} FOR VERSION AS OF 'nope'")


def test_a_misplaced_clause_is_a_parse_error() -> None:
    from lakehouse.sql.parse import parse_sql

    with pytest.raises(SqlParseError) as info:
        parse_sql("SELECT * FROM lake.tt.x AS e FOR VERSION AS OF 5")
    assert "before the table's alias" in info.value.hint


def test_a_delta_feature_added_later_does_not_stop_the_index_at_an_older_version(lake_settings: Settings) -> None:
    from deltalake import DeltaTable, TableFeatures

    t = _make(lake_settings, "delta")
    location = VectorTable.load(t.name, settings=lake_settings).location
    DeltaTable(location).alter.add_feature(TableFeatures.DeletionVectors, allow_protocol_versions_increase=True)
    sql = f"SELECT key FROM lake.{t.name} {{at}} ORDER BY cosine_similarity(embedding, {LITERAL}) DESC LIMIT {K}"
    with SqlSession(lake_settings) as s:
        assert s.query(sql.format(at="")).column("key").to_pylist() == _top(t, 2)
        assert s.last["path"] == "exact" and "deletionVectors" in s.last["reason"]
        old = s.query(sql.format(at=f"AT (VERSION => {t.snapshots[1]})"))
        assert s.last["path"] == "ann", s.last["reason"]
        assert old.column("key").to_pylist() == _top(t, 1)
