"""Spark job: a directory of .txt/.md/.rst/.html/.pdf files -> the ``documents`` Iceberg table.

    spark-submit $(lakehouse spark-args) jobs/ingest_documents.py --path ./my-docs
    lakehouse ingest ./my-docs                    # the same through the CLI

Columns: key, path, title, text, mime, bytes, content_sha256, ingested_at. Unreadable, binary, empty and oversized
(``--max-bytes``, 10 MB by default) files are reported and skipped; they never fail the job. Re-ingesting makes the
table reflect the directory as it is now, in one commit: new files are inserted, files whose content hash changed are
updated, rows of files that are gone are deleted (``--keep-missing`` keeps them), unchanged rows are left alone (no
rewrite), so their embeddings stay fresh. A file that is still there but skipped this time (say, it became
unreadable) keeps its row, and so does everything under a folder that could not be listed. A run that would delete
more than half of the table's rows (another folder, a mistyped path) is refused, nothing written, unless
``--allow-delete-all``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.ingest.files import DEFAULT_MAX_BYTES

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
    keep_missing: bool = False  # keep the rows of files that are no longer in the directory
    max_bytes: int | None = DEFAULT_MAX_BYTES  # skip documents larger than this (None: no limit)
    allow_delete_all: bool = False  # let one run delete more than half of the table's rows (see check_mass_delete)


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
    deleted: int = 0  # rows of vanished files removed
    missing_kept: int = 0  # rows of vanished files kept (keep_missing)


def transform(
    spark: SparkSession, params: IngestParams, listing: tuple[list[tuple[str, Path]], list[Skipped]] | None = None
) -> DataFrame:
    """List ``params.path`` on the driver (or take ``listing``) and read the files in Spark tasks.

    Returns one row per file: the document columns, plus ``skip_reason`` (null for documents) so that the caller can
    report skipped files without reading anything twice. On a cluster the folder must be visible to the executors
    (a shared or object-store mount).
    """
    from pyspark.sql import functions as F

    from lakehouse.ingest.files import check_max_bytes, list_files
    from lakehouse.spark.udfs import INGEST_DDL, read_documents

    check_max_bytes(params.max_bytes)
    found, walk_errors = listing if listing is not None else list_files(params.path)
    if params.limit is not None:
        found = found[: params.limit]
    paths = [(rel, str(full)) for rel, full in found] + [(s.path, None) for s in walk_errors]
    frame = spark.createDataFrame(paths, "rel string, full string")
    slices = max(1, min(len(paths) // 16 + 1, spark.sparkContext.defaultParallelism * 4))
    max_bytes = params.max_bytes
    return (
        frame.repartition(slices)
        .mapInArrow(lambda batches: read_documents(batches, max_bytes=max_bytes), schema=INGEST_DDL)
        .withColumn("ingested_at", F.current_timestamp())
    )


def vanished(current: list[tuple[str, str]], listed: set[str], unlisted_folders: list[str]) -> list[tuple[str, str]]:
    """The (key, path) rows of ``current`` whose file is gone: not among the ``listed`` paths, and not below a folder
    that could not be listed this time (its files may well be there)."""
    folders = tuple(f.rstrip("/") + "/" for f in unlisted_folders if f not in ("", "."))
    if any(f in ("", ".") for f in unlisted_folders):
        return []  # the root itself could not be fully listed: nothing is known to be gone
    return sorted((k, p) for k, p in current if p not in listed and not p.startswith(folders))


def check_mass_delete(deleting: int, total: int, *, path: Path, table: str, allow: bool) -> None:
    """Refuse, before anything is written, a run that would delete more than half of the table's rows (all of them
    for an empty directory, a path typo or another folder than last time), unless ``allow``: a silent wipe is far
    more likely a mistake than an intent."""
    from lakehouse.errors import IngestError

    if allow or deleting == 0 or deleting * 2 <= total:
        return
    share = "every" if deleting == total else f"{deleting} of the {total}"
    raise IngestError(
        f"ingesting {path} would delete {share} row(s) of {table}: their files are not in that directory; "
        "nothing was written",
        hint="check the path (is it the directory ingested before?); pass --allow-delete-all to delete them, or "
        "--keep-missing to keep them",
        table=table,
        path=str(path),
        deleting=deleting,
        rows=total,
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
    from lakehouse.ingest.files import Skipped, list_files
    from lakehouse.lineage import LineageEmitter, file_input, iceberg_output
    from lakehouse.spark.progress import track
    from lakehouse.table import VectorTable, split_identifier
    from lakehouse.table.formats import check_format
    from lakehouse.table.spark.iceberg_write import table_exists, write_vector_table

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
        "keep_missing": params.keep_missing,
        "max_bytes": params.max_bytes,
    }
    with emitter.run("ingest_documents", inputs=[file_input(params.path)], params=job_params, parent=parent) as lineage:
        log(f"reading {params.path} ...")
        listing = list_files(params.path)
        listed = {rel for rel, _ in listing[0]}
        unlisted = [s.path for s in listing[1]]
        scanned = transform(spark, params, listing).cache()
        skipped = [Skipped(r.path, r.skip_reason) for r in scanned.filter("skip_reason IS NOT NULL").collect()]
        for s in skipped:
            log(f"  skipped {s.path}: {s.reason}")
        df = scanned.filter("skip_reason IS NULL").drop("skip_reason")
        files = df.count()
        log(f"  {files} documents read, {len(skipped)} skipped")
        gone = _Vanished(
            listed, unlisted, keep=params.keep_missing, root=params.path, table=ident, allow_all=params.allow_delete_all
        )
        if delta:
            with track(spark, f"writing {files} documents to {ident} (Delta)", log=log):
                inserted, updated, unchanged = _write_delta(spark, df, ident, settings, files, gone)
            scanned.unpersist()
            from lakehouse.table.delta import DeltaVectorTable, lineage_dataset

            table = DeltaVectorTable.load(ident, settings=settings)
            if inserted or updated or gone.deleted:
                lineage.add_output(lineage_dataset(table, settings, output=True))
        else:
            spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {settings.catalog.name}.{ns}")
            with track(spark, f"writing {files} documents to {ident}", log=log):
                if not table_exists(spark, full):
                    write_vector_table(df, full, specs=[], key_column="key", mode="create")
                    inserted, updated, unchanged = files, 0, 0
                else:
                    inserted, updated, unchanged = _merge(spark, df, full, gone)
            scanned.unpersist()
            table = VectorTable.load(ident, settings=settings)
            if inserted or updated or gone.deleted:
                lineage.add_output(iceberg_output(table, settings, refresh=False))  # just loaded
    for path in gone.deleted_paths[:20]:
        log(f"  removed {path}: the file is gone")
    if len(gone.deleted_paths) > 20:
        log(f"  ... and {len(gone.deleted_paths) - 20} more removed")
    if gone.kept:
        log(f"  kept {len(gone.kept)} row(s) of files that are gone (--keep-missing)")
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
        deleted=len(gone.deleted_paths),
        missing_kept=len(gone.kept),
    )


@dataclass
class _Vanished:
    """Which rows of the table belong to files that are gone, and what was done with them."""

    listed: set[str]
    unlisted_folders: list[str]
    keep: bool
    root: Path = Path(".")
    table: str = ""
    allow_all: bool = False
    deleted_paths: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    @property
    def deleted(self) -> int:
        return len(self.deleted_paths)

    def keys_to_delete(self, current: DataFrame) -> list[str]:
        """Keys of the rows (of ``current``: key, path) to delete in the same commit as the merge."""
        rows = [(r["key"], r["path"]) for r in current.select("key", "path").collect()]
        gone = vanished(rows, self.listed, self.unlisted_folders)
        if self.keep:
            self.kept = [p for _, p in gone]
            return []
        check_mass_delete(len(gone), len(rows), path=self.root, table=self.table, allow=self.allow_all)
        self.deleted_paths = [p for _, p in gone]
        return [k for k, _ in gone]


def _write_delta(
    spark: SparkSession, df: DataFrame, ident: str, settings: Settings, files: int, gone: _Vanished
) -> tuple[int, int, int]:
    """The Delta twin of the Iceberg path: a first write from the executors (app version 0: a retried first ingest
    commits once), else the changed rows merged on the driver in one commit."""
    from deltalake import DeltaTable

    from lakehouse.table.formats import delta_location
    from lakehouse.table.spark.delta_merge import DELETE_OP, collect_changes, merge_delta_changes
    from lakehouse.table.spark.delta_read import read_delta_table
    from lakehouse.table.spark.delta_write import write_delta_table

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
        delete_keys = gone.keys_to_delete(current)
        if inserted or updated or delete_keys:
            changed = staged.filter(F.col("old_sha").isNull() | (F.col("old_sha") != F.col("content_sha256")))
            columns = list(df.columns)
            # the change set of a re-ingest is the new, edited and vanished files only: small enough for the driver
            merge_delta_changes(
                location,
                collect_changes(_with_deletes(spark, changed, delete_keys, DELETE_OP), [*columns, _OP], {}),
                key="key",
                columns=columns,
                op_column=_OP,
                app_id=f"{app_id}:merge",
                app_version=base,
            )
    finally:
        staged.unpersist()
    return inserted, updated, unchanged


_OP = "_ingest_op"


def _with_deletes(spark: SparkSession, changed: DataFrame, keys: list[str], delete_op: str) -> DataFrame:
    """The change set: changed rows (op ``upsert``) and one row per key to delete (op ``delete_op``)."""
    from pyspark.sql import functions as F

    upserts = changed.drop("old_sha").withColumn(_OP, F.lit("upsert"))
    if not keys:
        return upserts
    deletes = spark.createDataFrame([(k,) for k in keys], "key string").withColumn(_OP, F.lit(delete_op))
    return upserts.unionByName(deletes, allowMissingColumns=True)


def _merge(spark: SparkSession, df: DataFrame, full: str, gone: _Vanished) -> tuple[int, int, int]:
    """Upsert on key and delete the rows of vanished files, in one MERGE commit; rows whose content hash is
    unchanged are not touched."""
    from pyspark.sql import functions as F

    table = spark.table(full)
    delete_keys = gone.keys_to_delete(table)  # first: a refused mass delete leaves nothing cached behind
    current = table.select("key", F.col("content_sha256").alias("old_sha"))
    staged = df.join(current, "key", "left").cache()
    inserted = staged.filter(F.col("old_sha").isNull()).count()
    updated = staged.filter(F.col("old_sha").isNotNull() & (F.col("old_sha") != F.col("content_sha256"))).count()
    unchanged = staged.count() - inserted - updated
    if inserted or updated or delete_keys:
        view = "lakehouse_ingest_batch"
        changed = staged.filter(F.col("old_sha").isNull() | (F.col("old_sha") != F.col("content_sha256")))
        _with_deletes(spark, changed, delete_keys, "delete").createOrReplaceTempView(view)
        cols = [f"`{c}`" for c in df.columns]
        spark.sql(
            f"""MERGE INTO {full} t USING {view} s ON t.key = s.key
                WHEN MATCHED AND s.{_OP} = 'delete' THEN DELETE
                WHEN MATCHED THEN UPDATE SET {", ".join(f"t.{c} = s.{c}" for c in cols)}
                WHEN NOT MATCHED AND s.{_OP} = 'upsert' THEN INSERT ({", ".join(cols)})
                    VALUES ({", ".join(f"s.{c}" for c in cols)})"""
        )
        spark.catalog.dropTempView(view)
    staged.unpersist()
    return inserted, updated, unchanged


def summary(r: IngestResult) -> str:
    """The one-line report of an ingest run (the job and the CLI print it)."""
    kept = f", {r.missing_kept} of vanished files kept" if r.missing_kept else ""
    return (
        f"{r.table}: {r.inserted} inserted, {r.updated} updated, {r.deleted} deleted, {r.unchanged} unchanged{kept}, "
        f"{len(r.skipped)} skipped; {r.total_rows} rows at snapshot {r.snapshot_id} ({r.seconds:.1f} s)"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ingest_documents", description="Ingest a directory of text documents.")
    p.add_argument("--path", required=True, type=Path, help="directory of .txt/.md/.rst/.html files")
    p.add_argument("--table", default=None, help="documents table (default: <namespace>.documents)")
    p.add_argument("--limit", type=int, default=None, help="ingest at most this many files")
    p.add_argument("--keep-missing", action="store_true", help="keep the rows of files no longer in the directory")
    p.add_argument(
        "--allow-delete-all",
        action="store_true",
        help="allow a run that deletes more than half of the table's rows (refused by default)",
    )
    p.add_argument(
        "--max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help=f"skip documents larger than this many bytes (default: {DEFAULT_MAX_BYTES:,})",
    )
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
    params = IngestParams(
        args.path,
        args.table,
        args.limit,
        args.format,
        keep_missing=args.keep_missing,
        max_bytes=args.max_bytes,
        allow_delete_all=args.allow_delete_all,
    )
    print(summary(run(spark, params, settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
