"""Spark job entry point: a directory of .txt/.md/.rst/.html/.pdf files -> the ``documents`` table.

    spark-submit $(lakehouse spark-args) jobs/ingest_documents.py --path ./my-docs
    lakehouse ingest ./my-docs                    # the same through the CLI

The job itself is :func:`lakehouse.ingest.job.run`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lakehouse.ingest.files import DEFAULT_MAX_BYTES


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ingest_documents", description="Ingest a directory of text documents.")
    p.add_argument("--path", required=True, type=Path, help="directory of .txt/.md/.rst/.html files")
    p.add_argument("--table", default=None, help="documents table (default: <namespace>.documents)")
    p.add_argument("--limit", type=int, default=None, help="ingest at most this many files")
    p.add_argument("--keep-missing", action="store_true", help="keep the rows of files no longer in the directory")
    p.add_argument(
        "--allow-delete-all",
        action="store_true",
        help="allow a run that deletes more than half of the table's rows (refused by default)",
    )
    p.add_argument(
        "--max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help=f"skip documents larger than this many bytes (default: {DEFAULT_MAX_BYTES:,})",
    )
    p.add_argument(
        "--format",
        default=None,
        choices=["iceberg", "delta"],
        help="table format of a new table (default: the format setting, iceberg)",
    )
    p.add_argument("--master", default=None, help="Spark master (default: configuration, local[*])")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from lakehouse.config import load_settings
    from lakehouse.ingest.job import IngestParams, run, summary
    from lakehouse.spark import build_spark

    args = parse_args(argv)
    settings = load_settings()
    spark = build_spark(settings, app_name="ingest_documents", master=args.master)
    params = IngestParams(
        args.path,
        args.table,
        args.limit,
        args.format,
        keep_missing=args.keep_missing,
        max_bytes=args.max_bytes,
        allow_delete_all=args.allow_delete_all,
    )
    print(summary(run(spark, params, settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
