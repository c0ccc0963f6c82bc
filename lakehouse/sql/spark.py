"""The Spark SQL executor, and the vector functions every lakehouse SparkSession carries.

Spark 3.5 has no dot product or cosine function, so ``cosine_similarity``, ``cosine_distance``, ``l2_distance`` and
``inner_product`` are vectorized pandas UDFs over numpy (a batch of rows at a time, not a Python call per row). In a
query run through :func:`lakehouse.sql.query` (``engine="spark"``), ``embed('text')`` is resolved once on the driver
into a constant array; in raw ``spark.sql`` it is a pandas UDF with the configured default model, embedding each
distinct text of a batch once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd  # module level: pandas_udf resolves type hints against this module's globals
import pyarrow as pa

from lakehouse.config import Settings, load_settings
from lakehouse.errors import SqlError
from lakehouse.sql.execute import Executor
from lakehouse.sql.hints import spark_hint
from lakehouse.sql.render import in_list
from lakehouse.sql.targets import LakeScan, Render
from lakehouse.vector import to_fixed_size_list

_names = itertools.count()  # temporary views of candidate rows, one per query

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SparkExecutor", "register_functions"]


def _matrix(values: pd.Series, name: str) -> np.ndarray:
    rows = values.to_numpy()
    dims = {len(r) for r in rows}
    if len(dims) > 1:
        raise ValueError(f"{name}(): vectors of different lengths {sorted(dims)} in one call")
    return np.stack(rows).astype(np.float32, copy=False) if len(rows) else np.zeros((0, 0), np.float32)


def _pairs(a: pd.Series, b: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = _matrix(a, name), _matrix(b, name)
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(f"{name}(): a {x.shape[1]}-d vector compared with a {y.shape[1]}-d vector")
    return x, y


def _cosine(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    return np.einsum("ij,ij->i", x, y) / np.where(norms == 0, np.nan, norms)


KERNELS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "cosine_similarity": _cosine,
    "cosine_distance": lambda x, y: 1.0 - _cosine(x, y),
    "l2_distance": lambda x, y: np.sqrt(np.einsum("ij,ij->i", x - y, x - y)),
    "inner_product": lambda x, y: np.einsum("ij,ij->i", x, y),
}


def _vector_udf(name: str) -> Any:
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import FloatType

    kernel = KERNELS[name]

    @pandas_udf(FloatType())  # type: ignore[call-overload]
    def udf(a: pd.Series, b: pd.Series) -> pd.Series:
        x, y = _pairs(a, b, name)
        return pd.Series(kernel(x, y).astype(np.float32))

    return udf


def _embed_udf(model_name: str) -> Any:
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType

    @pandas_udf(ArrayType(FloatType(), containsNull=False))  # type: ignore[call-overload]
    def embed(texts: pd.Series) -> pd.Series:
        from lakehouse.embed import get_model

        unique = list(dict.fromkeys(texts.tolist()))
        vectors = dict(zip(unique, get_model(model_name).embed(unique), strict=True))
        return pd.Series([vectors[t] for t in texts])

    return embed


def _row_embed_udf() -> Any:
    """``lakehouse_embed(text, model)``: what ``embed(<column>, 'model')`` runs as (:mod:`lakehouse.sql.rowembed`)."""
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType

    @pandas_udf(ArrayType(FloatType()))  # type: ignore[call-overload]
    def lakehouse_embed(texts: pd.Series, models: pd.Series) -> pd.Series:
        from lakehouse.sql.rowembed import embed_texts

        vectors = embed_texts(
            [t if isinstance(t, str) else None for t in texts], [m if isinstance(m, str) else None for m in models]
        )
        return pd.Series(vectors, dtype=object)

    return lakehouse_embed


def register_functions(spark: SparkSession, settings: Settings | None = None) -> None:
    """Register ``cosine_similarity``, ``cosine_distance``, ``l2_distance``, ``inner_product`` and ``embed``.

    Example::

        register_functions(spark)   # query(..., engine='spark') does this on the session it is given
        spark.sql("SELECT key, cosine_similarity(embedding, embed('retry')) AS s FROM lake.docs.embeddings "
                  "ORDER BY s DESC LIMIT 5")
    """
    settings = settings or load_settings()
    for name in KERNELS:
        spark.udf.register(name, _vector_udf(name))
    spark.udf.register("embed", _embed_udf(settings.embed.model))
    spark.udf.register("lakehouse_embed", _row_embed_udf())


class SparkExecutor(Executor):
    """Runs the rendered Spark SQL on the injected session (the lakehouse functions registered).

    The ANN path's candidate rows become a temporary view over a local DataFrame, so the query over them is a small
    local job instead of a scan of the table (a Spark job of seconds whatever the number of rows wanted).
    """

    target = "spark"
    casts = False  # Spark reads list<float> as array<float>: the UDFs take it as is
    relations = True

    def __init__(self, spark: SparkSession, settings: Settings | None = None) -> None:
        self.spark = spark
        self.settings = settings or load_settings()
        if not spark.catalog.functionExists("lakehouse_embed"):  # registered once per session
            register_functions(spark, self.settings)

    def run(self, sql: str) -> pa.Table:
        from pyspark.errors import PySparkException

        try:
            frame = self.spark.sql(sql).toPandas()
        except PySparkException as exc:
            first = str(exc).strip().splitlines()[0]
            raise SqlError(
                f"Spark could not run the query: {first}",
                hint=spark_hint(exc.getErrorClass(), str(exc)),
                engine="spark",
                sql=sql[:2000],
            ) from exc
        table = pa.Table.from_pandas(frame, preserve_index=False)
        return _fixed_size(table)

    def scan(self) -> Render:
        return lambda g, e: _scan(g, e, self.spark)

    def register(self, rows: pa.Table) -> str | None:
        from pyspark.sql.pandas.types import from_arrow_schema

        columns = [
            c.cast(pa.list_(c.type.value_type)) if pa.types.is_fixed_size_list(c.type) else c for c in rows.columns
        ]
        table = pa.Table.from_arrays(columns, names=rows.column_names)
        try:
            schema = from_arrow_schema(table.schema)
        except (TypeError, ValueError, NotImplementedError):
            return None  # a type Spark cannot take from Arrow: the caller reads the table instead
        name = f"lakehouse_candidates_{next(_names)}"
        self.spark.createDataFrame(table.to_pandas(), schema=schema).createOrReplaceTempView(name)
        return name

    def release(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)


def _fixed_size(table: pa.Table) -> pa.Table:
    """list<float> columns whose rows all have one length -> fixed_size_list<float32, n> (what DuckDB returns)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_list(f.type) and pa.types.is_floating(f.type.value_type) and table.num_rows:
            lengths = set(pa.compute.list_value_length(table.column(i)).to_pylist())
            if len(lengths) == 1 and None not in lengths:
                col = table.column(i).cast(pa.list_(pa.float32()))
                table = table.set_column(i, f.name, to_fixed_size_list(col, lengths.pop(), column=f.name))
    return table


def _scan(g: object, e: object, spark: SparkSession | None = None) -> str:
    assert isinstance(e, LakeScan)
    if e.args.get("relation"):
        return f"SELECT * FROM {e.args['relation']}"
    # the table says how Spark reads it at the snapshot (a Delta table: its files as a temporary view, no jars)
    sql = f"SELECT * FROM {e.args['lake'].table.spark_relation(spark, e.this.sql('spark'), e.args.get('snapshot'))}"
    if e.args.get("key"):
        sql += " WHERE " + in_list(e.args["key"], e.args.get("keys") or [], "spark")
    return sql


def check_spark(spark: SparkSession | None) -> SparkSession:
    """``spark``, or a clear error when the Spark engine was asked for without a session."""
    if spark is None:
        raise SqlError("engine='spark' needs a SparkSession", hint="pass spark=build_spark(settings)")
    return spark
