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
. scripts/lib.sh
. tests/nginx/lib.sh

need_nginx "(make deps)" /usr/bin/redis-server /usr/bin/redis-cli /usr/share/lua/5.1/nginx/redis.lua
make_prefix walletsign-nginx-replay
cleanup() {
  stop_nginx "$DIR/a"; stop_nginx "$DIR/b"
  stop_redis
  # a Redis the cases restarted on the same port (they write its pid here);
  # not our child, so its pid is checked to still be a redis-server first
  local pid
  pid=$(cat "$DIR/redis/restarted.pid" 2>/dev/null)
  if [ -n "$pid" ] && grep -qs redis-server "/proc/$pid/cmdline"; then kill "$pid" 2>/dev/null; fi
  # the fake Redis servers of the cases (tests/nginx/fake_redis.py), checked likewise
  for f in "$DIR"/redis/fake-*.pid; do
    pid=$(cat "$f" 2>/dev/null)
    if [ -n "$pid" ] && grep -qs fake_redis "/proc/$pid/cmdline"; then kill "$pid" 2>/dev/null; fi
  done
  remove_prefix
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
