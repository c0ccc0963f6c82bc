# The two README commands are `make demo` and `make test`; both set up the virtualenv first (idempotent).
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-fast bench lint clean

setup:
	@./infra/bootstrap.sh

demo: setup  ## set up, then run the main job (corpus -> documents -> embeddings) on the embedded default
	$(BIN)/lakehouse demo

test: setup  ## set up, then run the whole test suite
	@./infra/test-deps.sh
	$(BIN)/python -m pytest

test-fast: setup  ## tests that need no JVM and no service (markers: tests/conftest.py)
	$(BIN)/python -m pytest -m "not integration and not spark and not slow"

bench: setup  ## benchmarks (all, or BENCH="index --rows 200000"); each appends its section to BENCHMARKS.md
	$(BIN)/python -m tests.benchmarks $(BENCH)

lint: setup
	$(BIN)/python -m ruff check lakehouse catalog jobs tests
	$(BIN)/python -m ruff format --check lakehouse catalog jobs tests
	$(BIN)/lint-imports
	$(BIN)/python -m mypy

clean:  ## remove the local lakehouse state (warehouse, catalog db, corpus); keeps the virtualenv
	rm -rf .lakehouse
