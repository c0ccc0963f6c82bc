"""The embed job's options, declared once: the ``lakehouse embed`` click options and the ``jobs/embed_table.py``
argparse arguments are both generated from :data:`EMBED_OPTIONS`, and :meth:`EmbedParams.from_settings
<lakehouse.embedding.params.EmbedParams.from_settings>` fills what is left unset from the settings.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from lakehouse.config import TABLE_FORMATS

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Option:
    """One option of a job: its flag, the parameter it sets, and how the two command lines spell it."""

    flag: str  # --chunk-size
    dest: str  # the EmbedParams field (and click/argparse destination)
    help: str
    type: type = str
    default: Any = None
    flag_only: bool = False  # a switch (store_true / is_flag)
    choices: tuple[str, ...] | None = None
    show_default: bool = False  # --help shows the default (click: [default: ...], argparse: (default: ...))


EMBED_OPTIONS: tuple[Option, ...] = (
    Option("--column", "column", "Text column to chunk and embed.", default="text", show_default=True),
    Option("--key", "key", "Key column of the source table.", default="key", show_default=True),
    Option("--output", "output", "Embeddings table (default: <namespace>.embeddings)."),
    Option(
        "--model", "model", "Embedding model (default: the embed.model setting, all-MiniLM-L6-v2, packaged offline)."
    ),
    Option(
        "--chunk-size",
        "chunk_size",
        "Chunk size in characters (default: the embed.chunk_size setting, 800: inside MiniLM's 256-token window).",
        type=int,
    ),
    Option(
        "--chunk-overlap",
        "chunk_overlap",
        "Overlap between chunks in characters (default: the embed.chunk_overlap setting, 80).",
        type=int,
    ),
    Option(
        "--plan",
        "plan_only",
        "Print what would be embedded, updated and deleted (with an estimated time); write nothing.",
        flag_only=True,
    ),
    Option("--reembed", "reembed", "Change the column's model: re-embed everything with --model.", flag_only=True),
    Option(
        "--full",
        "full",
        "Read and compare the whole source, even where only the files changed since the last run could be read.",
        flag_only=True,
    ),
    Option(
        "--format",
        "format",
        "Table format of a new embeddings table (default: the format setting, iceberg).",
        choices=TABLE_FORMATS,
    ),
    Option("--master", "master", "Spark master (default: the spark.master setting, local[*])."),
)


def click_options(options: Sequence[Option] = EMBED_OPTIONS) -> Callable[[F], F]:
    """A decorator adding ``options`` to a click command, in order."""
    import click

    def decorate(fn: F) -> F:
        for o in reversed(options):
            kwargs: dict[str, Any] = {"help": o.help}
            if o.flag_only:
                kwargs["is_flag"] = True
            else:
                kwargs["default"] = o.default
                kwargs["type"] = click.Choice(list(o.choices)) if o.choices else o.type
                kwargs["show_default"] = o.show_default
            fn = click.option(o.flag, o.dest, **kwargs)(fn)
        return fn

    return decorate


def add_arguments(parser: argparse.ArgumentParser, options: Sequence[Option] = EMBED_OPTIONS) -> None:
    """Add ``options`` to an argparse parser (the spark-submit entry point's command line)."""
    for o in options:
        if o.flag_only:
            parser.add_argument(o.flag, dest=o.dest, action="store_true", help=o.help)
        else:
            text = f"{o.help} (default: {o.default})" if o.show_default else o.help  # as click's [default: ...]
            parser.add_argument(o.flag, dest=o.dest, type=o.type, default=o.default, choices=o.choices, help=text)
