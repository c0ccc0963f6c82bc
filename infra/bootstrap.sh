#!/usr/bin/env bash
# Create (or reuse) the project's virtualenv with everything the project needs, from nothing.
# Idempotent: a stamp keyed on pyproject.toml skips pip when nothing changed. Fails early and clearly when
# Python 3.11 or Java 17 is missing, before spending minutes on installs.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

PY=$(find_python) || { echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
if ! command -v "$JAVA" >/dev/null 2>&1; then
  echo "error: Java 17 is required by Spark 3.5 and was not found (no JAVA_HOME, no java on PATH)." >&2
  echo "hint: apt-get install openjdk-17-jre-headless, or set JAVA_HOME to a Java 17 installation" >&2
  exit 1
fi
JAVA_MAJOR=$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
if [ "$JAVA_MAJOR" != "17" ]; then
  echo "error: Java 17 is required by Spark 3.5; found Java ${JAVA_MAJOR:-unknown} at $(command -v "$JAVA")" >&2
  echo "hint: install openjdk-17 and set JAVA_HOME to it" >&2
  exit 1
fi

STAMP="$VENV/.lakehouse-installed"
WANT=$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$VENV/bin/lakehouse" ]; then
  echo "environment up to date ($VENV)"
  exit 0
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# torch is pinned to the CPU wheel in pyproject.toml; an unpinned torch would pull a multi-GB CUDA build.
"$VENV/bin/python" -m pip install --quiet -e ".[dev]"
"$VENV/bin/python" -m pip check
echo "$WANT" > "$STAMP"
echo "environment ready in $(( $(date +%s) - start )) s ($VENV)"
