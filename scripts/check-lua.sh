#!/usr/bin/env bash
# make check: the busted specs under lua5.4 against an ASan+UBSan build of
# walletsign.core (leak detection on), built into $BUILD/lua-asan. LuaJIT is
# left out: its own allocator and machine-code area do not mix with ASan, and
# the shim is the same C source for both interpreters.
# Leaks are keyed on the one frame that called malloc, as in check-python.sh:
# the mock server's CPython, the cryptography package and OpenSSL's own
# allocations are suppressed; whatever the shim or the core malloc'ed is
# reported (rerun with malloc_context_size=30 to see a leak's whole stack).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
ASAN_BUILD=$BUILD/lua-asan
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
if ! BUILD=$ASAN_BUILD EXTRA_CFLAGS="$SAN -O1" EXTRA_LDFLAGS="$SAN" scripts/build-lua.sh lua54; then
  echo "0 passed, 1 failed"
  exit 1
fi
mkdir -p "$ASAN_BUILD"
printf 'leak:/usr/bin/python3.11\nleak:_rust.abi3.so\nleak:libcrypto.so.3\n' >"$ASAN_BUILD/lsan.supp"
log=$ASAN_BUILD/busted.log
LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)" \
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:malloc_context_size=2 \
LSAN_OPTIONS="suppressions=$ASAN_BUILD/lsan.supp" \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
LUA_PATH="$ASAN_BUILD/lua54/share/lua/5.4/?.lua;$ASAN_BUILD/lua54/share/lua/5.4/?/init.lua;;" \
LUA_CPATH="$ASAN_BUILD/lua54/lib/lua/5.4/?.so;;" \
  busted --lua=lua5.4 -o TAP tests/lua >"$log" 2>&1
rc=$?
p=$(grep -cE '^ok [0-9]+' "$log")
f=$(grep -cE '^not ok [0-9]+' "$log")
grep -vE '^(ok [0-9]+|1\.\.[0-9]+$)' "$log" | grep -v '^$' | tail -40
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
  echo "busted under ASan exited with status $rc (a sanitizer report above)"; f=1
fi
[ "$p" -gt 0 ] || { echo "busted under ASan ran nothing"; f=$((f + 1)); }
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
