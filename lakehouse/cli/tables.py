"""CLI commands that inspect tables and print Spark settings."""

from __future__ import annotations

import click

from lakehouse.cli.output import emit, handle_errors, output_option


@click.command()
@output_option
@click.pass_context
@handle_errors
def tables(ctx: click.Context, output: str) -> None:
    """List the catalog's tables with row counts, snapshot ids and vector columns."""
    from lakehouse.table import VectorTable, load_catalog

    settings = ctx.obj["settings_factory"]()
    cat = load_catalog(settings)
    rows = []
    for (ns,) in cat.list_namespaces():
        for ident in cat.list_tables(ns):
            t = VectorTable(cat.load_table(ident), cat)
            rows.append(
                {
                    "table": ".".join(ident),
                    "rows": t.count(),
                    "snapshot_id": t.snapshot_id,
                    "vectors": ", ".join(f"{s.column}[{s.dim},{s.metric},{s.model}]" for s in t.specs.values()),
                }
            )
    emit(rows, output, title="tables")


@click.command()
@click.argument("table")
@click.option("--limit", "-n", type=int, default=5, show_default=True)
@click.option("--snapshot", type=int, default=None, help="Read at this snapshot id (time travel).")
@output_option
@click.pass_context
@handle_errors
def show(ctx: click.Context, table: str, limit: int, snapshot: int | None, output: str) -> None:
    """Print a few rows of a table (vectors shortened), its vector spec and snapshot."""
    from lakehouse.table import VectorTable
    from lakehouse.table.history import check_snapshot

    t = VectorTable.load(table, settings=ctx.obj["settings_factory"]())
    if snapshot is not None:
        check_snapshot(t, snapshot)
    rows = t.to_arrow(snapshot_id=snapshot).slice(0, limit).to_pylist()
    if output != "table":
        emit(rows, output)
        return
    # one record per block: tables with a dozen columns and long text do not fit a terminal's width
    click.echo(_header(t, snapshot))
    for i, r in enumerate(rows):
        click.echo(f"-- row {i + 1}")
        width = max(len(k) for k in r)
        for k, v in r.items():
            click.echo(f"  {k.ljust(width)}  {_short(v)}")


def _header(t: object, snapshot: int | None) -> str:
    """The table and the snapshot the rows below come from (the current one unless ``--snapshot`` names another)."""
    if snapshot is None or snapshot == t.snapshot_id:  # type: ignore[attr-defined]
        return repr(t)
    unit = "version" if getattr(t, "format", None) == "delta" else "snapshot"
    specs = ", ".join(f"{s.column}[{s.dim}, {s.metric}]" for s in t.specs.values())  # type: ignore[attr-defined]
    return (
        f"{type(t).__name__}({t.identifier}, {unit}={snapshot} (time travel; current {t.snapshot_id}), "  # type: ignore[attr-defined]
        f"vectors=[{specs}])"
    )


def _short(value: object) -> str:
    if isinstance(value, list) and value and isinstance(value[0], float):
        return "[" + ", ".join(f"{v:.4f}" for v in value[:4]) + f", ... ({len(value)} values)]"
    if isinstance(value, str):
        flat = " ".join(value.split())
        return flat if len(flat) <= 100 else flat[:97] + "..."
    return str(value)


def _submit_args(settings: object) -> list[str]:
    from lakehouse.spark import spark_conf
    from lakehouse.table import ensure_catalog

    conf = spark_conf(settings, ensure_catalog(settings))  # type: ignore[arg-type]
    args = ["--master", conf.pop("spark.master")]
    if "spark.jars" in conf:
        args += ["--jars", conf.pop("spark.jars")]
    if "spark.jars.packages" in conf:
        args += ["--packages", conf.pop("spark.jars.packages")]
    for k, v in conf.items():
        args += ["--conf", f"{k}={v}"]
    return args


@click.command("spark-args")
@click.pass_context
@handle_errors
def spark_args(ctx: click.Context) -> None:
    """Print spark-submit arguments that wire a job to this lakehouse (jars, catalog, extensions).

    \b
    spark-submit $(lakehouse spark-args) jobs/embed_table.py --source docs.documents
    (printed unquoted for that use; `lakehouse submit` runs spark-submit for you)
    """
    click.echo(" ".join(_submit_args(ctx.obj["settings_factory"]())))


@click.command("submit", context_settings={"ignore_unknown_options": True})
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@handle_errors
def submit(ctx: click.Context, script: str, args: tuple[str, ...]) -> None:
    """Run a job script with spark-submit, wired to this lakehouse.

    \b
    lakehouse submit jobs/ingest_documents.py --path ./docs
    lakehouse submit jobs/embed_table.py --source docs.documents
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    import pyspark

    spark_submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    env = {**os.environ, "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable)}
    cmd = [str(spark_submit), *_submit_args(ctx.obj["settings_factory"]()), script, *args]
    sys.exit(subprocess.run(cmd, env=env, check=False).returncode)
