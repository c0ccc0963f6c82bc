#!/usr/bin/env bash
# What the test suite needs beyond the virtualenv: Debian's chromium, to render the lineage review page headless.
# Installed when we can (root with apt-get, e.g. CI); otherwise those tests skip and say why.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium (Debian) for the lineage page tests ..."
  if apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; then
    exit 0
  fi
  echo "note: could not install chromium; the lineage page tests will be skipped" >&2
else
  echo "note: chromium is not installed (apt-get install chromium); the lineage page tests will be skipped" >&2
fi
