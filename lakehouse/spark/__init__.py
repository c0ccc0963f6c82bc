"""Spark integration: the session builder, vector validation inside Spark writes, and pandas UDFs."""

from lakehouse.spark.runtime import check_java, iceberg_runtime_jar
from lakehouse.spark.session import build_spark, spark_conf

__all__ = ["build_spark", "check_java", "iceberg_runtime_jar", "spark_conf"]
