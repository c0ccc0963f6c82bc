"""``embed(<column or expression>, 'model')``: one vector per row, embedded by the engine in batches.

``embed('text')`` is a constant, resolved once by the planner. Over a column (``embed(d.title, 'all-MiniLM-L6-v2')``,
or ``embed(title)`` compared with a vector column whose spec names the model) every row needs its own vector, so the
call becomes an :class:`EmbedRows` node, which the engines run as the ``lakehouse_embed(text, model)`` function:
on DuckDB a vectorized (Arrow) Python function registered on the connection, called with up to 2,048 rows at a time;
on Spark a pandas UDF registered on the session (:func:`lakehouse.sql.spark.register_functions`), run in the Python
workers. Either way each distinct text of a batch is embedded once, through the model's own batching, and a NULL
text gives a NULL vector.

Such a query compares each row with its own vector, so no index can answer it: it runs exactly (EXPLAIN says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from sqlglot import exp

from lakehouse.errors import ModelError

if TYPE_CHECKING:
    import duckdb

    from lakehouse.vector import VectorSpec

__all__ = ["FUNCTION", "EmbedRows", "embed_rows", "embed_texts", "is_constant_text", "register_duckdb"]

FUNCTION = "lakehouse_embed"


class EmbedRows(exp.Expression):
    """``embed(<expression>, model)`` evaluated per row: ``this`` the text expression, ``model`` the model's name
    (a str), ``dim`` its dimension (an int)."""

    arg_types = {"this": True, "model": True, "dim": True}


def is_constant_text(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


def embed_rows(node: exp.Expr, model_name: str, spec: VectorSpec | None, where: str) -> EmbedRows:
    """The per-row form of ``embed(<node>, model_name)``, its dimension checked against ``spec`` (if compared)."""
    from lakehouse.embed import get_model

    model = get_model(model_name)  # loads it once here, so an unknown model fails before the engine runs
    if spec is not None and model.dim != spec.dim:
        raise ModelError(
            f"embed(..., {model_name!r}) makes {model.dim}-d vectors but {where} holds {spec.dim}-d vectors",
            hint=f"use the column's model ({spec.model or 'not recorded'}) or a {spec.dim}-d model",
            model=model_name,
        )
    return EmbedRows(this=node.copy(), model=model_name, dim=model.dim)


def embed_texts(texts: Sequence[str | None], models: Sequence[str | None]) -> list[np.ndarray | None]:
    """One vector per text (None for a None text or model), each distinct (model, text) embedded once."""
    from lakehouse.embed import get_model

    out: list[np.ndarray | None] = [None] * len(texts)
    by_model: dict[str, dict[str, list[int]]] = {}
    for i, (text, model) in enumerate(zip(texts, models, strict=True)):
        if text is not None and model is not None:
            by_model.setdefault(model, {}).setdefault(text, []).append(i)
    for model, rows in by_model.items():
        unique = list(rows)
        for text, vector in zip(unique, get_model(model).embed(unique), strict=True):
            for i in rows[text]:
                out[i] = vector
    return out


def _duckdb_embed(texts: pa.Array, models: pa.Array) -> pa.Array:
    vectors = embed_texts(texts.to_pylist(), models.to_pylist())
    return pa.array([None if v is None else v.tolist() for v in vectors], pa.list_(pa.float32()))


def register_duckdb(con: duckdb.DuckDBPyConnection) -> None:
    """Register ``lakehouse_embed(text VARCHAR, model VARCHAR) -> FLOAT[]`` on a DuckDB connection (once)."""
    import duckdb
    from duckdb.func import ARROW, SPECIAL  # the UDF kind and NULL handling, as enum members

    try:
        con.create_function(
            FUNCTION,
            _duckdb_embed,
            [duckdb.sqltype("VARCHAR"), duckdb.sqltype("VARCHAR")],
            duckdb.sqltype("FLOAT[]"),
            type=ARROW,
            null_handling=SPECIAL,
        )
    except duckdb.NotImplementedException:  # already registered on this connection
        pass
