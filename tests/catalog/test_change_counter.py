"""The embedded service's change counter: a warm client on the same machine skips the catalog round trip while no
write has finished, and still sees every commit at its next load (lakehouse.catalog_client.changes)."""

from __future__ import annotations

import httpx
import pyarrow as pa
import pytest

from lakehouse.catalog_client.changes import CHANGES_FILE, read_changes
from lakehouse.config import load_settings
from lakehouse.embed import get_model
from lakehouse.table import VectorTable, load_catalog
from lakehouse.vector import VectorSpec

pytestmark = pytest.mark.integration


def _rows(n: int, start: int) -> pa.Table:
    vectors = get_model("hash-16").embed([f"row {i}" for i in range(start, start + n)])
    return pa.table({"id": [f"r{i:04d}" for i in range(start, start + n)], "embedding": pa.array(list(vectors))})


@pytest.fixture
def own(catalog_service, tmp_path):  # noqa: ANN001, ANN201
    """Settings of a client in the service's own state folder (as the embedded default is)."""
    return load_settings(
        home=str(tmp_path),
        state_dir=str(catalog_service.state_dir),
        catalog={"uri": catalog_service.uri},
        warehouse=catalog_service.warehouse,
        environ={},
    )


def test_loads_skip_the_round_trip_until_a_write_finishes(own, lake_settings, catalog_service) -> None:  # noqa: ANN001
    counter = catalog_service.state_dir / CHANGES_FILE
    spec = VectorSpec("embedding", dim=16, model="hash-16")
    VectorTable.create("changes.t", _rows(1, 0).schema, vectors=[spec], key="id", settings=lake_settings).append(
        _rows(5, 0)
    )
    reader = load_catalog(own)
    first = reader.load_table("changes.t")
    stamp = read_changes(counter)
    assert stamp is not None
    for _ in range(3):
        assert reader.load_table("changes.t").metadata_location == first.metadata_location
    assert reader.loads["unchanged"] == 3 and reader.loads["not_modified"] == 0
    # reads never move the counter (the listing, a load, a token)
    httpx.get(f"{catalog_service.uri}/v1/namespaces", headers=catalog_service.headers())
    assert read_changes(counter) == stamp

    # another client (not ours: no counter) commits; the reader's very next load sees the new snapshot
    writer = VectorTable.load("changes.t", catalog=load_catalog(lake_settings), settings=lake_settings)
    writer.append(_rows(3, 100))
    assert read_changes(counter) != stamp
    seen = reader.load_table("changes.t")
    assert seen.metadata_location == writer.refresh().iceberg.metadata_location
    assert seen.current_snapshot().snapshot_id == writer.iceberg.current_snapshot().snapshot_id
    assert reader.loads["full"] == 2  # the first load, and the one after the commit
    # a write to another table moves the counter too: the reader asks once (304), then skips again
    VectorTable.create("changes.other", _rows(1, 0).schema, vectors=[spec], key="id", settings=lake_settings)
    reader.load_table("changes.t")
    reader.load_table("changes.t")
    assert reader.loads["not_modified"] == 1 and reader.loads["unchanged"] == 4


def test_without_a_readable_counter_every_load_asks(own, catalog_service, lake_settings, tmp_path) -> None:  # noqa: ANN001
    spec = VectorSpec("embedding", dim=16, model="hash-16")
    VectorTable.create("changes.asked", _rows(1, 0).schema, vectors=[spec], key="id", settings=lake_settings)
    # a client of another state folder (an external catalog, as far as it knows) never trusts a counter
    other = load_catalog(lake_settings)
    other.load_table("changes.asked")
    other.load_table("changes.asked")
    assert other.loads["unchanged"] == 0 and other.loads["not_modified"] == 1
    # a counter file that is short or gone: ask
    assert read_changes(tmp_path / "missing") is None
    (tmp_path / "short").write_bytes(b"abc")
    assert read_changes(tmp_path / "short") is None
