"""Questions a reviewer asks, answered from the per-row lineage columns, the Iceberg snapshots and the event store.

``trace``: which source row, at which snapshot, which exact text span, which model and which run made an embedding.
The span is re-read from the source table *as of the recorded snapshot*, so later edits do not change the answer,
and it is checked against ``content_sha256``.

``impact``: which embeddings of a source table are stale, and why. Staleness is decided per source row from the
lineage columns alone (no per-row hash column is needed in the embeddings table, and any text column works):
a row's chunks tile its text without gaps (``chunk_text``'s invariant), so the row is unchanged exactly when every
chunk's span of the *current* text hashes to its ``content_sha256`` and the chunks still end at the text's end.
Comparing chunk hashes alone would miss text appended after the last chunk or a row that now chunks differently;
comparing a per-row content hash would need that hash in the embeddings table. Reasons, one per source row, first
match wins: ``deleted`` (the key is gone), ``content_changed``, ``model_changed`` (the rows' model or model version
differ from the vector column's spec). For a changed row, only the chunks whose text or span changed are listed:
the current text is chunked again with the parameters the embeddings were made with (the embeddings table's
``lakehouse.embeddings.<source>.chunking`` property, ``size/overlap``), and a chunk is stale when its index no longer
exists or its span or text hash differ, exactly what the next embed run updates or deletes; chunks the new text adds
are counted in ``chunks_to_embed``. Without that property (a table not written by the embed job) every chunk of a
changed row is listed.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from lakehouse.errors import LineageError

if TYPE_CHECKING:
    from lakehouse.config import Settings
    from lakehouse.lineage.store import LineageStore
    from lakehouse.table import VectorTable


__all__ = ["LINEAGE_COLUMNS", "REASONS", "Impact", "RunInfo", "StaleRow", "Trace", "impact", "trace"]

Reason = Literal["deleted", "content_changed", "model_changed"]
REASONS: tuple[Reason, ...] = ("deleted", "content_changed", "model_changed")
LINEAGE_COLUMNS = (
    "embedding_id",
    "source_table",
    "source_key",
    "source_snapshot_id",
    "chunk_index",
    "chunk_start",
    "chunk_end",
    "content_sha256",
    "model",
    "model_version",
    "run_id",
)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    job_name: str
    state: str | None
    started_at: str | None
    ended_at: str | None
    parameters: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Trace:
    """Where one embedding came from. ``verified``: the re-read span hashes to the stored ``content_sha256``."""

    embedding_id: str
    embeddings_table: str
    source_table: str
    source_key: str
    source_snapshot_id: int
    text_column: str
    chunk_index: int
    chunk_start: int
    chunk_end: int
    text: str
    content_sha256: str
    verified: bool
    model: str
    model_version: str | None
    run_id: str | None
    run: RunInfo | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StaleRow:
    source_key: str
    reason: Reason
    embedding_ids: tuple[str, ...]  # the stale embeddings of the row (changed or vanished chunks)
    chunks_to_embed: int = 0  # chunks of the current text with no embedding yet (the edit added them)


@dataclass(frozen=True)
class Impact:
    """Stale embeddings of ``source_table`` in ``embeddings_table``, one entry per source row."""

    source_table: str
    embeddings_table: str
    source_snapshot_id: int | None
    embeddings_snapshot_id: int | None
    stale: tuple[StaleRow, ...]
    unembedded_keys: tuple[str, ...]  # source rows with text but no embedding yet (not stale, but to embed)

    @property
    def counts(self) -> dict[str, int]:
        """Stale source rows per reason (every reason present, zero included)."""
        out: dict[str, int] = dict.fromkeys(REASONS, 0)
        for row in self.stale:
            out[row.reason] += 1
        return out

    @property
    def embedding_counts(self) -> dict[str, int]:
        out: dict[str, int] = dict.fromkeys(REASONS, 0)
        for row in self.stale:
            out[row.reason] += len(row.embedding_ids)
        return out

    def keys(self, reason: Reason | None = None) -> list[str]:
        return sorted(r.source_key for r in self.stale if reason is None or r.reason == reason)

    def embedding_ids(self, reason: Reason | None = None) -> list[str]:
        return sorted(e for r in self.stale if reason is None or r.reason == reason for e in r.embedding_ids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_table": self.source_table,
            "embeddings_table": self.embeddings_table,
            "source_snapshot_id": self.source_snapshot_id,
            "embeddings_snapshot_id": self.embeddings_snapshot_id,
            "counts": self.counts,
            "embedding_counts": self.embedding_counts,
            "keys": {reason: self.keys(reason) for reason in REASONS},
            "stale": [asdict(r) for r in self.stale],
            "unembedded_keys": list(self.unembedded_keys),
        }


# -- helpers ------------------------------------------------------------------------------------------------------
def _text_column(embeddings: VectorTable, source: str, column: str | None, vector_column: str | None) -> str:
    if column:
        return column
    spec = embeddings.spec(vector_column)
    if spec.source_column:
        if spec.source_column.startswith(f"{source}."):
            return spec.source_column[len(source) + 1 :]
        return spec.source_column.rsplit(".", 1)[-1]
    return "text"


def _equal_to(column: str, value: str | int) -> str:
    """``column = value`` as a row filter the table reads by (a SQL predicate, whatever its format)."""
    if isinstance(value, int):
        return f"{column} = {int(value)}"
    return f"{column} = '" + value.replace("'", "''") + "'"


def _read_source(
    source: VectorTable, key_column: str, text_column: str, *, snapshot_id: int | None, key: str | None = None
) -> dict[str, str | None]:
    """``{str(key): text}`` of the source at ``snapshot_id`` (None: current), only row ``key`` when given."""
    import pyarrow as pa

    schema = source.arrow_schema()
    if snapshot_id is not None:
        if not source.has_snapshot(snapshot_id):
            raise LineageError(
                f"snapshot {snapshot_id} of {source.identifier} no longer exists (expired)",
                hint="the text as embedded cannot be re-read; keep snapshots as long as embeddings refer to them",
                snapshot_id=snapshot_id,
            )
        schema = source.schema_at(snapshot_id)
    missing = [c for c in (key_column, text_column) if c not in schema.names]
    if missing:
        raise LineageError(
            f"{source.identifier} has no column(s) {', '.join(missing)} at snapshot {snapshot_id}",
            hint="pass the key/text column names",
        )
    row_filter = None
    if key is not None:
        key_type = schema.field(key_column).type
        if pa.types.is_string(key_type) or pa.types.is_large_string(key_type):
            row_filter = _equal_to(key_column, key)
        elif pa.types.is_integer(key_type) and key.lstrip("-").isdigit():
            row_filter = _equal_to(key_column, int(key))
        # other key types: read and compare as strings below
    table = source.to_arrow(snapshot_id=snapshot_id, columns=[key_column, text_column], row_filter=row_filter)
    keys = [None if k is None else str(k) for k in table.column(key_column).to_pylist()]
    texts = table.column(text_column).to_pylist()
    return {k: t for k, t in zip(keys, texts, strict=True) if k is not None and (key is None or k == key)}


def _run_info(run_id: str | None, store: LineageStore) -> RunInfo | None:
    if not run_id:
        return None
    record = store.run(run_id)
    if record is None:
        return None
    return RunInfo(run_id, record.job_name, record.state, record.started_at, record.ended_at, record.parameters)


def _default_store(settings: Settings) -> LineageStore:
    from lakehouse.lineage.store import load_jsonl

    return load_jsonl(settings.lineage_path)


# -- trace --------------------------------------------------------------------------------------------------------
def trace(
    embeddings_table: VectorTable,
    embedding_id: str,
    settings: Settings,
    *,
    store: LineageStore | None = None,
    text_column: str | None = None,
    vector_column: str | None = None,
) -> Trace:
    """Where embedding ``embedding_id`` came from (``store``: the events; default: the JSONL file of ``settings``).

    Example::

        t = trace(VectorTable.load("docs.embeddings"), "3f2a...", settings)
        t.source_key, t.source_snapshot_id, t.text, t.run.started_at
    """
    from lakehouse.table import VectorTable

    present = set(embeddings_table.column_names())
    missing = [c for c in LINEAGE_COLUMNS if c not in present]
    if missing:
        raise LineageError(
            f"{embeddings_table.identifier} is not an embeddings table: no column(s) {', '.join(missing)}",
            hint="trace works on tables written by the embed job",
        )
    found = embeddings_table.to_arrow(columns=LINEAGE_COLUMNS, row_filter=_equal_to("embedding_id", embedding_id))
    rows = found.to_pylist()
    if not rows:
        raise LineageError(
            f"no embedding {embedding_id!r} in {embeddings_table.identifier}",
            hint='list ids with `lakehouse sql "SELECT embedding_id FROM ..."`',
            embedding_id=embedding_id,
        )
    row = rows[0]
    source_name = row["source_table"]
    snapshot_id = row["source_snapshot_id"]
    if snapshot_id is None:
        raise LineageError(f"embedding {embedding_id} records no source snapshot id", embedding_id=embedding_id)
    source = VectorTable.load(source_name, settings=settings)
    column = _text_column(embeddings_table, source_name, text_column, vector_column)
    key_column = source.key_column or "key"
    texts = _read_source(source, key_column, column, snapshot_id=snapshot_id, key=row["source_key"])
    if row["source_key"] not in texts:
        raise LineageError(
            f"row {row['source_key']!r} is not in {source_name} at snapshot {snapshot_id}",
            hint="the embeddings table and the source disagree; re-run the embed job",
            embedding_id=embedding_id,
        )
    full = texts[row["source_key"]] or ""
    span = full[row["chunk_start"] : row["chunk_end"]]
    return Trace(
        embedding_id=embedding_id,
        embeddings_table=embeddings_table.identifier,
        source_table=source_name,
        source_key=row["source_key"],
        source_snapshot_id=snapshot_id,
        text_column=column,
        chunk_index=row["chunk_index"],
        chunk_start=row["chunk_start"],
        chunk_end=row["chunk_end"],
        text=span,
        content_sha256=row["content_sha256"],
        verified=_sha256(span) == row["content_sha256"],
        model=row["model"],
        model_version=row["model_version"],
        run_id=row["run_id"],
        run=_run_info(row["run_id"], store if store is not None else _default_store(settings)),
    )


# -- impact -------------------------------------------------------------------------------------------------------
def _chunking(embeddings: VectorTable, source: str) -> tuple[int, int] | None:
    """(chunk size, overlap) the embed job recorded for ``source``, or None."""
    raw = embeddings.properties.get(f"lakehouse.embeddings.{source}.chunking", "")
    size, _, overlap = raw.partition("/")
    return (int(size), int(overlap)) if size.isdigit() and overlap.isdigit() else None


def _stale_chunks(
    text: str, chunks: Sequence[Mapping[str, Any]], chunking: tuple[int, int] | None
) -> tuple[list[str], int]:
    """The embedding ids of ``chunks`` whose span or text differ from the chunks of ``text``, and how many chunks of
    ``text`` have no embedding (see the module docs). Without ``chunking``: every chunk, and 0."""
    if chunking is None:
        return [c["embedding_id"] for c in chunks], 0
    from lakehouse.embed.chunking import chunk_text

    fresh = {c.index: c for c in chunk_text(text, chunk_size=chunking[0], overlap=chunking[1])}
    stale = []
    for c in chunks:
        new = fresh.get(c["chunk_index"])
        if (
            new is None
            or (new.start, new.end) != (c["chunk_start"], c["chunk_end"])
            or _sha256(new.text) != c["content_sha256"]
        ):
            stale.append(c["embedding_id"])
    known = {c["chunk_index"] for c in chunks}
    return stale, sum(1 for i in fresh if i not in known)


def _row_changed(text: str | None, chunks: Sequence[Mapping[str, Any]]) -> bool:
    if text is None:
        return True
    if min(c["chunk_start"] for c in chunks) != 0 or max(c["chunk_end"] for c in chunks) != len(text):
        return True
    return any(_sha256(text[c["chunk_start"] : c["chunk_end"]]) != c["content_sha256"] for c in chunks)


def impact(
    source_table: str | VectorTable,
    embeddings_table: VectorTable,
    settings: Settings,
    *,
    text_column: str | None = None,
    vector_column: str | None = None,
) -> Impact:
    """The embeddings of ``source_table`` in ``embeddings_table`` that are stale, and why (see the module docs).

    Example::

        imp = impact("docs.documents", VectorTable.load("docs.embeddings"), settings)
        imp.counts            # {'deleted': 1, 'content_changed': 3, 'model_changed': 0}
        imp.embedding_ids()   # what a re-embedding job replaces
    """
    import pyarrow.compute as pc

    from lakehouse.lineage.events import dataset_name
    from lakehouse.table import VectorTable

    source = (
        source_table if isinstance(source_table, VectorTable) else VectorTable.load(source_table, settings=settings)
    )
    name = dataset_name(source.identifier, settings)
    spec = embeddings_table.spec(vector_column)
    column = _text_column(embeddings_table, name, text_column, vector_column)
    current = _read_source(source, source.key_column or "key", column, snapshot_id=source.snapshot_id)
    chunking = _chunking(embeddings_table, name)

    rows = embeddings_table.to_arrow(columns=LINEAGE_COLUMNS)
    rows = rows.filter(pc.equal(rows.column("source_table"), name)).to_pylist()
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_key[r["source_key"]].append(r)

    stale: list[StaleRow] = []
    for key in sorted(by_key):
        chunks = by_key[key]
        reason: Reason | None = None
        ids = [c["embedding_id"] for c in chunks]
        to_embed = 0
        if key not in current:
            reason = "deleted"
        elif _row_changed(current[key], chunks):
            reason = "content_changed"
            ids, to_embed = _stale_chunks(current[key] or "", chunks, chunking)
        elif any(
            c["model"] != spec.model or (spec.model_version is not None and c["model_version"] != spec.model_version)
            for c in chunks
        ):
            reason = "model_changed"
        if reason is not None:
            stale.append(StaleRow(key, reason, tuple(sorted(ids)), to_embed))
    unembedded = sorted(k for k, t in current.items() if k not in by_key and t and not t.isspace())
    return Impact(
        source_table=name,
        embeddings_table=embeddings_table.identifier,
        source_snapshot_id=source.snapshot_id,
        embeddings_snapshot_id=embeddings_table.snapshot_id,
        stale=tuple(stale),
        unembedded_keys=tuple(unembedded),
    )
