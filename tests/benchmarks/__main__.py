"""Run benchmarks by name; each appends its Markdown section (command, machine, date, load) to BENCHMARKS.md.

python -m tests.benchmarks                      # all of them, with their default sizes (long: hours at 1M rows)
python -m tests.benchmarks index --rows 200000  # one, with its own options (see `... index --help`)
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = (
    "index",
    "recall",
    "sql",
    "embed",
    "embed_stage",
    "dedup",
    "lineage",
    "write",
    "concurrency",
    "retrieval",
    "hybrid",
    "peers",
    "serve",
    "cli",
)
# these print only unless told where to append
_PRINT_ONLY = ("embed", "embed_stage", "dedup", "lineage", "retrieval", "hybrid", "peers")


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks:", ", ".join(BENCHMARKS))
        return 0
    if argv and argv[0] not in BENCHMARKS:
        print(f"unknown benchmark {argv[0]!r}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    chosen = [argv[0]] if argv else list(BENCHMARKS)
    extra = argv[1:]
    for name in chosen:
        module = importlib.import_module(f"tests.benchmarks.bench_{name}")
        args = list(extra) if extra else []
        if "--output" not in args and name in _PRINT_ONLY:
            args += ["--output", "BENCHMARKS.md"]
        code = module.main(args)
        if code:
            return int(code)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
