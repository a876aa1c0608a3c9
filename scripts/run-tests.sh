#!/usr/bin/env bash
# Run every test suite; print one closing line "all: N passed, M failed".
# Usage: scripts/run-tests.sh SUITE... (the Makefile's SCRIPT_SUITES: each
# SUITE is scripts/test-SUITE.sh), after the C suite, the README examples and
# the mock server's tests. Each suite's own summary is printed too; a suite
# that runs nothing, or is missing, counts as a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
total_pass=0; total_fail=0; log=$(mktemp); trap 'rm -f "$log"' EXIT
mkdir -p "$BUILD"; all_output="$BUILD/test-output.log"; : > "$all_output" 

# count SUITE: read "N passed" / "N failed" / "N error" from the suite's output.
count() {
  local name=$1 rc=$2 p f
  p=$(grep -oE '[0-9]+ passed' "$log" | tail -1 | grep -oE '[0-9]+' || true)
  f=$(grep -oE '[0-9]+ (failed|errors?)' "$log" | awk '{s+=$1} END {print s+0}')
  p=${p:-0}
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
    echo "$name: ran no test (exit $rc)"; f=1
  elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "$name: exited $rc"; f=1
  fi
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
}

run() { # run NAME CMD...
  local name=$1; shift
  echo "== $name"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  cat "$log" >> "$all_output"
  count "$name" "$rc"
}

make --no-print-directory -s "$BUILD/test_c" >/dev/null || { echo "build of C tests failed"; exit 1; }
# The redis groups talk to a private redis-server (scripts/with-redis.sh).
run c scripts/with-redis.sh "$BUILD/test_c"

readme_examples() {
  make --no-print-directory -s "$BUILD/readme_examples" || { echo "0 passed, 1 failed"; return 1; }
  local p=0 f=0
  for ex in "$BUILD"/readme_examples/*; do
    if "$ex" >/dev/null; then p=$((p + 1)); else f=$((f + 1)); echo "FAIL README example $(basename "$ex")"; fi
  done
  echo "$p passed, $f failed"
  [ "$f" -eq 0 ]
}
run readme readme_examples

run mock_server /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/mock_server
# Each scripts/test-NAME.sh ends with its summary line.
for name in "$@"; do
  run "$name" "scripts/test-$name.sh"
done

# Last: no test secret may appear in anything the suites printed.
run secrets /usr/bin/python3 scripts/grep-secrets.py "$all_output"

echo "all: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
