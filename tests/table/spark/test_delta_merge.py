"""Concurrent MERGEs into one Delta table: one wins, the other retries (its keys untouched) or fails with a clear
conflict naming the keys; never a lost or duplicated row. delta-rs merges (no JVM), then Spark change sets in both
modes (files path: collected + delta-rs; native: Delta MERGE INTO)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from deltalake.table import TableMerger

from lakehouse.config import Settings
from lakehouse.errors import DeltaCommitConflictError, DeltaTableError
from lakehouse.table.delta import read_version
from lakehouse.table.formats import delta_location
from lakehouse.table.spark.delta_merge import DeltaMergeResult, merge_delta_changes, merge_delta_frame
from lakehouse.table.spark.delta_write import write_delta_table
from lakehouse.vector import VectorSpec

DIM = 4
SPEC = VectorSpec("embedding", dim=DIM)
COLUMNS = ["id", "source", "v", "embedding"]
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("v", pa.int64()),
        pa.field("embedding", pa.list_(pa.field("element", pa.float32(), nullable=False)), nullable=False),
    ]
)


def _changes(rows: dict[str, int], source: str = "docs", deletes: tuple[str, ...] = ()) -> pa.Table:
    ids = [*rows, *deletes]
    return pa.table(
        {
            "id": ids,
            "source": [source] * len(ids),
            "v": [*rows.values(), *([0] * len(deletes))],
            "embedding": pa.array(
                [[float(v)] * DIM for v in rows.values()] + [[0.0] * DIM] * len(deletes), SCHEMA[3].type
            ),
            "op": ["upsert"] * len(rows) + ["delete"] * len(deletes),
        }
    )


def _table(tmp_path: Path, n: int = 10) -> str:
    """A one-file table (k0..k{n-1}, v=0, partitioned by source): any two merges into it touch the same file."""
    loc = str(tmp_path / f"t_{uuid.uuid4().hex[:8]}")
    DeltaTable.create(loc, SCHEMA, partition_by=["source"])
    merge_delta_changes(
        loc,
        _changes({f"k{i}": 0 for i in range(n)}),
        key="id",
        columns=COLUMNS,
        op_column="op",
        app_id="seed",
        app_version=0,
    )
    return loc


def _merge(loc: str, changes: pa.Table, app: str, **kw: object) -> DeltaMergeResult:
    return merge_delta_changes(
        loc,
        changes,
        key="id",
        columns=COLUMNS,
        op_column="op",
        scope={"source": "docs"},
        app_id=app,
        app_version=1,
        **kw,  # type: ignore[arg-type]
    )


def _rows(loc: str) -> dict[str, int]:
    table = read_version(DeltaTable(loc), loc, ["id", "v"])  # not to_pyarrow_table: it can abort at exit
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids)), f"duplicated keys: {sorted(k for k in ids if ids.count(k) > 1)}"
    return dict(zip(ids, table.column("v").to_pylist(), strict=True))


def _with_rival(monkeypatch: pytest.MonkeyPatch, rival: Callable[[], object]) -> None:
    """Make the next merge lose its commit: ``rival`` commits between that merge's read and its commit."""
    original = TableMerger.execute

    def execute(self: TableMerger) -> dict:
        monkeypatch.setattr(TableMerger, "execute", original)
        rival()
        return original(self)

    monkeypatch.setattr(TableMerger, "execute", execute)


def test_loser_retries_when_the_winner_left_its_keys_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loc = _table(tmp_path)
    _with_rival(monkeypatch, lambda: _merge(loc, _changes({"k2": 2, "r1": 2}, deletes=("k3",)), "rival"))
    result = _merge(loc, _changes({"k1": 1, "n1": 1}), "job")
    assert result.committed and result.attempts == 2, "the first commit lost the race, the retry committed"
    expected = {f"k{i}": 0 for i in range(10)} | {"k1": 1, "n1": 1, "k2": 2, "r1": 2}
    del expected["k3"]
    assert _rows(loc) == expected, "exactly the union of both change sets"
    dt = DeltaTable(loc)
    assert dt.version() == 3 and dt.transaction_version("job") == 1 and dt.transaction_version("rival") == 1


@pytest.mark.parametrize("rival_change", [{"k1": 2}, {"n1": 2}], ids=["updated-key", "inserted-key"])
def test_loser_fails_clearly_when_the_winner_changed_its_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rival_change: dict[str, int]
) -> None:
    loc = _table(tmp_path)
    _with_rival(monkeypatch, lambda: _merge(loc, _changes(rival_change), "rival"))
    with pytest.raises(DeltaCommitConflictError) as err:
        _merge(loc, _changes({"k1": 1, "n1": 1}), "job")
    assert isinstance(err.value, DeltaTableError)
    assert err.value.keys == list(rival_change) and err.value.operation == "merge"
    assert (err.value.read_version, err.value.current_version) == (1, 2)
    assert f"changed 1 of this change set's keys ({next(iter(rival_change))!r})" in str(err.value)
    assert "re-run the job" in str(err.value)
    assert _rows(loc) == {f"k{i}": 0 for i in range(10)} | rival_change, "the loser committed nothing"
    assert DeltaTable(loc).transaction_version("job") is None
    # the job re-run (recomputing its change set on the new version) commits: the union, once each
    assert _merge(loc, _changes({"k1": 1, "n1": 1}), "job").committed
    assert _rows(loc) == {f"k{i}": 0 for i in range(10)} | {"k1": 1, "n1": 1}


