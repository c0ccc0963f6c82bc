"""One table protocol: ``IcebergVectorTable`` and ``DeltaVectorTable`` are both ``VectorTable``s, picked only by
``load_table``/``create_table``, and answer the same questions (history, data files, reads, how engines read them)
so that no code outside ``lakehouse/table/`` tells the formats apart."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.table import DeltaVectorTable, IcebergVectorTable, VectorTable, create_table, load_table
from lakehouse.vector import VectorSpec

FORMATS = [pytest.param("iceberg", marks=pytest.mark.integration), "delta"]
DIM = 4
SCHEMA = pa.schema([("id", pa.string()), ("n", pa.int64()), ("embedding", pa.list_(pa.float32()))])
ROOT = Path(__file__).resolve().parents[2]


def _batch(ids: list[str]) -> pa.Table:
    vectors = np.random.default_rng(len(ids)).standard_normal((len(ids), DIM)).astype(np.float32)
    return pa.table(
        {
            "id": ids,
            "n": list(range(len(ids))),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
        }
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_both_formats_are_one_protocol(fmt: str, lake_settings: Settings) -> None:
    spec = VectorSpec("embedding", dim=DIM)
    ident = f"protocol.t_{uuid.uuid4().hex[:8]}"
    table = create_table(ident, SCHEMA, vectors=[spec], key="id", settings=lake_settings, format=fmt)  # type: ignore[arg-type]
    assert isinstance(table, VectorTable) and table.format == fmt
    assert isinstance(table, IcebergVectorTable if fmt == "iceberg" else DeltaVectorTable)
    first = table.append(_batch(["a", "b"]))
    second = table.append(_batch(["c", "d", "e"]))
    assert first is not None and second is not None
    again = load_table(ident, settings=lake_settings)
    assert type(again) is type(table) and again.identity == table.refresh().identity

    # history, in the table's own unit
    assert table.snapshot_unit == ("snapshot" if fmt == "iceberg" else "version")
    assert [s.id for s in table.snapshots()][-2:] == [first, second]
    assert table.has_snapshot(first) and not table.has_snapshot(10**15 + 7)
    assert table.ancestry_problem(first, second) == ""
    assert table.app_version(second) > table.app_version(first) > 0

    # data files from metadata, their rows, the difference between two snapshots
    files = table.files_at(second)
    assert files.record_count == 5 and not files.has_deletes
    change = table.diff(first, second)
    assert not change.removed and change.added_rows == 3
    rows = pa.concat_tables(table.read_files(second, change.added, ["id"]))
    assert sorted(rows.column("id").to_pylist()) == ["c", "d", "e"]
    assert sorted(table.read(first, ["id"]).column("id").to_pylist()) == ["a", "b"]
    assert table.column_names() == ("id", "n", "embedding") and table.arrow_schema().names == ["id", "n", "embedding"]
    assert table.file_read_problem(second) is None

    # how each SQL engine reads it at a snapshot
    relation = table.duckdb_relation("lake.protocol.t", first)
    assert (f"AT (VERSION => {first})" in relation) if fmt == "iceberg" else (f"version => {first}" in relation)


def test_index_convenience_needs_no_import_edge(lake_settings: Settings) -> None:
    """``table.index(column)`` works once lakehouse.index is loaded, which registers itself with the tables."""
    from lakehouse.index import build
    from lakehouse.index.search import VectorIndex

    ident = f"protocol.i_{uuid.uuid4().hex[:8]}"
    spec = VectorSpec("embedding", dim=DIM)
    table = create_table(ident, SCHEMA, vectors=[spec], key="id", settings=lake_settings, format="delta")
    table.append(_batch([f"k{i}" for i in range(20)]))
    build(table, "embedding", index_type="flat", settings=lake_settings)
    index = table.index("embedding", settings=lake_settings)
    assert isinstance(index, VectorIndex) and len(index.search(np.ones(DIM, np.float32), 3)) == 3


def test_tables_know_nothing_above_them_and_nothing_else_knows_the_format(architecture) -> None:  # noqa: ANN001
    report = architecture
    seam = ("lakehouse.table", "lakehouse.index")
    circles = [c for c in report.circles if any(m == p or m.startswith(p + ".") for m in c for p in seam)]
    assert circles == [], "an import circle through the table or index layer"
    upward = [(a, b) for a, b, _ in report.upward if a.startswith("lakehouse.table")]
    assert [(a, b) for a, b in upward if not a.startswith("lakehouse.table.spark")] == []
    owned = ("lakehouse/index/", "lakehouse/sql/", "lakehouse/serve/", "lakehouse/cli/tables.py")
    assert [b for b in report.branches if b[0].startswith(owned)] == [], "a format branch outside lakehouse/table/"


def test_the_public_vector_table_can_open_its_index_without_importing_the_index_package() -> None:
    # `from lakehouse import VectorTable` is the documented entry point: table.index(column) must work from it alone
    import subprocess

    code = (
        "import sys\n"
        "from lakehouse import VectorTable\n"
        "import lakehouse.table.base as base\n"
        "assert 'lakehouse.index' in sys.modules and base._index_opener is not None, 'index() unregistered'\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]


def test_table_index_works_from_lakehouse_table_alone(tmp_path: Path) -> None:
    # README and the notebooks import `from lakehouse.table import VectorTable`: table.index(column) reaches the index
    # package from there too (an unbuilt index says how to build it, not "no index support loaded")
    import subprocess

    code = (
        "import sys, pyarrow as pa\n"
        "from lakehouse.config import load_settings\n"
        "from lakehouse.errors import VectorIndexError\n"
        "from lakehouse.table import VectorTable\n"
        "from lakehouse.vector import VectorSpec\n"
        "assert 'lakehouse.index' not in sys.modules\n"
        "s = load_settings(home=sys.argv[1])\n"
        "schema = pa.schema([('id', pa.string()), ('embedding', pa.list_(pa.float32()))])\n"
        "t = VectorTable.create('docs.e', schema, vectors=[VectorSpec('embedding', dim=2)], key='id', settings=s,"
        " format='delta')\n"
        "try:\n"
        "    t.index('embedding')\n"
        "except VectorIndexError as e:\n"
        "    assert 'lakehouse index build' in str(e) + str(e.hint), e\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr[-2000:]


@pytest.mark.integration
def test_the_arrow_schema_follows_a_schema_change_and_a_recreated_table(lake_settings: Settings) -> None:
    # IcebergVectorTable keeps each (table uuid, schema id)'s Arrow schema: a change or a new table is another key
    from pyiceberg.types import StringType

    from lakehouse.table.catalog import load_catalog

    spec = VectorSpec("embedding", dim=DIM)
    ident = f"protocol.s_{uuid.uuid4().hex[:8]}"
    table = create_table(ident, SCHEMA, vectors=[spec], key="id", settings=lake_settings)
    assert table.arrow_schema().names == ["id", "n", "embedding"]
    with table.iceberg.update_schema() as update:  # type: ignore[attr-defined]
        update.add_column("note", StringType())
    assert load_table(ident, settings=lake_settings).arrow_schema().names == ["id", "n", "embedding", "note"]
    load_catalog(lake_settings).drop_table(ident)
    other = pa.schema([("id", pa.string()), ("embedding", pa.list_(pa.float32()))])
    again = create_table(ident, other, vectors=[spec], key="id", settings=lake_settings)
    assert again.arrow_schema().names == ["id", "embedding"]  # same name and schema id 0, another table
