#!/usr/bin/env bash
# End-to-end test of walletsign.nginx: the nginx.conf of docs/openresty.md,
# run by Debian's nginx + lua-nginx-module with 2 workers, in front of
# tests/mock_server. Prints TAP-like lines and "N passed, M failed" last.
# Needs build/luajit (scripts/build-lua.sh luajit). KEEP=1 keeps the prefix.
# WS_LUA_TREE=DIR takes the module from a luarocks --lua-version 5.1 tree
# instead (DIR/lib/lua/5.1 and DIR/share/lua/5.1; scripts/test-rock.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/nginx/lib.sh

nginx_with_mock_prefix walletsign-nginx

# The prefix is laid out as the luarocks tree docs/openresty.md installs.
LIB=$DIR/lib/lua/5.1 SHARE=$DIR/share/lua/5.1
mkdir -p "$LIB/walletsign" "$SHARE/walletsign" "$DIR/logs" "$DIR/tmp" "$DIR/work" "$DIR/conf.d"
cp "$SO" "$LIB/walletsign/core.so"
cp "$LUA_SRC/init.lua" "$LUA_SRC/nginx.lua" "$LUA_SRC/nginx_client.lua" "$SHARE/walletsign/"
chmod -R a+rX "$DIR"

start_mock
read -r PORT PORT2 PORT3 < <(free_ports 3)

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
