"""``lakehouse dedup``: exact and near duplicates of a vector table, clustered, one row kept per cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lakehouse.cli.output import console, emit, handle_errors

if TYPE_CHECKING:
    from lakehouse.dedup.neighbours import Candidates


def _log(message: str) -> None:
    console.print(message, markup=False)


@click.command()
@click.argument("table")
@click.option("--column", default="embedding", show_default=True, help="Vector column.")
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=0.95,
    show_default=True,
    help="Cosine similarity at or above which two rows are near duplicates.",
)
@click.option("--output", "output_table", default=None, help="Result table (default: <namespace>.<table>_dedup).")
@click.option("--filtered-table", default=None, help="Also write the kept rows (all columns) to this table.")
@click.option(
    "--candidates",
    type=click.Choice(["exact", "ann"]),
    default="exact",
    show_default=True,
    help="How near duplicates are found: an exact batch join of all vectors, or the ANN index (k neighbours a row).",
)
@click.option(
    "--k", type=click.IntRange(1), default=10, show_default=True, help="Neighbours searched per row (--candidates ann)."
)
@click.option("--text-column", default=None, help="Text whose tokens are counted (default: chunk_text or text).")
@click.option("--master", default=None, help="Spark master (default: local[*]).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="How to print the summary (--output names the result table, as in `lakehouse embed`).",
)
@click.pass_context
@handle_errors
def dedup(
    ctx: click.Context,
    table: str,
    column: str,
    threshold: float,
    output_table: str | None,
    filtered_table: str | None,
    candidates: Candidates,
    k: int,
    text_column: str | None,
    master: str | None,
    fmt: str,
) -> None:
    """Find exact (content hash) and near (cosine >= --threshold) duplicates of TABLE.

    Near duplicates come from an exact batch join of all vectors (default), or with --candidates ann from the ANN
    index (built or refreshed first). Duplicates are grouped into clusters; each keeps the row with the smallest key
    and drops the others. Writes a result table (cluster_id, kept_key, dropped_keys, size, kind, max/min similarity)
    and, with --filtered-table, the kept rows. Prints rows and tokens removed.
    """
    from lakehouse.dedup.job import DedupParams, run
    from lakehouse.spark import build_spark

    settings = ctx.obj["settings_factory"]()
    params = DedupParams(
        table=table,
        column=column,
        threshold=threshold,
        output=output_table,
        filtered_table=filtered_table,
        candidates=candidates,
        k=k,
        text_column=text_column,
    )
    spark = build_spark(settings, app_name="lakehouse dedup", master=master)
    r = run(spark, params, settings, log=_log if fmt == "table" else (lambda _m: None))
    s = r.summary
    row = {
        "table": r.table,
        "snapshot": r.source_snapshot_id,
        "result_table": r.output,
        "result_snapshot": r.output_snapshot_id,
        "filtered_table": r.filtered_table,
        "filtered_snapshot": r.filtered_snapshot_id,
        "rows": s["rows"],
        "clusters": s["clusters"],
        "exact_clusters": s["exact_clusters"],
        "near_clusters": s["near_clusters"],
        "rows_removed": s["rows_removed"],
        "tokens": s["tokens"],
        "tokens_removed": s["tokens_removed"],
        "text_column": s["text_column"],
        "candidates": s["candidates"],
        "seconds": round(r.seconds, 1),
    }
    emit([row], fmt, title="dedup")
