"""The ``lakehouse`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lakehouse._version import __version__
from lakehouse.cli.catalog import catalog_group
from lakehouse.cli.dedup import dedup
from lakehouse.cli.index import index_group
from lakehouse.cli.jobs import demo, embed, ingest
from lakehouse.cli.lineage import lineage_group
from lakehouse.cli.serve import serve_group
from lakehouse.cli.sql import sql_group
from lakehouse.cli.tables import show, spark_args, submit, tables
from lakehouse.config import load_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="lakehouse")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="LAKEHOUSE_HOME",
    help="Where the warehouse and state live (default: ./.lakehouse, or $LAKEHOUSE_HOME).",
)
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """lakehouse: vector columns in Iceberg tables, written by Spark, shared through one REST catalog.

    \b
    Typical flow:
      lakehouse demo                       # build the pydoc corpus, ingest it, embed it (the main job)
      lakehouse ingest ./docs              # a directory of .txt/.md/.rst/.html/.pdf -> docs.documents
      lakehouse embed docs.documents       # chunk + embed the text column -> docs.embeddings
      lakehouse tables                     # what is in the catalog
      lakehouse show docs.embeddings       # a few rows, vectors shortened

    Configuration: lakehouse.yaml in this directory or $LAKEHOUSE_HOME, then LAKEHOUSE__SECTION__KEY variables.
    """
    ctx.ensure_object(dict)
    home_override: dict[str, Any] = {"home": str(home)} if home else {}
    ctx.obj["settings_factory"] = lambda **kw: load_settings(**home_override, **kw)


cli.add_command(demo)
cli.add_command(ingest)
cli.add_command(embed)
cli.add_command(tables)
cli.add_command(show)
cli.add_command(spark_args)
cli.add_command(submit)
cli.add_command(catalog_group)
cli.add_command(index_group)
cli.add_command(sql_group)
cli.add_command(lineage_group)
cli.add_command(dedup)
cli.add_command(serve_group)


def main() -> None:
    cli(prog_name="lakehouse")


if __name__ == "__main__":
    main()
