"""Spark job entry point: semantic deduplication of a vector table -> a ``dedup`` result table.

    lakehouse submit jobs/dedup.py --table docs.embeddings --column embedding --threshold 0.95
    lakehouse dedup docs.embeddings --column embedding --threshold 0.95   # the same through the CLI

The job itself is :func:`lakehouse.dedup.job.run`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dedup", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--table", required=True, help="vector table, e.g. docs.embeddings")
    p.add_argument("--column", default="embedding", help="vector column (default: embedding)")
    p.add_argument("--threshold", type=float, default=0.95, help="cosine similarity of near duplicates (default 0.95)")
    p.add_argument("--output", default=None, help="result table (default: <namespace>.<table>_dedup)")
    p.add_argument("--filtered-table", default=None, help="also write the kept rows to this table")
    p.add_argument(
        "--candidates",
        choices=["exact", "ann"],
        default="exact",
        help="how near duplicates are found: exact batch join (default) or the ANN index, k neighbours a row",
    )
    p.add_argument("--k", type=int, default=10, help="neighbours searched per row with --candidates ann (default 10)")
    p.add_argument("--master", default=None, help="Spark master (default: configuration, local[*])")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from lakehouse.config import load_settings
    from lakehouse.dedup.job import DedupParams, run
    from lakehouse.spark import build_spark

    args = parse_args(argv)
    settings = load_settings()
    params = DedupParams(
        table=args.table,
        column=args.column,
        threshold=args.threshold,
        output=args.output,
        filtered_table=args.filtered_table,
        candidates=args.candidates,
        k=args.k,
    )
    spark = build_spark(settings, app_name="dedup", master=args.master)
    r = run(spark, params, settings)
    print(f"{r.output} (snapshot {r.output_snapshot_id}): {r.rows_removed} rows removed, {r.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
