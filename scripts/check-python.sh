#!/usr/bin/env bash
# make check: the Python suite against an ASan+UBSan build of the extension,
# built from a copy of the sources so the normal build's objects are not
# reused. Leak detection and suppressions: sanitize_env in scripts/lib.sh.
# PYTHONMALLOC=malloc puts every Python object in ASan's heap, so a reference
# the shim drops too early is a use-after-free report, not a silent reuse of
# pymalloc's arena.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
BUILD=${BUILD:-build}
DIR="$BUILD/python-asan"
copy_python_tree "$DIR/src"
[ -x "$DIR/venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$DIR/venv"
(cd "$DIR/src" && CFLAGS="$SAN -O1 -g" LDFLAGS="$SAN" \
   ../venv/bin/pip install --quiet --no-build-isolation --disable-pip-version-check .)
export PYTHONMALLOC=malloc
# Timing-based tests (GIL, rate limiter) mean nothing at ASan speed.
run_pytest() {
  rc=0
  (sanitize_env "$DIR"
   "$DIR/venv/bin/python" -m pytest -q -p no:cacheprovider --tb=short \
     -k "not releases_the_gil and not rate_limit" tests/python) || rc=$?
}
run_pytest
if [ "$rc" -ne 0 ] && lsan_tracer_crashed "$DIR"; then
  echo "LeakSanitizer's tracer crashed at exit (a runtime flake, not a finding): once more"
  run_pytest
fi
sanitize_report "$DIR" "$rc" || rc=$?
if [ "$rc" -ne 0 ]; then echo "0 passed, 1 failed (sanitizer run exited $rc)"; fi
exit "$rc"
