"""Similarity SQL over a Delta table: ``lake.ns.t`` resolves to its Delta location; DuckDB reads it with
``delta_scan``, Spark with :func:`read_delta_table`; vector columns come back as ``FLOAT[dim]``.

With a Lance index on the table, top-k queries take the ANN path on both engines, as over Iceberg: the index answers at
the handle's Delta version, the payload columns are read by key from the candidates' add-action files, and the result
equals the exact path's (the indexes here are flat). ``tests/sql/test_candidates.py`` runs the DuckDB cases on both
formats; here are Spark, EXPLAIN's wording, and what only Delta has (partition columns, deletion vectors).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.sql import SqlSession
from lakehouse.table import VectorTable
from lakehouse.table.delta import DeltaVectorTable
from lakehouse.vector import VectorSpec

pytestmark = [pytest.mark.spark, pytest.mark.integration]
DIM = 8


@pytest.fixture(scope="module")
def delta_table(lake_settings: Settings) -> tuple[str, np.ndarray]:
    name = f"delta_sql.t_{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(40, DIM)).astype(np.float32)
    schema = pa.schema([("id", pa.string()), ("grp", pa.string()), ("embedding", pa.list_(pa.float32()))])
    table = VectorTable.create(
        name, schema, vectors=[VectorSpec("embedding", dim=DIM)], key="id", settings=lake_settings, format="delta"
    )
    table.append(
        {
            "id": [f"r{i:02d}" for i in range(40)],
            "grp": ["a" if i % 2 else "b" for i in range(40)],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
        }
    )
    return name, vectors


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_top_k_over_a_delta_table(spark, lake_settings: Settings, delta_table, engine: str) -> None:  # noqa: ANN001
    name, vectors = delta_table
    query = np.linspace(-1, 1, DIM).astype(np.float32)
    literal = ", ".join(f"{v:.6f}" for v in query)
    sql = (
        f"SELECT id, cosine_similarity(embedding, [{literal}]) AS score FROM lake.{name} "
        f"WHERE grp = 'a' ORDER BY score DESC, id LIMIT 5"
    )
    session = SqlSession(lake_settings, engine=engine, spark=spark if engine == "spark" else None)
    try:
        result = session.query(sql)
    finally:
        session.close()
    q = np.array([float(f"{v:.6f}") for v in query])
    scores = vectors @ q / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(q))
    want = sorted(((-scores[i], f"r{i:02d}") for i in range(40) if i % 2), key=lambda t: t)[:5]
    assert result.column("id").to_pylist() == [k for _, k in want]
    np.testing.assert_allclose(result.column("score").to_pylist(), [-s for s, _ in want], rtol=1e-5)


# -- the ANN path ------------------------------------------------------------------------------------------------


def _batch(start: int, n: int, seed: int, dim: int = DIM) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "id": [f"r{start + i:04d}" for i in range(n)],
            "grp": ["a" if (start + i) % 2 else "b" for i in range(n)],
            "n": pa.array(range(start, start + n), pa.int64()),
            "body": [f"text {start + i}" for i in range(n)],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(rng.normal(size=n * dim).astype(np.float32)), dim),
        }
    )


def _indexed_table(
    settings: Settings, *, partition_by: tuple[str, ...] = (), store: tuple[str, ...] = ("grp",)
) -> DeltaVectorTable:
    """A Delta table of 120 rows in two appends (two files; with ``partition_by``, one per value and append), with a
    flat index storing ``store``."""
    from lakehouse.index import build

    first = _batch(0, 60, seed=1)
    schema = first.schema.set(4, pa.field("embedding", pa.list_(pa.float32())))
    vt = DeltaVectorTable.create(
        f"delta_sql.ann_{uuid.uuid4().hex[:8]}",
        schema,
        vectors=[VectorSpec("embedding", dim=DIM)],
        key="id",
        settings=settings,
        partition_by=partition_by,
    )
    vt.append(first)
    vt.append(_batch(60, 60, seed=2))
    build(vt, "embedding", index_type="flat", store=list(store), settings=settings)
    return vt.refresh()


def _sql(vt: DeltaVectorTable, select: str, q: np.ndarray, k: int, where: str = "") -> str:
    literal = "[" + ", ".join(np.format_float_positional(x, unique=True, trim="-") for x in q) + "]"
    return (
        f"SELECT {select}, cosine_similarity(embedding, {literal}) AS score FROM lake.{vt.identifier}"
        f"{' WHERE ' + where if where else ''} ORDER BY score DESC LIMIT {k}"
    )


@pytest.fixture(params=["duckdb", "spark"])
def sessions(request: pytest.FixtureRequest, lake_settings: Settings) -> Iterator[tuple[SqlSession, SqlSession]]:
    """An ANN session and an exact session on one engine."""
    spark = request.getfixturevalue("spark") if request.param == "spark" else None
    with (
        SqlSession(lake_settings, engine=request.param, spark=spark) as ann,
        SqlSession(lake_settings, engine=request.param, spark=spark, use_index=False) as exact,
    ):
        yield ann, exact


def _both(sessions: tuple[SqlSession, SqlSession], sql: str) -> pa.Table:
    """The ANN path's result, checked equal to the exact path's."""
    ann, exact = sessions
    result = ann.query(sql)
    assert ann.last["path"] == "ann", ann.last["reason"]
    expected = exact.query(sql)
    assert exact.last["path"] == "exact"
    assert result.column_names == expected.column_names
    got, want = result.to_pylist(), expected.to_pylist()
    assert [r["id"] for r in got] == [r["id"] for r in want]
    for a, b in zip(got, want, strict=True):
        assert a.pop("score") == pytest.approx(b.pop("score"), rel=1e-5)
        assert a == b
    return result


def test_top_k_over_an_indexed_delta_table_takes_the_ann_path(sessions, lake_settings: Settings) -> None:  # noqa: ANN001
    vt = _indexed_table(lake_settings)
    ann = sessions[0]
    q = np.linspace(-1, 1, DIM).astype(np.float32)
    # covering: key and stored column only
    covered = _both(sessions, _sql(vt, "id, grp", q, 7))
    assert "covers the query" in ann.last["rows"] and ann.last["snapshot_id"] == vt.version
    assert covered.num_rows == 7
    # payload read by key from the add actions' files
    _both(sessions, _sql(vt, "id, body, n", q, 9))
    assert "n, body read by key" in ann.last["rows"] and "at the same version" in ann.last["rows"]
    text = ann.explain(_sql(vt, "id, body", q, 5))
    assert f"path: ANN index on {vt.identifier}.embedding at version {vt.version}" in text
    assert f"indexed version {vt.version}" in text
    assert "body read by key from the table's data files at the same version" in text
    # a filter on the stored column, wanting more rows than match: never short
    result = _both(sessions, _sql(vt, "id, grp, body", q, 80, where="grp = 'a'"))
    assert result.num_rows == 60 and set(result.column("grp").to_pylist()) == {"a"}
    # rows appended after the index: the exact tail, payload included
    new = _batch(500, 4, seed=3)
    vt.append(new)
    near = np.asarray(new.column("embedding")[1].as_py(), dtype=np.float32)
    found = _both(sessions, _sql(vt, "id, body", near, 5))
    assert ann.last["index"]["path"] == "index+tail" and ann.last["snapshot_id"] == vt.version
    assert found.column("id")[0].as_py() == "r0501" and found.column("body")[0].as_py() == "text 501"
    # deleted rows (copy-on-write) are never returned, by the index or the tail
    top = found.column("id").to_pylist()[:3]
    vt.delta.delete("id IN (" + ", ".join(f"'{k}'" for k in top) + ")")
    vt.refresh()
    for select in ("id, grp", "id, body"):
        after = _both(sessions, _sql(vt, select, near, 5))
        assert not set(top) & set(after.column("id").to_pylist()) and after.num_rows == 5
    assert ann.last["index"]["excluded_files"] >= 1
    # a key twice: the payload cannot be joined by key, so the table is read back at the version (every row kept)
    vt.append(_batch(0, 1, seed=1))
    twice = _both(sessions, _sql(vt, "id, body", np.asarray(_batch(0, 1, seed=1).column("embedding")[0].as_py()), 3))
    assert ann.last["rows"].startswith("read back from the table at the same version")
    assert twice.column("id").to_pylist()[:2] == ["r0000", "r0000"]


def test_partition_columns_come_from_the_add_actions(lake_settings: Settings) -> None:
    # grp is a partition column the index does not store: its values are read from the candidates' add actions
    vt = _indexed_table(lake_settings, partition_by=("grp",), store=())
    q = np.linspace(1, -1, DIM).astype(np.float32)
    with SqlSession(lake_settings) as ann, SqlSession(lake_settings, use_index=False) as exact:
        for select, payload in (("id, grp, body", "grp, body"), ("*", "grp, n, body")):
            sql = _sql(vt, select, q, 11)
            result = ann.query(sql)
            assert ann.last["path"] == "ann", ann.last["reason"]
            assert f"{payload} read by key from" in ann.last["rows"]
            assert result.to_pylist() == exact.query(sql).to_pylist()
            assert set(result.column("grp").to_pylist()) == {"a", "b"}


def test_a_column_added_after_older_files_reads_as_nulls(lake_settings: Settings) -> None:
    from deltalake import write_deltalake

    vt = _indexed_table(lake_settings)
    extra = _batch(900, 3, seed=9)
    storage = pa.Table.from_arrays(
        [*(extra.column(c).cast(vt.schema().field(c).type) for c in vt.schema().names), pa.array(["new"] * 3)],
        names=[*vt.schema().names, "note"],
    )
    write_deltalake(vt.delta, storage, mode="append", schema_mode="merge")
    vt.refresh()
    q = np.asarray(extra.column("embedding")[0].as_py(), dtype=np.float32)
    sql = _sql(vt, "id, note", q, 10)
    with SqlSession(lake_settings) as ann, SqlSession(lake_settings, use_index=False) as exact:
        result = ann.query(sql)
        assert ann.last["path"] == "ann", ann.last["reason"]
        assert "note read by key" in ann.last["rows"]
        assert result.to_pylist() == exact.query(sql).to_pylist()
    notes = dict(zip(result.column("id").to_pylist(), result.column("note").to_pylist(), strict=True))
    assert notes["r0900"] == "new" and any(v is None for v in notes.values())


def test_deletion_vectors_send_the_query_to_an_exact_scan(lake_settings: Settings) -> None:
    from deltalake import TableFeatures

    vt = _indexed_table(lake_settings)
    vt.delta.alter.add_feature(TableFeatures.DeletionVectors, allow_protocol_versions_increase=True)
    vt.refresh()
    with SqlSession(lake_settings) as session:
        text = session.explain(_sql(vt, "id", np.ones(DIM, np.float32), 3))
    assert "path: exact scan" in text and "deletionVectors" in text


def test_a_session_tells_a_recreated_delta_table_from_the_old_one(lake_settings: Settings) -> None:
    import shutil

    from lakehouse.index import build

    vt = _indexed_table(lake_settings)
    q = np.linspace(-1, 1, DIM).astype(np.float32)
    sql = _sql(vt, "id, body", q, 4)
    with SqlSession(lake_settings) as ann, SqlSession(lake_settings, use_index=False) as exact:
        assert ann.query(sql).to_pylist() == exact.query(sql).to_pylist()
        # the same name and location, a new table (a new Delta table id) with other rows and its own index
        shutil.rmtree(vt.location.removeprefix("file://"))
        again = DeltaVectorTable.create(
            vt.identifier, vt.schema(), vectors=[VectorSpec("embedding", dim=DIM)], key="id", settings=lake_settings
        )
        again.append(_batch(3000, 30, seed=21))
        build(again, "embedding", index_type="flat", store=["grp"], settings=lake_settings)
        result = ann.query(sql)
        assert ann.last["path"] == "ann", ann.last["reason"]
        assert result.to_pylist() == exact.query(sql).to_pylist()
        assert all(k >= "r3000" for k in result.column("id").to_pylist())
        assert len([k for k in ann._indexes if k[0] == vt.identifier]) == 2  # the old table's index was not reused
