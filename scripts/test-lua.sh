#!/usr/bin/env bash
# The Lua suite: builds walletsign for Lua 5.4 and LuaJIT (scripts/build-lua.sh),
# runs the busted specs of tests/lua under lua5.4 and under luajit, then the
# nginx end-to-end tests (tests/nginx/run.sh, and tests/nginx/replay.sh with
# a private redis-server). Prints failures as they come and,
# as its last line, "N passed, M failed" summed over all runs. Exits non-zero
# on any failure or when nothing ran. Full logs: $BUILD/lua-test-*.log.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export BUILD
mkdir -p "$BUILD"

if ! scripts/build-lua.sh; then
  echo "0 passed, 1 failed"
  exit 1
fi

total_pass=0; total_fail=0

# tally NAME LOG RC: count TAP "ok"/"not ok" lines, show only the failures.
tally() {
  local name=$1 log=$2 rc=$3 p f
  p=$(grep -cE '^ok [0-9]+' "$log")
  f=$(grep -cE '^not ok [0-9]+' "$log")
  if [ "$f" -gt 0 ]; then
    grep -vE '^(ok [0-9]+|1\.\.[0-9]+$)' "$log"
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "$name: exited with status $rc"; tail -20 "$log"; f=1
  fi
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
    echo "$name: ran nothing"; f=1
  fi
  echo "$name: $p ok, $f not ok"
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
}

busted_run() { # busted_run lua54|luajit
  local which=$1 v lua
  case $which in lua54) v=5.4 lua=lua5.4 ;; luajit) v=5.1 lua=luajit ;; esac
  LUA_PATH="$BUILD/$which/share/lua/$v/?.lua;$BUILD/$which/share/lua/$v/?/init.lua;;" \
  LUA_CPATH="$BUILD/$which/lib/lua/$v/?.so;;" \
    busted --lua="$lua" -o TAP tests/lua >"$BUILD/lua-test-$which.log" 2>&1
}

# The two interpreters run at once (each with its own mock server).
busted_run lua54 & pid54=$!
busted_run luajit & pidjit=$!
wait $pid54; rc54=$?
wait $pidjit; rcjit=$?
tally "busted lua5.4" "$BUILD/lua-test-lua54.log" $rc54
tally "busted luajit" "$BUILD/lua-test-luajit.log" $rcjit

tests/nginx/run.sh >"$BUILD/lua-test-nginx.log" 2>&1
tally "nginx" "$BUILD/lua-test-nginx.log" $?

# Replays refused across two nginx instances through a private Redis (#13).
tests/nginx/replay.sh >"$BUILD/lua-test-nginx-replay.log" 2>&1
tally "nginx replay (Redis)" "$BUILD/lua-test-nginx-replay.log" $?

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
