#!/usr/bin/env bash
# End-to-end test of walletsign.nginx's client (docs/openresty.md, "Calling
# the APIs from a handler"): the nginx.conf of that section, run by Debian's
# nginx + lua-nginx-module with 1 worker (and 2 for the shared rate limit), in
# front of tests/mock_server's HTTPS mode. Prints TAP-like lines and
# "N passed, M failed" last. Needs build/luajit (scripts/build-lua.sh luajit).
# KEEP=1 keeps the prefix.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac

fail_setup() { echo "not ok - setup: $*"; echo "0 passed, 1 failed"; exit 1; }

SO=$BUILD/luajit/lib/lua/5.1/walletsign/core.so
[ -f "$SO" ] || fail_setup "missing $SO (run scripts/build-lua.sh luajit)"
for f in /usr/sbin/nginx /usr/lib/nginx/modules/ndk_http_module.so \
         /usr/lib/nginx/modules/ngx_http_lua_module.so /usr/bin/luajit /usr/bin/curl; do
  [ -e "$f" ] || fail_setup "missing $f"
done

# Under /tmp: workers run as nobody and /work may not be readable by nobody.
DIR=$(mktemp -d /tmp/walletsign-ngx-client.XXXXXX) || fail_setup "mktemp"
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

LIB=$DIR/lib/lua/5.1 SHARE=$DIR/share/lua/5.1
mkdir -p "$LIB/walletsign" "$SHARE/walletsign" "$DIR/logs" "$DIR/tmp" "$DIR/work" "$DIR/conf.d" "$DIR/mock"
cp "$SO" "$LIB/walletsign/core.so"
cp lua/walletsign/init.lua lua/walletsign/nginx.lua lua/walletsign/nginx_client.lua "$SHARE/walletsign/"
cp tests/nginx/client_handlers.lua "$SHARE/"

/usr/bin/python3 -m tests.mock_server --port 0 --tls --state-dir "$DIR/mock" \
  >"$DIR/work/mock.json" 2>"$DIR/work/mock.log" &
MOCK_PID=$!
for _ in $(seq 100); do [ -s "$DIR/work/mock.json" ] && break; sleep 0.1; done
[ -s "$DIR/work/mock.json" ] || fail_setup "mock server did not start: $(cat "$DIR/work/mock.log")"
chmod -R a+rX "$DIR"
MOCK_PORT=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$DIR/work/mock.json")
PORT=$(/usr/bin/python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The configuration is the one the documentation shows: the nginx block of
# "Calling the APIs from a handler", with the mock as both APIs.
awk '/^## Calling the APIs from a handler/ {s = 1} s && /^```nginx$/ {f = 1; next} f && /^```$/ {exit} f' \
    docs/openresty.md |
  sed -e "s#/opt/walletsign#$DIR#g" -e "s#127\.0\.0\.1:8080#127.0.0.1:$PORT#g" \
      -e "s#server api\.halogen\.example:443#server 127.0.0.1:$MOCK_PORT#" \
      -e "s#server wallet-manager\.example:443#server 127.0.0.1:$MOCK_PORT#" \
      -e "s#https://api\.halogen\.example\"#https://localhost:$MOCK_PORT\"#" \
      -e "s#https://wallet-manager\.example\"#https://localhost:$MOCK_PORT\"#" \
      -e "s#proxy_ssl_name [a-z.-]*;#proxy_ssl_name localhost;#" \
      -e "s#/etc/ssl/certs/ca-certificates\.crt#$DIR/mock/ca.pem#" >"$DIR/nginx.conf"
grep -q "listen 127.0.0.1:$PORT" "$DIR/nginx.conf" || fail_setup "no client nginx.conf block in docs/openresty.md"
grep -q "api.halogen.example\|wallet-manager.example\|ca-certificates" "$DIR/nginx.conf" &&
  fail_setup "the docs' nginx.conf names hosts the test did not replace"

export WS_NGINX_DIR=$DIR WS_NGINX_PORT=$PORT WS_MOCK_INFO=$DIR/work/mock.json
export LUA_PATH="$ROOT/tests/nginx/?.lua;$SHARE/?.lua;$SHARE/?/init.lua;;"
export LUA_CPATH="$LIB/?.so;;"
/usr/bin/luajit tests/nginx/client_cases.lua
