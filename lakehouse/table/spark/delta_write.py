"""Writing Delta vector tables from Spark: natively with the Delta jars, else executor Parquet files + driver commit.

Without the Delta jars (none are on PyPI), ``df.write.format("delta")`` is unavailable. Instead:

1. vector checks are compiled into the plan (:func:`lakehouse.table.spark.checks.with_vector_checks`), so a bad row
   fails the tasks and the JVM error is translated back to :class:`VectorValidationError`, exactly as for Iceberg;
2. each task (``mapInArrow``) streams its rows into one Parquet file per partition value under the table's folder,
   named ``part-<job token>-<task>-<attempt>-<uuid>.parquet``, and returns path, size, partition values and stats;
3. the driver commits every file in one ``create_write_transaction`` carrying a Delta ``txn`` action
   (``app_id``, ``app_version``): a job retried with the same pair finds it already committed and commits nothing.

When anything fails, every file carrying the job token is deleted (also those of failed task attempts after a
successful run), so a refused batch leaves neither a new version nor orphan files.

Concurrency: appends commit even when another writer committed meanwhile (delta-rs rebases appends). An overwrite
commits only on the version it read; otherwise it fails with :class:`DeltaCommitConflictError` instead of silently
keeping rows a concurrent writer added to the partitions it replaces.

With the Delta jars on the session (``spark.delta_packages`` / ``spark.delta_jars``), the same call writes with
``df.write.format("delta")``: the same plan-level vector checks, the app transaction as Delta's ``txnAppId`` /
``txnVersion`` options, ``replaceWhere`` for a partition overwrite, and Delta's own conflict detection (translated
to :class:`DeltaCommitConflictError`). A new table is created first by delta-rs with the same schema and
configuration in both modes (version 0), so the two paths produce the same table. Differences: a refused first
write leaves that empty version 0, and the files of failed tasks stay until ``VACUUM``, as with any Delta writer.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.errors import DeltaCommitConflictError, VectorValidationError
from lakehouse.table.base import check_specs, refuse_extra_columns
from lakehouse.table.spark.checks import translate_vector_errors, with_vector_checks
from lakehouse.table.spark.delta_common import DeltaWriteMode, DeltaWriteResult
from lakehouse.table.spark.delta_read import use_native_delta
from lakehouse.vector import KEY_COLUMN_PROPERTY, VectorSpec
from lakehouse.vector.validate import _HINTS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_RESULT_DDL = "path string, size long, partition_values string, stats string, num_records long"


def _fs(location: str) -> tuple[Any, str]:
    from pyarrow import fs

    if "://" not in location:
        location = f"file://{location}"
    return fs.FileSystem.from_uri(location)


def _partition_dir(columns: Sequence[str], values: Sequence[Any]) -> str:
    # Delta takes partition values from the log, not from paths; paths only need to be unique and readable.
    import hashlib
    import re

    parts = []
    for c, v in zip(columns, values, strict=True):
        text = "__HIVE_DEFAULT_PARTITION__" if v is None else str(v)
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", text):
            text = "h" + hashlib.sha256(text.encode()).hexdigest()[:16]
        parts.append(f"{c}={text}")
    return "/".join(parts)


class _FileStats:
    """numRecords, nullCount and (for integer and string columns) minValues/maxValues of one data file."""

    def __init__(self, schema: pa.Schema) -> None:
        self.rows = 0
        self.nulls = {f.name: 0 for f in schema}
        self.bounded = [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_string(f.type)]
        self.min: dict[str, Any] = {}
        self.max: dict[str, Any] = {}

    def update(self, batch: pa.RecordBatch) -> None:
        import pyarrow.compute as pc

        self.rows += batch.num_rows
        for name in self.nulls:
            self.nulls[name] += batch.column(name).null_count
        for name in self.bounded:
            mm = pc.min_max(batch.column(name))
            lo, hi = mm["min"].as_py(), mm["max"].as_py()
            if lo is None:
                continue
            self.min[name] = lo if name not in self.min else min(self.min[name], lo)
            self.max[name] = hi if name not in self.max else max(self.max[name], hi)

    def to_json(self) -> str:
        return json.dumps(
            {"numRecords": self.rows, "minValues": self.min, "maxValues": self.max, "nullCount": self.nulls}
        )


def _file_writer(
    location: str,
    token: str,
    data_schema: pa.Schema,
    partition_by: Sequence[str],
    vector_dims: Mapping[str, int],
) -> Any:
    """The ``mapInArrow`` function run by each task (a closure of picklable values only)."""

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
        from pyspark import TaskContext

        from lakehouse.vector import to_fixed_size_list, to_storage_list

        fs, root = _fs(location)
        ctx = TaskContext.get()
        task = f"{ctx.partitionId():05d}-{ctx.attemptNumber()}" if ctx else "00000-0"
        open_files: dict[tuple[Any, ...], tuple[Any, str, _FileStats]] = {}

        def conform(batch: pa.RecordBatch) -> pa.RecordBatch:
            arrays = []
            for f in data_schema:
                col = batch.column(f.name)
                if f.name in vector_dims:
                    col = to_storage_list(to_fixed_size_list(col, vector_dims[f.name], column=f.name))
                elif col.type != f.type:
                    col = col.cast(f.type)
                arrays.append(col)
            return pa.RecordBatch.from_arrays(arrays, schema=data_schema)

        def sink(key: tuple[Any, ...]) -> tuple[Any, str, _FileStats]:
            if key not in open_files:
                folder = _partition_dir(partition_by, key) if partition_by else ""
                rel = f"{folder + '/' if folder else ''}part-{token}-{task}-{uuid.uuid4().hex[:12]}.parquet"
                if folder:
                    fs.create_dir(f"{root}/{folder}", recursive=True)
                writer = pq.ParquetWriter(f"{root}/{rel}", data_schema, filesystem=fs, compression="zstd")
                open_files[key] = (writer, rel, _FileStats(data_schema))
            return open_files[key]

        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                if not partition_by:
                    groups = [((), batch)]
                else:
                    keys = (
                        pa.Table.from_batches([batch])
                        .select(list(partition_by))
                        .group_by(list(partition_by))
                        .aggregate([])
                    )
                    groups = []
                    for key in keys.to_pylist():
                        mask = None
                        for c in partition_by:
                            m = pc.is_null(batch.column(c)) if key[c] is None else pc.equal(batch.column(c), key[c])
                            mask = m if mask is None else pc.and_(mask, m)
                        groups.append((tuple(key[c] for c in partition_by), batch.filter(pc.fill_null(mask, False))))
                for key, part in groups:
                    writer, _rel, stats = sink(key)
                    data = conform(part)
                    writer.write_batch(data)
                    stats.update(data)
        finally:
            for writer, _rel, _stats in open_files.values():
                writer.close()
        rows = []
        for key, (_writer, rel, stats) in open_files.items():
            values = {c: (None if v is None else str(v)) for c, v in zip(partition_by, key, strict=True)}
            size = fs.get_file_info(f"{root}/{rel}").size
            rows.append((rel, size, json.dumps(values), stats.to_json(), stats.rows))
        if rows:
            names = ["path", "size", "partition_values", "stats", "num_records"]
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array([r[i] for r in rows], t)
                    for i, t in enumerate([pa.string(), pa.int64(), pa.string(), pa.string(), pa.int64()])
                ],
                names=names,
            )

    return write


_JOB_GROUP_PROPERTIES = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")


def _await_tasks(sc: Any, group: str, timeout: float = 30.0) -> None:
    """Wait (at most ``timeout`` s) until no task of job group ``group`` runs: when one task fails, Spark kills the
    job's other tasks asynchronously, and one may still finish writing its Parquet file after the driver has seen
    the failure; deleting the job's files before then would leave that file behind as an orphan."""
    tracker = sc.statusTracker()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stages = [s for j in tracker.getJobIdsForGroup(group) if (job := tracker.getJobInfo(j)) for s in job.stageIds]
        if not any((st := tracker.getStageInfo(s)) is not None and st.numActiveTasks > 0 for s in stages):
            return
        time.sleep(0.05)


