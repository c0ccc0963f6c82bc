"""The rows the ANN path hands the engine: the index's candidates, with payload columns joined back by key.

The index answers at a table snapshot S (an Iceberg snapshot id, a Delta version) with rows that *are* the table's
rows at S: its Lance version tagged for S (or the indexed version with the rows of files removed since excluded, plus
the rows of files added since read exactly from the table, the exact tail). Each candidate carries its key, its full
vector (Lance re-ranks with it anyway) and the columns the index stores. So the engine needs nothing more from the
table when the query reads only those columns: the index *covers* the query. Otherwise only the missing *payload*
columns are read, for the candidates' keys, from the data files the candidates came from (``_file``: an Iceberg data
file, a Delta add action), projected to key + payload and filtered on the key (Parquet row groups whose key
statistics exclude every candidate are skipped).

Either way the engine receives the candidates as one small relation (a registered Arrow table on DuckDB, a local
DataFrame's view on Spark) in place of the table, and evaluates the query over it itself: scores, ORDER BY, LIMIT,
joins to other tables. Rows tied on every ORDER BY key may come out in another order than a full scan gives them
(SQL leaves that order open).

Why not let the engine read the candidates back from the table (``... AT (VERSION => S) WHERE key IN (...)``), as
this path first did: that read was most of the query's time, because DuckDB's Iceberg scan decodes the whole vector
column of every file to find ten rows and fetches the table's metadata from the catalog for every query (slow even
for ``count(*)``). Reading only the payload columns for the candidates' keys (:mod:`lakehouse.table.payload`) costs a
few milliseconds, and nothing when the index covers the query; the benchmark's top-10 query became many times faster
(figures: BENCHMARKS.md, design measurements, 'candidate payload join'). Anything unexpected (a candidate's file
no longer live at S, a key found twice or not at all) returns ``None`` and the executor falls back to that general
key-restricted read, so answers never depend on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from lakehouse.index.store import FILE_COLUMN, SCORE_COLUMN
from lakehouse.table.payload import PayloadReader
from lakehouse.vector import to_fixed_size_list

if TYPE_CHECKING:
    from lakehouse.index.results import SearchResult
    from lakehouse.sql.resolve import LakeTable

__all__ = ["Candidates", "CandidateReader", "columns_read"]

_FILE_SETS = 16  # (table, snapshot) file listings kept per executor


@dataclass(frozen=True)
class Candidates:
    """The candidate rows as the engine reads them: the table's columns the query needs, in table order."""

    rows: pa.Table
    payload: tuple[str, ...]  # columns read from the table's data files (empty: the index covers the query)
    files: int  # data files read for them
    unit: str = "snapshot"  # what the table's format calls a snapshot (Delta: version)

    def describe(self) -> str:
        if not self.payload:
            return "key, vector and stored columns from the index (it covers the query)"
        return (
            f"key, vector and stored columns from the index; {', '.join(self.payload)} read by key from "
            f"{self.files} data file(s) at the same {self.unit}"
        )


def columns_read(select: exp.Select, node: exp.Table, lake: LakeTable) -> tuple[str, ...] | None:
    """The columns of ``node``'s table that ``select`` reads, in table order; ``None`` when it reads them all.

    Conservative: ``*`` and ``alias.*``, a bare reference to the table itself (a whole-row struct on DuckDB) and
    ``COLUMNS(...)`` read every column; a name that could be this table's column (unqualified, or under a qualifier
    that is not another table of the SELECT, e.g. a struct field path) counts as read.
    """
    alias = node.alias_or_name.lower()
    ours = {c.lower(): c for c in lake.columns}
    frm = select.args.get("from_")
    sources = [frm.this] if frm else []
    sources += [j.this for j in select.args.get("joins") or []]
    others = {s.alias_or_name.lower() for s in sources if s is not node}
    found: set[str] = set()
    for n in select.walk():
        if isinstance(n, exp.Columns):
            return None
        if isinstance(n, exp.Star):
            parent = n.parent
            if isinstance(parent, exp.Column):
                qualifier = parent.table.lower()
                if qualifier in others and qualifier != alias:
                    continue
                return None
            if isinstance(parent, exp.Select | exp.Subquery | exp.Union) or parent is None:
                return None
            continue  # COUNT(*) and the like read no column
        if not isinstance(n, exp.Column) or isinstance(n.this, exp.Star):
            continue
        parts = [p.lower() for p in (n.catalog, n.db, n.table, n.name) if p]
        if len(parts) > 1 and parts[0] in others and parts[0] != alias:
            continue
        if len(parts) == 1 and parts[0] == alias and parts[0] not in ours:
            return None  # the table as a struct value
        found |= {ours[p] for p in parts if p in ours}
    return tuple(c for c in lake.columns if c in found)


