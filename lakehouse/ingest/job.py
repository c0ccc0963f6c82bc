"""The ingest job: a directory of .txt/.md/.rst/.html/.pdf files -> the ``documents`` table (Iceberg or Delta).

    lakehouse ingest ./my-docs
    spark-submit $(lakehouse spark-args) jobs/ingest_documents.py --path ./my-docs   # the same through spark-submit

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

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.ingest.files import DEFAULT_MAX_BYTES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.config import Settings
    from lakehouse.ingest.files import Skipped
    from lakehouse.lineage import LineageRun
    from lakehouse.table.spark.io import SparkTable


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
    from lakehouse.ingest.rows import INGEST_DDL, read_documents

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
        .mapInArrow(lambda batches: read_documents(iter(batches), max_bytes=max_bytes), schema=INGEST_DDL)
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
    from lakehouse.lineage import LineageEmitter, file_input
    from lakehouse.lineage.tables import TableDatasets
    from lakehouse.spark.progress import track
    from lakehouse.table import split_identifier
    from lakehouse.table.formats import check_format
    from lakehouse.table.spark.io import spark_table

    started = time.perf_counter()
    ns, name = split_identifier(params.table or "documents", settings)
    ident = f"{ns}.{name}"
    target = spark_table(spark, ident, settings, format=params.format)
    emitter = LineageEmitter.from_settings(settings)
    job_params = {
        "path": str(params.path),
        "table": ident,
        "limit": params.limit,
        "format": check_format(params.format, settings),
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
        app_id = f"ingest_documents:{ident}"
        with track(spark, f"writing {files} documents to {ident}", log=log):
            if not target.exists:
                # app version 0: a retried first ingest commits once (Delta; Iceberg has no app transactions)
                target.create(df, specs=[], key_column="key", app_id=app_id, app_version=0)
                inserted, updated, unchanged = files, 0, 0
            else:
                inserted, updated, unchanged = _merge(spark, df, target, gone, app_id=f"{app_id}:merge")
        scanned.unpersist()
        table = target.load()
        if inserted or updated or gone.deleted:
            lineage.add_output(target.dataset(TableDatasets(settings, refresh=False), output=True))  # just loaded
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


_OP = "_ingest_op"


def _with_deletes(spark: SparkSession, changed: DataFrame, keys: list[str], delete_op: str) -> DataFrame:
    """The change set: changed rows (op ``upsert``) and one row per key to delete (op ``delete_op``)."""
    from pyspark.sql import functions as F

    upserts = changed.drop("old_sha").withColumn(_OP, F.lit("upsert"))
    if not keys:
        return upserts
    deletes = spark.createDataFrame([(k,) for k in keys], "key string").withColumn(_OP, F.lit(delete_op))
    return upserts.unionByName(deletes, allowMissingColumns=True)


def _merge(
    spark: SparkSession, df: DataFrame, target: SparkTable, gone: _Vanished, *, app_id: str
) -> tuple[int, int, int]:
    """Upsert on key and delete the rows of vanished files, in one commit; rows whose content hash is unchanged are
    not touched. The change set of a re-ingest is the new, edited and vanished files only: a Delta table takes it in
    one driver-side merge (delta-rs), carrying the app transaction of the version it was computed from."""
    from pyspark.sql import functions as F

    from lakehouse.table.spark.io import DELETE_OP

    current = target.read()
    delete_keys = gone.keys_to_delete(current)  # first: a refused mass delete leaves nothing cached behind
    staged = df.join(current.select("key", F.col("content_sha256").alias("old_sha")), "key", "left").cache()
    try:
        inserted = staged.filter(F.col("old_sha").isNull()).count()
        updated = staged.filter(F.col("old_sha").isNotNull() & (F.col("old_sha") != F.col("content_sha256"))).count()
        unchanged = staged.count() - inserted - updated
        if inserted or updated or delete_keys:
            changed = staged.filter(F.col("old_sha").isNull() | (F.col("old_sha") != F.col("content_sha256")))
            target.merge(
                _with_deletes(spark, changed, delete_keys, DELETE_OP),
                key="key",
                columns=list(df.columns),
                op_column=_OP,
                app_id=app_id,
                native=False,
            )
    finally:
        staged.unpersist()
    return inserted, updated, unchanged


def summary(r: IngestResult) -> str:
    """The one-line report of an ingest run (the job and the CLI print it)."""
    kept = f", {r.missing_kept} of vanished files kept" if r.missing_kept else ""
    return (
        f"{r.table}: {r.inserted} inserted, {r.updated} updated, {r.deleted} deleted, {r.unchanged} unchanged{kept}, "
        f"{len(r.skipped)} skipped; {r.total_rows} rows at snapshot {r.snapshot_id} ({r.seconds:.1f} s)"
    )
