#!/usr/bin/env bash
# Build the walletsign Python package into $BUILD/venv (default build/venv),
# offline: a venv over Debian's setuptools/pytest (--system-site-packages) and
# `pip install --no-build-isolation .`. The pip log goes to $BUILD/pip-install.log;
# on failure it is printed and the script exits non-zero.
# Used by scripts/test-python.sh and scripts/demo.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
VENV="$BUILD/venv"
mkdir -p "$BUILD"
if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
if ! "$VENV/bin/pip" install --quiet --no-build-isolation --disable-pip-version-check . \
     >"$BUILD/pip-install.log" 2>&1; then
  cat "$BUILD/pip-install.log"
  exit 1
fi
