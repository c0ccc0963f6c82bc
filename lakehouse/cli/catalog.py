"""``lakehouse catalog``: run and inspect the Iceberg REST catalog service."""

from __future__ import annotations

import click

from lakehouse.cli.output import emit, handle_errors, output_option


@click.group("catalog")
def catalog_group() -> None:
    """The Iceberg REST catalog that Spark, pyiceberg and DuckDB share (started on demand by other commands)."""


@catalog_group.command()
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8181 in the foreground).")
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the catalog service in the foreground (Ctrl-C stops it)."""
    import os

    from lakehouse.catalog_client.credentials import SECRET_FILE
    from lakehouse.catalog_client.process import serve_command, service_environment

    s = ctx.obj["settings_factory"]()
    s.state_dir.mkdir(parents=True, exist_ok=True)
    if s.warehouse_path is not None:
        s.warehouse_path.mkdir(parents=True, exist_ok=True)
    command = serve_command(
        host=host or s.catalog.host,
        port=port or s.catalog.port or 8181,
        database_url=s.catalog_database,
        warehouse=s.warehouse,
        secret_file=s.state_dir / SECRET_FILE,
        allow_external_locations=s.catalog.allow_external_locations,
    )
    # the service is its own program (`python -m catalog serve`): this process becomes it, so Ctrl-C and the exit
    # status are the server's, and the library never imports the service
    os.execve(command[0], command, service_environment())


@catalog_group.command()
@output_option
@click.pass_context
@handle_errors
def start(ctx: click.Context, output: str) -> None:
    """Start the service in the background (or reuse the running one) and print its address."""
    from lakehouse.catalog_client.connection import ensure_catalog
    from lakehouse.catalog_client.process import ensure_running

    s = ctx.obj["settings_factory"]()
    ensure_catalog(s)
    proc = ensure_running(
        s.state_dir,
        host=s.catalog.host,
        port=s.catalog.port,
        database_url=s.catalog_database,
        warehouse=s.warehouse,
        allow_external_locations=s.catalog.allow_external_locations,
    )
    emit([{"uri": proc.uri, "pid": proc.pid, "warehouse": proc.warehouse, "database": proc.database}], output)


@catalog_group.command()
@output_option
@click.pass_context
@handle_errors
def status(ctx: click.Context, output: str) -> None:
    """Say whether the background service runs, and where."""
    from lakehouse.catalog_client.process import status as get_status

    s = ctx.obj["settings_factory"]()
    proc = get_status(s.state_dir)
    if proc is None:
        click.echo(f"no catalog service running for {s.state_dir}")
        return
    emit([{"uri": proc.uri, "pid": proc.pid, "warehouse": proc.warehouse, "database": proc.database}], output)


@catalog_group.command()
@click.pass_context
@handle_errors
def stop(ctx: click.Context) -> None:
    """Stop the background service."""
    from lakehouse.catalog_client.process import stop as stop_service

    s = ctx.obj["settings_factory"]()
    click.echo("stopped" if stop_service(s.state_dir) else "no catalog service was running")


@catalog_group.command()
@click.option("--read-only", is_flag=True, help="A token of the read-only 'analyst' client (loads, never commits).")
@click.pass_context
@handle_errors
def token(ctx: click.Context, read_only: bool) -> None:
    """Print a bearer token for the catalog (curl -H "Authorization: Bearer $(lakehouse catalog token)" ...).

    The embedded service's clients and secrets are in <state>/catalog.secret (mode 0600); a token lasts an hour.
    """
    from lakehouse.catalog_client.connection import connect_catalog

    s = ctx.obj["settings_factory"]()
    click.echo(connect_catalog(s, read_only=read_only).fetch_token())
