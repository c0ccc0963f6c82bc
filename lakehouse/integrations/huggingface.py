"""A table snapshot as a Hugging Face ``datasets.Dataset`` (``pip install 'lakehouse[datasets]'``), for training-data
curation: every column, vectors as fixed-length float32 lists, the lineage columns as they are, and the table,
snapshot and vector specs in the dataset's description.

The Arrow table is handed to ``datasets`` as it is (no copy, no cache files): ``Dataset.save_to_disk`` or
``push_to_hub`` write it out. Example::

    from lakehouse.integrations.huggingface import to_hf_dataset

    ds = to_hf_dataset("docs.embeddings", columns=["embedding_id", "chunk_text", "embedding", "source_key"])
    ds.features["embedding"]         # List(Value('float32'), length=384)
    ds.info.description              # lakehouse table docs.embeddings at snapshot ..., specs
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lakehouse.integrations.passages import require

if TYPE_CHECKING:
    import datasets

    from lakehouse.config import Settings
    from lakehouse.table import VectorTable


def to_hf_dataset(
    table: VectorTable | str,
    *,
    snapshot_id: int | None = None,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    settings: Settings | None = None,
) -> datasets.Dataset:
    """The rows of ``table`` at ``snapshot_id`` (default: current; Delta: a version) as a ``datasets.Dataset``."""
    hf = require("datasets", "datasets")
    from datasets.table import InMemoryTable

    from lakehouse.table import VectorTable

    vt = VectorTable.load(table, settings=settings) if isinstance(table, str) else table
    snapshot = vt.snapshot_id if snapshot_id is None else snapshot_id
    rows = vt.to_arrow(snapshot_id=snapshot, columns=list(columns) if columns else None, row_filter=where)
    specs: dict[str, Any] = {
        name: dataclasses.asdict(spec) for name, spec in vt.specs.items() if name in rows.column_names
    }
    description = {"table": vt.identifier, "snapshot_id": snapshot, "filter": where, "vector_specs": specs}
    info = hf.DatasetInfo(
        description="lakehouse table " + json.dumps(description, default=str, sort_keys=True),
        features=hf.Features.from_arrow_schema(rows.schema),
    )
    return hf.Dataset(InMemoryTable(rows), info=info)
