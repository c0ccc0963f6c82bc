"""``VectorTable`` behaves the same over Iceberg and Delta; Delta-specific: app transactions and concurrent commits."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.errors import TableNotFoundError, VectorValidationError
from lakehouse.table import VectorTable
from lakehouse.table.delta import DeltaVectorTable
from lakehouse.table.formats import delta_location
from lakehouse.vector import VectorSpec

FORMATS = [pytest.param("iceberg", marks=pytest.mark.integration), "delta"]
DIM = 8
SCHEMA = pa.schema([("id", pa.string()), ("group", pa.string()), ("embedding", pa.list_(pa.float32()))])


def _batch(ids: list[str], group: str = "a", *, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((len(ids), DIM)).astype(np.float32)
    return pa.table(
        {
            "id": ids,
            "group": [group] * len(ids),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
        }
    )


def _create(fmt: str, settings: Settings) -> VectorTable:
    ident = f"delta_test.t_{uuid.uuid4().hex[:8]}"
    spec = VectorSpec("embedding", dim=DIM, metric="cosine", model="test-model")
    return VectorTable.create(ident, SCHEMA, vectors=[spec], key="id", settings=settings, format=fmt)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", FORMATS)
def test_create_append_read(fmt: str, lake_settings: Settings) -> None:
    table = _create(fmt, lake_settings)
    assert table.spec().dim == DIM and table.spec().model == "test-model" and table.key_column == "id"
    batch = _batch([f"r{i}" for i in range(10)])
    table.append(batch)
    table.refresh()
    out = table.to_arrow()
    assert out.schema.field("embedding").type == pa.list_(pa.field("element", pa.float32(), nullable=False), DIM)
    assert sorted(out.column("id").to_pylist()) == sorted(batch.column("id").to_pylist())
    assert table.count() == 10
    keys, matrix = table.vectors()
    assert matrix.shape == (10, DIM) and matrix.dtype == np.float32
    expected = dict(zip(batch.column("id").to_pylist(), batch.column("embedding").to_pylist(), strict=True))
    for k, row in zip(keys.to_pylist(), matrix, strict=True):
        np.testing.assert_array_equal(row, np.array(expected[k], dtype=np.float32))
    again = VectorTable.load(table.identifier, settings=lake_settings)
    assert type(again) is type(table) and again.snapshot_id == table.snapshot_id


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("problem", ["nan", "dimension", "null"])
def test_bad_batch_is_refused_and_commits_nothing(fmt: str, problem: str, lake_settings: Settings) -> None:
    table = _create(fmt, lake_settings)
    table.append(_batch(["ok"]))
    before = table.refresh().snapshot_id
    rows = [[0.1] * DIM, [0.2] * DIM]
    if problem == "nan":
        rows[1][3] = float("nan")
    elif problem == "dimension":
        rows[1] = rows[1][:-1]
    else:
        rows[1] = None  # type: ignore[call-overload]
    bad = pa.table({"id": ["x", "y"], "group": ["a", "a"], "embedding": pa.array(rows, pa.list_(pa.float32()))})
    with pytest.raises(VectorValidationError) as err:
        table.append(bad)
    assert (err.value.column, err.value.row_key, err.value.problem) == ("embedding", "y", problem)
    assert table.refresh().snapshot_id == before and table.count() == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_time_travel(fmt: str, lake_settings: Settings) -> None:
    table = _create(fmt, lake_settings)
    first = table.append(_batch(["a", "b"]))
    table.append(_batch(["c"], seed=1))
    table.refresh()
    assert table.count() == 3
    assert sorted(table.to_arrow(snapshot_id=first).column("id").to_pylist()) == ["a", "b"]
    assert table.count(snapshot_id=first) == 2


def test_delta_layout_and_configuration(lake_settings: Settings) -> None:
    from deltalake import DeltaTable

    table = _create("delta", lake_settings)
    assert isinstance(table, DeltaVectorTable)
    assert table.location == delta_location(table.identifier, lake_settings)
    assert table.location.startswith(lake_settings.warehouse.rstrip("/") + "/_delta/delta_test/")
    dt = DeltaTable(table.location)
    config = dt.metadata().configuration
    assert config["lakehouse.vector.embedding.dim"] == str(DIM) and config["lakehouse.key-column"] == "id"
    stored = pa.schema(dt.schema().to_arrow()).field("embedding")
    assert pa.types.is_list(stored.type) and stored.type.value_type == pa.float32() and not stored.nullable
    assert table.snapshot_id == 0 == table.version


def test_load_finds_delta_tables_by_location(lake_settings: Settings) -> None:
    table = _create("delta", lake_settings)
    assert isinstance(VectorTable.load(table.identifier, settings=lake_settings), DeltaVectorTable)
    with pytest.raises(TableNotFoundError, match="does not exist"):
        VectorTable.load("delta_test.nowhere", settings=lake_settings, format="delta")


def test_same_app_transaction_commits_once(lake_settings: Settings) -> None:
    table = _create("delta", lake_settings)
    v1 = table.append(_batch(["a", "b"]), app_id="loader", app_version=1)  # type: ignore[call-arg]
    v2 = table.append(_batch(["a", "b"]), app_id="loader", app_version=1)  # type: ignore[call-arg]
    assert v1 == v2 == 1 and table.count() == 2
    assert table.append(_batch(["c"]), app_id="loader", app_version=2) == 2  # type: ignore[call-arg]
    assert table.count() == 3


def _run_threads(targets: list) -> list[BaseException]:  # noqa: ANN001
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def wrap(fn) -> None:  # noqa: ANN001
        barrier.wait()
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_appends_lose_and_duplicate_nothing(lake_settings: Settings) -> None:
    table = _create("delta", lake_settings)
    writers = 6

    def writer(i: int):  # noqa: ANN202
        return lambda: DeltaVectorTable.load(table.identifier, settings=lake_settings).append(
            _batch([f"w{i}-{j}" for j in range(20)], seed=i)
        )

    assert _run_threads([writer(i) for i in range(writers)]) == []
    table.refresh()
    ids = table.to_arrow(columns=["id"]).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == writers * 20
    assert table.version == writers  # one version per writer


def test_concurrent_retries_of_one_app_transaction_commit_once(lake_settings: Settings) -> None:
    table = _create("delta", lake_settings)

    def retry():  # noqa: ANN202
        return lambda: DeltaVectorTable.load(table.identifier, settings=lake_settings).append(
            _batch(["x", "y", "z"]), app_id="job-42", app_version=7
        )

    assert _run_threads([retry() for _ in range(4)]) == []
    table.refresh()
    assert table.count() == 3 and table.version == 1
    assert table.delta.transaction_version("job-42") == 7


def test_reads_go_file_by_file_not_through_delta_rs_scans(lake_settings: Settings, monkeypatch) -> None:  # noqa: ANN001
    """delta-rs's to_pyarrow_table/_dataset now and then abort the interpreter at exit (deltalake 1.6.6): reads and
    counts must not use them, and must agree with delta-rs's SQL engine, partition values included."""
    from deltalake import DeltaTable, QueryBuilder

    table = DeltaVectorTable.create(
        f"delta_test.t_{uuid.uuid4().hex[:8]}",
        SCHEMA,
        vectors=[VectorSpec("embedding", dim=DIM)],
        key="id",
        settings=lake_settings,
        partition_by=["group"],
    )
    first = table.append(_batch(["a", "b"], "x"))
    table.append(_batch(["c"], "with space", seed=1))  # a URL-encoded folder in the log
    table.refresh()

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("delta-rs scan used")

    monkeypatch.setattr(DeltaTable, "to_pyarrow_table", refuse)
    monkeypatch.setattr(DeltaTable, "to_pyarrow_dataset", refuse)
    out = table.to_arrow()
    assert out.schema.field("embedding").type.list_size == DIM
    by_sql = pa.table(QueryBuilder().register("t", table.delta).execute('SELECT id, "group" FROM t').read_all())
    assert sorted(zip(out.column("id").to_pylist(), out.column("group").to_pylist(), strict=True)) == sorted(
        zip(by_sql.column("id").to_pylist(), by_sql.column("group").to_pylist(), strict=True)
    )
    assert table.to_arrow(columns=["group"]).column_names == ["group"]
    assert sorted(table.to_arrow(snapshot_id=first, columns=["id"]).column("id").to_pylist()) == ["a", "b"]
    assert table.count() == 3 and table.count(snapshot_id=first) == 2


def test_reads_refuse_tables_plain_parquet_readers_get_wrong(tmp_path) -> None:  # noqa: ANN001
    from deltalake import DeltaTable

    from lakehouse.errors import UnsupportedDeltaFeatureError

    loc = str(tmp_path / "dv")
    dt = DeltaTable.create(loc, pa.schema([("id", pa.string())]), configuration={"delta.enableDeletionVectors": "true"})
    with pytest.raises(UnsupportedDeltaFeatureError, match="deletion vector"):
        DeltaVectorTable(dt, "delta_test.dv", loc).to_arrow()
