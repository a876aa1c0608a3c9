#!/usr/bin/env bash
# End-to-end test of walletsign.nginx's client (docs/openresty.md, "Calling
# the APIs from a handler"): the nginx.conf of that section, run by Debian's
# nginx + lua-nginx-module with 1 worker (and 2 for the shared rate limit), in
# front of tests/mock_server's HTTPS mode. Prints TAP-like lines and
# "N passed, M failed" last. Needs build/luajit (scripts/build-lua.sh luajit).
# KEEP=1 keeps the prefix. WS_LUA_TREE=DIR takes the module from a luarocks
# --lua-version 5.1 tree.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/nginx/lib.sh

nginx_with_mock_prefix walletsign-ngx-client

LIB=$DIR/lib/lua/5.1 SHARE=$DIR/share/lua/5.1
mkdir -p "$LIB/walletsign" "$SHARE/walletsign" "$DIR/logs" "$DIR/tmp" "$DIR/work" "$DIR/conf.d" "$DIR/mock"
cp "$SO" "$LIB/walletsign/core.so"
cp "$LUA_SRC/init.lua" "$LUA_SRC/nginx.lua" "$LUA_SRC/nginx_client.lua" "$SHARE/walletsign/"
cp tests/nginx/client_handlers.lua "$SHARE/"

start_mock --tls --state-dir "$DIR/mock"
chmod -R a+rX "$DIR" # the mock's CA file included: nginx's workers read it
PORT=$(free_ports 1)

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
