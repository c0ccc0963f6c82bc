"""What an index is built from and with: its description (key, stored columns, spec, type and parameters chosen
from the row count and dimension), its Lance schema, and training the ANN structure on a Lance dataset.

Starting points measured on this project's 2-core machines (STACK.md): IVF_PQ trains with
``sample_rate=64, max_iters=10`` many times faster than with Lance's defaults, at the same recall, and reaches a high
recall@10 with ``refine_factor=10`` on the smaller tables measured but plateaus well below it on the largest, where
IVF_HNSW_SQ stays high (figures: BENCHMARKS.md, design measurements, 'IVF_PQ training'). Below a few tens of thousands
of rows an exact scan costs a few milliseconds, so no ANN structure is built at all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

from lakehouse.errors import VectorIndexError
from lakehouse.index.store import FILE_COLUMN, META_KEY, RESERVED, IndexMeta

if TYPE_CHECKING:
    import lance
    import pyarrow as pa

    from lakehouse.table.vector_table import VectorTable

IndexType = Literal["auto", "flat", "ivf_flat", "ivf_pq", "ivf_hnsw_sq"]
INDEX_TYPES: tuple[str, ...] = get_args(IndexType)

FLAT_MAX_ROWS = 20_000  # auto: below this, exact (flat) scan; no ANN structure
# auto: IVF_PQ up to here, IVF_HNSW_SQ above. PQ's recall falls as tables grow and is bought back on large ones only
# by re-ranking more candidates, at a higher latency; the switch point is interpolated, not measured (figures:
# BENCHMARKS.md, design measurements, 'IVF_PQ to IVF_HNSW_SQ').
PQ_MAX_ROWS = 300_000
MIN_TRAIN_ROWS = 256  # PQ codebooks need 256 rows; fewer rows stay flat until a refresh brings enough
_LANCE_TYPES = {"ivf_flat": "IVF_FLAT", "ivf_pq": "IVF_PQ", "ivf_hnsw_sq": "IVF_HNSW_SQ"}
_LANCE_METRICS = {"cosine": "cosine", "l2": "l2", "dot": "dot"}


@dataclass(frozen=True)
class IndexParams:
    """Training and default search parameters of one index (``None`` = not applicable to the type)."""

    index_type: str = "flat"
    num_partitions: int | None = None
    num_sub_vectors: int | None = None
    m: int | None = None  # HNSW graph degree
    ef_construction: int | None = None
    sample_rate: int = 64
    max_iters: int = 10
    nprobes: int | None = None  # search defaults, overridable per query
    refine_factor: int | None = None
    ef: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> IndexParams:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})

    @property
    def is_ann(self) -> bool:
        return self.index_type != "flat"


def _sub_vectors(dim: int) -> int:
    # 8 dimensions per PQ code (48 codes at 384-d): at 100k clustered 384-d vectors, 16 dimensions per code capped
    # recall@10 at 0.75 (refine 10) / 0.985 (refine 30), 8 reached 0.91 / 1.0 for the same build time
    for n in (dim // 8, dim // 4, dim // 16, dim // 2, 1):
        if n >= 1 and dim % n == 0:
            return n
    return 1


def choose_params(rows: int, dim: int, index_type: str = "auto", **overrides: Any) -> IndexParams:
    """The index type and parameters for ``rows`` vectors of ``dim`` dimensions; ``overrides`` replace fields.

    >>> choose_params(5_000, 384).index_type
    'flat'
    >>> p = choose_params(100_000, 384)
    >>> (p.index_type, p.num_partitions, p.num_sub_vectors, p.nprobes, p.refine_factor)
    ('ivf_pq', 316, 48, 20, 30)
    >>> p = choose_params(1_000_000, 384)
    >>> (p.index_type, p.num_partitions, p.m, p.nprobes, p.ef, p.refine_factor)
    ('ivf_hnsw_sq', 61, 16, 5, 252, 4)
    """
    if index_type not in INDEX_TYPES:
        raise VectorIndexError(
            f"unknown index type {index_type!r}", hint=f"use one of {', '.join(INDEX_TYPES)}", problem="type"
        )
    if index_type == "auto":
        index_type = "flat" if rows < FLAT_MAX_ROWS else "ivf_pq" if rows <= PQ_MAX_ROWS else "ivf_hnsw_sq"
    rows = max(rows, 1)
    if index_type == "flat":
        params = IndexParams("flat")
    elif index_type == "ivf_hnsw_sq":
        # partitions of ~16k rows, each with its own HNSW graph. Few large partitions routed queries badly when the
        # data holds many more clusters than partitions: a partition's centroid is then the mean of many unrelated
        # cluster centres, and recall@10 dropped far. More, smaller partitions gave a higher recall for the same
        # latency. SQ (8-bit) distances alone capped recall@10 (ef made no difference); re-ranking k * refine_factor
        # candidates by their full vectors lifts it for little more time (figures: BENCHMARKS.md, design
        # measurements, 'IVF_HNSW_SQ partitions').
        parts = max(1, round(rows / 16_384))
        ef = max(64, min(512, int(80 * math.sqrt(rows / 100_000))))
        params = IndexParams(
            "ivf_hnsw_sq",
            num_partitions=parts,
            m=16,
            ef_construction=100,
            nprobes=max(1, min(parts, max(2, round(parts / 12)))),
            ef=ef,
            refine_factor=4,
        )
    else:
        parts = max(1, min(4096, int(math.sqrt(rows))))
        nprobes = max(1, min(parts, max(20, parts // 20)))
        if index_type == "ivf_pq":
            # PQ codes rank coarsely; refine_factor re-ranks k*30 candidates by their full vectors
            params = IndexParams(
                "ivf_pq", num_partitions=parts, num_sub_vectors=_sub_vectors(dim), nprobes=nprobes, refine_factor=30
            )
        else:
            params = IndexParams("ivf_flat", num_partitions=parts, nprobes=nprobes)
    return replace(params, **overrides) if overrides else params


def index_stored(ds: lance.LanceDataset, columns: Sequence[str]) -> list[str]:
    """Scalar indexes on the columns stored for filtering, so prefilters and the planner's row count do not scan: a
    BITMAP on a string column is quick to build and made ``count_rows(filter)`` nearly free and an exact fetch of the
    matching rows several times faster (figures: BENCHMARKS.md, design measurements, 'scalar indexes on stored
    columns'). BITMAP for strings and booleans, BTREE otherwise."""
    import pyarrow as pa

    done = []
    for name in columns:
        kind = ds.schema.field(name).type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind):
            ds.create_scalar_index(name, "BITMAP", replace=True)
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_temporal(kind):
            ds.create_scalar_index(name, "BTREE", replace=True)
        else:
            continue
        done.append(name)
    return done


