"""Decoded row groups kept for reads by key: the same rows as a fresh read, within the budget, never a stale file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.table.row_groups import RowGroupCache


def _write(path: Path, n: int, seed: int) -> pq.FileMetaData:
    rng = np.random.default_rng(seed)
    table = pa.table(
        {
            "key": pa.array(np.arange(n, dtype=np.int64)),
            "title": [f"title {seed}-{i:05d}" for i in range(n)],  # one width: groups of one size
            "score": pa.array(rng.standard_normal(n)),
        }
    )
    pq.write_table(table, path, row_group_size=100)
    return pq.read_metadata(path)


def test_a_kept_read_is_the_fresh_read_in_the_order_asked(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    meta = _write(path, 1000, 1)
    cache = RowGroupCache(64)
    for groups, columns in [([3, 0, 7], ["key", "title"]), ([7, 3], ["title", "key", "score"]), ([0], ["score"])]:
        want = pq.ParquetFile(path).read_row_groups(groups, columns=columns)
        got = cache.read(str(path), meta, groups, columns)
        assert got.schema.names == want.schema.names and got.schema.types == want.schema.types
        assert got.to_pydict() == want.to_pydict()
    assert cache.hits > 0  # groups 3, 7 and 0 were asked for again


def test_the_budget_bounds_what_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    meta = _write(path, 5000, 2)
    one = RowGroupCache(64)
    one.read(str(path), meta, [0], ["title"])
    per_group = one._bytes
    small = RowGroupCache(1)
    small.max_bytes = 3 * per_group  # room for three groups' titles
    for g in range(50):
        assert small.read(str(path), meta, [g], ["title"]).column("title")[0].as_py() == f"title 2-{g * 100:05d}"
    assert small._bytes <= small.max_bytes and len(small._kept) == 3
    off = RowGroupCache(0)
    assert off.read(str(path), meta, [4, 1], ["key"]).column("key").to_pylist()[:2] == [400, 401]
    assert not off._kept


def test_a_file_replaced_on_disk_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    cache = RowGroupCache(64)
    old = _write(path, 1000, 3)
    assert cache.read(str(path), old, [1], ["title"]).column("title")[0].as_py() == "title 3-00100"
    new = _write(path, 1200, 4)  # the same name, other contents (no table format does this; a person might)
    assert cache.read(str(path), new, [1], ["title"]).column("title")[0].as_py() == "title 4-00100"


def test_rows_by_key_are_the_scans_rows_for_int_and_text_keys(tmp_path: Path) -> None:
    import pyarrow.compute as pc

    rng = np.random.default_rng(5)
    n = 3000
    ints = rng.permutation(n).astype(np.int64)
    ints[17] = ints[2017]  # one key twice (a caller must see both rows to refuse it)
    texts = [f"k-{i:x}" * (1 + i % 3) for i in ints]  # unequal widths
    path = tmp_path / "k.parquet"
    pq.write_table(pa.table({"key": ints, "tkey": texts, "v": np.arange(n)}), path, row_group_size=500)
    meta = pq.read_metadata(path)
    cache = RowGroupCache(64)
    groups = [0, 2, 4, 5]
    for column, pick in (("key", lambda i: int(ints[i])), ("tkey", lambda i: texts[i])):
        wanted = [pick(i) for i in (3, 17, 1200, 2999, 2500)] + ([n + 5] if column == "key" else ["k-zz" * 9, "k-"])
        keys = pa.array(wanted, pa.int64() if column == "key" else pa.string())
        for _ in range(2):  # the second time from the kept groups and their sorted keys
            got = cache.rows_with_keys(str(path), meta, groups, [column, "v"], keys)
            data = pq.ParquetFile(path).read_row_groups(groups, columns=[column, "v"])
            want = data.filter(pc.is_in(data.column(0), value_set=keys))
            assert got.to_pydict() == want.to_pydict()
        assert got.num_rows >= 4


def test_threads_sharing_the_store_read_the_same_rows_and_count_each_group_once(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "f.parquet"
    meta = _write(path, 4000, 6)
    cache = RowGroupCache(64)
    keys = pa.array([5, 1234, 3999, 2000], pa.int64())

    def read(i: int) -> dict[str, list[object]]:
        return cache.rows_with_keys(
            str(path), meta, [0, 12, 20, 39][i % 4 :] + [0, 12], ["key", "title"], keys
        ).to_pydict()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(read, range(64)))
    for i, got in enumerate(results):
        assert got == read(i)
    counted = sum(c.nbytes for _, c in cache._kept.values()) + sum(size for _, size in cache._indexes.values())
    assert cache._bytes == counted