def _delete_job_files(location: str, token: str, keep: set[str] = frozenset()) -> int:  # type: ignore[assignment]
    from pyarrow import fs as pafs

    fs, root = _fs(location)
    deleted = 0
    try:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    except FileNotFoundError:
        return 0
    for info in infos:
        rel = info.path[len(root) :].lstrip("/")
        if (
            info.type == pafs.FileType.File
            and f"part-{token}-" in rel
            and not rel.startswith("_delta_log")
            and rel not in keep
        ):
            fs.delete_file(info.path)
            deleted += 1
    return deleted


def write_delta_table(
    df: DataFrame,
    location: str,
    *,
    specs: Sequence[VectorSpec],
    key_column: str | None,
    mode: DeltaWriteMode = "append",
    overwrite_partitions: Mapping[str, str] | None = None,
    partition_by: Sequence[str] = (),
    properties: Mapping[str, str] | None = None,
    app_id: str | None = None,
    app_version: int | None = None,
    native: bool | None = None,
) -> DeltaWriteResult:
    """Validate ``df`` in the plan, write its Parquet files on the executors and commit them in one Delta version.

    ``append`` creates the table when missing (``partition_by`` applies then); ``overwrite`` replaces the rows of the
    partitions in ``overwrite_partitions`` (``{"source_table": "docs.documents"}``), or the whole table when None.
    With ``app_id``/``app_version``, a write whose app version is already committed returns ``committed=False``
    without running anything. ``native``: None writes with ``format("delta")`` when the session has the Delta jars,
    True requires them, False always takes the executor-files + delta-rs commit path.

    Example::

        write_delta_table(df, "file:///lake/_delta/docs/embeddings", specs=[spec], key_column="embedding_id",
                          app_id="embed_table:docs.documents", app_version=7)
    """
    from deltalake import CommitProperties, DeltaTable, Transaction
    from deltalake.exceptions import CommitFailedError
    from deltalake.transaction import AddAction, RemoveAction
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import to_arrow_schema

    from lakehouse.table.delta_files import ensure_local_dir as _ensure_local_dir
    from lakehouse.table.delta_files import storage_schema

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if mode not in ("append", "overwrite"):
        raise ValueError(f"unknown Delta write mode {mode!r} (use append or overwrite)")
    if (app_id is None) != (app_version is None):
        raise ValueError("pass both app_id and app_version, or neither")
    props = {**(properties or {})}
    if key_column:
        props[KEY_COLUMN_PROPERTY] = key_column
    for spec in specs:
        props.update(spec.to_properties())
    if use_native_delta(df.sparkSession, native):
        from lakehouse.table.spark.delta_native import write_native

        return write_native(
            df,
            location,
            specs=specs,
            key_column=key_column,
            mode=mode,
            overwrite_partitions=overwrite_partitions,
            partition_by=partition_by,
            props=props,
            app_id=app_id,
            app_version=app_version,
        )

    table: DeltaTable | None = DeltaTable(location) if DeltaTable.is_deltatable(location) else None
    if table is not None:
        from lakehouse.table.delta_files import check_file_readable

        check_file_readable(table, location)  # the same features would make our plain-Parquet files wrong
        check_specs(table.metadata().configuration, specs, location)
        if app_id is not None:
            done = table.transaction_version(app_id)
            if done is not None and done >= app_version:  # type: ignore[operator]
                return DeltaWriteResult(location, table.version(), committed=False)
        partition_by = list(table.metadata().partition_columns)
    checked = with_vector_checks(df, specs, key_column)
    arrow_schema = storage_schema(to_arrow_schema(checked.schema), [s.column for s in specs])
    if table is not None:
        target = pa.schema(table.schema().to_arrow())
        refuse_extra_columns(checked.columns, target.names, location)
        checked = checked.select(
            *[F.col(f.name) if f.name in checked.columns else F.lit(None).alias(f.name) for f in target]
        )
        arrow_schema = target
    read_version = table.version() if table is not None else -1
    data_schema = pa.schema([f for f in arrow_schema if f.name not in partition_by])
    token = uuid.uuid4().hex[:16]
    writer = _file_writer(location, token, data_schema, list(partition_by), {s.column: s.dim for s in specs})
    _ensure_local_dir(location)
    timings["prepare"] = time.perf_counter() - t0
    sc = df.sparkSession.sparkContext
    group = f"lakehouse-delta-write-{token}"
    previous = {k: sc.getLocalProperty(k) for k in _JOB_GROUP_PROPERTIES}
    sc.setJobGroup(group, f"write {location}")
    try:
        with translate_vector_errors():
            written = checked.mapInArrow(writer, schema=_RESULT_DDL).collect()
    except BaseException:
        _await_tasks(sc, group)  # a failed job's other tasks may still be closing their files
        _delete_job_files(location, token)
        raise
    finally:
        for k, v in previous.items():
            sc.setLocalProperty(k, v)  # type: ignore[arg-type]
    timings["write"] = time.perf_counter() - t0 - timings["prepare"]
    paths = {r["path"] for r in written}
    _delete_job_files(location, token, keep=paths)  # files of failed or speculative task attempts
    now = int(time.time() * 1000)
    adds: list[AddAction | RemoveAction] = [
        AddAction(r["path"], int(r["size"]), json.loads(r["partition_values"]), now, True, r["stats"]) for r in written
    ]
    rows = sum(int(r["num_records"]) for r in written)
    if rows == 0 and mode == "append" and table is not None:  # an empty version is no append (issue 11)
        _delete_job_files(location, token)
        raise VectorValidationError(
            f"refused append to {location}: the DataFrame has no rows; nothing was committed",
            hint=_HINTS["empty"],
            problem="empty",
        )
    t1 = time.perf_counter()
    try:
        if table is None:
            table = DeltaTable.create(
                location,
                arrow_schema,
                mode="ignore",
                partition_by=list(partition_by) or None,
                configuration=props,
                raise_if_key_not_exists=False,
            )
            read_version = table.version()
        elif any(table.metadata().configuration.get(k) != v for k, v in props.items()):
            table.alter.set_table_properties(props, raise_if_not_exists=False)
            read_version = table.version()
        commit = CommitProperties(
            app_transactions=[Transaction(app_id, app_version)]
            if app_id is not None and app_version is not None
            else None,
            custom_metadata={"lakehouse.writer": "spark-executors", "lakehouse.files": str(len(adds))},
            # an overwrite is only correct on the version it read (see the module docstring)
            max_commit_retries=0 if mode == "overwrite" else None,
        )
        filters = [(k, "=", v) for k, v in (overwrite_partitions or {}).items()] or None
        table.create_write_transaction(
            adds,
            mode,
            table.schema(),
            partition_by=list(partition_by) or None,
            partition_filters=filters if mode == "overwrite" else None,
            commit_properties=commit,
        )
    except CommitFailedError as exc:
        _delete_job_files(location, token)
        current = DeltaTable(location)
        if app_id is not None and (current.transaction_version(app_id) or -1) >= app_version:  # type: ignore[operator]
            return DeltaWriteResult(location, current.version(), committed=False, seconds=timings)
        raise DeltaCommitConflictError(
            f"{mode} of {location} conflicted with a concurrent commit (read version {read_version}, now "
            f"{current.version()}); nothing was committed and this job's files were deleted",
            hint="re-run the job: it reads the new version (with an app id, a finished run is not repeated)",
            location=location,
            read_version=read_version,
            current_version=current.version(),
            operation=mode,
        ) from exc
    except BaseException:
        _delete_job_files(location, token)
        raise
    timings["commit"] = time.perf_counter() - t1
    return DeltaWriteResult(location, DeltaTable(location).version(), True, len(adds), rows, timings)
