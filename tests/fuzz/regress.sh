#!/usr/bin/env bash
# Run fuzz targets once over their saved crash inputs (tests/fuzz/regressions/
# <target>-*) and their seed corpus ($BUILD/fuzz/corpus/<target>/): no
# fuzzing, so it is quick and deterministic enough for CI. `make fuzz-regress`
# builds the binaries and the corpus, then runs this.
#
#   tests/fuzz/regress.sh [target ...]      (default: every tests/fuzz/fuzz_*.c)
#
# Prints a line per target and, last, "fuzz-regress: N inputs ok, M crashing";
# exits 1 if any input crashes. Logs go to $BUILD/fuzz/logs/regress-<target>.log.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
dir=$BUILD/fuzz
mkdir -p "$dir/logs"
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for src in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$src" .c)"); done
fi
opts=(-timeout=60 -rss_limit_mb=2048)
total_ok=0; total_bad=0

for t in "${targets[@]}"; do
  bin=$dir/$t
  log=$dir/logs/regress-$t.log
  inputs=()
  for f in tests/fuzz/regressions/"$t"-* "$dir/corpus/$t"/*; do
    [ -f "$f" ] && inputs+=("$f")
  done
  if [ ! -x "$bin" ]; then
    echo "$t: binary $bin missing"; total_bad=$((total_bad + 1)); continue
  fi
  if [ ${#inputs[@]} -eq 0 ]; then
    echo "$t: no inputs (run make fuzz-corpus)"; total_bad=$((total_bad + 1)); continue
  fi
  ok=0; bad=0
  # Fast path: every input in one process (libFuzzer runs each file once).
  if "$bin" "${opts[@]}" "${inputs[@]}" >"$log" 2>&1; then
    ok=${#inputs[@]}
  else
    # Something crashed: one process per input, to name every crashing one.
    : >"$log"
    for f in "${inputs[@]}"; do
      if "$bin" "${opts[@]}" "$f" >>"$log" 2>&1; then
        ok=$((ok + 1))
      else
        bad=$((bad + 1))
        why=$("$bin" "${opts[@]}" "$f" 2>&1 | grep -a -m1 -E 'FUZZ CHECK FAILED|runtime error|ERROR: AddressSanitizer|ERROR: libFuzzer' |
              sed -E 's/^==[0-9]+==//' | cut -c1-200)
        echo "  CRASH $f: ${why:-see $log}"
      fi
    done
  fi
  printf '%-18s %4d inputs ok, %d crashing\n' "$t:" "$ok" "$bad"
  total_ok=$((total_ok + ok)); total_bad=$((total_bad + bad))
done

echo "fuzz-regress: $total_ok inputs ok, $total_bad crashing"
[ "$total_bad" -eq 0 ]
