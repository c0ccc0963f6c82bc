"""The file diff an index refresh works from, on Delta: the add actions of the indexed version vs the current one."""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.table.delta import DeltaVectorTable
from lakehouse.table.files import diff, file_set, read_files
from lakehouse.vector import VectorSpec

DIM = 4


def _batch(ids: list[str], grp: str) -> dict:
    vectors = np.arange(len(ids) * DIM, dtype=np.float32)
    return {"id": ids, "grp": [grp] * len(ids), "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors), DIM)}


def test_delta_versions_diff_by_add_actions(lake_settings: Settings) -> None:
    schema = pa.schema([("id", pa.string()), ("grp", pa.string()), ("embedding", pa.list_(pa.float32()))])
    table = DeltaVectorTable.create(
        f"delta_idx.t_{uuid.uuid4().hex[:8]}",
        schema,
        vectors=[VectorSpec("embedding", dim=DIM)],
        key="id",
        settings=lake_settings,
        partition_by=["grp"],
    )
    v1 = table.append(_batch(["a", "b"], "x"))
    v2 = table.append(_batch(["c"], "y"))
    indexed = file_set(table, v1)
    assert indexed.record_count == 2 and not indexed.has_deletes
    first = diff(indexed.identities, file_set(table, v2))
    assert not first.removed and first.added_rows == 1
    (rows,) = list(read_files(table, v2, first.added, ["id", "grp", "embedding"]))
    assert rows.column("id").to_pylist() == ["c"] and rows.column("grp").to_pylist() == ["y"]
    assert rows.schema.field("embedding").type.list_size == DIM and "_file" in rows.column_names

    table.delta.delete("id = 'a'")  # copy-on-write: the file of a and b is replaced by one holding b
    table.refresh()
    second = diff(file_set(table, v2).identities, file_set(table, table.version))
    assert len(second.removed) == 1 and second.added_rows == 1
    (rewritten,) = list(read_files(table, table.version, second.added, ["id", "embedding"]))
    assert rewritten.column("id").to_pylist() == ["b"]
