"""Time travel in similarity SQL: ``AT (VERSION => S)`` (DuckDB), ``FOR VERSION AS OF S`` (Spark), and the
timestamp forms ``AT (TIMESTAMP => T)``, ``FOR TIMESTAMP AS OF T``, ``FOR SYSTEM_TIME AS OF T``.

The clause is resolved here, once, to one snapshot id of the table (an Iceberg snapshot id, a Delta version), checked
against the table's snapshots; the table node then carries it in ``node.meta["as_of"]`` and loses the clause. Every
later step reads the snapshot from there: the executors scan the table at it (DuckDB ``AT (VERSION => S)`` or
``delta_scan(..., version => S)``, Spark ``VERSION AS OF S`` or the Delta version's files), and the ANN path searches
the index ``as_of`` S (the index version tagged for S, or an exact search at S). A timestamp becomes the snapshot that
was current then (naive timestamps are UTC), so both engines read the same snapshot whatever their session time zone.
An Iceberg branch or tag name (``FOR VERSION AS OF 'name'``) reads the snapshot it points at. Anything else (ranges,
Snowflake's ``BEFORE``/``OFFSET``, a non-constant time) is refused with a clear error.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlglot import exp

from lakehouse.errors import SnapshotNotFoundError, SqlPlanError

if TYPE_CHECKING:
    from lakehouse.sql.resolve import LakeTable

__all__ = ["AS_OF", "has_time_travel", "resolve_time_travel", "transpile_time_travel"]

AS_OF = "as_of"  # node.meta key: the snapshot id the table is read at
_DIALECT = "duckdb"


def has_time_travel(node: exp.Table) -> bool:
    return bool(node.args.get("when") or node.args.get("version"))


def resolve_time_travel(node: exp.Table, lake: LakeTable) -> str | None:
    """Bind ``node``'s time-travel clause to a snapshot of ``lake``: sets ``node.meta[AS_OF]``, removes the clause,
    returns a note for EXPLAIN (None when the node has no clause)."""
    clause = node.args.get("when") or node.args.get("version")
    if clause is None:
        return None
    written = clause.sql(_DIALECT)
    kind, value = _kind_and_value(clause, lake, written)
    table = lake.table
    unit = table.snapshot_unit
    try:
        if kind == "VERSION":
            snapshot, how = _version(value, lake, written)
        else:
            when = _timestamp(value, lake, written)
            from lakehouse.table.history import snapshot_as_of

            snapshot = snapshot_as_of(table, when)
            how = f"the {unit} current at {when.isoformat(sep=' ')}{'' if when.tzinfo else ' UTC'}"
        from lakehouse.table.history import check_snapshot

        check_snapshot(table, snapshot)
    except SnapshotNotFoundError as exc:
        raise SqlPlanError(f"{written}: {exc.message}", hint=exc.hint, table=lake.identifier) from exc
    node.set("when", None)
    node.set("version", None)
    node.meta[AS_OF] = snapshot
    return f"{lake.identifier} read at {unit} {snapshot} ({written}: {how})"


def _kind_and_value(clause: exp.Expr, lake: LakeTable, written: str) -> tuple[str, exp.Expr]:
    kind, value, problem = _point(clause)
    if problem:
        raise _refuse(written, lake, problem)
    return kind, value


def _point(clause: exp.Expr) -> tuple[str, exp.Expr, str | None]:
    """(VERSION or TIMESTAMP, the value, why it is not one point in the table's history or None)."""
    if isinstance(clause, exp.HistoricalData):
        point, kind = str(clause.this).upper(), str(clause.args.get("kind") or "").upper()
        if point != "AT" or kind not in ("VERSION", "TIMESTAMP"):
            return kind, clause.expression, f"{point} ({kind} => ...) is not a point lakehouse can read a table at"
        return kind, clause.expression, None
    kind, how = str(clause.this).upper(), str(clause.args.get("kind") or "").upper()
    if how != "AS OF" or kind not in ("VERSION", "TIMESTAMP"):
        return kind, clause.expression, f"{how} reads a range of versions; a query reads the table at one snapshot"
    return kind, clause.expression, None


# how each transpile target writes "this table at version V / at time T" (None: it cannot)
_VERSION_FORM = {"duckdb": "at", "spark": "as_of", "databricks": "as_of", "trino": "as_of"}
_TIME_FORM = {
    "duckdb": "at",
    "spark": "as_of",
    "databricks": "as_of",
    "trino": "as_of_typed",
    "bigquery": "as_of_typed",
    "snowflake": "at_typed",
}


def transpile_time_travel(tree: exp.Expr, target: str) -> None:
    """Rewrite every table's time-travel clause into ``target``'s own syntax, in place, or refuse it
    (:class:`~lakehouse.errors.TranspileError`) where the target cannot read a table at that point."""
    from lakehouse.errors import TranspileError

    for node in tree.find_all(exp.Table):
        clause = node.args.get("when") or node.args.get("version")
        if clause is None:
            continue
        written = clause.sql(_DIALECT)
        kind, value, problem = _point(clause)
        form = (_VERSION_FORM if kind == "VERSION" else _TIME_FORM).get(target)
        if problem or form is None:
            raise TranspileError(
                f"{node.sql(_DIALECT)} cannot be expressed in {target}: "
                + (problem or f"{target} cannot read a table at a {kind.lower()}"),
                hint="read the table at a time (FOR TIMESTAMP AS OF) where the target has only that, or run the "
                "query with lakehouse sql",
                target=target,
                construct=written,
            )
        value = value.copy()
        if form.endswith("_typed") and isinstance(value, exp.Literal) and value.is_string:
            typed = "TIMESTAMPTZ" if target == "bigquery" else "TIMESTAMP"  # BigQuery's TIMESTAMP is an instant
            value = exp.Cast(this=value, to=exp.DataType.build(typed))
        node.set("when", None)
        node.set("version", None)
        if form.startswith("at"):
            node.set("when", exp.HistoricalData(this="AT", kind=kind, expression=value))
        else:
            node.set("version", exp.Version(this=kind, expression=value, kind="AS OF"))


def _version(value: exp.Expr, lake: LakeTable, written: str) -> tuple[int, str]:
    if isinstance(value, exp.Literal) and not value.is_string and value.this.lstrip("-").isdigit():
        return int(value.this), "as written"
    if isinstance(value, exp.Literal) and value.is_string:
        if value.this.lstrip("-").isdigit():
            return int(value.this), "as written"
        refs = lake.table.refs()
        if refs is not None:  # a format with branches and tags (Iceberg)
            if value.this in refs:
                snapshot, kind = refs[value.this]
                return snapshot, f"{kind} {value.this!r}"
            names = ", ".join(sorted(refs)) or "none"
            raise _refuse(written, lake, f"no branch or tag named {value.this!r} (branches and tags: {names})")
    raise _refuse(written, lake, "the version must be a snapshot id (Delta: a version), or an Iceberg branch or tag")


def _timestamp(value: exp.Expr, lake: LakeTable, written: str) -> datetime:
    inner = value.this if isinstance(value, exp.Cast) and value.to.is_type(*exp.DataType.TEMPORAL_TYPES) else value
    if isinstance(inner, exp.Literal) and inner.is_string:
        try:
            return datetime.fromisoformat(inner.this.strip())
        except ValueError:
            pass
    raise _refuse(
        written,
        lake,
        "the time must be a constant timestamp such as '2026-12-03 15:20:00' (UTC unless it names an offset, "
        "e.g. '2026-12-03T15:20:00+01:00')",
    )


def _refuse(written: str, lake: LakeTable, why: str) -> SqlPlanError:
    from lakehouse.table.history import describe_snapshots

    return SqlPlanError(
        f"{lake.identifier} {written}: {why}",
        hint="read a table at one snapshot: AT (VERSION => <snapshot id>), FOR VERSION AS OF <snapshot id> or "
        f"FOR TIMESTAMP AS OF '<time>'; its {describe_snapshots(lake.table)}",
        table=lake.identifier,
    )
