"""What every vector table has, whatever its format: vector specs and a key column read from its properties."""

from __future__ import annotations

from lakehouse.errors import VectorSpecError
from lakehouse.vector import KEY_COLUMN_PROPERTY, VectorSpec, specs_from_properties


class VectorColumns:
    """Mixin over ``identifier`` and ``properties``: the table's vector specs and key column."""

    identifier: str
    properties: dict[str, str]

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

    @property
    def key_column(self) -> str | None:
        return self.properties.get(KEY_COLUMN_PROPERTY)
