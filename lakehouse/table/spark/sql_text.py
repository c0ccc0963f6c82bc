"""Spark SQL text, quoted once for both formats: a column name and a string literal in the ``MERGE INTO``,
``replaceWhere`` and ``ALTER TABLE`` statements that :mod:`~lakehouse.table.spark.iceberg_write`,
:mod:`~lakehouse.table.spark.delta_native` and :mod:`~lakehouse.table.spark.delta_merge` build."""

from __future__ import annotations


def quote_name(name: str) -> str:
    """A column name as a Spark SQL identifier (backticks, a backtick doubled)."""
    return "`" + name.replace("`", "``") + "`"


def quote_string(value: str) -> str:
    """A Spark SQL string literal (backslash and single quote escaped with a backslash)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
