"""``lakehouse index``: build, refresh, inspect and search the Lance ANN index of a vector column (Iceberg or Delta)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from lakehouse.cli.output import emit, handle_errors, output_option
from lakehouse.errors import VectorIndexError

if TYPE_CHECKING:
    from lakehouse.config import Settings, TableFormat
    from lakehouse.index.build import IndexType
    from lakehouse.table import VectorTable

_TYPES: list[IndexType] = ["auto", "flat", "ivf_flat", "ivf_pq", "ivf_hnsw_sq"]
column_option = click.option("--column", "-c", default="embedding", show_default=True, help="The vector column.")
format_option = click.option(
    "--format",
    "table_format",
    type=click.Choice(["iceberg", "delta"]),
    default=None,
    help="Table format (default: the Iceberg catalog's table, else the Delta table at <delta_root>/<ns>/<table>).",
)


def _table(settings: Settings, table: str, table_format: TableFormat | None) -> VectorTable:
    from lakehouse.table import VectorTable

    return VectorTable.load(table, settings=settings, format=table_format)


def _store(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value is not None else None


@click.group("index")
def index_group() -> None:
    """ANN indexes (Lance) kept in step with table snapshots (Iceberg snapshots, Delta versions).

    \b
      lakehouse index build docs.embeddings --column embedding --store lang,source_table
      lakehouse index refresh docs.embeddings          # reads only the data files changed since the last one
      lakehouse index status docs.embeddings --format delta
      lakehouse index search docs.embeddings --text "refund policy" -k 10 --where "lang = 'en'"
    """


@index_group.command("build")
@click.argument("table")
@column_option
@click.option("--type", "index_type", type=click.Choice(_TYPES), default="auto", show_default=True)
@click.option("--store", default="", help="Comma-separated columns to store in the index for filtering.")
@click.option(
    "--text",
    "text_columns",
    default="",
    help="Text column(s) to store with a full-text (BM25) index, for `index search --hybrid` (e.g. chunk_text).",
)
@click.option("--wait", type=float, default=0.0, help="Seconds to wait for a running refresh/build.")
@format_option
@output_option
@click.pass_context
@handle_errors
def build_cmd(
    ctx: click.Context,
    table: str,
    column: str,
    index_type: IndexType,
    store: str,
    text_columns: str,
    wait: float,
    table_format: TableFormat | None,
    output: str,
) -> None:
    """(Re)build the index of a vector column from the table's current snapshot."""
    from lakehouse.index import build

    settings = ctx.obj["settings_factory"]()
    vt = _table(settings, table, table_format)
    stored, text = _store(store) or (), _store(text_columns) or ()
    result = build(vt, column, index_type=index_type, store=stored, text=text, settings=settings, wait=wait)
    emit([result.to_dict()], output, title="index build")


@index_group.command("refresh")
@click.argument("table")
@column_option
@click.option("--type", "index_type", type=click.Choice(_TYPES), default=None, help="Change the index type (rebuild).")
@click.option("--store", default=None, help="Change the stored columns (rebuild).")
@click.option("--wait", type=float, default=0.0, help="Seconds to wait for a running refresh/build.")
@format_option
@output_option
@click.pass_context
@handle_errors
def refresh_cmd(
    ctx: click.Context,
    table: str,
    column: str,
    index_type: IndexType | None,
    store: str | None,
    wait: float,
    table_format: TableFormat | None,
    output: str,
) -> None:
    """Apply the table's changes since the indexed snapshot (builds the index when there is none)."""
    from lakehouse.index import refresh

    settings = ctx.obj["settings_factory"]()
    vt = _table(settings, table, table_format)
    result = refresh(vt, column, index_type=index_type, store=_store(store), settings=settings, wait=wait)
    emit([result.to_dict()], output, title="index refresh")


@index_group.command("status")
@click.argument("table")
@column_option
@format_option
@output_option
@click.pass_context
@handle_errors
def status_cmd(ctx: click.Context, table: str, column: str, table_format: TableFormat | None, output: str) -> None:
    """Indexed snapshot vs table snapshot, rows not yet indexed or not yet in the ANN structure, ANN segments, size,
    type and parameters."""
    from lakehouse.index import status

    settings = ctx.obj["settings_factory"]()
    info = status(_table(settings, table, table_format), column, settings=settings).to_dict()
    if output == "table":
        info = {k: (json.dumps(v) if isinstance(v, dict | list) else v) for k, v in info.items()}
        emit([{"field": k, "value": v} for k, v in info.items()], output, title="index status")
    else:
        emit([info], output)


