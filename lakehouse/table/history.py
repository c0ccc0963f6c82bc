"""A table's readable snapshots, whatever its format: Iceberg snapshot ids, Delta versions.

Time travel (``lakehouse show --snapshot``, SQL ``AT (VERSION => S)`` / ``FOR VERSION AS OF S`` /
``FOR TIMESTAMP AS OF T``) checks the id here first, so a snapshot that does not exist is refused with the list of
the ones that do, instead of a format-specific ``ValueError`` from deep inside a reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lakehouse.errors import SnapshotNotFoundError

if TYPE_CHECKING:
    from lakehouse.table.vector_table import VectorTable

__all__ = ["SnapshotInfo", "check_snapshot", "describe_snapshots", "snapshot_as_of", "snapshots"]

_LISTED = 10  # snapshots named in an error message (the most recent)


@dataclass(frozen=True)
class SnapshotInfo:
    """One readable snapshot: its id (Delta: the version) and when it was committed."""

    id: int
    timestamp_ms: int

    @property
    def committed(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)


def snapshots(table: VectorTable) -> list[SnapshotInfo]:
    """The table's readable snapshots, oldest first (:meth:`VectorTable.snapshots`)."""
    return table.snapshots()


def describe_snapshots(table: VectorTable, found: list[SnapshotInfo] | None = None) -> str:
    """The most recent snapshots as text, for messages: ``123 (2026-12-03 15:20:01 UTC), ...``."""
    found = snapshots(table) if found is None else found
    if not found:
        return f"the table has no {table.snapshot_unit} yet"
    recent = found[-_LISTED:]
    text = ", ".join(f"{s.id} ({s.committed:%Y-%m-%d %H:%M:%S} UTC)" for s in reversed(recent))
    more = f" and {len(found) - len(recent)} older" if len(found) > len(recent) else ""
    return f"{table.snapshot_unit}s, newest first: {text}{more}"


def check_snapshot(table: VectorTable, snapshot_id: int) -> int:
    """``snapshot_id`` when the table can be read at it, else :class:`SnapshotNotFoundError` naming the others."""
    found = snapshots(table)
    if any(s.id == snapshot_id for s in found):
        return snapshot_id
    unit = table.snapshot_unit
    raise SnapshotNotFoundError(
        f"table {table.identifier} has no {unit} {snapshot_id}",
        hint=f"use one of its {describe_snapshots(table, found)}",
        table=table.identifier,
        snapshot=snapshot_id,
        available=[s.id for s in found],
    )


def snapshot_as_of(table: VectorTable, when: datetime) -> int:
    """The snapshot that was current at ``when`` (naive datetimes are UTC): Iceberg's snapshot log (what Spark's
    ``TIMESTAMP AS OF`` reads), the latest Delta version committed at or before ``when``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    ms = int(when.timestamp() * 1000)
    found = snapshots(table)
    chosen = table.snapshot_as_of(ms)
    if chosen is None:
        raise SnapshotNotFoundError(
            f"table {table.identifier} has no {table.snapshot_unit} as old as {when:%Y-%m-%d %H:%M:%S.%f} UTC",
            hint=f"use a later time; its {describe_snapshots(table, found)}",
            table=table.identifier,
            snapshot=when.isoformat(),
            available=[s.id for s in found],
        )
    return chosen
