"""Spark job entry point: bring a table's ANN index up to its current snapshot (building it when there is none).

    spark-submit $(lakehouse spark-args) jobs/refresh_index.py --table docs.embeddings --column embedding --store lang
    spark-submit $(lakehouse spark-args) jobs/refresh_index.py --table docs.embeddings --format delta
    lakehouse index refresh docs.embeddings          # the same without Spark

The refresh is driver-side Python over table metadata (pyiceberg manifests, the Delta log) and Lance: it reads only the
data files that changed since the indexed snapshot (Delta: version). A SparkSession is built only with
``--with-spark`` (for symmetry with the other jobs, e.g. to share the cluster's configuration); the work itself does
not need one.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="refresh_index", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--table", required=True, help="table with the vector column, e.g. docs.embeddings")
    p.add_argument("--column", default="embedding", help="vector column (default: embedding)")
    p.add_argument(
        "--format",
        default=None,
        choices=["iceberg", "delta"],
        help="table format (default: the Iceberg catalog's table, else the Delta table at its location)",
    )
    p.add_argument(
        "--type",
        dest="index_type",
        default=None,
        choices=["auto", "flat", "ivf_flat", "ivf_pq", "ivf_hnsw_sq"],
        help="index type when building; a different type than the index has triggers a rebuild",
    )
    p.add_argument("--store", default=None, help="comma-separated columns to store for filtering")
    p.add_argument("--wait", type=float, default=600.0, help="seconds to wait for a concurrent refresh (default 600)")
    p.add_argument("--with-spark", action="store_true", help="build a SparkSession first (not needed for the work)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from lakehouse.config import load_settings
    from lakehouse.index import refresh
    from lakehouse.table import VectorTable

    args = parse_args(argv)
    settings = load_settings()
    if args.with_spark:
        from lakehouse.spark import build_spark

        build_spark(settings, app_name="refresh_index")
    store = [c.strip() for c in args.store.split(",") if c.strip()] if args.store is not None else None
    table = VectorTable.load(args.table, settings=settings, format=args.format)
    result = refresh(table, args.column, index_type=args.index_type, store=store, settings=settings, wait=args.wait)
    print(json.dumps(result.to_dict(), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