@index_group.command("search")
@click.argument("table")
@column_option
@click.option("--text", default=None, help="Query text, embedded with the column's model.")
@click.option("--vector", default=None, help="Query vector as a JSON list of numbers.")
@click.option("-k", "k", type=int, default=10, show_default=True)
@click.option("--where", default=None, help="SQL filter on stored columns, e.g. \"lang = 'en'\".")
@click.option(
    "--as-of", "as_of", type=int, default=None, help="Search the table as of this snapshot id (Delta: version)."
)
@click.option("--nprobes", type=int, default=None)
@click.option("--refine-factor", type=int, default=None)
@click.option("--hybrid", is_flag=True, help="Fuse BM25 on the index's text column with the vector results (RRF).")
@click.option("--text-weight", type=float, default=None, help="--hybrid: the BM25 leg's weight (vector's is 1).")
@click.option("--rrf-k", type=float, default=None, help="--hybrid: the rank fusion constant (default 60).")
@click.option("--depth", type=int, default=None, help="--hybrid: candidates per leg (default max(k, 50)).")
@click.option("--explain", is_flag=True, help="Also print how the search was answered.")
@click.option("--no-serve", is_flag=True, help="Search in this process even when `lakehouse serve` is running.")
@format_option
@output_option
@click.pass_context
@handle_errors
def search_cmd(
    ctx: click.Context,
    table: str,
    column: str,
    text: str | None,
    vector: str | None,
    k: int,
    where: str | None,
    as_of: int | None,
    nprobes: int | None,
    refine_factor: int | None,
    hybrid: bool,
    text_weight: float | None,
    rrf_k: float | None,
    depth: int | None,
    explain: bool,
    no_serve: bool,
    table_format: TableFormat | None,
    output: str,
) -> None:
    """The k nearest rows; consistent with the table even when the index lags.

    With `lakehouse serve` running for this home, the search runs there (model and index already loaded)."""
    if (text is None) == (vector is None) and not (hybrid and text is not None):
        raise click.UsageError("give exactly one of --text or --vector (--hybrid: --text, and --vector if you have it)")
    if hybrid and text is None:
        raise click.UsageError("--hybrid needs --text (the BM25 leg reads it)")
    fusion: dict[str, Any] = {
        n: v for n, v in (("text_weight", text_weight), ("rrf_k", rrf_k), ("depth", depth)) if v is not None
    }
    vec: list[float] | None = None
    if vector is not None:
        try:
            vec = [float(v) for v in json.loads(vector)]
        except (ValueError, TypeError) as exc:
            raise VectorIndexError(f"--vector is not a JSON list of numbers: {exc}", problem="query") from exc
    settings = ctx.obj["settings_factory"]()
    if not no_serve and table_format is None:
        from lakehouse.serve import call, running

        info = running(settings)
        if info is not None:
            body = {"table": table, "column": column, "k": k, "filter": where, "as_of": as_of}
            body.update({"text": text} if text is not None else {})
            body.update({"vector": vec} if vec is not None else {})
            body.update({"hybrid": fusion or True} if hybrid else {})
            body.update({n: v for n, v in (("nprobes", nprobes), ("refine_factor", refine_factor)) if v})
            _print_served(call(settings, info, "/v1/search", body), k, explain, output)
            return
    vt = _table(settings, table, table_format)
    if text is not None and vector is None:
        from lakehouse.cli.threads import load_query_model

        load_query_model(vt.spec(column).model)  # the query text is embedded in this process
    if hybrid:
        from lakehouse.index import Fusion, hybrid_search, open_index

        assert text is not None  # --hybrid without --text was refused above
        result = hybrid_search(
            open_index(vt, column, settings=settings),
            text,
            k,
            vector=vec,
            where=where,
            as_of=as_of,
            fusion=Fusion(**fusion),
            **{n: v for n, v in (("nprobes", nprobes), ("refine_factor", refine_factor)) if v},
        )
        _print_result(result, k, explain, output)
        return
    from lakehouse.index import search

    query: str | list[float] | None = vec if vec is not None else text
    assert query is not None  # exactly one of --text/--vector, checked above
    result = search(
        vt,
        column,
        query,
        k,
        where=where,
        as_of=as_of,
        settings=settings,
        nprobes=nprobes,
        refine_factor=refine_factor,
    )
    _print_result(result, k, explain, output)


def _print_result(result: Any, k: int, explain: bool, output: str) -> None:
    if output == "json" and explain:
        click.echo(json.dumps({"rows": result.to_pylist(), "plan": result.plan.to_dict()}, indent=2, default=str))
        return
    emit(result.to_pylist(), output, title=f"{k} nearest ({result.plan.path})")
    if explain:
        click.echo(f"path: {result.plan.path}: {result.plan.reason}", err=True)
        for note in result.plan.notes:
            click.echo(f"  {note}", err=True)


def _print_served(answer: dict[str, Any], k: int, explain: bool, output: str) -> None:
    """A search answered by `lakehouse serve`: the row's columns, the score, and the source document's path."""
    plan = answer["plan"]
    rows = []
    for hit in answer["results"]:
        row = {**hit["row"], "score": hit["score"]}
        if (hit.get("source") or {}).get("path") is not None:
            row["path"] = hit["source"]["path"]
        rows.append(row)
    if output == "json" and explain:
        click.echo(json.dumps({"rows": rows, "plan": plan}, indent=2, default=str))
        return
    emit(rows, output, title=f"{k} nearest ({plan['path']}, via lakehouse serve)")
    if explain:
        click.echo(f"path: {plan['path']}: {plan['reason']}", err=True)
