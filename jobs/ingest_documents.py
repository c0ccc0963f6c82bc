"""Spark job: a directory of .txt/.md/.rst/.html files -> the ``documents`` Iceberg table.

    spark-submit $(lakehouse spark-args) jobs/ingest_documents.py --path ./my-docs
    lakehouse ingest ./my-docs                    # the same through the CLI

Columns: key, path, title, text, mime, bytes, content_sha256, ingested_at. Unreadable, binary and empty files are
reported and skipped; they never fail the job. Re-ingesting merges on ``key``: new files are inserted, files whose
content hash changed are updated, unchanged rows are left alone (no rewrite), so their embeddings stay fresh.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.config import Settings
    from lakehouse.ingest.files import Skipped
    from lakehouse.lineage import LineageRun


@dataclass(frozen=True)
class IngestParams:
    path: Path
    table: str | None = None  # default: <namespace>.documents
    limit: int | None = None
    format: str | None = None  # iceberg | delta (default: the ``format`` setting)


@dataclass(frozen=True)
class IngestResult:
    table: str
    snapshot_id: int | None
    files: int
    inserted: int
    updated: int
    unchanged: int
    skipped: list[Skipped]
    total_rows: int
    seconds: float


def transform(spark: SparkSession, params: IngestParams) -> DataFrame:
    """List ``params.path`` on the driver and read the files in Spark tasks.

    Returns one row per file: the document columns, plus ``skip_reason`` (null for documents) so that the caller can
    report skipped files without reading anything twice. On a cluster the folder must be visible to the executors
    (a shared or object-store mount).
    """
    from pyspark.sql import functions as F

    from lakehouse.ingest.files import list_files
    from lakehouse.spark.udfs import INGEST_DDL, read_documents

    found, walk_errors = list_files(params.path)
    if params.limit is not None:
        found = found[: params.limit]
    paths = [(rel, str(full)) for rel, full in found] + [(s.path, None) for s in walk_errors]
    listing = spark.createDataFrame(paths, "rel string, full string")
    slices = max(1, min(len(paths) // 16 + 1, spark.sparkContext.defaultParallelism * 4))
    return (
        listing.repartition(slices)
        .mapInArrow(read_documents, schema=INGEST_DDL)
        .withColumn("ingested_at", F.current_timestamp())
    )


def run(
    spark: SparkSession,
    params: IngestParams,
    settings: Settings,
    *,
    log: Callable[[str], object] = print,
    parent: LineageRun | None = None,
) -> IngestResult:
    """Read the folder in Spark tasks and merge it into the documents table; emits OpenLineage START/COMPLETE/FAIL."""
    from lakehouse.ingest.files import Skipped
    from lakehouse.lineage import LineageEmitter, file_input, iceberg_output
    from lakehouse.spark.progress import track
    from lakehouse.spark.write import table_exists, write_vector_table
    from lakehouse.table import VectorTable, split_identifier
    from lakehouse.table.formats import check_format

    started = time.perf_counter()
    ns, name = split_identifier(params.table or "documents", settings)
    ident = f"{ns}.{name}"
    delta = check_format(params.format, settings) == "delta"
    full = f"{settings.catalog.name}.{ident}"
    emitter = LineageEmitter.from_settings(settings)
    job_params = {
        "path": str(params.path),
        "table": ident,
        "limit": params.limit,
        "format": "delta" if delta else "iceberg",
    }
    with emitter.run("ingest_documents", inputs=[file_input(params.path)], params=job_params, parent=parent) as lineage:
        log(f"reading {params.path} ...")
        scanned = transform(spark, params).cache()
        skipped = [Skipped(r.path, r.skip_reason) for r in scanned.filter("skip_reason IS NOT NULL").collect()]
        for s in skipped:
            log(f"  skipped {s.path}: {s.reason}")
        df = scanned.filter("skip_reason IS NULL").drop("skip_reason")
        files = df.count()
        log(f"  {files} documents read, {len(skipped)} skipped")
        if delta:
            with track(spark, f"writing {files} documents to {ident} (Delta)", log=log):
                inserted, updated, unchanged = _write_delta(spark, df, ident, settings, files)
            scanned.unpersist()
            from lakehouse.table.delta import DeltaVectorTable, lineage_dataset

            table = DeltaVectorTable.load(ident, settings=settings)
            if inserted or updated:
                lineage.add_output(lineage_dataset(table, settings, output=True))
        else:
            spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {settings.catalog.name}.{ns}")
            with track(spark, f"writing {files} documents to {ident}", log=log):
                if not table_exists(spark, full):
                    write_vector_table(df, full, specs=[], key_column="key", mode="create")
                    inserted, updated, unchanged = files, 0, 0
                else:
                    inserted, updated, unchanged = _merge(spark, df, full)
            scanned.unpersist()
            table = VectorTable.load(ident, settings=settings)
            if inserted or updated:
                lineage.add_output(iceberg_output(table, settings, refresh=False))  # just loaded
    return IngestResult(
        ident,
        table.snapshot_id,
        files,
        inserted,
        updated,
        unchanged,
        skipped,
        table.count(),
        time.perf_counter() - started,
    )


def _write_delta(
    spark: SparkSession, df: DataFrame, ident: str, settings: Settings, files: int
) -> tuple[int, int, int]:
    """The Delta twin of the Iceberg path: a first write from the executors (app version 0: a retried first ingest
    commits once), else the changed rows merged on the driver in one commit."""
    from deltalake import DeltaTable

    from lakehouse.spark.delta_merge import collect_changes, merge_delta_changes
    from lakehouse.spark.delta_read import read_delta_table
    from lakehouse.spark.delta_write import write_delta_table
    from lakehouse.table.formats import delta_location

    location = delta_location(ident, settings)
    app_id = f"ingest_documents:{ident}"
    if not DeltaTable.is_deltatable(location):
        write_delta_table(df, location, specs=[], key_column="key", app_id=app_id, app_version=0)
        return files, 0, 0
    base = DeltaTable(location).version()
    current = read_delta_table(spark, location, version=base)
    from pyspark.sql import functions as F

    staged = df.join(current.select("key", F.col("content_sha256").alias("old_sha")), "key", "left").cache()
    try:
        inserted = staged.filter(F.col("old_sha").isNull()).count()
        updated = staged.filter(F.col("old_sha").isNotNull() & (F.col("old_sha") != F.col("content_sha256"))).count()
        unchanged = staged.count() - inserted - updated
        if inserted or updated:
            changed = staged.filter(F.col("old_sha").isNull() | (F.col("old_sha") != F.col("content_sha256")))
            columns = list(df.columns)
            # the change set of a re-ingest is the new and edited files only: small enough for the driver
            merge_delta_changes(
                location,
                collect_changes(changed, columns, {}),
                key="key",
                columns=columns,
                app_id=f"{app_id}:merge",
                app_version=base,
            )
    finally:
        staged.unpersist()
    return inserted, updated, unchanged


def _merge(spark: SparkSession, df: DataFrame, full: str) -> tuple[int, int, int]:
    """Upsert on key; rows whose content hash is unchanged are not touched."""
    from pyspark.sql import functions as F

    current = spark.table(full).select("key", F.col("content_sha256").alias("old_sha"))
    staged = df.join(current, "key", "left").cache()
    inserted = staged.filter(F.col("old_sha").isNull()).count()
    updated = staged.filter(F.col("old_sha").isNotNull() & (F.col("old_sha") != F.col("content_sha256"))).count()
    unchanged = staged.count() - inserted - updated
    if inserted or updated:
        view = "lakehouse_ingest_batch"
        staged.filter(F.col("old_sha").isNull() | (F.col("old_sha") != F.col("content_sha256"))).drop(
            "old_sha"
        ).createOrReplaceTempView(view)
        spark.sql(
            f"""MERGE INTO {full} t USING {view} s ON t.key = s.key
                WHEN MATCHED THEN UPDATE SET *
                WHEN NOT MATCHED THEN INSERT *"""
        )
        spark.catalog.dropTempView(view)
    staged.unpersist()
    return inserted, updated, unchanged


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ingest_documents", description="Ingest a directory of text documents.")
    p.add_argument("--path", required=True, type=Path, help="directory of .txt/.md/.rst/.html files")
    p.add_argument("--table", default=None, help="documents table (default: <namespace>.documents)")
    p.add_argument("--limit", type=int, default=None, help="ingest at most this many files")
    p.add_argument(
        "--format",
        default=None,
        choices=["iceberg", "delta"],
        help="table format of a new table (default: the format setting, iceberg)",
    )
    p.add_argument("--master", default=None, help="Spark master (default: configuration, local[*])")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from lakehouse.config import load_settings
    from lakehouse.spark import build_spark

    args = parse_args(argv)
    settings = load_settings()
    spark = build_spark(settings, app_name="ingest_documents", master=args.master)
    r = run(spark, IngestParams(args.path, args.table, args.limit, args.format), settings)
    print(
        f"{r.table}: {r.inserted} inserted, {r.updated} updated, {r.unchanged} unchanged, {len(r.skipped)} skipped; "
        f"{r.total_rows} rows at snapshot {r.snapshot_id} ({r.seconds:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
