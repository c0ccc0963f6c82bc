"""Validation of vector batches before anything is committed.

A batch is refused as a whole when one row is bad; the error names the column, the first offending row's key and
the problem, so the writer can find and fix it. Checks are vectorised (Arrow compute + numpy), so validating a
million 384-d vectors costs milliseconds, not a Python loop.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import VectorValidationError
from lakehouse.vector.arrow import _combine, to_fixed_size_list
from lakehouse.vector.spec import VectorSpec

Problem = Literal["null", "dimension", "null-element", "nan", "inf", "zero", "type"]

_HINTS: dict[str, str] = {
    "null": "vector columns are non-null: drop the row or embed its text first",
    "dimension": "every vector must have exactly the column's dimension (lakehouse.vector.<column>.dim)",
    "null-element": "vectors cannot contain null values",
    "nan": "the vector holds NaN: check the model output or the input text",
    "inf": "the vector holds +/-Inf: check the model output or rescale the values",
    "zero": "an all-zero vector has no direction, so its cosine similarity is undefined: drop the row, embed "
    "non-empty text, or declare the column's metric l2 or dot",
    "type": "vector columns hold lists of floats",
    "null-key": "every row needs a key: fill it in or drop the row",
    "missing-key": "every row needs a key: add the table's key column to the batch",
    "empty": "skip the call when there is nothing to write (an empty append would only add an empty snapshot)",
}


def _key_at(keys: pa.Array | pa.ChunkedArray | None, index: int) -> object:
    if keys is None:
        return None
    return keys[index].as_py()


def _refuse(
    spec: VectorSpec, problem: Problem, index: int, keys: pa.Array | pa.ChunkedArray | None, detail: str
) -> None:
    key = _key_at(keys, index)
    where = f"row key {key!r}" if key is not None else f"row {index}"
    raise VectorValidationError(
        f"refused write to vector column {spec.column!r} ({where}): {detail}; nothing was committed",
        hint=_HINTS[problem],
        column=spec.column,
        row_key=key,
        row_index=index,
        problem=problem,
    )


def check_vectors(
    values: pa.Array | pa.ChunkedArray, spec: VectorSpec, keys: pa.Array | pa.ChunkedArray | None = None
) -> pa.FixedSizeListArray:
    """Validate one vector column and return it as ``fixed_size_list<float32, dim>``.

    Raises :class:`VectorValidationError` for the first row that is null, has the wrong dimension, holds a null
    element, NaN or Inf, or (in a cosine column) is all zeros.
    """
    arr = _combine(values)
    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or pa.types.is_fixed_size_list(arr.type)):
        _refuse(spec, "type", 0, keys, f"column type is {arr.type}")
    if not (pa.types.is_floating(arr.type.value_type) or pa.types.is_integer(arr.type.value_type)):
        _refuse(spec, "type", 0, keys, f"element type is {arr.type.value_type}")
    if arr.null_count:
        _refuse(
            spec, "null", int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0]), keys, "vector is null"
        )
    lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(lengths != spec.dim)
    if bad.size:
        i = int(bad[0])
        _refuse(spec, "dimension", i, keys, f"vector has {int(lengths[i])} values, the column's dim is {spec.dim}")
    flat = arr.flatten() if not pa.types.is_fixed_size_list(arr.type) else arr.flatten()
    if flat.null_count:
        elem = int(np.flatnonzero(flat.is_null().to_numpy(zero_copy_only=False))[0])
        _refuse(spec, "null-element", elem // spec.dim, keys, f"element {elem % spec.dim} is null")
    fsl = to_fixed_size_list(arr, spec.dim, column=spec.column)
    matrix = fsl.values.to_numpy(zero_copy_only=False).reshape(len(fsl), spec.dim)
    finite = np.isfinite(matrix)
    if not finite.all():
        row = int(np.flatnonzero(~finite.all(axis=1))[0])
        col = int(np.flatnonzero(~finite[row])[0])
        problem: Problem = "nan" if np.isnan(matrix[row, col]) else "inf"
        _refuse(spec, problem, row, keys, f"element {col} is {matrix[row, col]}")
    if spec.metric == "cosine" and len(matrix):
        zero = ~matrix.any(axis=1)
        if zero.any():
            _refuse(spec, "zero", int(np.flatnonzero(zero)[0]), keys, "every element is 0 (cosine needs a direction)")
    return fsl


def check_keys(table: pa.Table, key_column: str) -> None:
    """Refuse a batch that lacks the table's key column or holds a null key (names the first such row)."""
    if key_column not in table.column_names:
        raise VectorValidationError(
            f"refused write: the key column {key_column!r} is missing from the batch "
            f"(columns: {', '.join(table.column_names)}); nothing was committed",
            hint=_HINTS["missing-key"],
            column=key_column,
            problem="missing-key",
        )
    keys = table.column(key_column)
    if keys.null_count:
        index = int(np.flatnonzero(keys.is_null().to_numpy(zero_copy_only=False))[0])
        raise VectorValidationError(
            f"refused write: row {index} has a null key ({key_column!r}); nothing was committed",
            hint=_HINTS["null-key"],
            column=key_column,
            row_index=index,
            problem="null-key",
        )


def refuse_empty(table: pa.Table, identifier: str) -> None:
    """An append of no rows is refused rather than committed as an empty snapshot (or Delta version)."""
    if table.num_rows == 0:
        raise VectorValidationError(
            f"refused append to {identifier}: the batch has no rows; nothing was committed",
            hint=_HINTS["empty"],
            problem="empty",
        )


def check_table(table: pa.Table, specs: dict[str, VectorSpec], key_column: str | None = None) -> pa.Table:
    """Validate the key column (present, no nulls) and every vector column of ``table``; return it with vector
    columns as fixed-size lists."""
    if key_column:
        check_keys(table, key_column)
    keys = table.column(key_column) if key_column and key_column in table.column_names else None
    for name, spec in specs.items():
        if name not in table.column_names:
            raise VectorValidationError(
                f"refused write: vector column {name!r} is missing from the batch "
                f"(columns: {', '.join(table.column_names)})",
                column=name,
                problem="missing-column",
            )
        fsl = check_vectors(table.column(name), spec, keys)
        table = table.set_column(table.schema.get_field_index(name), pa.field(name, fsl.type, nullable=False), fsl)
    return table
