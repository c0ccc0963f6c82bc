"""A search's query: text embedded with the vector column's own model, or a vector checked against its spec."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lakehouse.errors import ModelError, VectorValidationError
from lakehouse.vector import VectorSpec


def query_vector(spec: VectorSpec, query: str | Sequence[float] | np.ndarray) -> np.ndarray:
    """The query as float32 ``(dim,)``: embeds text with the column's model, validates a vector."""
    column = spec.column
    if isinstance(query, str):
        from lakehouse.embed import get_model

        if not spec.model:
            raise ModelError(
                f"column {column!r} records no embedding model, so a text query cannot be embedded",
                hint="pass a query vector instead",
                model=None,
            )
        model = get_model(spec.model)
        if model.dim != spec.dim:
            raise ModelError(
                f"model {spec.model} makes {model.dim}-d vectors, column {column!r} holds {spec.dim}-d",
                hint="the vector spec names another model than the one installed; pass a vector",
                model=spec.model,
            )
        return model.embed([query])[0]
    q = np.asarray(query, dtype=np.float32)
    if q.ndim != 1 or q.shape[0] != spec.dim:
        raise VectorValidationError(
            f"query vector has shape {q.shape}, column {column!r} holds {spec.dim}-d vectors",
            hint=f"pass {spec.dim} numbers",
            column=column,
            problem="dimension",
        )
    if not np.isfinite(q).all():
        raise VectorValidationError("query vector holds NaN or Inf", column=column, problem="nan")
    return q
