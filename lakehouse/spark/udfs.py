"""Spark UDFs: chunking (Arrow batches in, chunk rows out) and embedding (a pandas UDF, one model per worker)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd  # module level: pandas_udf resolves the type hints below against this module's globals
import pyarrow as pa

if TYPE_CHECKING:
    from lakehouse.spark.progress import UnitsAddress

CHUNK_SCHEMA = pa.schema(
    [
        ("source_key", pa.string()),
        ("chunk_index", pa.int32()),
        ("chunk_start", pa.int32()),
        ("chunk_end", pa.int32()),
        ("chunk_text", pa.string()),
        ("content_sha256", pa.string()),
    ]
)


def chunk_batches(
    batches: Iterable[pa.RecordBatch], *, key: str, column: str, size: int, overlap: int
) -> Iterator[pa.RecordBatch]:
    from lakehouse.embed.chunking import chunk_text

    for batch in batches:
        cols: dict[str, list[object]] = {name: [] for name in CHUNK_SCHEMA.names}
        for k, text in zip(batch.column(key).to_pylist(), batch.column(column).to_pylist(), strict=True):
            for c in chunk_text(text or "", chunk_size=size, overlap=overlap):
                cols["source_key"].append(str(k))
                cols["chunk_index"].append(c.index)
                cols["chunk_start"].append(c.start)
                cols["chunk_end"].append(c.end)
                cols["chunk_text"].append(c.text)
                cols["content_sha256"].append(hashlib.sha256(c.text.encode("utf-8")).hexdigest())
        yield pa.RecordBatch.from_pydict(cols, schema=CHUNK_SCHEMA)


def embed_udf(model_name: str, batch_size: int, progress: UnitsAddress | None = None):  # noqa: ANN201 - a pandas UDF
    """A pandas UDF ``string -> array<float>`` that loads ``model_name`` once per Python worker.

    With ``progress`` (a :class:`~lakehouse.spark.progress.UnitCounter`'s address), each slice of a few batches is
    reported to the driver as it is embedded, so progress moves inside long tasks."""
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType

    step = max(1, batch_size) * 2

    @pandas_udf(ArrayType(FloatType(), containsNull=False))  # type: ignore[call-overload]
    def embed(texts: pd.Series) -> pd.Series:
        from lakehouse.embed import get_model

        model = get_model(model_name, batch_size=batch_size)
        if hasattr(model, "num_threads") and model.num_threads != 1:
            model.num_threads = 1  # one torch thread per Spark task slot
        values = texts.tolist()
        if progress is None:
            return pd.Series(list(model.embed(values)))
        from lakehouse.spark.progress import report_units

        vectors: list[Any] = []
        for i in range(0, len(values), step):
            part = model.embed(values[i : i + step])
            vectors.extend(part)
            report_units(progress, len(part))
        return pd.Series(vectors)

    return embed


CHUNK_DDL = ", ".join(f"{f.name} {'int' if f.type == pa.int32() else 'string'}" for f in CHUNK_SCHEMA)
