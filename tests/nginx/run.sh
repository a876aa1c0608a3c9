#!/usr/bin/env bash
# End-to-end test of walletsign.nginx: the nginx.conf of docs/openresty.md,
# run by Debian's nginx + lua-nginx-module with 2 workers, in front of
# tests/mock_server. Prints TAP-like lines and "N passed, M failed" last.
# Needs build/luajit (scripts/build-lua.sh luajit). KEEP=1 keeps the prefix.
# WS_LUA_TREE=DIR takes the module from a luarocks --lua-version 5.1 tree
# instead (DIR/lib/lua/5.1 and DIR/share/lua/5.1; scripts/test-rock.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac

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
         /usr/lib/nginx/modules/ngx_http_lua_module.so /usr/bin/luajit /usr/bin/curl; do
  [ -e "$f" ] || fail_setup "missing $f"
done

# The prefix lives under /tmp: workers run as nobody and /work may not be
# readable by nobody.
DIR=$(mktemp -d /tmp/walletsign-nginx.XXXXXX) || fail_setup "mktemp"
chmod 755 "$DIR"
MOCK_PID=
cleanup() {
  if [ -f "$DIR/logs/nginx.pid" ]; then
    local pid; pid=$(cat "$DIR/logs/nginx.pid" 2>/dev/null)
    if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null; wait "$MOCK_PID" 2>/dev/null; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "# kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The prefix is laid out as the luarocks tree docs/openresty.md installs.
LIB=$DIR/lib/lua/5.1 SHARE=$DIR/share/lua/5.1
mkdir -p "$LIB/walletsign" "$SHARE/walletsign" "$DIR/logs" "$DIR/tmp" "$DIR/work" "$DIR/conf.d"
cp "$SO" "$LIB/walletsign/core.so"
cp "$LUA_SRC/init.lua" "$LUA_SRC/nginx.lua" "$LUA_SRC/nginx_client.lua" "$SHARE/walletsign/"
chmod -R a+rX "$DIR"

/usr/bin/python3 -m tests.mock_server --port 0 >"$DIR/work/mock.json" 2>"$DIR/work/mock.log" &
MOCK_PID=$!
for _ in $(seq 100); do [ -s "$DIR/work/mock.json" ] && break; sleep 0.1; done
[ -s "$DIR/work/mock.json" ] || fail_setup "mock server did not start: $(cat "$DIR/work/mock.log")"
MOCK_PORT=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$DIR/work/mock.json")
read -r PORT PORT2 PORT3 < <(/usr/bin/python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')

# The configuration is the one the documentation shows, nothing else.
awk '/^```nginx$/ {f = 1; next} f && /^```$/ {exit} f' docs/openresty.md |
  sed -e "s#/opt/walletsign#$DIR#g" -e "s#127\.0\.0\.1:8080#127.0.0.1:$PORT#g" \
      -e "s#127\.0\.0\.1:9000#127.0.0.1:$MOCK_PORT#g" >"$DIR/nginx.conf"
grep -q "listen 127.0.0.1:$PORT" "$DIR/nginx.conf" || fail_setup "no nginx.conf block in docs/openresty.md"

export WS_NGINX_DIR=$DIR WS_NGINX_PORT=$PORT WS_NGINX_PORT2=$PORT2 WS_NGINX_PORT3=$PORT3
export WS_MOCK_INFO=$DIR/work/mock.json
export LUA_PATH="$ROOT/tests/nginx/?.lua;$SHARE/?.lua;$SHARE/?/init.lua;;"
export LUA_CPATH="$LIB/?.so;;"
/usr/bin/luajit tests/nginx/cases.lua
