"""Spark job entry point: a table's text column -> chunks -> embeddings, with per-row lineage.

    lakehouse submit jobs/embed_table.py --source docs.documents --column text
    lakehouse embed docs.documents --column text          # the same through the CLI

The job itself is :func:`lakehouse.embedding.run`; its options are declared once in
:data:`lakehouse.embedding.options.EMBED_OPTIONS`, for this command line and the CLI's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lakehouse.embedding.options import add_arguments


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="embed_table", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--source", required=True, help="source table, e.g. docs.documents")
    add_arguments(p)
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from lakehouse.config import load_settings
    from lakehouse.embedding import EmbedParams, run
    from lakehouse.spark import build_spark

    args = vars(parse_args(argv))
    settings = load_settings()
    params = EmbedParams.from_settings(settings, **args)
    spark = build_spark(settings, app_name="embed_table", master=args["master"])
    r = run(spark, params, settings)
    print(f"{r.output}: {r.chunks} embeddings of {r.source_rows} rows (snapshot {r.output_snapshot_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