def vector_index(ds: lance.LanceDataset, column: str) -> dict[str, Any] | None:
    """The dataset's vector index on ``column``: name, type, covered fragment ids and its segments' fragment ids,
    oldest first (the first is the one training wrote; later ones were folded in), or None."""
    for entry in ds.describe_indices():
        if column in entry.field_names and str(entry.index_type).upper().startswith("IVF"):
            # sort is stable: segments without a creation time keep Lance's order
            ordered = sorted(entry.segments, key=lambda s: s.created_at.timestamp() if s.created_at else 0.0)
            segments = [frozenset(s.fragment_ids) for s in ordered]
            covered = frozenset().union(*segments)
            return {"name": entry.name, "type": entry.index_type, "fragment_ids": covered, "segments": segments}
    return None


@dataclass(frozen=True)
class AnnLayout:
    """How the rows of an index dataset sit in its ANN structure."""

    rows: int
    segment_rows: tuple[int, ...]  # live rows per index segment, oldest first: the trained one, then folded deltas
    unindexed: int  # rows no segment covers yet (flat-scanned by every query)

    @property
    def segments(self) -> int:
        return len(self.segment_rows)

    @property
    def since_training(self) -> int:
        """Rows the last training did not see: folded into delta segments or not folded yet."""
        return self.rows - (self.segment_rows[0] if self.segment_rows else 0)


def ann_layout(ds: lance.LanceDataset, column: str) -> AnnLayout | None:
    """The :class:`AnnLayout` of ``column``'s ANN structure, or None when there is none."""
    entry = vector_index(ds, column)
    if entry is None:
        return None
    counts = {f.fragment_id: f.count_rows() for f in ds.get_fragments()}
    return AnnLayout(
        rows=sum(counts.values()),
        segment_rows=tuple(sum(counts.get(fid, 0) for fid in segment) for segment in entry["segments"]),
        unindexed=sum(n for fid, n in counts.items() if fid not in entry["fragment_ids"]),
    )


