"""Lance indexes on Delta tables, version by version: what is specific to Delta (the shared behaviour is tested on both
formats in tests/index/test_index.py).

Every index here is flat (exact inside Lance), so a search must return exactly the rows exact search over the table
returns at the same version: recall 1.0, with no tolerance.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable, TableFeatures, write_deltalake

from lakehouse.config import Settings
from lakehouse.errors import UnsupportedDeltaFeatureError, VectorIndexError
from lakehouse.index import build, open_index, refresh, status
from lakehouse.index.store import IndexStore
from lakehouse.table.delta import DeltaVectorTable
from lakehouse.vector import VectorSpec, to_numpy, top_k, vector_type

DIM = 8
LANGS = np.array(["en", "fr", "pt br", "de/at"])  # partition values the log URL-encodes
SCHEMA = pa.schema(
    [("key", pa.string()), ("lang", pa.string()), ("n", pa.int64()), ("embedding", pa.list_(pa.float32()))]
)
WHERES = (None, "lang = 'pt br'", "n >= 100 and n < 900", "lang in ('en', 'de/at') and n < 5000")


def rows(rng: np.random.Generator, ids: range | list[int], keys: list[str] | None = None) -> pa.Table:
    ids = list(ids)
    m = rng.normal(size=(len(ids), DIM)).astype(np.float32)
    return pa.table(
        {
            "key": keys or [f"k{i:06d}" for i in ids],
            "lang": LANGS[np.asarray(ids) % len(LANGS)],
            "n": pa.array(ids, pa.int64()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), type=vector_type(DIM)),
        }
    )


def storage(data: pa.Table) -> pa.Table:
    return pa.Table.from_arrays([data.column(f.name).cast(f.type) for f in SCHEMA], schema=SCHEMA)


def new_table(settings: Settings, rng: np.random.Generator, count: int = 400) -> DeltaVectorTable:
    vt = DeltaVectorTable.create(
        f"delta_index.t{uuid.uuid4().hex[:10]}",
        SCHEMA,
        vectors=[VectorSpec("embedding", dim=DIM, metric="cosine")],
        key="key",
        settings=settings,
        partition_by=["lang"],
    )
    vt.append(rows(rng, range(count)))
    return vt


def exact(vt: DeltaVectorTable, q: np.ndarray, k: int, version: int, where: str | None) -> tuple[list[str], np.ndarray]:
    """Exact top-k through delta-rs's own SQL engine (DataFusion), not the index's file reader."""
    data = vt.to_arrow(version=version, columns=["key", "embedding"], row_filter=where or "TRUE")
    idx, scores = top_k(to_numpy(data.column("embedding"), DIM), q, k, "cosine")
    return [data.column("key")[int(i)].as_py() for i in idx], scores


def check(
    vt: DeltaVectorTable, settings: Settings, rng: np.random.Generator, path: str, as_of: int | None = None
) -> None:
    index = open_index(vt, "embedding", settings=settings)
    version = vt.version if as_of is None else as_of
    for where in WHERES:
        q = rng.normal(size=DIM).astype(np.float32)
        res = index.search(q, 10, where=where, as_of=as_of)
        assert res.plan.path == path, res.plan
        keys, scores = exact(vt, q, 10, version, where)
        assert res.keys == keys, (where, res.plan)
        np.testing.assert_allclose(res.scores, scores, rtol=1e-5, atol=1e-5)


def added_files(vt: DeltaVectorTable, base: int, target: int) -> set[str]:
    def paths(version: int) -> set[str]:
        return set(pa.table(DeltaTable(vt.location, version=version).get_add_actions()).column("path").to_pylist())

    return paths(target) - paths(base)


def test_refresh_follows_delta_versions_and_reads_only_added_files(lake_settings, monkeypatch):  # noqa: ANN001
    rng = np.random.default_rng(41)
    vt = new_table(lake_settings, rng)
    assert build(vt, "embedding", index_type="flat", store=["lang", "n"], settings=lake_settings).to_snapshot == 1
    check(vt, lake_settings, rng, "index")
    read: list[str] = []
    refreshing = [False]
    real_read_files, real_read = DeltaVectorTable.read_files, DeltaVectorTable.read

    def spy(self, snapshot_id, tasks, columns):  # noqa: ANN001, ANN202
        read.extend(t.file.file_path for t in tasks)
        return real_read_files(self, snapshot_id, tasks, columns)

    def full_read(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        assert not refreshing[0], "a refresh read the whole table"
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(DeltaVectorTable, "read_files", spy)
    monkeypatch.setattr(DeltaVectorTable, "read", full_read)

    def step(change: str) -> None:
        before = vt.refresh().version
        if change == "append":
            vt.append(rows(rng, range(5000 + 100 * before, 5000 + 100 * before + 60)))
        elif change == "overwrite":  # replaceWhere: files holding the keys are rewritten, new vectors added
            keys = [f"k{i:06d}" for i in range(10, 30)]
            quoted = ", ".join(f"'{k}'" for k in keys)
            write_deltalake(
                vt.delta, storage(rows(rng, range(10, 30))), mode="overwrite", predicate=f"key IN ({quoted})"
            )
        elif change == "delete":
            vt.delta.delete("n >= 200 and n < 260")
        elif change == "merge":  # UPDATE by key: the same keys with new vectors, plus one new key
            source = storage(
                rows(rng, [300, 301, 302, 303, 5002], keys=[f"k{i:06d}" for i in (300, 301, 302, 303)] + ["new"])
            )
            (
                vt.delta.merge(source, "t.key = s.key", source_alias="s", target_alias="t")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        elif change == "metadata":  # a new version with no data change
            vt.delta.alter.set_table_properties({"owner": "tests"}, raise_if_not_exists=False)
        vt.refresh()
        assert vt.version == before + 1
        # the index lags: indexed rows minus removed files, plus the new files scanned exactly
        check(vt, lake_settings, rng, "index+tail")
        read.clear()
        refreshing[0] = True
        res = refresh(vt, "embedding", settings=lake_settings)
        refreshing[0] = False
        assert (res.action, res.from_snapshot, res.to_snapshot) == ("incremental", before, before + 1)
        assert set(read) == added_files(vt, before, before + 1) and bool(read) == (change != "metadata"), change
        assert vt.refresh().version == before + 1  # recording the indexed version made no Delta commit
        check(vt, lake_settings, rng, "index")
        assert refresh(vt, "embedding", settings=lake_settings).action == "noop"

    for change in ("append", "overwrite", "delete", "merge", "metadata", "append"):
        step(change)
    st = status(vt, "embedding", settings=lake_settings)
    assert st.up_to_date and st.rows == vt.count() and st.tagged_snapshots == tuple(range(1, vt.version + 1))
    # as of every tagged version: the tagged index version, equal to exact search at that version
    for version in (1, 3, 5):
        check(vt, lake_settings, rng, "index", as_of=version)
    assert "snapshot-id" not in json.dumps(vt.properties)
    record = Path(f"{IndexStore(vt, 'embedding', settings=lake_settings).local_path}.indexed")
    assert json.loads(record.read_text())["snapshot"] == vt.version


def test_as_of_an_untagged_version_is_exact_and_says_why(lake_settings):  # noqa: ANN001
    rng = np.random.default_rng(43)
    vt = new_table(lake_settings, rng)
    vt.append(rows(rng, range(1000, 1100)))  # version 2: never indexed
    vt.delta.delete("n < 50")  # version 3
    vt.refresh()
    build(vt, "embedding", index_type="flat", store=["lang"], settings=lake_settings)
    index = open_index(vt, "embedding", settings=lake_settings)
    q = rng.normal(size=DIM).astype(np.float32)
    res = index.search(q, 10, as_of=2, where="lang = 'fr'")
    assert res.plan.path == "exact" and "no index version is tagged for snapshot 2 (tagged: 3)" in res.plan.reason
    assert res.keys == exact(vt, q, 10, 2, "lang = 'fr'")[0]
    with pytest.raises(VectorIndexError, match="has no snapshot 9") as info:
        index.search(q, 10, as_of=9)
    assert info.value.problem == "snapshot"


def test_refresh_after_restore_and_log_cleanup(lake_settings):  # noqa: ANN001
    rng = np.random.default_rng(47)
    vt = new_table(lake_settings, rng)
    build(vt, "embedding", index_type="flat", store=["lang", "n"], settings=lake_settings)
    vt.append(rows(rng, range(2000, 2100)))
    vt.delta.delete("n < 100")
    vt.refresh()
    assert refresh(vt, "embedding", settings=lake_settings).to_snapshot == 3
    vt.delta.restore(1)  # version 4 holds version 1's files again
    vt.refresh()
    res = refresh(vt, "embedding", settings=lake_settings)
    assert res.action == "incremental" and res.to_snapshot == 4
    check(vt, lake_settings, rng, "index")
    # the log before a checkpoint expires: the index's own file labels stand in for the indexed version
    vt.append(rows(rng, range(3000, 3050)))
    vt.delta.create_checkpoint()
    log = Path(vt.location.removeprefix("file://")) / "_delta_log"
    for version in range(0, 5):
        (log / f"{version:020d}.json").unlink()
    vt.refresh()
    res = refresh(vt, "embedding", settings=lake_settings)
    assert (res.action, res.files_removed, res.rows_added) == ("incremental", 0, 50)
    check(vt, lake_settings, rng, "index")
    assert status(vt, "embedding", settings=lake_settings).tagged_snapshots == (5,)  # older versions cannot be read


def test_deletion_vectors_are_refused_clearly(lake_settings):  # noqa: ANN001
    rng = np.random.default_rng(53)
    vt = new_table(lake_settings, rng)
    build(vt, "embedding", settings=lake_settings)
    vt.delta.alter.add_feature(TableFeatures.DeletionVectors, allow_protocol_versions_increase=True)
    vt.refresh()
    with pytest.raises(UnsupportedDeltaFeatureError, match="deletionVectors"):
        refresh(vt, "embedding", settings=lake_settings)
    assert IndexStore(vt, "embedding", settings=lake_settings).indexed_snapshot() == 1


def test_table_method_and_cli_find_a_delta_index_without_being_told_the_format(lake_settings):  # noqa: ANN001
    from lakehouse.cli.main import cli

    rng = np.random.default_rng(59)
    vt = new_table(lake_settings, rng)
    build(vt, "embedding", index_type="flat", store=["lang"], settings=lake_settings)
    # no settings: a table in the default layout (<warehouse>/_delta/...) names its warehouse
    again = DeltaVectorTable.load(vt.identifier, location=vt.location)
    q = rng.normal(size=DIM).astype(np.float32)
    res = again.index("embedding").search(q, 5)
    assert res.plan.path == "index" and res.keys == exact(vt, q, 5, vt.version, None)[0]
    env = {"LAKEHOUSE__CATALOG__URI": lake_settings.catalog.uri, "LAKEHOUSE__WAREHOUSE": lake_settings.warehouse}
    env["LAKEHOUSE__CATALOG__CREDENTIAL"] = str(lake_settings.catalog.credential)
    r = CliRunner().invoke(
        cli, ["--home", str(lake_settings.home), "index", "status", vt.identifier, "-o", "json"], env=env
    )
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)[0]
    assert info["indexed_snapshot"] == vt.version and info["up_to_date"] and "/_lance/_delta/" in info["uri"]
