"""Command line: ``python -m catalog serve --database URL --warehouse URI --secret-file PATH [--host H] [--port P]``."""

from __future__ import annotations

import argparse
import sys

from catalog.guard import DEFAULT_MAX_BODY, DEFAULT_TOKEN_TTL
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
    serve_cmd.add_argument(
        "--secret-file", required=True, help="the clients' secrets and the token key (created 0600 if missing)"
    )
    serve_cmd.add_argument(
        "--allow-external-locations", action="store_true", help="accept table locations outside the warehouse"
    )
    serve_cmd.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY, help="larger requests get 413")
    serve_cmd.add_argument("--token-ttl", type=int, default=DEFAULT_TOKEN_TTL, help="token lifetime in seconds")
    args = parser.parse_args(argv)
    try:
        serve(
            args.database,
            args.warehouse,
            host=args.host,
            port=args.port,
            port_file=args.port_file,
            catalog_name=args.name,
            log_level=args.log_level,
            secret_file=args.secret_file,
            allow_external_locations=args.allow_external_locations,
            max_body=args.max_body_bytes,
            token_ttl=args.token_ttl,
        )
    except KeyboardInterrupt:  # Ctrl-C in the foreground (`lakehouse catalog serve`): uvicorn has shut down already
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