def test_retries_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loc = _table(tmp_path)
    original = TableMerger.execute
    rivals = iter(range(100))

    def always_beaten(self: TableMerger) -> dict:
        monkeypatch.setattr(TableMerger, "execute", original)
        _merge(loc, _changes({f"r{next(rivals)}": 9}), f"rival-{uuid.uuid4().hex}")
        monkeypatch.setattr(TableMerger, "execute", always_beaten)
        return original(self)

    monkeypatch.setattr(TableMerger, "execute", always_beaten)
    with pytest.raises(DeltaCommitConflictError, match="still losing after 3 attempts"):
        _merge(loc, _changes({"k1": 1}), "job", max_retries=2)
    monkeypatch.setattr(TableMerger, "execute", original)
    rows = _rows(loc)
    assert rows["k1"] == 0 and {"r0", "r1", "r2"} <= set(rows)


def test_concurrent_merges_from_threads_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    loc = _table(tmp_path, n=4)
    jobs = 4
    barrier = threading.Barrier(jobs)
    errors: list[BaseException] = []
    results: list[DeltaMergeResult] = []

    def job(i: int) -> None:
        barrier.wait()
        try:
            # each job updates its own old key and inserts two new ones: disjoint keys, one shared file
            results.append(_merge(loc, _changes({f"k{i}": i + 1, f"n{i}a": i + 1, f"n{i}b": i + 1}), f"job-{i}"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == jobs and all(r.committed for r in results)
    expected = {f"k{i}": i + 1 for i in range(jobs)} | {f"n{i}{s}": i + 1 for i in range(jobs) for s in "ab"}
    assert _rows(loc) == expected
    assert DeltaTable(loc).version() == 1 + jobs, "one commit per job"


# -- Spark change sets (merge_delta_frame), files path and native path -----------------------------------------------
def _frame(spark, rows: dict[str, int], deletes: tuple[str, ...] = ()):  # noqa: ANN001, ANN202
    # v + 1: a cosine column refuses the all-zero vector that v = 0 would give
    data = [(k, "docs", v, [float(v) + 1.0] * DIM, "upsert") for k, v in rows.items()]
    data += [(k, "docs", 0, None, "delete") for k in deletes]
    return spark.createDataFrame(data, "id string, source string, v long, embedding array<float>, op string")


@pytest.mark.spark
def test_spark_merges_from_threads_end_as_the_union(spark, lake_settings: Settings, delta_mode: str) -> None:  # noqa: ANN001
    native = delta_mode == "native"
    loc = delta_location(f"delta_merge.t_{uuid.uuid4().hex[:8]}", lake_settings)
    seed = _frame(spark, {f"k{i}": 0 for i in range(6)}).drop("op").coalesce(1)
    write_delta_table(seed, loc, specs=[SPEC], key_column="id", partition_by=["source"], native=native)
    kw = {"key": "id", "columns": COLUMNS, "vector_dims": {"embedding": DIM}, "op_column": "op", "native": native}
    changes = {
        "a": ({"k1": 1, "shared": 1, "a1": 1}, ("k4",)),
        "b": ({"k2": 2, "shared": 2, "b1": 2}, ()),  # "shared": both jobs insert it, so at most one may win as is
    }
    barrier = threading.Barrier(len(changes))
    errors: dict[str, BaseException] = {}

    def job(name: str) -> None:
        frame = _frame(spark, *changes[name])
        barrier.wait()
        try:
            merge_delta_frame(frame, loc, scope={"source": "docs"}, app_id=f"job-{name}", app_version=1, **kw)
        except BaseException as exc:  # noqa: BLE001
            errors[name] = exc

    threads = [threading.Thread(target=job, args=(n,)) for n in changes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) <= 1 and all(isinstance(e, DeltaCommitConflictError) for e in errors.values()), errors
    for name, exc in errors.items():  # the loser named the contested key; its job re-runs on the new version
        assert exc.keys == ["shared"]  # type: ignore[attr-defined]
        merge_delta_frame(
            _frame(spark, *changes[name]), loc, scope={"source": "docs"}, app_id=f"job-{name}", app_version=1, **kw
        )
    rows = _rows(loc)
    assert {k: v for k, v in rows.items() if k != "shared"} == {
        "k0": 0,
        "k1": 1,
        "k2": 2,
        "k3": 0,
        "k5": 0,
        "a1": 1,
        "b1": 2,
    }
    assert rows["shared"] in (1, 2)
    table = DeltaTable(loc)
    assert table.transaction_version("job-a") == table.transaction_version("job-b") == 1
    vectors = read_version(table, loc, ["id", "v", "embedding"]).to_pylist()
    assert all(np.allclose(r["embedding"], [float(r["v"]) + 1.0] * DIM) for r in vectors), "vectors moved with rows"
