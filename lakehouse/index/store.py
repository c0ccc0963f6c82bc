"""The Lance dataset behind one (table, vector column) index: where it lives, what it records, its tags and lock.

Layout: ``<warehouse>/_lance/<namespace>/<table>/<column>.lance`` (Delta tables: ``_lance/_delta/<namespace>/...``).
Rows hold the table's key, the vector as ``fixed_size_list<float32, dim>``, the columns stored for filtering and
``_file``, the data file the row came from (what an incremental refresh deletes by). Every index version that reflects
a table snapshot (an Iceberg snapshot id, a Delta version) is tagged ``snapshot-<id>``, and the snapshot the index is
at is recorded last: an Iceberg table records it in ``lakehouse.index.<column>.snapshot-id``; a Delta table cannot
without a new version (:attr:`lakehouse.table.VectorTable.properties_without_snapshot`), so it is written beside
the dataset, in ``<column>.lance.indexed`` (replaced atomically). Readers open the tagged version named by that
record, so a refresh that dies half-way never shows through.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.config import Settings, load_settings
from lakehouse.errors import VectorIndexError
from lakehouse.table.files import FILE_COLUMN

if TYPE_CHECKING:
    import lance

    from lakehouse.table.vector_table import VectorTable

SCORE_COLUMN = "score"
RESERVED = frozenset({FILE_COLUMN, SCORE_COLUMN, "_distance", "_rowid"})
META_KEY = "lakehouse.index"
TAG_PREFIX = "snapshot-"
FORMAT_VERSION = 1


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with the index dataset's column types, in its column order (the columns of ``schema`` that
    ``table`` has). Data files disagree with the index on physical types: Spark writes ``string`` where pyiceberg's
    schema (and so the Lance dataset) says ``large_string``, likewise binary and list widths, so every batch that
    crosses into Lance or is compared with its rows is cast here first."""
    names = [f.name for f in schema if f.name in table.column_names]
    target = pa.schema([schema.field(n) for n in names], metadata=schema.metadata)
    picked = table.select(names)
    return picked if picked.schema.equals(target, check_metadata=True) else picked.cast(target)


def snapshot_property(column: str) -> str:
    """The Iceberg table property that records the snapshot an index is at."""
    return f"lakehouse.index.{column}.snapshot-id"


def tag_name(snapshot_id: int) -> str:
    return f"{TAG_PREFIX}{snapshot_id}"


