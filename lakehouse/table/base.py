"""What every vector table has, whatever its format: vector specs and a key column read from its properties."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from lakehouse.errors import LakehouseError, VectorSpecError
from lakehouse.vector import (
    KEY_COLUMN_PROPERTY,
    VectorSpec,
    specs_from_properties,
    to_fixed_size_list,
    to_numpy,
    to_storage_list,
)

# lakehouse.index.open_index, once lakehouse.index is imported (see VectorColumns.index)
_index_opener: Callable[..., Any] | None = None


def register_index_opener(opener: Callable[..., Any]) -> None:
    """Let ``table.index(column)`` open ``opener(table, column, settings=...)`` (called by lakehouse.index)."""
    global _index_opener
    _index_opener = opener


def as_vector_arrays(table: pa.Table, specs: Mapping[str, VectorSpec]) -> pa.Table:
    """``table`` with each vector column (stored as ``list<float>``) as ``fixed_size_list<float32, dim>``."""
    for name, spec in specs.items():
        if name in table.column_names:
            fsl = to_fixed_size_list(table.column(name), spec.dim, column=name)
            idx = table.schema.get_field_index(name)
            table = table.set_column(idx, pa.field(name, fsl.type, nullable=False), fsl)
    return table


def refuse_extra_columns(columns: Sequence[str], table_columns: Sequence[str], table: str) -> None:
    """Refuse a write whose batch has columns the table lacks (dropping them would lose data silently); every
    writer, Arrow or Spark, either format, checks this before anything is written."""
    extra = [c for c in columns if c not in table_columns]
    if extra:
        raise VectorSpecError(
            f"refused write to {table}: column(s) {', '.join(extra)} are not in the table "
            f"({', '.join(table_columns)}); nothing was committed",
            hint="drop them, or evolve the table schema first",
            table=table,
        )


def check_specs(recorded_properties: Mapping[str, str], specs: Sequence[VectorSpec], table: str) -> None:
    """Refuse a write into an existing table whose recorded spec of a vector column differs in dimension or metric
    from the batch's."""
    recorded = specs_from_properties(recorded_properties)
    for spec in specs:
        table_spec = recorded.get(spec.column)
        if table_spec and (table_spec.dim, table_spec.metric) != (spec.dim, spec.metric):
            raise VectorSpecError(
                f"refused write to {table}: column {spec.column!r} is {table_spec.dim}-d/{table_spec.metric} "
                f"but the batch is {spec.dim}-d/{spec.metric}; nothing was committed",
                hint="write to a new table, or re-embed the whole column with the new model",
                column=spec.column,
            )


def creation_properties(
    schema: pa.Schema,
    vectors: Sequence[VectorSpec],
    key: str,
    properties: Mapping[str, str] | None,
    *,
    also_required: Sequence[str] = (),
) -> dict[str, str]:
    """The properties a new table records, whatever its format: the key column, the caller's ``properties`` and
    each vector column's spec; refused when the key, a vector column or ``also_required`` is not in ``schema``."""
    columns = [s.column for s in vectors]
    missing = [c for c in [key, *columns, *also_required] if c not in schema.names]
    if missing:
        raise VectorSpecError(
            f"column(s) {', '.join(missing)} are not in the schema ({', '.join(schema.names)})",
            hint="the key column, partition columns and every vector column must be part of the schema",
        )
    props = {KEY_COLUMN_PROPERTY: key, **(properties or {})}
    for spec in vectors:
        props.update(spec.to_properties())
    return props


def conform(checked: pa.Table, target: pa.Schema, specs: Mapping[str, VectorSpec], table: str) -> pa.Table:
    """A validated batch in the table's schema ``target``: vector columns in storage form, other columns cast,
    columns the batch lacks as nulls. A column the table lacks is refused (:func:`refuse_extra_columns`)."""
    refuse_extra_columns(checked.column_names, target.names, table)
    columns = []
    for f in target:
        if f.name not in checked.column_names:
            columns.append(pa.nulls(len(checked), f.type))
        elif f.name in specs:
            columns.append(to_storage_list(checked.column(f.name)))
        else:
            columns.append(checked.column(f.name).cast(f.type))
    return pa.Table.from_arrays(columns, schema=target)


class VectorColumns:
    """Mixin over ``identifier`` and ``properties``: the table's vector specs and key column."""

    @property
    def identifier(self) -> str:
        raise NotImplementedError

    @property
    def properties(self) -> dict[str, str]:
        raise NotImplementedError

    @property
    def specs(self) -> dict[str, VectorSpec]:
        return specs_from_properties(self.properties)

    def spec(self, column: str | None = None) -> VectorSpec:
        """The spec of ``column``, or of the only vector column when ``column`` is None."""
        specs = self.specs
        if column is None:
            if len(specs) != 1:
                raise VectorSpecError(
                    f"table {self.identifier} has {len(specs)} vector columns ({', '.join(specs) or 'none'})",
                    hint="name the vector column",
                )
            return next(iter(specs.values()))
        if column not in specs:
            raise VectorSpecError(
                f"column {column!r} of {self.identifier} is not a vector column",
                hint=f"vector columns: {', '.join(specs) or 'none'}",
                column=column,
            )
        return specs[column]

    def index(self, column: str | None = None, *, settings: Any = None) -> Any:
        """The Lance ANN index of a vector column (``lakehouse.index.VectorIndex``): ``.search(...)``, ``.explain``.
        Iceberg and Delta tables alike; ``settings`` name the warehouse the index lives in (default: the table's).
        The same as ``lakehouse.index.open_index(table, column)``, which registers itself here when imported (tables
        know nothing of the indexes built over them).

        >>> from lakehouse.index import open_index  # doctest: +SKIP
        >>> VectorTable.load("docs.embeddings").index("embedding").search("retry a commit", k=5)  # doctest: +SKIP
        """
        if _index_opener is None:
            import lakehouse  # the root facade, not lakehouse.index: tables know nothing of indexes

            lakehouse._load_index_support()
        if _index_opener is None:
            raise LakehouseError(
                f"no index support loaded for {self.identifier}",
                hint="import lakehouse.index first, or call lakehouse.index.open_index(table, column)",
            )
        return _index_opener(self, self.spec(column).column, settings=settings)

    @property
    def key_column(self) -> str | None:
        return self.properties.get(KEY_COLUMN_PROPERTY)

    def vectors(self, column: str | None = None, *, snapshot_id: int | None = None) -> tuple[pa.Array, np.ndarray]:
        """The key column and a ``(n, dim)`` float32 numpy view of one vector column (a Delta version is its
        snapshot id)."""
        spec = self.spec(column)
        key = self.key_column
        table = self.to_arrow(snapshot_id=snapshot_id, columns=[spec.column] + ([key] if key else []))  # type: ignore[attr-defined]
        keys = table.column(key).combine_chunks() if key else pa.array(np.arange(table.num_rows))
        return keys, to_numpy(table.column(spec.column), spec.dim)
