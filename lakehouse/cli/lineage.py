"""``lakehouse lineage``: trace an embedding to its source, list what an edit made stale, the review page, the runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lakehouse.cli.output import console, emit, handle_errors, output_option

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from lakehouse.config import Settings


@click.group("lineage")
def lineage_group() -> None:
    """OpenLineage runs, and the questions a reviewer asks of them.

    \b
      lakehouse lineage trace docs.embeddings 3f2a9c...     # source row, snapshot, exact span, model, run
      lakehouse lineage impact docs.documents               # stale embeddings per reason, and lagging indexes
      lakehouse lineage graph --open                        # the review page (HTML, works offline)
      lakehouse lineage events --job embed_table            # the runs in the event store
    """


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings_factory"]()


@lineage_group.command("trace")
@click.argument("table")
@click.argument("embedding_id")
@click.option("--column", "text_column", default=None, help="Source text column (default: from the vector spec).")
@output_option
@click.pass_context
@handle_errors
def trace_cmd(ctx: click.Context, table: str, embedding_id: str, text_column: str | None, output: str) -> None:
    """Where one embedding came from: source table, key, snapshot, the exact span as of that snapshot, model, run."""
    from lakehouse.lineage import trace
    from lakehouse.lineage.store import load_events
    from lakehouse.table import VectorTable

    settings = _settings(ctx)
    result = trace(
        VectorTable.load(table, settings=settings),
        embedding_id,
        settings,
        store=load_events(settings),
        text_column=text_column,
    )
    if output != "table":
        emit([result.to_dict()], output)
        return
    run = result.run
    fields: dict[str, Any] = {
        "embedding": f"{result.embeddings_table} / {result.embedding_id}",
        "source table": result.source_table,
        "source key": result.source_key,
        "source snapshot": result.source_snapshot_id,
        "span": f"{result.text_column}[{result.chunk_start}:{result.chunk_end}] (chunk #{result.chunk_index})",
        "verified": "yes: the span hashes to content_sha256" if result.verified else "NO: the span does not match",
        "model": f"{result.model} ({result.model_version})",
        "run": result.run_id,
    }
    if run is not None:
        fields.update(
            {
                "job": f"{run.job_name} ({run.state})",
                "started": run.started_at,
                "ended": run.ended_at,
                "parameters": json.dumps(run.parameters),
            }
        )
    else:
        fields["job"] = "no events for this run in the lineage store"
    emit([{"field": k, "value": v} for k, v in fields.items()], "table", title="trace")
    console.print("text as embedded:", style="bold")
    console.print(result.text, markup=False, highlight=False)


def _index_lag(embeddings: Any, settings: Settings) -> list[dict[str, Any]]:
    """Status of the ANN index of each vector column that has one."""
    from lakehouse.errors import LakehouseError
    from lakehouse.index import status

    out = []
    for column in embeddings.specs:
        try:
            info = status(embeddings, column, settings=settings)
        except LakehouseError as exc:
            out.append({"column": column, "index": "unknown", "behind": None, "detail": exc.message})
            continue
        if not info.exists:
            continue
        out.append(
            {
                "column": column,
                "index": info.index_type,
                "behind": not info.up_to_date,
                "indexed_snapshot": info.indexed_snapshot,
                "table_snapshot": info.table_snapshot,
                "rows_not_indexed": info.table_rows_not_indexed,
            }
        )
    return out


@lineage_group.command("impact")
@click.argument("source")
@click.option(
    "--embeddings", "embeddings_table", default=None, help="Embeddings table (default: <source namespace>.embeddings)."
)
@click.option("--column", "text_column", default=None, help="Source text column (default: from the vector spec).")
@output_option
@click.pass_context
@handle_errors
def impact_cmd(
    ctx: click.Context, source: str, embeddings_table: str | None, text_column: str | None, output: str
) -> None:
    """Embeddings made stale by source edits, deletions or a model change, and the ANN indexes that lag."""
    from lakehouse.lineage import impact
    from lakehouse.table import VectorTable, split_identifier

    settings = _settings(ctx)
    ns, _ = split_identifier(source, settings)
    embeddings = VectorTable.load(embeddings_table or f"{ns}.embeddings", settings=settings)
    result = impact(source, embeddings, settings, text_column=text_column)
    indexes = _index_lag(embeddings, settings)
    if output != "table":
        emit([{**result.to_dict(), "indexes": indexes}], output)
        return
    counts = result.counts
    emit(
        [{"reason": r, "source rows": counts[r], "embeddings": n} for r, n in result.embedding_counts.items()],
        "table",
        title=f"stale embeddings of {result.source_table} in {result.embeddings_table}",
    )
    if result.stale:
        emit(
            [
                {
                    "source_key": r.source_key,
                    "reason": r.reason,
                    "embeddings": len(r.embedding_ids),
                    "new chunks": r.chunks_to_embed,
                    "embedding_ids": " ".join(r.embedding_ids),
                }
                for r in result.stale
            ],
            "table",
            title="stale rows",
        )
    if result.unembedded_keys:
        console.print(
            f"{len(result.unembedded_keys)} source row(s) not embedded yet: "
            + ", ".join(result.unembedded_keys[:20])
            + (" ..." if len(result.unembedded_keys) > 20 else ""),
            markup=False,
        )
    if indexes:
        emit(indexes, "table", title="ANN indexes")
    else:
        console.print(f"no ANN index over {result.embeddings_table}", markup=False)


def _loader(settings: Settings) -> Any:
    """``name -> pyiceberg table``, connecting to the catalog on first use."""
    from lakehouse.table import load_catalog, split_identifier

    catalogs: list[Any] = []

    def load(name: str) -> Table:
        if not catalogs:
            catalogs.append(load_catalog(settings))
        return catalogs[0].load_table(split_identifier(name, settings))

    return load


@lineage_group.command("graph")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the page (default: <state dir>/lineage.html).",
)
@click.option(
    "--limit",
    type=int,
    default=5000,
    show_default=True,
    help="At most this many embedding ids in the page's search index.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.pass_context
@handle_errors
def graph_cmd(ctx: click.Context, out: Path | None, limit: int, open_browser: bool) -> None:
    """Write the lineage review page: datasets, jobs, runs, snapshot versions, column lineage, search."""
    from lakehouse.lineage.events import dataset_namespace
    from lakehouse.lineage.graph import lineage_page
    from lakehouse.lineage.store import load_events

    settings = _settings(ctx)
    store = load_events(settings)
    page = lineage_page(store, load=_loader(settings), namespace=dataset_namespace(settings), limit=limit)
    path = (out or settings.state_dir / "lineage.html").expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    console.print(f"wrote {path} ({len(page) / 1024:.0f} KiB, {len(store.runs())} runs)", markup=False)
    if open_browser:
        import webbrowser

        webbrowser.open(path.as_uri())


@lineage_group.command("events")
@click.option("--job", default=None, help="Only the runs of this job (e.g. embed_table).")
@output_option
@click.pass_context
@handle_errors
def events_cmd(ctx: click.Context, job: str | None, output: str) -> None:
    """The runs in the lineage store (the JSONL file and the catalog service's store), oldest first."""
    from lakehouse.lineage.graph import LineageGraph
    from lakehouse.lineage.store import load_events

    graph = LineageGraph.from_store(load_events(_settings(ctx)), job=job)
    names = {d.id: d.name for d in graph.datasets.values()}
    rows = [
        {
            "run_id": r.run_id,
            "job": r.job,
            "state": r.state,
            "started_at": r.started_at,
            "ended_at": r.ended_at,
            "parent_run_id": r.parent_run_id,
            "reads": " ".join(f"{names[i['dataset']]}@{i['version']}" for i in r.inputs),
            "writes": " ".join(f"{names[o['dataset']]}@{o['version']}" for o in r.outputs),
        }
        for r in graph.runs
    ]
    if output == "table" and not rows:
        console.print("no lineage events" + (f" for job {job}" if job else ""), markup=False)
        return
    emit(rows, output, title="runs")
