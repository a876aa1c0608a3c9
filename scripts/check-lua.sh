#!/usr/bin/env bash
# make check: the busted specs under lua5.4 against an ASan+UBSan build of
# walletsign.core (leak detection on), built into $BUILD/lua-asan. LuaJIT is
# left out: its own allocator and machine-code area do not mix with ASan, and
# the shim is the same C source for both interpreters. Leak detection and
# suppressions: sanitize_env in scripts/lib.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
ASAN_BUILD=$BUILD/lua-asan
if ! BUILD=$ASAN_BUILD EXTRA_CFLAGS="$SAN -O1" EXTRA_LDFLAGS="$SAN" scripts/build-lua.sh lua54; then
  echo "0 passed, 1 failed"
  exit 1
fi
log=$ASAN_BUILD/busted.log
run_busted() {
  rc=0
  (sanitize_env "$ASAN_BUILD"
   LUA_PATH="$ASAN_BUILD/lua54/share/lua/5.4/?.lua;$ASAN_BUILD/lua54/share/lua/5.4/?/init.lua;;" \
   LUA_CPATH="$ASAN_BUILD/lua54/lib/lua/5.4/?.so;;" \
     busted --lua=lua5.4 -o TAP tests/lua >"$log" 2>&1) || rc=$?
}
run_busted
if [ "$rc" -ne 0 ] && ! grep -qE '^not ok [0-9]+' "$log" && lsan_tracer_crashed "$ASAN_BUILD"; then
  echo "LeakSanitizer's tracer crashed at exit (a runtime flake, not a finding): once more"
  run_busted
fi
p=$(grep -cE '^ok [0-9]+' "$log")
f=$(grep -cE '^not ok [0-9]+' "$log")
grep -vE '^(ok [0-9]+|1\.\.[0-9]+$)' "$log" | grep -v '^$' | tail -40
if ! sanitize_report "$ASAN_BUILD" "$rc" && [ "$f" -eq 0 ]; then
  echo "busted under ASan exited with status $rc (a sanitizer report above)"; f=1
fi
[ "$p" -gt 0 ] || { echo "busted under ASan ran nothing"; f=$((f + 1)); }
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
