#!/usr/bin/env bash
# The Python suite: build the package into build/venv (scripts/build-python.sh:
# offline, Debian's setuptools/pytest via --system-site-packages) and run tests/python.
# Run by scripts/run-tests.sh as suite "python"; the last line is pytest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
VENV="$BUILD/venv"
if ! BUILD=$BUILD scripts/build-python.sh; then
  echo "pip install failed: 0 passed, 1 failed"
  exit 1
fi
# --tb=short: no function arguments in tracebacks (vector cases hold test secrets).
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider --tb=short tests/python "$@"
