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
# libcrypto: OpenSSL objects that CPython's own modules (ssl, hashlib, the
# cryptography package used by the mock server) keep until exit. libcrypto has
# no frame pointers, so their stacks stop inside it and cannot be attributed;
# walletsign's own allocations keep full stacks and are still reported, and
# the core's OpenSSL use is leak-checked by the C suite (ASan and valgrind).
printf 'leak:/usr/bin/python3.11\nleak:_rust.abi3.so\nleak:libcrypto.so.3\n' > "$DIR/lsan.supp"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:malloc_context_size=8
export LSAN_OPTIONS="suppressions=$PWD/$DIR/lsan.supp"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Timing-based tests (GIL, rate limiter) mean nothing at ASan speed.
exec "$DIR/venv/bin/python" -m pytest -q -p no:cacheprovider --tb=short \
  -k "not releases_the_gil and not rate_limit" tests/python
