"""One output abstraction for every command: ``--output table|json|csv`` and error -> exit code mapping."""

from __future__ import annotations

import csv
import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar, cast

import click
from rich.console import Console
from rich.table import Table

from lakehouse.errors import (
    CatalogError,
    ConfigError,
    EnvironmentSetupError,
    LakehouseError,
    LineageError,
    SnapshotNotFoundError,
    SqlError,
    TableNotFoundError,
    VectorIndexError,
    VectorSpecError,
    VectorValidationError,
)

F = TypeVar("F", bound=Callable[..., Any])
# Off a terminal (CI logs, pipes) rich would wrap at 80 columns; give tables room instead.
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)

# exit codes: 1 = unexpected failure, 2 = usage (click), 3 = bad input or config, 4 = missing table,
# 5 = environment or service
EXIT_CODES: dict[type[LakehouseError], int] = {
    ConfigError: 3,
    VectorValidationError: 3,
    VectorSpecError: 3,
    VectorIndexError: 3,
    SqlError: 3,
    SnapshotNotFoundError: 3,
    LineageError: 3,
    TableNotFoundError: 4,
    EnvironmentSetupError: 5,
    CatalogError: 5,
}


def handle_errors(func: F) -> F:
    """Print a :class:`LakehouseError` as one clear message (plus its hint) and exit with its code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LakehouseError as exc:
            _exit_with(exc)
        except Exception as exc:
            from lakehouse.spark.jvm import jvm_death  # a dead Spark JVM, seen as a raw py4j error

            died = jvm_death(exc)
            if died is None:
                raise
            _exit_with(died)

    return cast(F, wrapper)  # functools.wraps keeps the signature click reads


def _exit_with(exc: LakehouseError) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {exc.message}")
    if exc.hint:
        err_console.print(f"[yellow]hint:[/] {exc.hint}")
    code = next((c for t, c in EXIT_CODES.items() if isinstance(exc, t)), 1)
    sys.exit(code)


def emit(rows: Sequence[dict[str, Any]], fmt: str, *, title: str | None = None) -> None:
    """Write rows as a rich table, JSON lines array or CSV on stdout."""
    if fmt == "json":
        click.echo(json.dumps(list(rows), indent=2, default=str))
        return
    columns = list(rows[0].keys()) if rows else []
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        return
    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*(_cell(r[c]) for c in columns))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list | tuple) and len(value) > 4:
        return (
            "["
            + ", ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in value[:4])
            + f", ... ({len(value)})]"
        )
    return "" if value is None else str(value)


output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="How to print results.",
)
