"""What the Delta write paths share: the write modes, the result of a write, and the check of a batch's vector
specs against the table's (the executor-files path in :mod:`lakehouse.table.spark.delta_write` and the native path in
:mod:`lakehouse.table.spark.delta_native` both refuse the same mismatches)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from lakehouse.errors import VectorSpecError
from lakehouse.vector import VectorSpec, specs_from_properties

__all__ = ["DeltaWriteMode", "DeltaWriteResult", "check_specs"]

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


def check_specs(existing: Mapping[str, str], specs: Sequence[VectorSpec], location: str) -> None:
    recorded = specs_from_properties(existing)
    for spec in specs:
        table_spec = recorded.get(spec.column)
        if table_spec and (table_spec.dim, table_spec.metric) != (spec.dim, spec.metric):
            raise VectorSpecError(
                f"refused write to {location}: column {spec.column!r} is {table_spec.dim}-d/{table_spec.metric} "
                f"but the batch is {spec.dim}-d/{spec.metric}; nothing was committed",
                hint="write to a new table, or re-embed the whole column with the new model",
                column=spec.column,
            )
