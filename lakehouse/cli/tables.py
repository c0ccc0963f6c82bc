"""CLI commands that inspect tables and print Spark settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from lakehouse.cli.output import emit, handle_errors, output_option
from lakehouse.errors import LakehouseError

if TYPE_CHECKING:
    from lakehouse.config import Settings
    from lakehouse.table import VectorTable


@click.command()
@output_option
@click.pass_context
@handle_errors
def tables(ctx: click.Context, output: str) -> None:
    """List the catalog's tables with row counts, snapshot ids and vector columns."""
    settings = ctx.obj["settings_factory"]()
    rows = _listed(settings)
    if rows is not None:
        emit(rows, output, title="tables")
        return
    from lakehouse.table import IcebergVectorTable, load_catalog

    cat = load_catalog(settings)
    rows = []
    for (ns,) in cat.list_namespaces():
        for ident in cat.list_tables(ns):
            t = IcebergVectorTable(cat.load_table(ident), cat)
            rows.append(
                {
                    "table": ".".join(ident),
                    "rows": t.count(),
                    "snapshot_id": t.snapshot_id,
                    "vectors": ", ".join(f"{s.column}[{s.dim},{s.metric},{s.model}]" for s in t.specs.values()),
                }
            )
    emit(rows, output, title="tables")


def _listed(settings: Any) -> list[dict[str, Any]] | None:
    """The rows of `lakehouse tables` read straight from the embedded catalog service's REST API, or None to use
    pyiceberg (an external catalog, a table whose snapshot summary has no row count, any error on the way).

    Importing pyiceberg's REST client and building a table object per table was most of the command's time, the more
    so under load; three plain GETs per table and a token minted from the service's secret file need neither, and the
    command takes a fraction of the time (figures: BENCHMARKS.md, design measurements, 'CLI tables listing').
    """
    if settings.catalog.uri:
        return None
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    from lakehouse.serve.auth import client_token
    from lakehouse.table import ensure_catalog

    uri = ensure_catalog(settings).rstrip("/")
    try:
        headers = {"Authorization": f"Bearer {client_token(settings)}"}
    except LakehouseError:
        return None

    def get(path: str) -> Any:
        request = urllib.request.Request(uri + path, headers=headers)  # noqa: S310 - the service we started
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())

    rows = []
    try:
        for ns in get("/v1/namespaces")["namespaces"]:
            encoded = urllib.parse.quote("\x1f".join(ns), safe="")
            for ident in get(f"/v1/namespaces/{encoded}/tables")["identifiers"]:
                name = urllib.parse.quote(ident["name"], safe="")
                meta = get(f"/v1/namespaces/{encoded}/tables/{name}")["metadata"]
                row = _row(".".join([*ns, ident["name"]]), meta)
                if row is None:
                    return None
                rows.append(row)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return rows


def _row(identifier: str, meta: dict[str, Any]) -> dict[str, Any] | None:
    from lakehouse.vector.spec import specs_from_properties

    current = meta.get("current-snapshot-id")
    current = None if current in (None, -1) else current
    count = 0
    if current is not None:
        snap = next((s for s in meta.get("snapshots") or [] if s.get("snapshot-id") == current), None)
        total = ((snap or {}).get("summary") or {}).get("total-records")
        if total is None:
            return None
        count = int(total)
    specs = specs_from_properties(meta.get("properties") or {})
    return {
        "table": identifier,
        "rows": count,
        "snapshot_id": current,
        "vectors": ", ".join(f"{s.column}[{s.dim},{s.metric},{s.model}]" for s in specs.values()),
    }


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


def _header(t: VectorTable, snapshot: int | None) -> str:
    """The table and the snapshot the rows below come from (the current one unless ``--snapshot`` names another)."""
    if snapshot is None or snapshot == t.snapshot_id:
        return repr(t)
    unit = t.snapshot_unit
    specs = ", ".join(f"{s.column}[{s.dim}, {s.metric}]" for s in t.specs.values())
    return (
        f"{type(t).__name__}({t.identifier}, {unit}={snapshot} (time travel; current {t.snapshot_id}), "
        f"vectors=[{specs}])"
    )


def _short(value: object) -> str:
    if isinstance(value, list) and value and isinstance(value[0], float):
        return "[" + ", ".join(f"{v:.4f}" for v in value[:4]) + f", ... ({len(value)} values)]"
    if isinstance(value, str):
        flat = " ".join(value.split())
        return flat if len(flat) <= 100 else flat[:97] + "..."
    return str(value)


def _submit_args(settings: Settings) -> list[str]:
    from lakehouse.spark import spark_conf
    from lakehouse.table import ensure_catalog

    conf = spark_conf(settings, ensure_catalog(settings))
    args = ["--master", conf.pop("spark.master")]
    # the catalog credential goes in a 0600 properties file, not on a command line every local user can read
    secret = {k: conf.pop(k) for k in [k for k in conf if k.endswith((".credential", ".token"))]}
    if secret:
        import os

        path = settings.state_dir / "spark-catalog-auth.conf"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.writelines(f"{k} {v}\n" for k, v in secret.items())
        args += ["--properties-file", str(path)]
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
