"""Reading Delta tables in Spark: natively with the Delta jars, else the snapshot's file list as ``spark.read.parquet``.

With the Delta jars on the session (see :mod:`lakehouse.spark.session`), ``spark.read.format("delta")`` reads the
table, every Delta feature included. Without them, the Delta log (read by delta-rs on the driver) says which Parquet
files make up a version and each file's partition values; Spark reads exactly those files, so rows removed by a
DELETE/UPDATE/OVERWRITE (copy-on-write: their files are no longer in the snapshot) are not returned. Features that
change what a file means are refused by :func:`lakehouse.table.delta.check_file_readable` (deletion vectors, column
mapping) rather than returning wrong rows.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import pyarrow as pa

from lakehouse.errors import EnvironmentSetupError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def use_native_delta(spark: SparkSession, native: bool | None) -> bool:
    """Resolve a ``native`` argument: None = native when the session can run Delta, True = require it, False = never.

    Shared by the Delta read, write and merge paths.
    """
    from lakehouse.spark.runtime import DELTA_EXTENSION, delta_native_available

    available = delta_native_available(spark)
    if native and not available:
        raise EnvironmentSetupError(
            f"native Delta was requested but this Spark session cannot load {DELTA_EXTENSION}",
            hint="start the session with spark.delta_packages or spark.delta_jars set (see README, Delta Lake)",
        )
    return available if native is None else native


def delta_sql_identifier(location: str) -> str:
    """The path identifier of a Delta table for Spark SQL on a native-Delta session (``DeltaCatalog`` is the
    session catalog; the Iceberg catalog stays the default, hence the explicit ``spark_catalog``)."""
    uri = location if "://" in location else f"file://{location}"
    return "spark_catalog.delta.`" + uri.replace("`", "``") + "`"


def read_delta_table(
    spark: SparkSession, location: str, *, version: int | None = None, native: bool | None = None
) -> DataFrame:
    """The rows of the Delta table at ``location`` (at ``version``, default the latest) as a Spark DataFrame.

    ``native``: None reads with ``format("delta")`` when the session has the Delta jars, True requires that, False
    always reads the snapshot's files.

    Example::

        df = read_delta_table(spark, delta_location("docs.documents", settings), version=3)
    """
    if use_native_delta(spark, native):
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", int(version))
        return reader.load(location if "://" in location else f"file://{location}")
    from deltalake import DeltaTable
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from lakehouse.table.delta_files import check_file_readable

    dt = DeltaTable(location, version=version)
    check_file_readable(dt, location)
    schema = pa.schema(dt.schema().to_arrow())
    partition_columns = list(dt.metadata().partition_columns)
    data_schema = from_arrow_schema(pa.schema([f for f in schema if f.name not in partition_columns]))
    # flattened add actions carry each partition value as a ``partition.<column>`` string column
    adds = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    groups: dict[tuple[tuple[str, str | None], ...], list[str]] = defaultdict(list)
    for add in adds:
        groups[tuple((c, add.get(f"partition.{c}")) for c in partition_columns)].append(
            _file_uri(location, add["path"])
        )
    if not groups:
        return spark.createDataFrame([], from_arrow_schema(schema))
    frames = []
    for key, files in groups.items():
        df = spark.read.schema(data_schema).parquet(*files)
        for column, value in key:
            df = df.withColumn(column, F.lit(value).cast(from_arrow_schema(schema)[column].dataType))
        frames.append(df.select(*schema.names))
    out = frames[0]
    for df in frames[1:]:
        out = out.unionByName(df)
    return out


def _file_uri(location: str, path: str) -> str:
    """An add action's path (relative to the table, or absolute) as a URI Spark can open."""
    if "://" in path:
        return path
    root = location if "://" in location else f"file://{location}"
    if path.startswith("/"):
        return f"{root.split('://', 1)[0]}://{path}"
    return f"{root.rstrip('/')}/{path}"
