"""The full-text (BM25) leg of hybrid search: Lance's INVERTED index on a text column stored in the index dataset.

The text column (``chunk_text`` of an embeddings table) is stored in the index like any filter column, so build,
refresh (appends, deletes by ``_file``, rows of rewritten files kept by key) and ``as_of`` versions keep it in step
with the vectors without a second dataset. It gets an INVERTED index instead of the BITMAP other string columns get.
Lance answers full-text queries over rows appended since that index was written by scanning them (pylance 14), and a
fold brings the INVERTED index up to date with the other scalar indexes (:func:`lakehouse.index.build.fold`).

Rows Lance does not hold (table files newer than the index, or a search the index cannot answer at all) are ranked
by :func:`bm25`, a plain BM25 over those rows only (same k1 and b as Lance, lower-cased word tokens, English stop
words dropped, no stemming): its ranking is what rank fusion uses, so the statistics need not match Lance's.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from lakehouse.errors import VectorIndexError
from lakehouse.index.build import index_stored
from lakehouse.index.store import IndexMeta

if TYPE_CHECKING:
    import lance

    from lakehouse.table.vector_table import VectorTable

TEXT_SCORE = "_score"
K1 = 1.2  # Lance's BM25 constants
B = 0.75
_WORD = re.compile(r"\w+", re.UNICODE)
# a short English stop list: what a question adds to its content words
STOP_WORDS = frozenset(
    """a an and are as at be by can do does for from how i in is it of on or that the this to was what when where
    which who why will with you your""".split()
)


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens without stop words.

    >>> tokens("How do I VACUUM a table?")
    ['vacuum', 'table']
    """
    return [t for t in _WORD.findall(text.lower()) if t not in STOP_WORDS]


def index_columns(ds: lance.LanceDataset, meta: IndexMeta) -> None:
    """Scalar indexes of a freshly written index dataset: BITMAP/BTREE on the filter columns, INVERTED on the text
    columns (a BITMAP over unique passages would be as large as the text and useless for filters)."""
    text = set(meta.text)
    index_stored(ds, [c for c in meta.store if c not in text])
    for name in meta.text:
        # the defaults: simple tokenizer, lower case, English stemming and stop words, ascii folding
        ds.create_scalar_index(name, "INVERTED", replace=True)


def update_text(ds: lance.LanceDataset, meta: IndexMeta) -> None:
    """Bring the INVERTED indexes up to date with appended rows. Lance ranks the rows its index does not cover with
    statistics of their own (pylance 14: a row appended with "vacuum" three times ranked below an indexed row with it
    twice in as many words); after this update the scores equal those of a fresh build."""
    for entry in ds.describe_indices():
        if set(entry.field_names) & set(meta.text) and str(entry.index_type).lower().startswith("inverted"):
            ds.optimize.optimize_indices(index_names=[entry.name], num_indices_to_merge=len(entry.segments))


def text_store(store: Sequence[str], text: str | Sequence[str]) -> tuple[str, ...]:
    """The stored columns of an index with full-text columns ``text`` (they are stored too)."""
    names = (text,) if isinstance(text, str) else tuple(text)
    return tuple(dict.fromkeys([*store, *names]))


def with_text(meta: IndexMeta, text: str | Sequence[str], source: VectorTable) -> IndexMeta:
    """``meta`` with full-text columns ``text``, which must be string columns of the table."""
    import pyarrow as pa

    names = (text,) if isinstance(text, str) else tuple(text)
    schema = source.arrow_schema()
    bad = [n for n in names if not (pa.types.is_string(t := schema.field(n).type) or pa.types.is_large_string(t))]
    if bad:
        raise VectorIndexError(
            f"cannot full-text index column(s) {', '.join(bad)}: not string columns",
            hint="--text takes the table's text column (chunk_text in an embeddings table)",
            table=source.identifier,
            column=meta.column,
            problem="text",
        )
    return replace(meta, text=tuple(dict.fromkeys(names)))


def carry_text(meta: IndexMeta, old: IndexMeta | None) -> IndexMeta:
    """A rebuilt index keeps the full-text columns of the one it replaces (those still stored)."""
    if old is None or not old.text:
        return meta
    return replace(meta, text=tuple(c for c in old.text if c in meta.store))


def text_column(meta: IndexMeta, column: str | None = None) -> str:
    """The text column a full-text search of this index reads: ``column`` or the only one indexed."""
    indexed = meta.text
    if column is not None and column in indexed:
        return column
    if column is None and len(indexed) == 1:
        return indexed[0]
    where = f"{meta.table}.{meta.column}"
    if not indexed:
        raise VectorIndexError(
            f"the index on {where} has no full-text index",
            hint=f"rebuild it with one: `lakehouse index build {meta.table} --column {meta.column} --text chunk_text`"
            " (Python: build(..., text='chunk_text'))",
            table=meta.table,
            column=meta.column,
            problem="text",
        )
    raise VectorIndexError(
        f"the index on {where} has no full-text index on {column!r}" if column else f"{where} has several text indexes",
        hint=f"full-text indexed: {', '.join(indexed)}",
        table=meta.table,
        column=meta.column,
        problem="text",
    )


def lance_text_search(
    ds: lance.LanceDataset, column: str, query: str, limit: int, sql: str | None, keep: Sequence[str]
) -> pa.Table:
    """Lance's BM25 top ``limit`` rows of ``column`` for ``query`` (prefiltered by ``sql``), ``_score`` last."""
    if not tokens(query):
        return _empty(ds.schema, keep)
    return ds.to_table(
        full_text_query={"query": query, "columns": [column]},
        columns=[*keep, TEXT_SCORE],
        filter=sql,
        prefilter=True,
        limit=limit,
        disable_scoring_autoprojection=True,
    )


def bm25(texts: Sequence[str | None], query: str) -> np.ndarray:
    """BM25 scores of ``texts`` (statistics from these texts alone) for ``query``; 0 for rows with no query term.

    >>> [round(s, 3) for s in bm25(["vacuum a table", "analyze statistics", "vacuum full"], "vacuum")]
    [0.47, 0.0, 0.47]
    """
    terms = list(dict.fromkeys(tokens(query)))
    docs = [Counter(tokens(t or "")) for t in texts]
    n = len(docs)
    scores = np.zeros(n, dtype=np.float64)
    if not n or not terms:
        return scores
    lengths = np.array([sum(d.values()) for d in docs], dtype=np.float64)
    avg = float(lengths.mean()) or 1.0
    norm = K1 * (1 - B + B * lengths / avg)
    for term in terms:
        tf = np.array([d.get(term, 0) for d in docs], dtype=np.float64)
        df = int(np.count_nonzero(tf))
        if not df:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        scores += idf * tf * (K1 + 1) / (tf + norm)
    return scores


def local_text_search(rows: pa.Table, column: str, query: str, limit: int, keep: Sequence[str]) -> pa.Table:
    """The top ``limit`` rows of an Arrow table by :func:`bm25` on ``column`` (rows with no query term left out)."""
    scores = bm25(rows.column(column).to_pylist(), query) if rows.num_rows else np.zeros(0)
    hits = np.flatnonzero(scores > 0)
    order = hits[np.argsort(-scores[hits], kind="stable")][:limit]
    out = rows.select(list(keep)).take(pa.array(order, pa.int64()))
    return out.append_column(TEXT_SCORE, pa.array(scores[order], pa.float32()))


def _empty(schema: pa.Schema, keep: Sequence[str]) -> pa.Table:
    fields = [schema.field(c) for c in keep] + [pa.field(TEXT_SCORE, pa.float32())]
    return pa.schema(fields).empty_table()