def fold(ds: lance.LanceDataset, column: str, *, merge: int = 0) -> None:
    """Index the rows no segment covers: as a new delta segment (``merge=0``), or rewritten together with the
    ``merge`` most recent segments into one. The trained segment is left alone while ``merge`` is below the segment
    count, and nothing is retrained: new rows go to the existing partitions.

    Lance's own default (``num_indices_to_merge=None``, pylance 14) is avoided on purpose: it splits and joins
    partitions toward a size of its own choosing, which here joined IVF_PQ's 316 partitions into 4 (recall@10
    1.0 -> 0.81 at 100k) and IVF_HNSW_SQ's 8 into 1 (a whole new HNSW graph: as slow as a build). A delta segment
    costs in proportion to the new rows; a merge rewrites the merged segments (cheap for IVF_PQ/IVF_FLAT, a graph
    rebuild over their rows for IVF_HNSW_SQ). Scalar indexes on stored columns are brought up to date, in one
    segment each.
    """
    entry = vector_index(ds, column)
    if entry is None:
        raise VectorIndexError(f"no ANN structure on {column} to fold rows into", column=column, problem="fold")
    ds.optimize.optimize_indices(num_indices_to_merge=merge, index_names=[entry["name"]])
    for other in ds.describe_indices():
        if other.name != entry["name"] and column not in other.field_names:
            # one segment per scalar index: rewriting a BITMAP/BTREE index is cheap (figures: BENCHMARKS.md, design
            # measurements, 'scalar index segments')
            ds.optimize.optimize_indices(num_indices_to_merge=len(other.segments), index_names=[other.name])


def train(ds: lance.LanceDataset, column: str, params: IndexParams, metric: str) -> bool:
    """Build (or replace) the ANN structure; returns False when the type is flat or there are too few rows yet."""
    if not params.is_ann:
        return False
    rows = ds.count_rows()
    if rows < MIN_TRAIN_ROWS:
        return False
    kwargs: dict[str, Any] = {
        "num_partitions": max(1, min(params.num_partitions or 1, rows // 2)),
        "sample_rate": params.sample_rate,
        "max_iters": params.max_iters,
    }
    if params.index_type == "ivf_pq":
        kwargs["num_sub_vectors"] = params.num_sub_vectors
    if params.index_type == "ivf_hnsw_sq":
        kwargs["m"] = params.m
        kwargs["ef_construction"] = params.ef_construction
    ds.create_index(
        column,
        index_type=_LANCE_TYPES[params.index_type],
        metric=_LANCE_METRICS[metric],
        replace=True,
        **{k: v for k, v in kwargs.items() if v is not None},
    )
    return True


def lance_schema(source: VectorTable, meta: IndexMeta) -> pa.Schema:
    """The index dataset's schema: key, vector, stored columns, ``_file``; the description in its metadata."""
    import pyarrow as pa

    from lakehouse.vector import vector_type

    arrow = source.arrow_schema()
    fields = [pa.field(meta.key, arrow.field(meta.key).type, nullable=False)]
    fields.append(pa.field(meta.column, vector_type(meta.dim), nullable=False))
    fields += [arrow.field(c).with_nullable(True) for c in meta.store]
    # never null, but nullable: see changes._relabel
    fields.append(pa.field(FILE_COLUMN, pa.string(), nullable=True))
    return pa.schema(fields, metadata={META_KEY: meta.to_json()})


def _check_store(source: VectorTable, column: str, key: str, store: Sequence[str]) -> tuple[str, ...]:
    names = source.arrow_schema().names
    ident = source.identifier
    bad = [c for c in store if c not in names]
    if bad:
        raise VectorIndexError(
            f"cannot store column(s) {', '.join(bad)}: not in {ident} ({', '.join(names)})",
            hint="--store takes columns of the table to filter on",
            table=ident,
            column=column,
            problem="store",
        )
    clash = [c for c in store if c in RESERVED or c in (key, column) or c in source.specs]
    if clash:
        raise VectorIndexError(
            f"cannot store column(s) {', '.join(clash)}: the key, vector columns and {', '.join(sorted(RESERVED))} "
            "are kept by the index itself",
            table=ident,
            column=column,
            problem="store",
        )
    return tuple(dict.fromkeys(store))


def index_meta(source: VectorTable, column: str, store: Sequence[str], requested: str, rows: int) -> IndexMeta:
    """Describe the index of ``column``: checks the key column and the stored columns, chooses the parameters."""
    table = source
    spec = table.spec(column)
    key = table.key_column
    if not key:
        raise VectorIndexError(
            f"table {source.identifier} has no key column (lakehouse.key-column property)",
            hint="create the table with VectorTable.create(..., key=...)",
            table=source.identifier,
            column=column,
            problem="key",
        )
    params = choose_params(rows, spec.dim, requested)
    return IndexMeta(
        table=source.identifier,
        column=column,
        key=key,
        store=_check_store(source, column, key, store),
        dim=spec.dim,
        metric=spec.metric,
        model=spec.model,
        model_version=spec.model_version,
        index_type=params.index_type,
        requested=requested,
        params=params.to_dict(),
    )
