"""Source rows -> chunk rows with character spans and lineage columns -> embedded rows, spread evenly over tasks.

The embedding runs in a pandas UDF; each Python worker loads the model once (the registry caches it per process and
Spark reuses workers) with one torch thread per task slot, so ``local[N]`` uses N cores without oversubscription.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from lakehouse.embedding.params import EmbedParams
    from lakehouse.spark.progress import UnitsAddress

# chunks per embed task: a second or two of all-MiniLM-L6-v2 on one idle core, so the last wave of tasks, where slots
# sit idle, is short; smaller and larger tasks measured alike, the hand-over per task did not show (figures:
# BENCHMARKS.md, design measurements, 'embed task size')
TASK_CHUNKS = 64
MAX_WAVES = 64  # at most this many tasks per slot, however many chunks


def embed_partitions(chunks: int, slots: int, *, task_chunks: int = TASK_CHUNKS) -> int:
    """How many tasks embed ``chunks`` chunks on ``slots`` task slots: sized by the chunk count (about
    ``task_chunks`` each), a whole number of waves (every slot busy until the last wave ends), never more tasks than
    chunks. A fixed count per core left the PostgreSQL manual's 10,614 chunks in 16 tasks of ~660 chunks, the last
    of them running alone for minutes under load, and gave a 40-chunk run 16 mostly empty tasks.

    >>> embed_partitions(10_614, 2), embed_partitions(40, 2), embed_partitions(1, 8), embed_partitions(0, 2)
    (128, 2, 1, 1)
    """
    slots = max(1, slots)
    if chunks <= slots:
        return max(1, chunks)
    waves = min(MAX_WAVES, max(1, -(-chunks // (task_chunks * slots))))
    return slots * waves


def balance_chunks(rows: DataFrame, chunks: int, slots: int, *, partitions: int | None = None) -> DataFrame:
    """``rows`` spread round-robin over :func:`embed_partitions` tasks (or ``partitions``): every task gets the
    same number of chunks, give or take one, whatever the documents they came from."""
    return rows.repartition(partitions or embed_partitions(chunks, slots))


def chunk_rows(
    df: DataFrame, params: EmbedParams, *, source_snapshot_id: int | None, model_version: str | None
) -> DataFrame:
    """Source rows -> chunk rows with every lineage column, without vectors (cheap: no model involved)."""
    from pyspark.sql import functions as F

    from lakehouse.spark.udfs import CHUNK_DDL, chunk_batches

    chunks = df.select(F.col(params.key).cast("string").alias(params.key), F.col(params.column)).mapInArrow(
        lambda it: chunk_batches(
            it, key=params.key, column=params.column, size=params.chunk_size, overlap=params.chunk_overlap
        ),
        schema=CHUNK_DDL,
    )
    ident = F.concat_ws(
        "|", F.lit(params.source), F.col("source_key"), F.col("chunk_index").cast("string"), F.lit(params.model)
    )
    return chunks.select(
        F.substring(F.sha2(ident, 256), 1, 32).alias("embedding_id"),
        F.lit(params.source).alias("source_table"),
        "source_key",
        F.lit(source_snapshot_id).cast("long").alias("source_snapshot_id"),
        "chunk_index",
        "chunk_start",
        "chunk_end",
        "chunk_text",
        "content_sha256",
        F.lit(params.model).alias("model"),
        F.lit(model_version).alias("model_version"),
        F.lit(params.run_id).alias("run_id"),
    )


def with_embeddings(
    rows: DataFrame, params: EmbedParams, progress: UnitsAddress | None = None, *, chunks: int | None = None
) -> DataFrame:
    """Add the ``embedding`` column, the rows spread evenly over tasks sized by their count (``chunks``, when known:
    :func:`embed_partitions`; else several tasks per core); ``progress``: where the tasks report chunks as they embed
    them (:class:`lakehouse.spark.progress.UnitCounter`)."""
    from pyspark.sql import functions as F

    from lakehouse.spark.udfs import embed_udf

    slots = rows.sparkSession.sparkContext.defaultParallelism
    if chunks is None:
        balanced = rows.repartition(params.partitions or max(2, slots * 8))
    else:
        balanced = balance_chunks(rows, chunks, slots, partitions=params.partitions)
    return balanced.withColumn("embedding", embed_udf(params.model, params.batch_size, progress)(F.col("chunk_text")))


def transform(
    df: DataFrame, params: EmbedParams, *, source_snapshot_id: int | None, model_version: str | None
) -> DataFrame:
    """Pure transformation: source rows -> embedding rows with lineage columns (nothing is written)."""
    return with_embeddings(
        chunk_rows(df, params, source_snapshot_id=source_snapshot_id, model_version=model_version), params
    )
