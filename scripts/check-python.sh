#!/usr/bin/env bash
# make check: the Python suite against an ASan+UBSan build of the extension
# (leak detection on; CPython's own allocations suppressed, see PLATFORM.md).
# Built from a copy of the sources so the normal build's objects are not reused.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DIR="$BUILD/python-asan"
rm -rf "$DIR/src"
mkdir -p "$DIR/src"
cp -r setup.py pyproject.toml README.md csrc python "$DIR/src/"
rm -rf "$DIR/src/python/walletsign.egg-info" "$DIR"/src/python/walletsign/*.so
[ -x "$DIR/venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$DIR/venv"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
(cd "$DIR/src" && CFLAGS="$SAN -O1 -g" LDFLAGS="$SAN" \
   ../venv/bin/pip install --quiet --no-build-isolation --disable-pip-version-check .)
# PYTHONMALLOC=malloc puts every Python object in ASan's heap, so a reference
# the shim drops too early is a use-after-free report, not a silent reuse of
# pymalloc's arena.
# Leaks are told apart by the one frame that called malloc: CPython's own
# (/usr/bin/python3.11, kept until exit), the cryptography package's
# (_rust.abi3.so, _cffi_backend) and OpenSSL's (libcrypto.so.3: objects that
# CPython's ssl and hashlib modules keep until exit) are suppressed; anything malloc'ed by
# walletsign's core or shim, or by libc/cJSON/libcurl on its behalf, is
# reported. A deeper malloc context would not do: LSan suppresses a leak when
# *any* frame matches, and every walletsign stack runs through python3.11. To
# see a reported leak's whole stack, rerun with malloc_context_size=30. Leaks of
# OpenSSL objects by the core are caught by the C suite (ASan and valgrind).
printf 'leak:/usr/bin/python3.11\nleak:_rust.abi3.so\nleak:_cffi_backend\nleak:libcrypto.so.3\n' \
  > "$DIR/lsan.supp"
# Reports go to files: pytest captures fd 2 while a test runs, and a report
# written there dies with the process that halts on it.
rm -f "$DIR"/sanitizer.*
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:malloc_context_size=2:log_path=$PWD/$DIR/sanitizer"
export LSAN_OPTIONS="suppressions=$PWD/$DIR/lsan.supp"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$PWD/$DIR/sanitizer"
export PYTHONMALLOC=malloc
# Timing-based tests (GIL, rate limiter) mean nothing at ASan speed.
rc=0
"$DIR/venv/bin/python" -m pytest -q -p no:cacheprovider --tb=short \
  -k "not releases_the_gil and not rate_limit" tests/python || rc=$?
unset LD_PRELOAD
for report in "$DIR"/sanitizer.*; do
  [ -e "$report" ] || continue
  # A clean run leaves only the table of suppressions used.
  if [ "$rc" -ne 0 ] || grep -q 'ERROR' "$report"; then
    echo "== $report"; cat "$report"; [ "$rc" -ne 0 ] || rc=1
  fi
done
if [ "$rc" -ne 0 ]; then echo "0 passed, 1 failed (sanitizer run exited $rc)"; fi
exit $rc
