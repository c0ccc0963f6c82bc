"""What to tell a user when an engine refuses the SQL lakehouse sent it: one table per engine, by error kind.

A hint names the likely cause for the kind of error (a wrong name, a type or value the engine cannot take, SQL the
engine cannot parse, files it cannot read); anything else points at ``lakehouse sql explain``, which prints the SQL
the engine received.
"""

from __future__ import annotations

__all__ = ["duckdb_hint", "spark_hint"]

_NAMES = "check table and column names (`lakehouse tables`; `lakehouse show <table>` lists the columns)"
_TYPES = (
    "a value or type the engine cannot take: check the types of the compared columns, casts and constants, "
    "and that query vectors have the column's dimension"
)
_DECIMAL = (
    "a numeric expression needed more than 38 decimal digits: write such constants as floats (1.5E0 or 1.5F), "
    "or CAST them to DOUBLE"
)
_RENDERED = (
    "the SQL lakehouse rendered for this engine does not parse there: `lakehouse sql explain` prints it; "
    "please report it with the query"
)
_FILES = "the engine could not read the table's files or reach the catalog: check `lakehouse catalog status`"
_UDF = "a lakehouse function failed on the rows it was given (see the message): check its arguments"
_OTHER = '`lakehouse sql explain "<query>"` prints the SQL the engine received'

# Spark error classes (or their prefix before the first '.') -> hint
_SPARK: dict[str, str] = {
    **dict.fromkeys(
        (
            "TABLE_OR_VIEW_NOT_FOUND",
            "UNRESOLVED_COLUMN",
            "UNRESOLVED_ROUTINE",
            "UNRESOLVED_FIELD",
            "FIELD_NOT_FOUND",
            "AMBIGUOUS_REFERENCE",
            "AMBIGUOUS_COLUMN_OR_FIELD",
            "SCHEMA_NOT_FOUND",
            "NO_SUCH_TABLE",
        ),
        _NAMES,
    ),
    "DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION": _DECIMAL,
    "NUMERIC_VALUE_OUT_OF_RANGE": _DECIMAL,
    **dict.fromkeys(
        (
            "DATATYPE_MISMATCH",
            "CAST_INVALID_INPUT",
            "CAST_OVERFLOW",
            "ARITHMETIC_OVERFLOW",
            "INVALID_ARRAY_INDEX",
            "INCOMPATIBLE_DATA_FOR_TABLE",
            "WRONG_NUM_ARGS",
        ),
        _TYPES,
    ),
    "PARSE_SYNTAX_ERROR": _RENDERED,
    "PYTHON_EXCEPTION": _UDF,
}

# DuckDB exception class names -> hint (BinderException is split by its message below)
_DUCKDB: dict[str, str] = {
    "CatalogException": _NAMES,
    "ConversionException": _TYPES,
    "InvalidInputException": _TYPES,
    "OutOfRangeException": _TYPES,
    "TypeMismatchException": _TYPES,
    "ParserException": _RENDERED,
    "IOException": _FILES,
    "HTTPException": _FILES,
    "InvalidTypeException": _TYPES,
}


def spark_hint(error_class: str | None, message: str = "") -> str:
    """The hint for a Spark error of ``error_class`` (e.g. ``UNRESOLVED_COLUMN.WITH_SUGGESTION``)."""
    if error_class:
        for name in (error_class, error_class.split(".")[0]):
            if name in _SPARK:
                return _SPARK[name]
    if "PythonException" in message:
        return _UDF
    return _OTHER


def duckdb_hint(exc: BaseException) -> str:
    """The hint for a DuckDB exception."""
    name = type(exc).__name__
    if name == "BinderException":
        text = str(exc)
        if "No function matches" in text or "Cannot" in text or "type" in text.lower():
            return _TYPES
        return _NAMES
    return _DUCKDB.get(name, _OTHER)
