"""Incremental embedding: decide per chunk whether to insert, update, delete or keep.

The decision comes from the per-row lineage columns already in the embeddings table (``embedding_id`` is stable per
source table, source key, chunk index and model; ``content_sha256``, the span and ``model_version`` say whether the
stored vector still matches), so only new or changed chunks go through the model. The changes land in one commit
(:meth:`lakehouse.embedding.target.EmbeddingsTarget.merge`): a job killed at any point leaves the previous snapshot
intact, and running it again recomputes the same decisions, so there is never a duplicate or a gap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from lakehouse.embedding.params import EmbedParams
    from lakehouse.embedding.source import SourceRead

Op = Literal["insert", "update", "delete", "keep"]
OPS: tuple[Op, ...] = ("insert", "update", "delete", "keep")


@dataclass(frozen=True)
class EmbedPlan:
    """What an embed run does to the embeddings of one source table."""

    insert: int = 0
    update: int = 0
    delete: int = 0
    keep: int = 0
    read: SourceRead | None = None  # how the source was read (full / incremental / unchanged, and why)

    @property
    def to_embed(self) -> int:
        return self.insert + self.update

    @property
    def changes(self) -> int:
        return self.insert + self.update + self.delete

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], read: SourceRead | None = None) -> EmbedPlan:
        return cls(**{op: int(counts.get(op, 0)) for op in OPS}, read=read)

    def describe(self, throughput: float | None) -> str:
        """One line for people: counts and, from a measured throughput (chunks/s), the expected embedding time."""
        line = (
            f"{self.insert} to insert, {self.update} to update, {self.delete} to delete, {self.keep} unchanged "
            f"({self.to_embed} chunks to embed)"
        )
        if self.to_embed and throughput:
            seconds = self.to_embed / throughput
            line += f"; about {seconds:.0f} s of embedding at the last measured {throughput:.1f} chunks/s"
        elif self.to_embed:
            line += "; no throughput measured yet for this table (it is recorded after each run)"
        return line


def diff_chunks(chunks: DataFrame, existing: DataFrame | None) -> DataFrame:
    """Chunk rows (with lineage columns, no vectors) + existing embedding rows -> the chunk rows with an ``op``.

    Deleted chunks come back as rows holding only ``embedding_id`` and ``op = 'delete'``.
    """
    from pyspark.sql import functions as F

    if existing is None:
        return chunks.withColumn("op", F.lit("insert"))
    old = existing.select(
        "embedding_id",
        F.lit(True).alias("_old"),
        F.col("content_sha256").alias("_old_sha"),
        F.col("model_version").alias("_old_version"),
        F.col("chunk_start").alias("_old_start"),
        F.col("chunk_end").alias("_old_end"),
    )
    joined = chunks.withColumn("_new", F.lit(True)).join(old, "embedding_id", "full_outer")
    changed = (
        (F.col("content_sha256") != F.col("_old_sha"))
        | (F.col("model_version") != F.col("_old_version"))
        | (F.col("chunk_start") != F.col("_old_start"))
        | (F.col("chunk_end") != F.col("_old_end"))
    )
    op = (
        F.when(F.col("_new").isNull(), F.lit("delete"))
        .when(F.col("_old").isNull(), F.lit("insert"))
        .when(changed, F.lit("update"))
        .otherwise(F.lit("keep"))
    )
    return joined.withColumn("op", op).drop("_new", "_old", "_old_sha", "_old_version", "_old_start", "_old_end")


def count_ops(diff: DataFrame, *, read: SourceRead | None = None, existing: int | None = None) -> EmbedPlan:
    """Count the ops of a diff. ``existing``: the source's embeddings before the run, when the diff covered only
    the changed keys (an incremental read): every embedding outside it is kept."""
    counts = {r["op"]: r["count"] for r in diff.groupBy("op").count().collect()}
    if existing is not None:
        counts["keep"] = existing - counts.get("update", 0) - counts.get("delete", 0)
    return EmbedPlan.from_counts(counts, read)


def check_model_change(
    read_target: Callable[[], DataFrame], target: str, props: dict[str, str], spec: object, params: EmbedParams
) -> None:
    """A column never mixes models: a different model needs ``--reembed``, and then owns the whole column."""
    from pyspark.sql import functions as F

    from lakehouse.errors import ModelError
    from lakehouse.vector import specs_from_properties

    recorded = specs_from_properties(props).get("embedding")
    if recorded is None or recorded.model == spec.model:  # type: ignore[attr-defined]
        return
    if not params.reembed:
        raise ModelError(
            f"{target} holds {recorded.model} embeddings ({recorded.dim}-d); refusing to mix in "
            f"{spec.model} ({spec.dim}-d)",  # type: ignore[attr-defined]
            hint=f"re-embed the whole column deliberately with --model {params.model} --reembed, or write to another "
            "table with --output",
            model=params.model,
        )
    others = read_target().filter(F.col("source_table") != params.source).limit(1).count()
    if others:
        raise ModelError(
            f"--reembed would leave rows of other source tables in {target} with {recorded.model}",
            hint="re-embed every source of this table, or write the new model to another table with --output",
        )
