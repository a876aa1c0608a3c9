#!/usr/bin/env bash
# End-to-end test of verify_callback's Redis replay store (issue #13): two
# nginx instances (2 workers each, own ports, prefixes and shared dicts) run
# the receiver.conf of docs/openresty.md and share one private redis-server
# (with a password, database 3). Prints TAP-like lines and "N passed, M
# failed" last. Needs build/luajit (scripts/build-lua.sh luajit), nginx with
# the Lua module, lua-nginx-redis and redis-server. KEEP=1 keeps the prefix.
# WS_LUA_TREE=DIR takes the module from a luarocks --lua-version 5.1 tree.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
. scripts/lib.sh

fail_setup() { echo "not ok - setup: $*"; echo "0 passed, 1 failed"; exit 1; }

if [ -n "${WS_LUA_TREE:-}" ]; then
  SO=$WS_LUA_TREE/lib/lua/5.1/walletsign/core.so
  LUA_SRC=$WS_LUA_TREE/share/lua/5.1/walletsign
else
  SO=$BUILD/luajit/lib/lua/5.1/walletsign/core.so
  LUA_SRC=lua/walletsign
fi
[ -f "$SO" ] || fail_setup "missing $SO (run scripts/build-lua.sh luajit)"
for f in /usr/sbin/nginx /usr/lib/nginx/modules/ndk_http_module.so \
         /usr/lib/nginx/modules/ngx_http_lua_module.so /usr/bin/luajit /usr/bin/curl \
         /usr/bin/redis-server /usr/bin/redis-cli /usr/share/lua/5.1/nginx/redis.lua; do
  [ -e "$f" ] || fail_setup "missing $f (make deps)"
done

# Under /tmp: workers run as nobody and /work may not be readable by nobody.
DIR=$(mktemp -d /tmp/walletsign-nginx-replay.XXXXXX) || fail_setup "mktemp"
chmod 755 "$DIR"
stop_nginx() { # stop_nginx PREFIX
  local pid
  pid=$(cat "$1/logs/nginx.pid" 2>/dev/null) || return 0
  if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
}
cleanup() {
  stop_nginx "$DIR/a"; stop_nginx "$DIR/b"
  stop_redis
  # a Redis the cases restarted on the same port (they write its pid here);
  # not our child, so its pid is checked to still be a redis-server first
  local pid
  pid=$(cat "$DIR/redis/restarted.pid" 2>/dev/null)
  if [ -n "$pid" ] && grep -qs redis-server "/proc/$pid/cmdline"; then kill "$pid" 2>/dev/null; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "# kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

start_redis "$DIR/redis" || fail_setup "redis-server did not start"
REDIS_PASSWORD="pw-$RANDOM$RANDOM"
redis-cli -p "$REDIS_PORT" CONFIG SET requirepass "$REDIS_PASSWORD" >/dev/null ||
  fail_setup "cannot set a Redis password"

# Two prefixes laid out as the luarocks tree docs/openresty.md installs.
for inst in a b; do
  P=$DIR/$inst
  mkdir -p "$P/lib/lua/5.1/walletsign" "$P/share/lua/5.1/walletsign" "$P/logs" "$P/tmp" "$P/conf.d"
  cp "$SO" "$P/lib/lua/5.1/walletsign/core.so"
  cp "$LUA_SRC/init.lua" "$LUA_SRC/nginx.lua" "$P/share/lua/5.1/walletsign/"
done
mkdir -p "$DIR/work"
chmod -R a+rX "$DIR"

# The documented receiver.conf, nothing else (the test application and
# test-only locations go to conf.d, which it includes).
awk '/^```nginx$/ {f = 1; n = 0; next}
     f && n == 0 && !/^# receiver\.conf:/ {f = 0}
     f && /^```$/ {exit}
     f {n++; print}' docs/openresty.md >"$DIR/work/receiver.conf.in"
grep -q "verify_callback" "$DIR/work/receiver.conf.in" || fail_setup "no receiver.conf block in docs/openresty.md"

export WS_REPLAY_DIR=$DIR WS_REDIS_PORT=$REDIS_PORT WS_REDIS_PID=$REDIS_PID WS_REDIS_PASSWORD=$REDIS_PASSWORD
export LUA_PATH="$ROOT/tests/nginx/?.lua;$DIR/a/share/lua/5.1/?.lua;$DIR/a/share/lua/5.1/?/init.lua;;"
export LUA_CPATH="$DIR/a/lib/lua/5.1/?.so;;"
/usr/bin/luajit tests/nginx/replay_cases.lua
