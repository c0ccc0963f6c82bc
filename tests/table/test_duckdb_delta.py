"""DuckDB reads the Delta tables written here with ``delta_scan`` (the duckdb-extension-delta wheel, loaded by path)."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec


def _delta_extension() -> Path:
    from lakehouse.errors import LakehouseError
    from lakehouse.sql.duckdb import _extension_file

    try:
        return _extension_file("delta")
    except LakehouseError:
        pytest.skip("duckdb-extension-delta==1.5.5 is not installed (pip install 'duckdb-extension-delta==1.5.5')")


def test_duckdb_delta_scan_reads_vectors_and_versions(lake_settings: Settings, tmp_path: Path) -> None:
    import duckdb

    extension = _delta_extension()
    dim = 8
    spec = VectorSpec("embedding", dim=dim)
    schema = pa.schema([("id", pa.string()), ("embedding", pa.list_(pa.float32()))])
    table = VectorTable.create(
        f"delta_duck.t_{uuid.uuid4().hex[:8]}", schema, vectors=[spec], key="id", settings=lake_settings, format="delta"
    )
    vectors = np.eye(dim, dtype=np.float32)[:4]
    table.append(
        {"id": ["a", "b", "c", "d"], "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim)}
    )
    table.append({"id": ["e"], "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors[0]), dim)})
    path = table.location.removeprefix("file://")  # type: ignore[attr-defined]
    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
            "extension_directory": str(tmp_path / "ext"),
        }
    )
    con.load_extension(str(extension))
    rows = con.sql(
        f"SELECT id, array_cosine_similarity(embedding::FLOAT[{dim}], [1,0,0,0,0,0,0,0]::FLOAT[{dim}]) AS s "
        f"FROM delta_scan('{path}') ORDER BY s DESC, id"
    ).fetchall()
    assert [r[0] for r in rows] == ["a", "e", "b", "c", "d"] and rows[0][1] == pytest.approx(1.0)
    con.close()
