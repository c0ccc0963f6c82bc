"""CLI commands that run Spark jobs: demo (the main job), ingest, embed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from lakehouse.cli.output import console, emit, handle_errors
from lakehouse.embedding.options import EMBED_OPTIONS, click_options


def _settings(ctx: click.Context) -> Any:
    return ctx.obj["settings_factory"]()


def _log(message: str) -> None:
    console.print(message, markup=False)


@click.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--table", default=None, help="Target table (default: <namespace>.documents).")
@click.option("--limit", type=int, default=None, help="Ingest at most this many files.")
@click.option("--keep-missing", is_flag=True, help="Keep the rows of files that are no longer in the directory.")
@click.option(
    "--allow-delete-all",
    is_flag=True,
    help="Allow a run that deletes more than half of the table's rows (an empty or other directory: refused).",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    default=10_000_000,
    show_default=True,
    help="Skip (and report) documents larger than this many bytes.",
)
@click.option(
    "--format",
    "table_format",
    type=click.Choice(["iceberg", "delta"]),
    default=None,
    help="Table format of a new table (default: the format setting, iceberg).",
)
@click.option("--master", default=None, help="Spark master (default: local[*]).")
@click.pass_context
@handle_errors
def ingest(
    ctx: click.Context,
    path: Path,
    table: str | None,
    limit: int | None,
    keep_missing: bool,
    allow_delete_all: bool,
    max_bytes: int,
    table_format: str | None,
    master: str | None,
) -> None:
    """Make a documents table reflect a directory of .txt/.md/.rst/.html/.pdf files, in one commit.

    New files are inserted, changed ones updated (merge on key), rows of files that are gone deleted (unless
    --keep-missing). HTML keeps its main text (no navigation); PDFs their pages' text. Binary, unreadable, empty and
    oversized (--max-bytes) files are listed and skipped.
    """
    from lakehouse.ingest.job import IngestParams, run, summary
    from lakehouse.spark import build_spark

    settings = _settings(ctx)
    spark = build_spark(settings, app_name="lakehouse ingest", master=master)
    params = IngestParams(
        path,
        table,
        limit,
        table_format,
        keep_missing=keep_missing,
        max_bytes=max_bytes,
        allow_delete_all=allow_delete_all,
    )
    _log(summary(run(spark, params, settings, log=_log)))


@click.command()
@click.argument("source")
@click_options(EMBED_OPTIONS)
@click.pass_context
@handle_errors
def embed(ctx: click.Context, source: str, **options: Any) -> None:
    """Chunk a table's text column and embed the chunks into a vector table with per-row lineage.

    Incremental: only new or changed chunks are embedded, embeddings of deleted rows are removed, and everything
    lands in one commit. A second run over unchanged data embeds nothing. Where the source's history allows, only
    the data files changed since the snapshot of the last run are read; the output (and --plan) says which read
    was done, or why the whole source was read.
    """
    _run_embed(_settings(ctx), source, **options)


# The default demo corpus: pydoc pages of modules analysts know, ~0.8 M characters -> ~900 chunks, which embeds in
# a minute or two on 2 cores. `--limit 0` documents the whole standard library.
DEMO_MODULES = (
    "argparse base64 bisect collections contextlib copy csv dataclasses datetime functools glob hashlib heapq "
    "itertools json logging math pathlib pickle queue random re shutil sqlite3 statistics subprocess tempfile "
    "textwrap uuid zipfile"
).split()


def _build(dest: Path, what: str, **options: Any) -> Any:
    from lakehouse.ingest.demo import build_pydoc_corpus

    _log(f"building the demo corpus (pydoc pages of {what}) in {dest} ...")
    return build_pydoc_corpus(dest, **options)


def _run_embed(settings: Any, source: str, *, master: str | None = None, parent: Any = None, **options: Any) -> Any:
    from lakehouse.embedding import EmbedParams, run
    from lakehouse.spark import build_spark

    params = EmbedParams.from_settings(settings, source=source, **options)
    spark = build_spark(settings, app_name="lakehouse embed", master=master)
    r = run(spark, params, settings, log=_log, parent=parent)
    if params.plan_only:
        _log("dry run (--plan): nothing was written")
        return r
    _log(
        f"{r.output}: {r.chunks} embeddings of {r.source_rows} rows of {source} (snapshot {r.source_snapshot_id}) "
        f"-> snapshot {r.output_snapshot_id} in {r.seconds:.1f} s"
    )
    return r


@click.command()
@click.option(
    "--limit",
    type=int,
    default=None,
    help="Document the first N standard-library modules instead of the default 30 well-known ones "
    "(0 = all of them: several times the default corpus, and as many times longer to embed).",
)
@click.option(
    "--corpus",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Use this directory instead of building the pydoc corpus.",
)
@click.option("--model", default=None, help="Embedding model (default: all-MiniLM-L6-v2).")
@click.option("--master", default=None, help="Spark master (default: local[*]).")
@click.pass_context
@handle_errors
def demo(ctx: click.Context, limit: int | None, corpus: Path | None, model: str | None, master: str | None) -> None:
    """The main job: build a real corpus (the Python standard library's pydoc pages), ingest it, embed it.

    Ends with where the tables are, their row counts and snapshot ids, and sample rows.
    """
    from lakehouse.ingest.job import IngestParams
    from lakehouse.ingest.job import run as run_ingest
    from lakehouse.lineage import LineageEmitter, file_input
    from lakehouse.spark import build_spark
    from lakehouse.table import VectorTable, ensure_catalog

    started = time.perf_counter()
    settings = _settings(ctx)
    if corpus is None:
        if limit is None:
            corpus = settings.home / "corpus" / "pydoc-demo"
            what = f"{len(DEMO_MODULES)} well-known standard-library modules"
            info = _build(corpus, what, modules=DEMO_MODULES)
        else:
            corpus = settings.home / "corpus" / f"pydoc-{limit or 'all'}"
            info = _build(corpus, f"{limit or 'all'} standard-library modules", limit=limit or None)
        how = "reused" if info.cached else f"built in {info.seconds:.1f} s"
        _log(f"  {len(info.modules)} modules, {len(info.files)} files, {info.total_mb:.1f} MB ({how})")
    spark = build_spark(settings, app_name="lakehouse demo", master=master)
    # one parent run, so lineage shows ingest -> embed as one chain
    with LineageEmitter.from_settings(settings).run("demo", inputs=[file_input(corpus)]) as demo_run:
        ingested = run_ingest(spark, IngestParams(corpus, None), settings, log=_log, parent=demo_run)
        _log(
            f"{ingested.table}: {ingested.inserted} inserted, {ingested.updated} updated, "
            f"{ingested.unchanged} unchanged"
        )
        embedded = _run_embed(settings, ingested.table, model=model, master=master, parent=demo_run)

    uri = ensure_catalog(settings)
    _log(f"\ncatalog: {uri}   warehouse: {settings.warehouse}")
    rows = []
    for ident in (ingested.table, embedded.output):
        t = VectorTable.load(ident, settings=settings)
        rows.append(
            {
                "table": f"{settings.catalog.name}.{ident}",
                "rows": t.count(),
                "snapshot_id": t.snapshot_id,
                "location": t.location,
            }
        )
    emit(rows, "table", title="tables")
    docs = VectorTable.load(ingested.table, settings=settings).to_arrow(columns=["key", "path"])
    paths = dict(zip(docs.column("key").to_pylist(), docs.column("path").to_pylist(), strict=True))
    sample = (
        VectorTable.load(embedded.output, settings=settings)
        .to_arrow(columns=["source_key", "chunk_index", "chunk_start", "chunk_end", "chunk_text", "embedding"])
        .slice(0, 3)
        .to_pylist()
    )
    emit(
        [
            {
                "source": paths.get(r["source_key"], r["source_key"]),
                "span": f"[{r['chunk_start']}:{r['chunk_end']}] #{r['chunk_index']}",
                "text": " ".join(r["chunk_text"].split())[:60] + "...",
                "embedding": "[" + ", ".join(f"{v:.4f}" for v in r["embedding"][:4]) + ", ...]",
            }
            for r in sample
        ],
        "table",
        title="sample embeddings (text span in the source document, first vector values)",
    )
    _log(f"demo finished in {time.perf_counter() - started:.1f} s")
