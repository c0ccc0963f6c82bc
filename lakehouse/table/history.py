"""A table's readable snapshots, whatever its format: Iceberg snapshot ids, Delta versions.

Time travel (``lakehouse show --snapshot``, SQL ``AT (VERSION => S)`` / ``FOR VERSION AS OF S`` /
``FOR TIMESTAMP AS OF T``) checks the id here first, so a snapshot that does not exist is refused with the list of
the ones that do, instead of a format-specific ``ValueError`` from deep inside a reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lakehouse.errors import SnapshotNotFoundError

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


def _is_delta(table: Any) -> bool:
    return getattr(table, "format", None) == "delta"


def _unit(table: Any) -> str:
    return "version" if _is_delta(table) else "snapshot"


def snapshots(table: Any) -> list[SnapshotInfo]:
    """The table's readable snapshots, oldest first (a VectorTable or a DeltaVectorTable)."""
    if _is_delta(table):
        found = [
            SnapshotInfo(int(h["version"]), int(h.get("timestamp") or 0))
            for h in table.history()
            if h.get("version") is not None
        ]
    else:
        found = [SnapshotInfo(int(s.snapshot_id), int(s.timestamp_ms)) for s in table.iceberg.snapshots()]
    return sorted(found, key=lambda s: s.id if _is_delta(table) else s.timestamp_ms)


def describe_snapshots(table: Any, found: list[SnapshotInfo] | None = None) -> str:
    """The most recent snapshots as text, for messages: ``123 (2026-12-03 15:20:01 UTC), ...``."""
    found = snapshots(table) if found is None else found
    if not found:
        return f"the table has no {_unit(table)} yet"
    recent = found[-_LISTED:]
    text = ", ".join(f"{s.id} ({s.committed:%Y-%m-%d %H:%M:%S} UTC)" for s in reversed(recent))
    more = f" and {len(found) - len(recent)} older" if len(found) > len(recent) else ""
    return f"{_unit(table)}s, newest first: {text}{more}"


def check_snapshot(table: Any, snapshot_id: int) -> int:
    """``snapshot_id`` when the table can be read at it, else :class:`SnapshotNotFoundError` naming the others."""
    found = snapshots(table)
    if any(s.id == snapshot_id for s in found):
        return snapshot_id
    unit = _unit(table)
    raise SnapshotNotFoundError(
        f"table {table.identifier} has no {unit} {snapshot_id}",
        hint=f"use one of its {describe_snapshots(table, found)}",
        table=table.identifier,
        snapshot=snapshot_id,
        available=[s.id for s in found],
    )


def snapshot_as_of(table: Any, when: datetime) -> int:
    """The snapshot that was current at ``when`` (naive datetimes are UTC): Iceberg's snapshot log (what Spark's
    ``TIMESTAMP AS OF`` reads), the latest Delta version committed at or before ``when``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    ms = int(when.timestamp() * 1000)
    found = snapshots(table)
    chosen: int | None = None
    if _is_delta(table):
        at = [s for s in found if s.timestamp_ms <= ms]
        chosen = at[-1].id if at else None
    else:
        snap = table.iceberg.snapshot_as_of_timestamp(ms)
        chosen = None if snap is None else int(snap.snapshot_id)
    if chosen is None:
        raise SnapshotNotFoundError(
            f"table {table.identifier} has no {_unit(table)} as old as {when:%Y-%m-%d %H:%M:%S.%f} UTC",
            hint=f"use a later time; its {describe_snapshots(table, found)}",
            table=table.identifier,
            snapshot=when.isoformat(),
            available=[s.id for s in found],
        )
    return chosen
