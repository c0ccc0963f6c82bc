"""The embed stage's tasks are sized by chunk count: every task gets the same number of chunks (give or take one),
whichever documents they came from, in whole waves of the session's task slots."""

from __future__ import annotations

import pytest

from lakehouse.embedding.chunks import MAX_WAVES, TASK_CHUNKS, balance_chunks, embed_partitions

pytestmark = pytest.mark.spark


def test_partitions_follow_the_chunk_count() -> None:
    assert embed_partitions(10_614, 2) == 128  # the PostgreSQL manual: 128 tasks of ~83 chunks, not 16 of ~663
    assert embed_partitions(40, 2) == 2  # a small run: one task per slot, not 16 mostly empty ones
    assert embed_partitions(3, 8) == 3 and embed_partitions(0, 4) == 1
    assert embed_partitions(TASK_CHUNKS * 2 * 5 + 1, 2) == 12  # whole waves: a multiple of the slots
    assert embed_partitions(10**9, 4) == 4 * MAX_WAVES


def test_chunks_are_spread_evenly_whatever_the_documents(spark) -> None:  # noqa: ANN001
    from pyspark.sql import functions as F

    # one document of 900 chunks and 100 documents of one chunk, all in a single input partition
    rows = [("big", i, "x" * 700) for i in range(900)] + [(f"small{i}", 0, "y" * 90) for i in range(100)]
    df = spark.createDataFrame(rows, "source_key string, chunk_index int, chunk_text string").coalesce(1)
    balanced = balance_chunks(df, 1000, 2)
    assert balanced.rdd.getNumPartitions() == embed_partitions(1000, 2) == 16
    sizes = [r["n"] for r in balanced.groupBy(F.spark_partition_id().alias("p")).agg(F.count("*").alias("n")).collect()]
    # round-robin per input partition: at most one row more per input partition (Spark folds the coalesce(1) into
    # the repartition, so the two partitions createDataFrame made are the inputs)
    assert len(sizes) == 16 and max(sizes) - min(sizes) <= 2 and sum(sizes) == 1000
    assert embed_partitions(300, 2) == 6  # 3 waves of ~50 chunks
    assert balance_chunks(df, 1000, 2, partitions=7).rdd.getNumPartitions() == 7  # --partitions still wins


def test_the_embed_job_sizes_its_tasks_by_chunks(spark) -> None:  # noqa: ANN001
    from lakehouse.embedding import EmbedParams
    from lakehouse.embedding.chunks import with_embeddings

    df = spark.createDataFrame([(f"k{i}", "text") for i in range(40)], "embedding_id string, chunk_text string")
    params = EmbedParams(source="ns.docs", output="ns.emb", model="hash-16")
    slots = spark.sparkContext.defaultParallelism
    # 40 chunks: one task per slot (a fixed 8 tasks per core gave 16, most of them nearly empty)
    assert with_embeddings(df, params, chunks=40).rdd.getNumPartitions() == embed_partitions(40, slots) == slots
    assert with_embeddings(df.coalesce(1), params, chunks=40).count() == 40
