"""A session keeps the rendered SQL of a query shape: it never serves another query's values or a stale table."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.embed import get_model
from lakehouse.sql import SqlSession
from lakehouse.sql.dialect import float32_texts
from lakehouse.sql.querycolumn import QUERY_COLUMN
from lakehouse.sql.rendered import fill, parse_template, sentinels
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec

# :q, the ranking vector, is read from the candidates' query column (lakehouse.sql.querycolumn); :p and :r stay in
# the text, in their slots of the template
TWO = (
    "SELECT id, cosine_similarity(embedding, :q) AS s, inner_product(embedding, :p) AS d, "
    "l2_distance(embedding, :r) AS e FROM lake.rendered.t ORDER BY s DESC LIMIT :k"
)


def _rows(start: int, n: int) -> pa.Table:
    texts = [f"row {i} about {'commit retry' if i % 2 else 'snapshot isolation'}" for i in range(start, start + n)]
    return pa.table(
        {
            "id": [f"r{i:03d}" for i in range(start, start + n)],
            "embedding": pa.array(list(get_model("hash-16").embed(texts)), pa.list_(pa.float32())),
        }
    )


def test_a_template_is_the_text_with_each_vector_in_its_place() -> None:
    a, b = ("0.5", "-1", "2"), ("3", "4", "-0.25")
    marked = f"SELECT f('[{', '.join(sentinels(0, 3))}]', {', '.join(sentinels(1, 3))}) /* {sentinels(1, 3)[2]} */"
    template = parse_template(marked)
    assert fill(template, [a, b]) == "SELECT f('[0.5, -1, 2]', 3, 4, -0.25) /* -0.25 */"
    assert fill(template, [b, a]) == "SELECT f('[3, 4, -0.25]', 0.5, -1, 2) /* 2 */"
    with pytest.raises(ValueError):
        fill(template, [("1", "2"), b])  # another length is another shape, never filled into this one


@pytest.mark.integration
def test_kept_text_carries_each_querys_own_vectors_and_values(lake_settings) -> None:  # noqa: ANN001
    from lakehouse.index import build

    spec = VectorSpec("embedding", dim=16, model="hash-16")
    t = VectorTable.create("rendered.t", _rows(0, 1).schema, vectors=[spec], key="id", settings=lake_settings)
    t.append(_rows(0, 40))
    build(t, "embedding", index_type="flat", settings=lake_settings)
    rng = np.random.default_rng(3)
    same = rng.standard_normal(16).astype(np.float32)
    # the first query's text vectors are equal: a template that mixed them up would only show with different ones
    cases = [(rng.standard_normal(16).astype(np.float32), same, same, 3)] + [
        tuple(rng.standard_normal(16).astype(np.float32) for _ in range(3)) + (k,) for k in (3, 3, 5, 3)
    ]
    with SqlSession(lake_settings) as warm:
        for q, p, r, k in cases:
            got = warm.query(TWO, {"q": q, "p": p, "r": r, "k": k})
            assert warm.last["path"] == "ann"
            with SqlSession(lake_settings) as fresh:  # nothing kept: the text rendered the ordinary way
                want = fresh.query(TWO, {"q": q, "p": p, "r": r, "k": k})
                assert warm.last["sql"] == fresh.last["sql"]
            assert got.equals(want)
            assert got.num_rows == k
            sql = warm.last["sql"]
            assert QUERY_COLUMN in sql and ", ".join(float32_texts(q)) not in sql
            assert sql.index(", ".join(float32_texts(p))) < sql.rindex(", ".join(float32_texts(r)))
        assert any(warm.executor.rendered._kept.values())  # a template was kept (else the test proves nothing)


@pytest.mark.integration
def test_kept_text_sees_a_commit_between_two_queries(lake_settings) -> None:  # noqa: ANN001
    from lakehouse.index import build, refresh

    spec = VectorSpec("embedding", dim=16, model="hash-16")
    t = VectorTable.create("rendered.moves", _rows(0, 1).schema, vectors=[spec], key="id", settings=lake_settings)
    t.append(_rows(0, 20))
    build(t, "embedding", index_type="flat", settings=lake_settings)
    sql = "SELECT * FROM lake.rendered.moves ORDER BY cosine_similarity(embedding, :q) DESC LIMIT 2"
    q = get_model("hash-16").embed(["row 99 about commit retry"])[0]
    with SqlSession(lake_settings) as s:
        before = s.query(sql, {"q": q})
        assert s.query(sql, {"q": q}).equals(before)
        t.append(_rows(99, 1))  # an exact match for q, committed between two queries of the same shape
        refresh(t.refresh(), "embedding", settings=lake_settings)
        assert s.query(sql, {"q": q}).column("id").to_pylist()[0] == "r099"
        assert any(s.executor.rendered._kept.values())
