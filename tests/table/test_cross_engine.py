"""Spark, pyiceberg and DuckDB share one REST catalog: each sees the others' rows; bad vectors are refused by both
write paths and leave the snapshot unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.errors import VectorSpecError, VectorValidationError
from lakehouse.sql.duckdb import connect_duckdb
from lakehouse.table import IcebergVectorTable as VectorTable
from lakehouse.table import load_catalog
from lakehouse.table.spark.iceberg_write import write_vector_table
from lakehouse.vector import VectorSpec

pytestmark = [pytest.mark.spark, pytest.mark.integration]

SPEC = VectorSpec("embedding", dim=384, model="test", source_column="x.text")


def _rows(keys: list[str], dim: int = 384, seed: int = 0) -> list[tuple[str, list[float]]]:
    rng = np.random.default_rng(seed)
    return [(k, rng.normal(size=dim).astype(np.float32).tolist()) for k in keys]


def test_spark_pyiceberg_and_duckdb_see_each_others_rows(spark, lake_settings: Settings, tmp_path: Path) -> None:  # noqa: ANN001
    ident = "cross.vectors"
    df = spark.createDataFrame(_rows(["s1", "s2", "s3"]), "key string, embedding array<float>")
    write_vector_table(df, f"lake.{ident}", specs=[SPEC], key_column="key", mode="create")

    table = VectorTable.load(ident, settings=lake_settings)
    assert table.spec("embedding") == SPEC, "pyiceberg sees the vector spec in the table properties"
    py_rows = _rows(["p1", "p2"], seed=1)
    table.append(pa.table({"key": [k for k, _ in py_rows], "embedding": [v for _, v in py_rows]}))

    spark_keys = {r.key for r in spark.table(f"lake.{ident}").collect()}
    assert spark_keys == {"s1", "s2", "s3", "p1", "p2"}, "Spark sees pyiceberg's append"

    con = connect_duckdb(
        load_catalog_uri(lake_settings),
        lake_settings.warehouse,
        tmp_path / "ext",
        credential=lake_settings.catalog.credential,  # the service wants a bearer token (issue 12)
    )
    got = con.sql(f"SELECT key, len(embedding) AS n FROM lake.{ident} ORDER BY key").fetchall()
    assert got == [("p1", 384), ("p2", 384), ("s1", 384), ("s2", 384), ("s3", 384)], "DuckDB sees both"

    keys, matrix = table.refresh().vectors("embedding")
    assert matrix.shape == (5, 384) and matrix.dtype == np.float32
    first = dict(zip(keys.to_pylist(), matrix, strict=True))
    assert np.allclose(first["p1"], py_rows[0][1])


def load_catalog_uri(settings: Settings) -> str:
    assert settings.catalog.uri
    return settings.catalog.uri


def test_spark_refuses_a_383_dim_vector_and_leaves_the_snapshot(spark, lake_settings: Settings) -> None:  # noqa: ANN001
    ident = "cross.refuse_spark"
    good = spark.createDataFrame(_rows(["a", "b"]), "key string, embedding array<float>")
    write_vector_table(good, f"lake.{ident}", specs=[SPEC], key_column="key", mode="create")
    before = VectorTable.load(ident, settings=lake_settings)

    bad = spark.createDataFrame(_rows(["c"]) + _rows(["short"], dim=383), "key string, embedding array<float>")
    with pytest.raises(VectorValidationError) as info:
        write_vector_table(bad, f"lake.{ident}", specs=[SPEC], key_column="key", mode="append")
    assert (info.value.column, info.value.row_key, info.value.problem) == ("embedding", "short", "dimension")
    assert "383 values" in str(info.value)

    nan = spark.createDataFrame([("n", [float("nan")] * 384)], "key string, embedding array<float>")
    with pytest.raises(VectorValidationError, match="NaN"):
        write_vector_table(nan, f"lake.{ident}", specs=[SPEC], key_column="key", mode="append")
    null = spark.createDataFrame([("z", None)], "key string, embedding array<float>")
    with pytest.raises(VectorValidationError, match="null"):
        write_vector_table(null, f"lake.{ident}", specs=[SPEC], key_column="key", mode="append")
    with pytest.raises(VectorSpecError, match="383-d"):
        write_vector_table(bad, f"lake.{ident}", specs=[SPEC.with_(dim=383)], key_column="key", mode="append")

    after = VectorTable.load(ident, settings=lake_settings)
    assert after.snapshot_id == before.snapshot_id and after.count() == 2


def test_pyiceberg_refuses_a_383_dim_vector_and_leaves_the_snapshot(lake_settings: Settings) -> None:
    table = VectorTable.create(
        "cross.refuse_py",
        pa.schema([("key", pa.string()), ("embedding", pa.list_(pa.float32()))]),
        vectors=[SPEC],
        key="key",
        settings=lake_settings,
    )
    table.append({"key": ["a"], "embedding": [np.ones(384, np.float32).tolist()]})
    snapshot = table.snapshot_id
    with pytest.raises(VectorValidationError) as info:
        table.append({"key": ["b", "c"], "embedding": [np.ones(384).tolist(), np.ones(383).tolist()]})
    assert (info.value.row_key, info.value.problem) == ("c", "dimension")
    fresh = VectorTable(load_catalog(lake_settings).load_table("cross.refuse_py"), load_catalog(lake_settings))
    assert fresh.snapshot_id == snapshot and fresh.count() == 1
    arrow = fresh.to_arrow()
    assert arrow.schema.field("embedding").type == pa.list_(pa.field("element", pa.float32(), nullable=False), 384)