class CandidateReader:
    """Builds :class:`Candidates` for one executor (its payload reader keeps file listings and footers)."""

    def __init__(self, row_group_mb: int | None = None) -> None:
        self.payload = PayloadReader(row_group_mb)

    def read(self, lake: LakeTable, column: str, reads: Sequence[str] | None, found: SearchResult) -> Candidates | None:
        """The candidates of ``found`` (a search run ``with_vectors``) with the columns in ``reads`` (None: all).

        ``None`` when the rows cannot be assembled exactly (the caller then reads them from the table).
        """
        if found.plan.snapshot_id is None:
            return None
        hits = found.table
        if column not in hits.column_names:
            return None
        wanted = list(lake.columns) if reads is None else list(reads)
        key = found.key
        if key not in wanted:
            wanted.insert(0, key)  # the join key; harmless to the query (it never names it)
        schema = _arrow_schema(lake)
        from_index = set(hits.column_names) - {SCORE_COLUMN, FILE_COLUMN}  # the index's score is not a column
        payload = tuple(c for c in wanted if c not in from_index)
        fields = [pa.field(n, schema.field(n).type) for n in wanted]
        unit = lake.table.snapshot_unit
        if not hits.num_rows:
            return Candidates(pa.schema(fields).empty_table(), payload, 0, unit)
        extra, files = hits, 0
        if payload:
            read = self._payload(lake, found.plan.snapshot_id, key, hits, payload)
            if read is None:
                return None
            extra, files = read
        columns = [
            _as_type((extra if name in payload else hits).column(name), f.type, name)
            for name, f in zip(wanted, fields, strict=True)
        ]
        return Candidates(pa.Table.from_arrays(columns, schema=pa.schema(fields)), payload, files, unit)

    def _payload(
        self, lake: LakeTable, snapshot_id: int, key: str, hits: pa.Table, payload: Sequence[str]
    ) -> tuple[pa.Table, int] | None:
        """``payload`` columns for the keys of ``hits``, in ``hits`` order, and the number of files read."""
        files = list(dict.fromkeys(hits.column(FILE_COLUMN).to_pylist())) if FILE_COLUMN in hits.column_names else None
        return self.payload.read(lake.table, snapshot_id, key, hits.column(key), payload, files)


def _arrow_schema(lake: LakeTable) -> pa.Schema:
    """The table's columns as the engine sees them: vector columns as ``fixed_size_list<float32, dim>``."""
    schema = lake.table.arrow_schema()
    for name, spec in lake.specs.items():
        i = schema.get_field_index(name)
        if i >= 0:
            schema = schema.set(i, pa.field(name, pa.list_(pa.float32(), spec.dim), nullable=False))
    return schema


def _as_type(values: pa.Array | pa.ChunkedArray, to: pa.DataType, name: str) -> pa.ChunkedArray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if pa.types.is_fixed_size_list(to) and not pa.types.is_fixed_size_list(values.type):
        values = to_fixed_size_list(values, to.list_size, column=name)
    return pa.chunked_array([values.cast(to)], type=to)
