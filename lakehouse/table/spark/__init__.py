"""Table-format knowledge on the Spark side: reading, writing and merging Iceberg and Delta vector tables from Spark.

``lakehouse.spark`` holds the generic Spark plumbing (session, runtime, JVM errors, UDFs, progress); everything that
knows how a format is written lives here: :mod:`~lakehouse.table.spark.iceberg_write` (Iceberg through Spark's
Iceberg catalog), :mod:`~lakehouse.table.spark.delta_read`, :mod:`~lakehouse.table.spark.delta_write`,
:mod:`~lakehouse.table.spark.delta_native` and :mod:`~lakehouse.table.spark.delta_merge` (Delta with or without the
Delta jars), :mod:`~lakehouse.table.spark.checks` (the vector checks both formats compile into a write's plan) and
:mod:`~lakehouse.table.spark.sql_text` (the quoting of the SQL they build). The upper layers go through
:class:`~lakehouse.table.spark.io.SparkTable` (:func:`~lakehouse.table.spark.io.spark_table` picks the format).
"""
