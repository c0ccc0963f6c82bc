"""The query vector read from a column of the candidate rows gives the same answer as the numbers in the SQL text.

``lakehouse.sql.querycolumn``: a bound query vector reaches DuckDB as a column of the ANN path's candidates. Every
answer here is compared with the same session's answer with the numbers written into the text (the executor's
``query_column`` off), bit for bit, and with the exact top-k from numpy, on two distributions and three metrics.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.sql import SqlSession
from lakehouse.sql.dialect import float32_texts
from lakehouse.sql.querycolumn import QUERY_COLUMN
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec

pytestmark = pytest.mark.integration

DIM, ROWS = 24, 400
DIRECTION = {"cosine_similarity": "DESC", "cosine_distance": "ASC", "l2_distance": "ASC", "inner_product": "DESC"}
METRIC = {"cosine_similarity": "cosine", "cosine_distance": "cosine", "l2_distance": "l2", "inner_product": "dot"}


def _vectors(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "tight":  # a few tight clusters: near-ties between close rows
        centers = rng.standard_normal((6, DIM))
        v = centers[rng.integers(0, 6, ROWS)] + 0.01 * rng.standard_normal((ROWS, DIM))
    else:  # heavy-tailed norms: l2 and dot rank differently from cosine
        v = rng.standard_normal((ROWS, DIM)) * rng.lognormal(0, 1, (ROWS, 1))
    return v.astype(np.float32)


@pytest.fixture(scope="module")
def tables(lake_settings) -> dict[tuple[str, str], tuple[VectorTable, np.ndarray]]:  # noqa: ANN001
    from lakehouse.index import build

    out = {}
    for kind in ("tight", "spread"):
        v = _vectors(kind, np.random.default_rng(11 if kind == "tight" else 12))
        rows = pa.table(
            {
                "key": np.arange(ROWS, dtype=np.int64),
                "grp": pa.array(np.arange(ROWS) % 4, pa.int32()),
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), DIM),
            }
        )
        schema = rows.schema.set(2, pa.field("embedding", pa.list_(pa.float32())))
        for metric in ("cosine", "l2", "dot"):
            spec = VectorSpec("embedding", dim=DIM, metric=metric, model="hash-16")
            t = VectorTable.create(f"qcol.{kind}_{metric}", schema, vectors=[spec], key="key", settings=lake_settings)
            t.append(rows)
            build(t, "embedding", index_type="flat", store=["grp"], settings=lake_settings)
            out[kind, metric] = (t, v)
    return out


def _exact(v: np.ndarray, q: np.ndarray, function: str, k: int, keep: np.ndarray | None = None) -> list[int]:
    vd, qd = v.astype(np.float64), q.astype(np.float64)
    if METRIC[function] == "cosine":
        score = -(vd @ qd) / (np.linalg.norm(vd, axis=1) * np.linalg.norm(qd))
    elif function == "l2_distance":
        score = np.linalg.norm(vd - qd, axis=1)
    else:
        score = -(vd @ qd)
    if keep is not None:
        score = np.where(keep, score, np.inf)
    return [int(i) for i in np.argsort(score, kind="stable")[:k]]


@pytest.mark.parametrize("kind", ["tight", "spread"])
def test_the_column_gives_the_texts_answer_bit_for_bit_and_the_exact_top_k(tables, lake_settings, kind) -> None:  # noqa: ANN001
    rng = np.random.default_rng(5)
    with SqlSession(lake_settings) as col, SqlSession(lake_settings) as text:
        text.executor.query_column = False
        for function, direction in DIRECTION.items():
            t, v = tables[kind, METRIC[function]]
            name = t.identifier
            for i in range(4):
                q = v[rng.integers(ROWS)] + 0.05 * rng.standard_normal(DIM).astype(np.float32)
                where = "WHERE grp = 2 " if i == 3 else ""
                sql = (
                    f"SELECT key, grp, {function}(embedding, :q) AS score FROM lake.{name} {where}"
                    f"ORDER BY score {direction} LIMIT 10"
                )
                got = col.query(sql, {"q": q})
                assert col.last["path"] == "ann" and QUERY_COLUMN in col.last["sql"]
                want = text.query(sql, {"q": q})
                assert QUERY_COLUMN not in text.last["sql"]
                assert got.equals(want), (function, kind, i)
                assert got.column_names == ["key", "grp", "score"]
                keep = (np.arange(ROWS) % 4 == 2) if where else None
                assert got.column("key").to_pylist() == _exact(v, q, function, 10, keep)
        # each shape's text came three times: from the second on it ran as a prepared statement
        assert sum(name is not None for name in col.executor._prepared.values()) == len(DIRECTION)
        assert not text.executor._prepared  # a text with the numbers in it differs every query: never prepared


def test_a_prepared_statement_goes_with_the_view_it_reads(tables, lake_settings, monkeypatch) -> None:  # noqa: ANN001
    import lakehouse.sql.duckdb as duck

    monkeypatch.setattr(duck, "_SLOTS", 1)  # one registered view: a query of another schema evicts the last one's
    (a, va), (b, vb) = tables["tight", "cosine"], tables["spread", "l2"]
    covering = "SELECT key, {f}(embedding, :q) AS s FROM lake.{t} ORDER BY s {d} LIMIT 5"
    wide = "SELECT key, grp, {f}(embedding, :q) AS s FROM lake.{t} ORDER BY s {d} LIMIT 5"  # another schema of rows
    rng = np.random.default_rng(9)
    with SqlSession(lake_settings) as s:
        for sql, (t, v, f) in [
            (covering, (a, va, "cosine_similarity")),
            (covering, (a, va, "cosine_similarity")),
            (wide, (b, vb, "l2_distance")),
            (wide, (b, vb, "l2_distance")),
            (covering, (a, va, "cosine_similarity")),
            (covering, (a, va, "cosine_similarity")),
        ]:
            q = v[rng.integers(ROWS)] + 0.05 * rng.standard_normal(DIM).astype(np.float32)
            text = sql.format(f=f, t=t.identifier, d=DIRECTION[f])
            got = s.query(text, {"q": q})
            assert got.column("key").to_pylist() == _exact(v, q, f, 5)
            views = [slot.name for slot in s.executor._slots.values()]
            assert len(views) == 1
            for kept, name in s.executor._prepared.items():  # every prepared statement reads the one live view
                assert name is None or f'"{views[0]}"' in kept


def test_where_the_column_could_show_or_differ_the_numbers_stay_in_the_text(tables, lake_settings) -> None:  # noqa: ANN001
    t, v = tables["spread", "cosine"]
    name = t.identifier
    q = v[17] + np.float32(0.01)
    order = "ORDER BY cosine_similarity(embedding, :q) DESC LIMIT 5"
    with SqlSession(lake_settings) as s:
        star = s.query(f"SELECT * FROM lake.{name} {order}", {"q": q})
        assert QUERY_COLUMN not in s.last["sql"] and s.last["path"] == "ann"
        assert star.column_names == ["key", "grp", "embedding"]  # no extra column in SELECT *
        assert star.column("key").to_pylist() == _exact(v, q, "cosine_similarity", 5)

        joined = s.query(
            f"SELECT a.key FROM lake.{name} a JOIN (SELECT 2 AS g) b ON a.grp = b.g "
            f"ORDER BY cosine_similarity(a.embedding, :q) DESC LIMIT 5",
            {"q": q},
        )
        assert QUERY_COLUMN not in s.last["sql"]
        assert joined.column("key").to_pylist() == _exact(v, q, "cosine_similarity", 5, np.arange(ROWS) % 4 == 2)

        # numbers written with more digits than a float32 holds: DuckDB parses them itself
        long = "[" + ", ".join(f"{x:.15f}" for x in q.astype(np.float64) + 1e-12) + "]"
        written = s.query(f"SELECT key FROM lake.{name} ORDER BY cosine_similarity(embedding, {long}) DESC LIMIT 5")
        assert s.last["path"] == "ann" and QUERY_COLUMN not in s.last["sql"]
        assert written.column("key").to_pylist() == _exact(v, q, "cosine_similarity", 5)

        # the same vector compared in a subquery of the top-k SELECT stays a constant there
        sub = s.query(
            f"SELECT key, cosine_similarity(embedding, :q) AS score, "
            f"(SELECT cosine_similarity(o.embedding, :q) FROM lake.{name} o WHERE o.key = 3) AS third "
            f"FROM lake.{name} {order}",
            {"q": q},
        )
        assert s.last["path"] == "ann"
        # the outer score and ORDER BY read the column; the subquery's own rows are not candidates: numbers in the text
        assert s.last["sql"].count(QUERY_COLUMN) == 2 and ", ".join(float32_texts(q)) in s.last["sql"]
        third = float(v[3] @ q / (np.linalg.norm(v[3]) * np.linalg.norm(q)))
        assert sub.column("third").to_pylist() == pytest.approx([third] * 5, rel=1e-5)
        assert sub.column("key").to_pylist() == _exact(v, q, "cosine_similarity", 5)
