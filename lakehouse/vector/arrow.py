"""Arrow representation of vector columns.

On disk a vector column is ``list<float>``; at the Arrow boundary it is ``fixed_size_list<float32, dim>``. A list
array whose rows all have ``dim`` values and no nulls shares its child buffer with the fixed-size view, so both
directions are zero-copy for float32 data (only the offsets buffer is dropped or synthesised).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import VectorValidationError


def vector_type(dim: int) -> pa.FixedSizeListType:
    return pa.list_(pa.field("element", pa.float32(), nullable=False), dim)


def storage_type() -> pa.ListType:
    """The type a vector column has in Iceberg/Delta files: a list of non-null float32."""
    return pa.list_(pa.field("element", pa.float32(), nullable=False))


def _combine(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values


def to_fixed_size_list(
    values: pa.Array | pa.ChunkedArray, dim: int, *, column: str = "vector"
) -> pa.FixedSizeListArray:
    """View a list/large_list/fixed_size_list array of floats as ``fixed_size_list<float32, dim>``.

    Assumes the array already passed :func:`lakehouse.vector.validate.check_vectors` (no nulls, every row ``dim``
    long); float32 input is not copied.
    """
    arr = _combine(values)
    if pa.types.is_fixed_size_list(arr.type):
        flat = arr.flatten()
    elif pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        if len(arr) and arr.offset == 0 and arr.null_count == 0:
            offsets = arr.offsets
            start, end = offsets[0].as_py(), offsets[-1].as_py()
            flat = arr.values.slice(start, end - start)
        else:
            flat = arr.flatten()
    else:
        raise VectorValidationError(
            f"column {column!r} has type {arr.type}, not a list of floats",
            hint="vector columns are list<float> (or fixed_size_list<float>) columns",
            column=column,
            problem="type",
        )
    if flat.type != pa.float32():
        flat = pc.cast(flat, pa.float32())
    if len(flat) != len(arr) * dim:
        raise VectorValidationError(
            f"column {column!r}: {len(flat)} values for {len(arr)} rows of dim {dim}",
            column=column,
            problem="dimension",
        )
    return pa.FixedSizeListArray.from_arrays(flat, type=vector_type(dim))


def to_storage_list(values: pa.FixedSizeListArray | pa.ChunkedArray) -> pa.ListArray:
    """Turn a fixed-size vector array into the ``list<float>`` storage form (the values buffer is shared)."""
    arr = _combine(values)
    dim = arr.type.list_size
    flat = arr.values.slice(arr.offset * dim, len(arr) * dim)
    offsets = pa.array(np.arange(0, (len(arr) + 1) * dim, dim, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, flat, type=storage_type())


def to_numpy(values: pa.Array | pa.ChunkedArray, dim: int | None = None) -> np.ndarray:
    """A read-only ``(n, dim)`` float32 numpy view of a vector array (no copy for float32 input)."""
    arr = _combine(values)
    if dim is None:
        if not pa.types.is_fixed_size_list(arr.type):
            raise ValueError("dim is required for variable-size list arrays")
        dim = arr.type.list_size
    fsl = to_fixed_size_list(arr, dim)
    flat = fsl.values.slice(fsl.offset * dim, len(fsl) * dim)
    return flat.to_numpy(zero_copy_only=True).reshape(len(fsl), dim)
