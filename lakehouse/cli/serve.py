"""``lakehouse serve``: the search and SQL HTTP service (foreground), its token, status and stop."""

from __future__ import annotations

import click

from lakehouse.cli.output import emit, handle_errors, output_option


@click.group("serve", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address (keep it local unless proxied).")
@click.option("--port", type=int, default=None, help="Port (default 8765; 0 picks a free one).")
@click.option("--sql-sessions", type=click.IntRange(1, 64), default=2, show_default=True, help="DuckDB sessions kept.")
@click.option("--log-level", default="warning", show_default=True, type=click.Choice(["debug", "info", "warning"]))
@click.pass_context
@handle_errors
def serve_group(ctx: click.Context, host: str, port: int | None, sql_sessions: int, log_level: str) -> None:
    """Serve search and similarity SQL over HTTP from one warm process (Ctrl-C stops it).

    \b
      POST /v1/search  {"table": "docs.embeddings", "text": "snapshot isolation", "k": 5, "filter": "..."}
      POST /v1/sql     {"sql": "SELECT ... cosine_similarity(embedding, :q) ...", "params": {"q": "some text"}}
      GET  /v1/health
    Every call but /v1/health needs 'Authorization: Bearer <token>' (the catalog's tokens; `lakehouse serve token`).
    While it runs, `lakehouse index search` and `lakehouse sql` use it instead of loading everything themselves.
    """
    if ctx.invoked_subcommand is not None:
        return
    from lakehouse.serve import DEFAULT_PORT, run

    run(
        ctx.obj["settings_factory"](),
        host=host,
        port=DEFAULT_PORT if port is None else port,
        sql_sessions=sql_sessions,
        log_level=log_level,
    )


@serve_group.command("token")
@click.option("--client", default=None, help="Client id in the secret file (default: analyst, read-only).")
@click.option("--ttl", type=click.IntRange(60), default=3600, show_default=True, help="Seconds the token is valid.")
@click.pass_context
@handle_errors
def token_cmd(ctx: click.Context, client: str | None, ttl: int) -> None:
    """Print a bearer token for the service (and the catalog), minted from <state>/catalog.secret."""
    from lakehouse.serve.auth import client_token

    click.echo(client_token(ctx.obj["settings_factory"](), client, ttl=ttl))


@serve_group.command("status")
@output_option
@click.pass_context
@handle_errors
def status_cmd(ctx: click.Context, output: str) -> None:
    """Say whether a service runs for this home, and where."""
    from lakehouse.serve import running

    info = running(ctx.obj["settings_factory"]())
    emit([{"running": info is not None, "uri": info.uri if info else None, "pid": info.pid if info else None}], output)


@serve_group.command("stop")
@click.pass_context
@handle_errors
def stop_cmd(ctx: click.Context) -> None:
    """Stop the running service of this home."""
    from lakehouse.serve import stop

    click.echo("stopped" if stop(ctx.obj["settings_factory"]()) else "no service was running")
