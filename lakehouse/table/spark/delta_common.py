"""What the Delta write paths share: the write modes and the result of a write (the executor-files path in
:mod:`lakehouse.table.spark.delta_write` and the native path in :mod:`lakehouse.table.spark.delta_native`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["DeltaWriteMode", "DeltaWriteResult"]

DeltaWriteMode = Literal["append", "overwrite"]


@dataclass(frozen=True)
class DeltaWriteResult:
    location: str
    version: int
    committed: bool  # False when the app transaction had already been committed (a retried job)
    files: int = 0
    rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    native: bool = False  # written by Delta itself (format("delta")) rather than executor files + delta-rs commit
