"""What the embed job reads and records around its core: the source at a snapshot or version, the target's
properties, the app version of a Delta commit, and the OpenLineage output of a run."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.embed_table import EmbedParams
    from lakehouse.config import Settings
    from lakehouse.lineage import LineageRun


def is_delta(table: object) -> bool:
    return getattr(table, "format", None) == "delta"


def app_version(source_table: object, snapshot_id: int | None) -> int:
    """A number that grows with the source: its Delta version, or its Iceberg snapshot's sequence number."""
    if snapshot_id is None:
        return 0
    if is_delta(source_table):
        return int(snapshot_id)
    snap = source_table.iceberg.snapshot_by_id(snapshot_id)  # type: ignore[attr-defined]
    return int(snap.sequence_number) if snap is not None and snap.sequence_number is not None else 0


def read_source(
    spark: SparkSession, params: EmbedParams, settings: Settings, snapshot_id: int | None, source_table: object = None
) -> DataFrame:
    from lakehouse.errors import LakehouseError

    if is_delta(source_table):
        from lakehouse.spark.delta_read import read_delta_table

        df = read_delta_table(spark, source_table.location, version=snapshot_id)  # type: ignore[attr-defined]
    else:
        reader = spark.read.format("iceberg")
        if snapshot_id is not None:
            reader = reader.option("snapshot-id", snapshot_id)
        df = reader.load(f"{settings.catalog.name}.{params.source}")
    missing = [c for c in (params.key, params.column) if c not in df.columns]
    if missing:
        raise LakehouseError(
            f"{params.source} has no column(s) {', '.join(missing)} (columns: {', '.join(df.columns)})",
            hint="pass --column/--key naming the text and key columns",
        )
    return df


def table_properties(spark: SparkSession, target: str) -> dict[str, str]:
    from lakehouse.spark.write import table_properties as read_properties

    return read_properties(spark.table(target), target)


def record_output(
    lineage: LineageRun, output: str, params: EmbedParams, spec: object, settings: Settings, *, delta: bool = False
) -> None:
    from lakehouse.lineage import dataset_namespace, embedding_column_lineage, iceberg_output
    from lakehouse.table import VectorTable

    out = VectorTable.load(output, settings=settings, format="delta" if delta else None)
    column_lineage = embedding_column_lineage(
        dataset_namespace(settings),
        params.source,
        text_column=params.column,
        key_column=params.key,
        model=spec.model,
        model_version=spec.model_version,  # type: ignore[attr-defined]
        chunk_size=params.chunk_size,
        chunk_overlap=params.chunk_overlap,
    )
    if delta:
        from lakehouse.table.delta import lineage_dataset

        lineage.add_output(
            lineage_dataset(
                out,
                settings,
                output=True,  # type: ignore[arg-type]
                extra_facets={"columnLineage": column_lineage},
            )
        )
    else:
        facets = {"columnLineage": column_lineage}
        lineage.add_output(iceberg_output(out, settings, extra_facets=facets, refresh=False))  # loaded above