@dataclass(frozen=True)
class IndexMeta:
    """What an index was built from and with.

    Kept in the Lance schema metadata (JSON), so the dataset describes itself.
    """

    table: str
    column: str
    key: str
    store: tuple[str, ...]
    dim: int
    metric: str
    model: str | None = None
    model_version: str | None = None
    index_type: str = "flat"
    requested: str = "auto"
    params: Mapping[str, Any] = field(default_factory=dict)
    format: int = FORMAT_VERSION
    overrides: tuple[str, ...] = ()  # params the user set at build time: kept when params are chosen again
    text: tuple[str, ...] = ()  # stored columns with a full-text (BM25) index: lakehouse.index.fulltext

    def spec_fingerprint(self) -> tuple[object, ...]:
        return (self.dim, self.metric, self.model, self.model_version)

    def to_json(self) -> str:
        out = asdict(self)
        out["store"] = list(self.store)
        out["params"] = dict(self.params)
        out["overrides"] = list(self.overrides)
        out["text"] = list(self.text)
        return json.dumps(out, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> IndexMeta:
        raw = json.loads(text)
        raw["store"] = tuple(raw.get("store") or ())
        raw["overrides"] = tuple(raw.get("overrides") or ())
        raw["text"] = tuple(raw.get("text") or ())
        return cls(**raw)


def warehouse_of(table: VectorTable, settings: Settings | None) -> str:
    """The warehouse URI: from settings when given, else the table's own (an Iceberg catalog's ``warehouse``)."""
    if settings is not None:
        return settings.warehouse.rstrip("/")
    return (table.warehouse() or load_settings().warehouse).rstrip("/")


class IndexStore:
    """Paths, tags, versions, the advisory lock and version cleanup of one index dataset."""

    def __init__(self, table: VectorTable, column: str, *, settings: Settings | None = None) -> None:
        self.table = table
        self.source = table  # what the index follows: the table's snapshots, files and rows (its protocol)
        self.column = column
        self.settings = settings
        self.uri = f"{warehouse_of(table, settings)}/_lance/{table.warehouse_path()}/{column}.lance"
        self.identifier = table.identifier

    # -- location ---------------------------------------------------------------------------------------------
    @property
    def local_path(self) -> Path | None:
        if self.uri.startswith("file://"):
            return Path(self.uri[len("file://") :])
        if "://" not in self.uri:
            return Path(self.uri)
        return None

    @property
    def lance_uri(self) -> str:
        """What to hand to ``lance``: a plain path for local datasets, the URI otherwise."""
        local = self.local_path
        return str(local) if local is not None else self.uri

    def exists(self) -> bool:
        local = self.local_path
        if local is not None:
            return (local / "_versions").is_dir()
        try:
            self.open()
        except VectorIndexError:
            return False
        return True

    def size_bytes(self) -> int | None:
        local = self.local_path
        if local is None or not local.exists():
            return None
        return sum(p.stat().st_size for p in local.rglob("*") if p.is_file())

    # -- opening ----------------------------------------------------------------------------------------------
    def open(self, version: int | str | None = None) -> lance.LanceDataset:
        import lance

        try:
            return lance.dataset(self.lance_uri, version=version)
        except (ValueError, OSError) as exc:
            raise VectorIndexError(
                f"no index on {self.identifier}.{self.column}"
                + (f" at version {version!r}" if version is not None else "")
                + f" ({self.uri})",
                hint=f"build it with `lakehouse index build {self.identifier} --column {self.column}`",
                table=self.identifier,
                column=self.column,
                problem="missing",
            ) from exc

    def meta(self, ds: lance.LanceDataset) -> IndexMeta:
        raw = (ds.schema.metadata or {}).get(META_KEY.encode())
        if raw is None:
            raise VectorIndexError(
                f"{self.uri} is not a lakehouse index (no {META_KEY} schema metadata)",
                hint="remove the folder and build the index again",
                table=self.identifier,
                column=self.column,
                problem="corrupt",
            )
        return IndexMeta.from_json(raw.decode())

    # -- the snapshot the index is at ------------------------------------------------------------------------------
    def indexed_snapshot(self) -> int | None:
        """The snapshot recorded by the last finished build or refresh (in the table, or beside the dataset)."""
        if self.table.properties_without_snapshot:
            value = self.table.properties.get(snapshot_property(self.column))
            return int(value) if value else None
        raw = self._read_record()
        if raw is None:
            return None
        try:
            return int(json.loads(raw)["snapshot"])
        except (ValueError, KeyError, TypeError) as exc:
            raise VectorIndexError(
                f"the index record {self.record_uri} is unreadable ({exc})",
                hint=f"rebuild: `lakehouse index build {self.identifier} --column {self.column}`",
                table=self.identifier,
                column=self.column,
                problem="corrupt",
            ) from exc

    @property
    def record_uri(self) -> str:
        return f"{self.uri}.indexed"

    def _read_record(self) -> str | None:
        from pyarrow import fs

        local = self.local_path
        if local is not None:
            path = local.parent / f"{local.name}.indexed"
            return path.read_text() if path.exists() else None
        filesystem, key = fs.FileSystem.from_uri(self.record_uri)
        if filesystem.get_file_info(key).type == fs.FileType.NotFound:
            return None
        with filesystem.open_input_stream(key) as f:
            return bytes(f.read()).decode()

    def _write_record(self, snapshot_id: int) -> None:
        """Replace the record in one step: a rename on a local disk, a single object write on object storage."""
        from pyarrow import fs

        body = json.dumps({"snapshot": snapshot_id, "table": self.identifier, "column": self.column}).encode()
        local = self.local_path
        if local is not None:
            tmp = local.parent / f".{local.name}.indexed.{os.getpid()}"
            tmp.write_bytes(body)
            os.replace(tmp, local.parent / f"{local.name}.indexed")
            return
        filesystem, path = fs.FileSystem.from_uri(self.record_uri)
        with filesystem.open_output_stream(path) as f:
            f.write(body)

    def tags(self, ds: lance.LanceDataset) -> dict[int, int]:
        """Tagged versions: table snapshot id -> Lance version."""
        out: dict[int, int] = {}
        for name, info in ds.tags.list().items():
            if name.startswith(TAG_PREFIX):
                with contextlib.suppress(ValueError):
                    out[int(name[len(TAG_PREFIX) :])] = int(info["version"])
        return out

    def commit(self, ds: lance.LanceDataset, snapshot_id: int) -> None:
        """Tag the dataset's version with the snapshot, then record the snapshot (in the table, or beside the dataset
        for Delta): always the last step."""
        name = tag_name(snapshot_id)
        if name in ds.tags.list():
            ds.tags.update(name, ds.version)
        else:
            ds.tags.create(name, ds.version)
        if self.table.properties_without_snapshot:
            self.table.set_properties({snapshot_property(self.column): str(snapshot_id)})
        else:
            self._write_record(snapshot_id)

    # -- housekeeping -----------------------------------------------------------------------------------------
    def cleanup(self, ds: lance.LanceDataset, *, retention: timedelta, keep_tags: int) -> int:
        """Drop tags of expired or old snapshots (keeping the newest ``keep_tags`` and the indexed one), then
        delete untagged versions older than ``retention``. Returns the number of versions removed."""
        tags = self.tags(ds)
        indexed = self.indexed_snapshot()
        alive = self.source.alive(tags)
        newest = sorted(tags.items(), key=lambda kv: kv[1], reverse=True)[:keep_tags]
        keep = {s for s, _ in newest if s in alive} | ({indexed} if indexed is not None else set())
        for snap in tags:
            if snap not in keep:
                ds.tags.delete(tag_name(snap))
        stats = ds.cleanup_old_versions(older_than=retention, error_if_tagged_old_versions=False)
        return int(getattr(stats, "old_versions", 0))

    @contextlib.contextmanager
    def lock(self, *, wait: float = 0.0) -> Iterator[None]:
        """An exclusive advisory lock (fcntl) for writers of this index; waits up to ``wait`` seconds, then fails."""
        local = self.local_path
        if local is not None:
            path = local.parent / f"{local.name}.lock"
        else:
            state = (self.settings or load_settings()).state_dir
            path = state / "locks" / (self.uri.replace("://", "_").replace("/", "_") + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise VectorIndexError(
                            f"another process is building or refreshing the index on {self.identifier}.{self.column}",
                            hint=f"wait for it to finish (or pass a longer wait); lock file: {path}",
                            table=self.identifier,
                            column=self.column,
                            problem="locked",
                        ) from None
                    time.sleep(0.1)
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
