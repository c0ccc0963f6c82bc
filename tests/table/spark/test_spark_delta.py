"""Spark writes and reads Delta tables: without the Delta jars (executor Parquet files + driver commit) and, where the
session has them, natively (``format("delta")``); the shared tests run in both modes (``delta_mode``)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from lakehouse.config import Settings
from lakehouse.errors import (
    DeltaCommitConflictError,
    EnvironmentSetupError,
    UnsupportedDeltaFeatureError,
    VectorValidationError,
)
from lakehouse.spark.runtime import delta_native_available
from lakehouse.table.delta import DeltaVectorTable, read_version
from lakehouse.table.formats import delta_location
from lakehouse.table.spark.delta_read import read_delta_table
from lakehouse.table.spark.delta_write import write_delta_table
from lakehouse.vector import VectorSpec

pytestmark = [pytest.mark.spark]
DIM = 4
SPEC = VectorSpec("embedding", dim=DIM)


def _native(mode: str) -> bool:
    return mode == "native"


def _df(spark, ids: list[str], group: str = "a", bad: dict[str, float] | None = None):  # noqa: ANN001, ANN202
    rows = [(i, group, [float(n) + 0.5] * DIM) for n, i in enumerate(ids)]
    for key, value in (bad or {}).items():
        rows = [(i, g, [value] * DIM if i == key else v) for i, g, v in rows]
    return spark.createDataFrame(rows, "id string, group string, embedding array<float>").repartition(3)


def _location(settings: Settings) -> str:
    return delta_location(f"delta_spark.t_{uuid.uuid4().hex[:8]}", settings)


def _files(location: str) -> list[Path]:
    root = Path(location.removeprefix("file://"))
    return list(root.rglob("*.parquet"))


def _ids(location: str, version: int | None = None) -> list[str]:
    # read_version, not delta-rs's to_pyarrow_table, which now and then aborts the process at exit (deltalake 1.6.6)
    table = read_version(DeltaTable(location, version=version), location, ["id"])
    return sorted(table.column("id").to_pylist())


def test_write_then_read(spark, lake_settings: Settings, delta_mode: str) -> None:  # noqa: ANN001
    loc = _location(lake_settings)
    native = _native(delta_mode)
    result = write_delta_table(
        _df(spark, [f"r{i}" for i in range(30)]),
        loc,
        specs=[SPEC],
        key_column="id",
        partition_by=["group"],
        native=native,
    )
    assert result.committed and result.rows == 30 and result.files >= 1 and result.native is native
    table = DeltaVectorTable.load("x.y", settings=lake_settings, location=loc)
    assert table.spec("embedding").dim == DIM and table.key_column == "id" and table.partition_columns == ["group"]
    out = table.to_arrow()
    assert out.schema.field("embedding").type.list_size == DIM and set(out.column("group").to_pylist()) == {"a"}
    assert table.count() == 30 and _ids(loc) == sorted(f"r{i}" for i in range(30))
    back = read_delta_table(spark, loc, native=native)
    assert sorted(r["id"] for r in back.collect()) == _ids(loc)
    assert back.schema["group"].dataType.simpleString() == "string"
    assert back.schema["embedding"].dataType.simpleString() == "array<float>"


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_bad_batch_commits_nothing_and_leaves_no_files(
    spark, lake_settings: Settings, value: float, delta_mode: str
) -> None:  # noqa: ANN001
    loc = _location(lake_settings)
    native = _native(delta_mode)
    write_delta_table(_df(spark, ["a", "b"]), loc, specs=[SPEC], key_column="id", native=native)
    files_before = sorted(_files(loc))
    with pytest.raises(VectorValidationError) as err:
        write_delta_table(
            _df(spark, [f"k{i}" for i in range(50)], bad={"k17": value}),
            loc,
            specs=[SPEC],
            key_column="id",
            native=native,
        )
    assert err.value.row_key == "k17" and err.value.problem in {"nan", "inf"}
    assert DeltaTable(loc).version() == 1 and _ids(loc) == ["a", "b"]
    if not native:  # Delta itself leaves the files of failed tasks to VACUUM
        assert sorted(_files(loc)) == files_before, "a refused job leaves no orphan Parquet files"


def test_retried_job_with_same_app_transaction_commits_once(spark, lake_settings: Settings, delta_mode: str) -> None:  # noqa: ANN001
    loc = _location(lake_settings)
    df = _df(spark, ["a", "b", "c"])
    kw = {"specs": [SPEC], "key_column": "id", "app_id": "embed:docs", "native": _native(delta_mode)}
    first = write_delta_table(df, loc, app_version=3, **kw)
    retry = write_delta_table(df, loc, app_version=3, **kw)
    assert first.committed and not retry.committed and retry.version == first.version
    assert _ids(loc) == ["a", "b", "c"]
    newer = write_delta_table(_df(spark, ["d"]), loc, app_version=4, **kw)
    assert newer.committed and _ids(loc) == ["a", "b", "c", "d"]
    assert DeltaTable(loc).transaction_version("embed:docs") == 4


def test_overwrite_one_partition_or_the_whole_table(spark, lake_settings: Settings, delta_mode: str) -> None:  # noqa: ANN001
    loc = _location(lake_settings)
    native = _native(delta_mode)
    kw = {"specs": [SPEC], "key_column": "id", "native": native}
    write_delta_table(_df(spark, ["a1", "a2"], "a"), loc, partition_by=["group"], **kw)
    write_delta_table(_df(spark, ["b1"], "b"), loc, **kw)
    write_delta_table(_df(spark, ["a3"], "a"), loc, mode="overwrite", overwrite_partitions={"group": "a"}, **kw)
    assert _ids(loc) == ["a3", "b1"]
    rows = {r["id"]: r["group"] for r in read_delta_table(spark, loc, native=native).collect()}
    assert rows == {"a3": "a", "b1": "b"}
    assert sorted(r["id"] for r in read_delta_table(spark, loc, version=1, native=native).collect()) == ["a1", "a2"]
    write_delta_table(_df(spark, ["z"], "c"), loc, mode="overwrite", **kw)
    assert _ids(loc) == ["z"]


def test_overwrite_racing_a_concurrent_append_fails_clearly(spark, lake_settings: Settings, monkeypatch) -> None:  # noqa: ANN001
    loc = _location(lake_settings)
    # files path only: the rival is injected between the executors' files and the delta-rs commit
    write_delta_table(_df(spark, ["a1"], "a"), loc, specs=[SPEC], key_column="id", partition_by=["group"], native=False)
    original = DeltaTable.create_write_transaction

    def with_a_rival(self, actions, mode, *args, **kwargs):  # noqa: ANN001, ANN202
        # another writer commits to the same partition between this job's read and its commit
        DeltaVectorTable.load("x.y", settings=lake_settings, location=loc).append(
            pa.table({"id": ["rival"], "group": ["a"], "embedding": pa.array([[1.0] * DIM], pa.list_(pa.float32()))})
        )
        monkeypatch.setattr(DeltaTable, "create_write_transaction", original)
        return original(self, actions, mode, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "create_write_transaction", with_a_rival)
    files_before = set(_files(loc))
    with pytest.raises(DeltaCommitConflictError) as err:
        write_delta_table(
            _df(spark, ["a2"], "a"),
            loc,
            specs=[SPEC],
            key_column="id",
            mode="overwrite",
            overwrite_partitions={"group": "a"},
            native=False,
        )
    assert err.value.read_version == 1 and err.value.current_version == 2
    assert _ids(loc) == ["a1", "rival"], "neither the rival's row nor the old rows were lost"
    live = {Path(u) for u in DeltaTable(loc).file_uris()}
    assert set(_files(loc)) <= files_before | live, "the losing job's files were deleted"


def test_concurrent_spark_appends_from_threads(spark, lake_settings: Settings, delta_mode: str) -> None:  # noqa: ANN001
    import threading

    loc = _location(lake_settings)
    kw = {"specs": [SPEC], "key_column": "id", "native": _native(delta_mode)}
    write_delta_table(_df(spark, ["seed"]), loc, **kw)
    errors: list[BaseException] = []

    def job(i: int) -> None:
        try:
            write_delta_table(_df(spark, [f"t{i}-{j}" for j in range(10)]), loc, **kw)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = _ids(loc)
    assert len(ids) == len(set(ids)) == 31 and DeltaTable(loc).version() == 4


def test_read_honours_deletes(spark, lake_settings: Settings, delta_mode: str) -> None:  # noqa: ANN001
    loc = _location(lake_settings)
    native = _native(delta_mode)
    write_delta_table(_df(spark, [f"r{i}" for i in range(6)]), loc, specs=[SPEC], key_column="id", native=native)
    DeltaTable(loc).delete("id IN ('r1', 'r4')")
    assert sorted(r["id"] for r in read_delta_table(spark, loc, native=native).collect()) == ["r0", "r2", "r3", "r5"]
    assert len(read_delta_table(spark, loc, version=1, native=native).collect()) == 6


def test_read_refuses_column_mapping(spark, tmp_path: Path) -> None:  # noqa: ANN001
    loc = str(tmp_path / "mapped")
    DeltaTable.create(
        loc,
        pa.schema([("id", pa.string())]),
        configuration={
            "delta.columnMapping.mode": "name",
            "delta.minReaderVersion": "2",
            "delta.minWriterVersion": "5",
        },
    )
    write_deltalake(loc, pa.table({"id": ["a"]}), mode="append")
    with pytest.raises(UnsupportedDeltaFeatureError, match="column mapping") as err:
        read_delta_table(spark, loc, native=False)  # Delta itself reads column mapping
    assert err.value.feature == "columnMapping"


def test_read_refuses_deletion_vectors(spark, tmp_path: Path) -> None:  # noqa: ANN001
    # delta-rs can create a table with the deletionVectors feature but cannot write one (nor data into such a table):
    # the refusal is checked on the protocol, which is what a table written by Spark/Databricks with DVs carries.
    loc = str(tmp_path / "dv")
    DeltaTable.create(loc, pa.schema([("id", pa.string())]), configuration={"delta.enableDeletionVectors": "true"})
    with pytest.raises(UnsupportedDeltaFeatureError, match="deletion vector") as err:
        read_delta_table(spark, loc, native=False)  # Delta itself reads deletion vectors
    assert err.value.feature == "deletionVectors"
    with pytest.raises(UnsupportedDeltaFeatureError):
        write_delta_table(spark.createDataFrame([("a",)], "id string"), loc, specs=[], key_column="id", native=False)


def test_native_mode_is_detected_not_assumed(spark, lake_settings: Settings) -> None:  # noqa: ANN001
    """Without the jars, asking for native Delta is a clear error; with them, the default path is native."""
    loc = _location(lake_settings)
    df = _df(spark, ["a"])
    if delta_native_available(spark):
        assert write_delta_table(df, loc, specs=[SPEC], key_column="id").native
        return
    with pytest.raises(EnvironmentSetupError, match="cannot load io.delta.sql.DeltaSparkSessionExtension"):
        write_delta_table(df, loc, specs=[SPEC], key_column="id", native=True)
    with pytest.raises(EnvironmentSetupError, match="native Delta was requested"):
        read_delta_table(spark, loc, native=True)
    assert not DeltaTable.is_deltatable(loc), "nothing was written"
    assert not write_delta_table(df, loc, specs=[SPEC], key_column="id").native, "the default is the files path"
