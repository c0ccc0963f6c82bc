"""The embed job: a table's text column -> chunks with character spans -> embeddings, with per-row lineage.

    lakehouse embed docs.documents --column text          # through the CLI
    lakehouse submit jobs/embed_table.py --source docs.documents --column text   # the same through spark-submit
    lakehouse embed docs.documents --plan                 # what would be embedded, updated, deleted; nothing runs

Incremental: only new chunks and chunks whose text, span or model version changed are embedded; embeddings of deleted
source rows are removed; unchanged rows are not touched. All changes land in one commit (see
:mod:`lakehouse.embedding.plan`). Changing the model of a column is deliberate (``--reembed``). The source is read
incrementally too where its history allows: only the data files changed since the snapshot the embeddings last
reflected (see :mod:`lakehouse.embedding.source`); the progress and ``--plan`` output say which read was done and why.
The output table is an :class:`~lakehouse.embedding.target.EmbeddingsTarget` (Iceberg or Delta: the job does not ask).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from lakehouse.embedding.chunks import chunk_rows, with_embeddings
from lakehouse.embedding.plan import EmbedPlan, check_model_change, count_ops, diff_chunks
from lakehouse.embedding.source import CHUNKING_PROP, SNAPSHOT_PROP, SourceRows, plan_source_read

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakehouse.config import Settings
    from lakehouse.embedding.params import EmbedParams
    from lakehouse.embedding.target import EmbeddingsTarget
    from lakehouse.lineage import LineageRun
    from lakehouse.vector import VectorSpec

THROUGHPUT_PROP = "lakehouse.embeddings.throughput"  # chunks/s of the last run that embedded anything


@dataclass(frozen=True)
class EmbedResult:
    output: str
    source_snapshot_id: int | None
    output_snapshot_id: int | None
    source_rows: int
    chunks: int  # embeddings of this source after the run
    seconds: float
    run_id: str
    plan: EmbedPlan | None = None
    embed_seconds: float = 0.0


@dataclass(frozen=True)
class _Run:
    """What one run works with once the source, model and target are known."""

    spark: SparkSession
    params: EmbedParams
    target: EmbeddingsTarget
    spec: VectorSpec
    model_version: str
    snapshot_id: int | None  # the source's
    source_rows: int
    log: Callable[[str], object]


def run(
    spark: SparkSession,
    params: EmbedParams,
    settings: Settings,
    *,
    log: Callable[[str], object] = print,
    parent: LineageRun | None = None,
) -> EmbedResult:
    """Bring the embeddings of ``params.source`` (at its current snapshot) up to date, in one commit.

    Emits OpenLineage START, then COMPLETE (with the output snapshot, statistics and column lineage) or FAIL;
    ``params.run_id`` is both the OpenLineage run id and the value of every written row's ``run_id``.
    """
    from lakehouse.embed import get_model
    from lakehouse.embedding.target import open_target
    from lakehouse.lineage import LineageEmitter
    from lakehouse.lineage.tables import TableDatasets
    from lakehouse.table import VectorTable, split_identifier
    from lakehouse.table.spark.io import spark_table_of
    from lakehouse.vector import VectorSpec

    started = time.perf_counter()
    ns, name = split_identifier(params.source, settings)
    params = replace(params, source=f"{ns}.{name}")  # one spelling in ids, rows and properties
    out_ns, out_name = split_identifier(params.output or f"{ns}.embeddings", settings)
    source_table = VectorTable.load(params.source, settings=settings)
    source = spark_table_of(spark, source_table, settings)
    snapshot_id = source_table.snapshot_id
    model = get_model(params.model)
    spec = VectorSpec(
        "embedding",
        dim=model.dim,
        metric="cosine",
        model=model.name,
        model_version=model.version,
        source_column=f"{params.source}.{params.column}",
        normalized=model.normalized,
    )
    target = open_target(
        spark, f"{out_ns}.{out_name}", settings, format=params.format, app_version=source_table.app_version(snapshot_id)
    )
    check_model_change(target.read, _spark_name(settings, target), target.properties, spec, params)
    source_input = source.dataset(TableDatasets(settings), snapshot_id=snapshot_id)

    # a dry run writes nothing, so it emits no lineage either
    emitter = (
        LineageEmitter([], namespace=settings.lineage.namespace)
        if params.plan_only
        else LineageEmitter.from_settings(settings)
    )
    with emitter.run(
        "embed_table",
        inputs=[source_input],
        params=dict(params.job_parameters()),
        run_id=params.run_id,
        parent=parent,
    ) as lineage:
        source_rows = source_table.count()
        rows = plan_source_read(
            spark,
            params,
            source,
            source_table,
            snapshot_id,
            target.properties,
            exists=target.exists,
            model_version=model.version,
            rows_total=source_rows,
        )
        log(f"reading {params.source}: {rows.read.describe()}")
        job = _Run(spark, params, target, spec, model.version, snapshot_id, source_rows, log)
        result = _embed(job, rows)
        if not params.plan_only and result.plan and result.plan.changes:
            target.record_output(lineage, _column_lineage(params, model.name, model.version, settings))
    return replace(result, seconds=time.perf_counter() - started)


def _spark_name(settings: Settings, target: EmbeddingsTarget) -> str:
    return f"{settings.catalog.name}.{target.output}"


def _column_lineage(params: EmbedParams, model: str, model_version: str, settings: Settings) -> object:
    from lakehouse.lineage import dataset_namespace, embedding_column_lineage

    return embedding_column_lineage(
        dataset_namespace(settings),
        params.source,
        text_column=params.column,
        key_column=params.key,
        model=model,
        model_version=model_version,
        chunk_size=params.chunk_size,
        chunk_overlap=params.chunk_overlap,
    )


def _result(job: _Run, plan: EmbedPlan, embed_seconds: float = 0.0) -> EmbedResult:
    from pyspark.sql import functions as F

    params, target = job.params, job.target
    written = target.exists or (plan.changes and not params.plan_only)
    output_snapshot = target.snapshot_id() if written else None
    count = 0
    if written:  # a first run's --plan wrote nothing: there is no table to count in
        count = target.read(latest=True).filter(F.col("source_table") == params.source).count()
    return EmbedResult(
        target.output,
        job.snapshot_id,
        output_snapshot,
        job.source_rows,
        count,
        0.0,
        params.run_id,
        plan,
        embed_seconds,
    )


def _embed(job: _Run, source: SourceRows) -> EmbedResult:
    from contextlib import ExitStack

    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from lakehouse.spark.progress import UnitCounter, track
    from lakehouse.table.spark.checks import translate_vector_errors, with_vector_checks

    spark, params, target, log = job.spark, job.params, job.target, job.log
    props = target.properties
    throughput = float(props[THROUGHPUT_PROP]) if THROUGHPUT_PROP in props else None

    if source.rows is None:  # unchanged since the snapshot the embeddings reflect
        kept = target.read().filter(F.col("source_table") == params.source).count()
        log(f"{target.output} is up to date with {params.source} at snapshot {job.snapshot_id}: nothing to embed")
        return _result(job, EmbedPlan(keep=kept, read=source.read))

    rows = chunk_rows(source.rows, params, source_snapshot_id=job.snapshot_id, model_version=job.model_version)
    existing = target.read().filter(F.col("source_table") == params.source) if target.exists else None
    existing_count = None
    if existing is not None and source.keys is not None:  # incremental: compare only the changed keys' embeddings
        existing_count = existing.count()
        existing = existing.join(F.broadcast(source.keys), "source_key", "left_semi")
    diff = diff_chunks(rows, existing).persist(StorageLevel.MEMORY_AND_DISK)
    stack = ExitStack()  # the chunk counter's socket, once opened
    try:
        plan = count_ops(diff, read=source.read, existing=existing_count)
        log(f"plan for {params.source} -> {target.output}: {plan.describe(throughput)}")
        if params.plan_only:
            return _result(job, plan)
        new_props = {
            SNAPSHOT_PROP.format(source=params.source): str(job.snapshot_id),
            CHUNKING_PROP.format(source=params.source): params.chunking,
            "lakehouse.embeddings.source-table": params.source,
        }
        columns = [*rows.columns, "embedding"]
        counter = stack.enter_context(UnitCounter.open(spark))
        inserts = diff.filter(F.col("op").isin("insert", "update"))
        to_embed = with_embeddings(inserts, params, counter.address, chunks=plan.to_embed)
        embed_started = time.perf_counter()
        label = f"embedding {plan.to_embed} chunks"
        with track(spark, label, log=log, units=counter, total=plan.to_embed, unit="chunks"):
            if not target.exists:
                target.create(to_embed.select(*columns), job.spec, new_props)
            elif plan.changes:
                checked = with_vector_checks(to_embed, [job.spec], "embedding_id")
                deletes = diff.filter(F.col("op") == "delete").select("embedding_id", "op")
                changes = checked.unionByName(deletes, allowMissingColumns=True).persist(StorageLevel.MEMORY_AND_DISK)
                try:
                    with translate_vector_errors():
                        changes.count()  # embeds once; the merge then reads the persisted rows
                        target.merge(changes, columns, job.spec, params.source)
                finally:
                    changes.unpersist()
        embed_seconds = time.perf_counter() - embed_started
        if plan.to_embed:
            new_props[THROUGHPUT_PROP] = f"{plan.to_embed / embed_seconds:.2f}"
        if target.exists:
            target.set_properties({**new_props, **job.spec.to_properties()})
        return _result(job, plan, embed_seconds)
    finally:
        stack.close()
        diff.unpersist()
