#!/usr/bin/env bash
# The source rock installs anywhere: builds it (scripts/make-rock.sh), copies
# it alone to a directory outside the repository and installs it from there
# into a fresh luarocks tree for Lua 5.4 and one for LuaJIT, with the
# commands of docs/openresty.md and luarocks' default compiler flags. Each
# install then signs and verifies a message with only its tree on the Lua
# paths (tests/rock/smoke.lua), and tests/nginx/run.sh runs against the
# LuaJIT tree. Ends with "N passed, M failed". Logs: $BUILD/rock-test/.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export BUILD
OUT=$BUILD/rock-test
ROCK_NAME=walletsign-0.1.0-1.src.rock
pass=0; fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]; exit $?; }

rm -rf "$OUT"; mkdir -p "$OUT"
if rock=$(scripts/make-rock.sh 2>"$OUT/make-rock.log"); then
  ok "make-rock: $rock"
else
  bad "make-rock"; sed 's/^/     /' "$OUT/make-rock.log"; finish
fi

# The rock alone, away from the checkout: it must carry its own sources.
# (Under /tmp, and world-readable: nginx's workers run as nobody.)
WORK=$(mktemp -d /tmp/walletsign-rock.XXXXXX) || { bad "mktemp"; finish; }
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"
cp "$rock" "$WORK/$ROCK_NAME"

# The commands docs/openresty.md gives, with its /opt/walletsign prefix.
DOC_JIT="luarocks --lua-version 5.1 --tree /opt/walletsign install ./$ROCK_NAME"
DOC_54="luarocks --lua-version 5.4 --tree /opt/walletsign-lua54 install ./$ROCK_NAME"
for cmd in "$DOC_JIT" "$DOC_54"; do
  if grep -qF "$cmd" docs/openresty.md; then ok "docs/openresty.md shows: $cmd"
  else bad "docs/openresty.md does not show: $cmd"; fi
done

install_one() { # install_one lua54|luajit: into the tree $WORK/lua54|luajit
  local which=$1 version vars=()
  case $which in
    lua54) version=5.4 ;;
    luajit) version=5.1; vars=(LUA_INCDIR=/usr/include/luajit-2.1) ;;
  esac
  (cd "$WORK" && luarocks --lua-version "$version" --tree "$WORK/$which" install "./$ROCK_NAME" \
     ${vars[@]+"${vars[@]}"}) >"$OUT/install-$which.log" 2>&1
}

# The two installs compile the core at once (about half a minute each).
install_one lua54 & pid54=$!
install_one luajit & pidjit=$!
wait $pid54; rc54=$?
wait $pidjit; rcjit=$?

smoke() { # smoke lua54|luajit RC
  local which=$1 rc=$2 v lua tree=$WORK/$1 out
  case $which in lua54) v=5.4 lua=lua5.4 ;; luajit) v=5.1 lua=luajit ;; esac
  if [ "$rc" -ne 0 ]; then
    bad "$which: luarocks install ./$ROCK_NAME"; tail -20 "$OUT/install-$which.log" | sed 's/^/     /'
    return 1
  fi
  ok "$which: luarocks install ./$ROCK_NAME"
  # Only the tree on the paths (no ";;"): nothing may come from the checkout.
  if out=$(cd / && LUA_PATH="$tree/share/lua/$v/?.lua;$tree/share/lua/$v/?/init.lua" \
             LUA_CPATH="$tree/lib/lua/$v/?.so" "$lua" "$ROOT/tests/rock/smoke.lua" "$tree" "$v" 2>&1); then
    ok "$which: sign and verify with the installed rock"; echo "$out" | sed 's/^/     /'
  else
    bad "$which: sign and verify with the installed rock"; echo "$out" | sed 's/^/     /'
    return 1
  fi
}

smoke lua54 $rc54
if smoke luajit $rcjit; then
  chmod -R a+rX "$WORK/luajit"
  WS_LUA_TREE=$WORK/luajit tests/nginx/run.sh >"$OUT/nginx.log" 2>&1
  rc=$?
  n_ok=$(grep -cE '^ok ' "$OUT/nginx.log"); n_bad=$(grep -cE '^not ok ' "$OUT/nginx.log")
  if [ "$rc" -eq 0 ] && [ "$n_bad" -eq 0 ] && [ "$n_ok" -gt 0 ]; then
    ok "luajit: tests/nginx/run.sh against the installed rock ($n_ok cases)"
  else
    bad "luajit: tests/nginx/run.sh against the installed rock (exit $rc, $n_bad not ok; log: $OUT/nginx.log)"
    grep -E '^not ok ' "$OUT/nginx.log" | sed 's/^/     /'; tail -5 "$OUT/nginx.log" | sed 's/^/     /'
  fi
fi
finish
