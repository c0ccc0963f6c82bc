"""The vector spec: what makes a plain ``list<float>`` column a vector column.

Iceberg has no fixed-size list type, so the dimension, metric and provenance of a vector column live in table
properties under ``lakehouse.vector.<column>.<field>``. Every engine that can read table properties (Spark, pyiceberg,
DuckDB, Trino...) can therefore tell what the column holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args

from lakehouse.errors import VectorSpecError

Metric = Literal["cosine", "l2", "dot"]
METRICS: tuple[str, ...] = get_args(Metric)
PROPERTY_PREFIX = "lakehouse.vector."
KEY_COLUMN_PROPERTY = "lakehouse.key-column"

# property suffix -> dataclass field
_FIELDS = {
    "dim": "dim",
    "metric": "metric",
    "model": "model",
    "model-version": "model_version",
    "source-column": "source_column",
    "normalized": "normalized",
}


@dataclass(frozen=True)
class VectorSpec:
    """Dimension, metric and provenance of one vector column.

    >>> spec = VectorSpec("embedding", dim=384, model="all-MiniLM-L6-v2", normalized=True)
    >>> VectorSpec.from_properties(spec.to_properties(), "embedding") == spec
    True
    """

    column: str
    dim: int
    metric: Metric = "cosine"
    model: str | None = None
    model_version: str | None = None
    source_column: str | None = None
    normalized: bool = False

    def __post_init__(self) -> None:
        if not self.column or "." in self.column:
            raise VectorSpecError(f"invalid vector column name {self.column!r}", hint="use a top-level column name")
        if not isinstance(self.dim, int) or isinstance(self.dim, bool) or not 1 <= self.dim <= 65536:
            raise VectorSpecError(
                f"vector column {self.column!r}: dim must be an integer in 1..65536, got {self.dim!r}",
                column=self.column,
            )
        if self.metric not in METRICS:
            raise VectorSpecError(
                f"vector column {self.column!r}: unknown metric {self.metric!r}",
                hint=f"use one of {', '.join(METRICS)}",
                column=self.column,
            )

    def with_(self, **changes: Any) -> VectorSpec:
        return replace(self, **changes)

    def property_key(self, suffix: str) -> str:
        return f"{PROPERTY_PREFIX}{self.column}.{suffix}"

    def to_properties(self) -> dict[str, str]:
        values = asdict(self)
        out: dict[str, str] = {}
        for suffix, name in _FIELDS.items():
            value = values[name]
            if value is None:
                continue
            out[self.property_key(suffix)] = str(value).lower() if isinstance(value, bool) else str(value)
        return out

    @classmethod
    def from_properties(cls, properties: Mapping[str, str], column: str) -> VectorSpec:
        prefix = f"{PROPERTY_PREFIX}{column}."
        raw = {k[len(prefix) :]: v for k, v in properties.items() if k.startswith(prefix)}
        if "dim" not in raw:
            raise VectorSpecError(
                f"column {column!r} has no vector spec (no {prefix}dim table property)",
                hint="create the table with lakehouse (VectorTable.create) or set the lakehouse.vector.* properties",
                column=column,
            )
        try:
            dim = int(raw["dim"])
        except ValueError as exc:
            raise VectorSpecError(f"{prefix}dim must be an integer, got {raw['dim']!r}", column=column) from exc
        return cls(
            column=column,
            dim=dim,
            metric=raw.get("metric", "cosine"),  # type: ignore[arg-type]
            model=raw.get("model"),
            model_version=raw.get("model-version"),
            source_column=raw.get("source-column"),
            normalized=raw.get("normalized", "false").lower() == "true",
        )


def specs_from_properties(properties: Mapping[str, str]) -> dict[str, VectorSpec]:
    """Every vector spec recorded in a table's properties, by column name."""
    columns = sorted(
        {
            k[len(PROPERTY_PREFIX) : -len(".dim")]
            for k in properties
            if k.startswith(PROPERTY_PREFIX) and k.endswith(".dim")
        }
    )
    return {c: VectorSpec.from_properties(properties, c) for c in columns}
