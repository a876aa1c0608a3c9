#!/usr/bin/env bash
# Suite "fuzz" of `make test`: every libFuzzer target (tests/fuzz/) once over
# its saved crash inputs and its seed corpus, through `make fuzz-regress`. No
# fuzzing here (`make fuzz` does that). Last line: "N passed, M failed", N the
# inputs that ran without a crash.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

if ! command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1; then
  echo "fuzz: ${FUZZ_CC:-clang} not found (scripts/ensure-deps.sh installs it)"
  echo "0 passed, 1 failed"
  exit 1
fi

make --no-print-directory -s BUILD="$BUILD" fuzz-regress 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
summary=$(grep -E '^fuzz-regress: [0-9]+ inputs ok, [0-9]+ crashing$' "$log" | tail -1)
if [ -z "$summary" ]; then
  echo "fuzz: make fuzz-regress did not run the targets (exit $rc)"
  echo "0 passed, 1 failed"
  exit 1
fi
ok=$(echo "$summary" | sed -E 's/^fuzz-regress: ([0-9]+) inputs ok.*/\1/')
bad=$(echo "$summary" | sed -E 's/.*, ([0-9]+) crashing$/\1/')
[ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
echo "$ok passed, $bad failed"
[ "$bad" -eq 0 ]
