#!/usr/bin/env bash
# Build the Lua module for Lua 5.4 and LuaJIT into $BUILD/lua54 and $BUILD/luajit.
# luarocks' builtin backend drops objects next to the sources, so each
# interpreter builds from its own copy of the tree (no *.o in csrc/, and the
# two builds can run at once).
#   scripts/build-lua.sh [lua54|luajit]...     (default: both)
#   EXTRA_CFLAGS / EXTRA_LDFLAGS add flags (the sanitizer runs use them).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
ROCKSPEC=walletsign-0.1.0-1.rockspec
CFLAGS="-O2 -g -fPIC -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter -fvisibility=hidden -pthread ${EXTRA_CFLAGS:-}"
# -z nodelete: lua_close would otherwise unload the module before LSan reports.
LIBFLAG="-shared -pthread -Wl,-z,nodelete ${EXTRA_LDFLAGS:-}"

build_one() { # build_one lua54|luajit
  local which=$1 stage=$BUILD/lua-src/$1 log=$BUILD/lua-build-$1.log args
  case $which in
    lua54) args=(--lua-version 5.4) ;;
    luajit) args=(--lua-version 5.1); local incdir=(LUA_INCDIR=/usr/include/luajit-2.1) ;;
    *) echo "unknown target $which" >&2; return 2 ;;
  esac
  # Skip the build when nothing that goes into it changed.
  local stamp
  stamp=$( { echo "$CFLAGS|$LIBFLAG"; find "$ROCKSPEC" lua csrc -type f ! -name '*.o' -print0 |
             sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-64)
  if [ -f "$BUILD/$which/.walletsign-stamp" ] && [ "$(cat "$BUILD/$which/.walletsign-stamp")" = "$stamp" ]; then
    return 0
  fi
  rm -rf "$stage"; mkdir -p "$stage"
  cp -R "$ROCKSPEC" lua csrc "$stage/"
  if ! (cd "$stage" && luarocks "${args[@]}" --tree "$BUILD/$which" make "$ROCKSPEC" \
          CFLAGS="$CFLAGS" LIBFLAG="$LIBFLAG" ${incdir[@]+"${incdir[@]}"}) >"$log" 2>&1; then
    echo "build-lua: $which build failed (log: $log)" >&2
    tail -40 "$log" >&2
    return 1
  fi
  echo "$stamp" >"$BUILD/$which/.walletsign-stamp"
}

# The rockspec lists the core's sources by name: a new csrc/*.c that it
# misses would only show as an undefined symbol at require time.
missing=()
for src in csrc/*.c; do grep -q "\"$src\"" "$ROCKSPEC" || missing+=("$src"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-lua: $ROCKSPEC does not list ${missing[*]}" >&2
  exit 1
fi

targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(lua54 luajit)
pids=()
for t in "${targets[@]}"; do build_one "$t" & pids+=($!); done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
