"""``lakehouse sql``: run, explain and transpile similarity SQL; an interactive shell with history."""

from __future__ import annotations

import cmd
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lakehouse.cli.output import emit, err_console, handle_errors, output_option
from lakehouse.errors import SqlError

if TYPE_CHECKING:
    from lakehouse.sql.api import Engine

ENGINES = click.Choice(["duckdb", "spark"])


def _sql_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """SQL errors are bad input (exit 3); the rest goes through the common mapping."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SqlError as exc:
            err_console.print(f"[bold red]error:[/] {exc.message}", markup=True, highlight=False)
            if exc.hint:
                err_console.print(f"[yellow]hint:[/] {exc.hint}")
            sys.exit(3)

    return handle_errors(wrapper)


class _QueryGroup(click.Group):
    """``lakehouse sql "SELECT ..."`` runs the query: an unknown first word is not a subcommand but SQL."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        elif not args:
            args = ["run"]
        return super().parse_args(ctx, args)


def _session(ctx: click.Context, engine: Engine) -> Any:
    from lakehouse.sql import SqlSession

    settings = ctx.obj["settings_factory"]()
    spark = None
    if engine == "spark":
        from lakehouse.spark import build_spark

        spark = build_spark(settings)
    return SqlSession(settings, engine=engine, spark=spark)


def _rows(table: Any) -> list[dict[str, Any]]:
    return table.to_pylist()


def _params(values: tuple[str, ...]) -> dict[str, Any] | None:
    """``--param name=value`` pairs: a value that reads as JSON (a number, a list of numbers) is that value, else
    the text itself (which a vector function's placeholder embeds with the column's model)."""
    import json

    out: dict[str, Any] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise SqlError(f"--param {item!r} is not NAME=VALUE", hint="e.g. -p q='snapshot isolation' -p k=5")
        try:
            out[name.strip()] = json.loads(raw)
        except ValueError:
            out[name.strip()] = raw
    return out or None


def _served(ctx: click.Context, engine: Engine, no_serve: bool) -> tuple[Any, Any] | None:
    """(settings, the running `lakehouse serve`) when the query can go there: DuckDB engine, a service up."""
    if no_serve or engine != "duckdb":
        return None
    from lakehouse.serve import running

    settings = ctx.obj["settings_factory"]()
    info = running(settings)
    return (settings, info) if info is not None else None


param_option = click.option(
    "--param",
    "-p",
    "param",
    multiple=True,
    help="Bind a placeholder: -p q='some text' (embedded where a vector belongs), -p k=5, -p v='[0.1, ...]'.",
)
no_serve_option = click.option(
    "--no-serve", is_flag=True, help="Run in this process even when `lakehouse serve` is running."
)


@click.group("sql", cls=_QueryGroup, invoke_without_command=False)
def sql_group() -> None:
    """Similarity SQL over the lakehouse tables (DuckDB by default, or Spark).

    \b
      lakehouse sql "SELECT key, cosine_similarity(embedding, embed('retry')) AS s
                     FROM lake.docs.embeddings ORDER BY s DESC LIMIT 5"
      lakehouse sql -f query.sql -o json
      lakehouse sql                       # interactive shell (on a terminal)
      lakehouse sql explain "<query>"
      lakehouse sql transpile --to postgres "<query>"
    """


@sql_group.command("run")
@click.argument("query", required=False)
@click.option(
    "-f",
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the query from a file.",
)
@click.option("--engine", type=ENGINES, default="duckdb", show_default=True)
@param_option
@no_serve_option
@output_option
@click.pass_context
@_sql_errors
def run_cmd(
    ctx: click.Context,
    query: str | None,
    file: Path | None,
    engine: Engine,
    param: tuple[str, ...],
    no_serve: bool,
    output: str,
) -> None:
    """Run one read-only query (or start the shell when none is given on a terminal).

    With `lakehouse serve` running for this home (and the DuckDB engine), the query runs there."""
    text = file.read_text() if file else query
    if text is None:
        if sys.stdin.isatty():
            ctx.invoke(shell_cmd, engine=engine, output=output)
            return
        text = sys.stdin.read()
    params = _params(param)
    served = _served(ctx, engine, no_serve)
    if served is not None:
        from lakehouse.serve import call

        answer = call(*served, "/v1/sql", {"sql": text, "params": params})
        emit(answer["rows"], output)
        return
    with _session(ctx, engine) as s:
        emit(_rows(s.query(text, params)), output)


