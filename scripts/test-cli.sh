#!/usr/bin/env bash
# The CLI suite: build build/walletsign, run tests/cli/test_cli.py (which also
# runs every example of docs/cli.md). Last line: "N passed, M failed"; exit
# non-zero on any failure or when nothing ran.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
if ! make --no-print-directory -s "$BUILD/walletsign" >/dev/null; then
  echo "build of $BUILD/walletsign failed"
  echo "0 passed, 1 failed"
  exit 1
fi
log=$(mktemp); trap 'rm -f "$log"' EXIT
BUILD=$BUILD /usr/bin/python3 tests/cli/test_cli.py 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
last=$(tail -n 1 "$log")
if ! [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  echo "the CLI tests stopped early (exit $rc)"
  echo "0 passed, 1 failed"
  exit 1
fi
if [ "$rc" -ne 0 ] || [ "${BASH_REMATCH[2]}" -ne 0 ] || [ "${BASH_REMATCH[1]}" -eq 0 ]; then
  [ "$rc" -ne 0 ] || rc=1
  exit "$rc"
fi
