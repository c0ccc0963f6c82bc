"""Command line: ``python -m catalog serve --database URL --warehouse URI [--host H] [--port P]``."""

from __future__ import annotations

import argparse
import sys

from catalog.server import DEFAULT_HOST, DEFAULT_PORT, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m catalog", description="Iceberg REST catalog service")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve the REST catalog in the foreground")
    serve_cmd.add_argument("--database", required=True, help="SQLAlchemy URL, e.g. sqlite:////abs/path/catalog.db")
    serve_cmd.add_argument("--warehouse", required=True, help="warehouse URI, e.g. file:///abs/path/warehouse")
    serve_cmd.add_argument("--host", default=DEFAULT_HOST, help=f"interface to bind (default {DEFAULT_HOST})")
    serve_cmd.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    serve_cmd.add_argument("--name", default="lake", help="catalog name recorded in the database (default lake)")
    serve_cmd.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve_cmd.add_argument("--port-file", help="write the port actually bound here (useful with --port 0)")
    args = parser.parse_args(argv)
    serve(
        args.database,
        args.warehouse,
        host=args.host,
        port=args.port,
        port_file=args.port_file,
        catalog_name=args.name,
        log_level=args.log_level,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