@sql_group.command("explain")
@click.argument("query")
@click.option("--engine", type=ENGINES, default="duckdb", show_default=True)
@param_option
@no_serve_option
@click.pass_context
@_sql_errors
def explain_cmd(ctx: click.Context, query: str, engine: Engine, param: tuple[str, ...], no_serve: bool) -> None:
    """Say which path a query takes (ANN index at snapshot S, or exact scan) and why."""
    params = _params(param)
    served = _served(ctx, engine, no_serve)
    if served is not None:
        from lakehouse.serve import call

        answer = call(*served, "/v1/sql", {"sql": f"EXPLAIN {query}", "params": params})
        click.echo("\n".join(r["plan"] for r in answer["rows"]))
        return
    with _session(ctx, engine) as s:
        click.echo(s.explain(query, params))


@sql_group.command("transpile")
@click.argument("query")
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Choice(["duckdb", "spark", "databricks", "snowflake", "bigquery", "postgres", "trino"]),
)
@click.pass_context
@_sql_errors
def transpile_cmd(ctx: click.Context, query: str, to: str) -> None:
    """Translate a query for another engine with the same semantics (notes go to stderr)."""
    from lakehouse.sql import transpile

    result = transpile(query, to=to, settings=ctx.obj["settings_factory"]())
    click.echo(result.sql)
    for note in result.notes:
        err_console.print(f"[dim]note:[/] {note}")


@sql_group.command("shell")
@click.option("--engine", type=ENGINES, default="duckdb", show_default=True)
@output_option
@click.pass_context
def shell_cmd(ctx: click.Context, engine: Engine, output: str) -> None:
    """An interactive shell: end a query with ';', EXPLAIN <query> for the plan, .quit to leave."""
    Shell(lambda: _session(ctx, engine), output).cmdloop()


class Shell(cmd.Cmd):
    intro = "lakehouse sql shell: end queries with ';'. EXPLAIN <query>, .transpile <target> <query>, .quit"
    prompt = "sql> "

    def __init__(self, session_factory: Callable[[], Any], output: str) -> None:
        super().__init__()
        self._factory = session_factory
        self._session: Any = None
        self.output = output
        self.buffer: list[str] = []
        self.history = Path.home() / ".lakehouse_sql_history"
        try:
            import readline

            if self.history.exists():
                readline.read_history_file(self.history)
        except (ImportError, OSError):
            pass

    def default(self, line: str) -> bool:  # type: ignore[override]  # cmd's onecmd returns it: True stops
        if line.strip() in (".quit", ".exit", "EOF"):
            return True
        self.buffer.append(line)
        if not line.rstrip().endswith(";"):
            self.prompt = "...> "
            return False
        text, self.buffer, self.prompt = "\n".join(self.buffer), [], "sql> "
        try:
            if text.startswith(".transpile "):
                from lakehouse.sql import transpile

                _, target, query = text.split(" ", 2)
                click.echo(transpile(query, to=target).sql)
                return False
            self._session = self._session or self._factory()
            emit(_rows(self._session.query(text)), self.output)
        except SqlError as exc:
            err_console.print(f"[bold red]error:[/] {exc.message}")
        except Exception as exc:  # the shell survives any failure of one query
            err_console.print(f"[bold red]error:[/] {exc}")
        return False

    def do_EOF(self, line: str) -> bool:  # noqa: N802 - cmd's name for end of input
        return True

    def emptyline(self) -> bool:
        return False

    def postloop(self) -> None:
        try:
            import readline

            readline.write_history_file(self.history)
        except (ImportError, OSError):
            pass
        if self._session is not None:
            self._session.close()
