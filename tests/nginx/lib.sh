# Sourced by tests/nginx/run.sh, client.sh and replay.sh (not run on its own)
# once they have cd'ed to the repository root: the set-up they share. Sets
# ROOT and BUILD (absolute), SO and LUA_SRC (the module under test: the
# luajit build, or WS_LUA_TREE=DIR, a luarocks --lua-version 5.1 tree).
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac

if [ -n "${WS_LUA_TREE:-}" ]; then
  SO=$WS_LUA_TREE/lib/lua/5.1/walletsign/core.so
  LUA_SRC=$WS_LUA_TREE/share/lua/5.1/walletsign
else
  SO=$BUILD/luajit/lib/lua/5.1/walletsign/core.so
  LUA_SRC=lua/walletsign
fi

# A failed set-up is one failed case, in the drivers' format.
fail_setup() { echo "not ok - setup: $*"; echo "0 passed, 1 failed"; exit 1; }

# need_nginx [HINT] [FILE...]: the module under test, nginx with the Lua
# module, luajit, curl and FILE... exist, or the set-up fails (HINT is added
# to the message of a missing FILE).
need_nginx() {
  local hint=${1:+ $1} f
  shift
  [ -f "$SO" ] || fail_setup "missing $SO (run scripts/build-lua.sh luajit)"
  for f in /usr/sbin/nginx /usr/lib/nginx/modules/ndk_http_module.so \
           /usr/lib/nginx/modules/ngx_http_lua_module.so /usr/bin/luajit /usr/bin/curl "$@"; do
    [ -e "$f" ] || fail_setup "missing $f$hint"
  done
}

# make_prefix NAME: DIR, a fresh directory /tmp/NAME.XXXXXX. Under /tmp:
# nginx's workers run as nobody and /work may not be readable by nobody.
make_prefix() {
  DIR=$(mktemp -d "/tmp/$1.XXXXXX") || fail_setup "mktemp"
  chmod 755 "$DIR"
}

# nginx_with_mock_prefix NAME: need_nginx and make_prefix NAME, for one nginx
# in DIR and the mock: both are stopped and DIR removed on exit.
nginx_with_mock_prefix() {
  need_nginx
  make_prefix "$1"
  trap 'stop_nginx "$DIR"; stop_mock; remove_prefix' EXIT
  trap 'exit 1' INT TERM
}

# stop_nginx PREFIX: the nginx of PREFIX (if any) stopped, gracefully first.
stop_nginx() {
  local pid
  pid=$(cat "$1/logs/nginx.pid" 2>/dev/null) || return 0
  if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
}

# start_mock [ARG...]: tests/mock_server on a free port with ARG..., its
# info in $DIR/work/mock.json; sets MOCK_PID and MOCK_PORT. stop_mock stops it.
MOCK_PID=
start_mock() {
  /usr/bin/python3 -m tests.mock_server --port 0 "$@" >"$DIR/work/mock.json" 2>"$DIR/work/mock.log" &
  MOCK_PID=$!
  for _ in $(seq 100); do [ -s "$DIR/work/mock.json" ] && break; sleep 0.1; done
  [ -s "$DIR/work/mock.json" ] || fail_setup "mock server did not start: $(cat "$DIR/work/mock.log")"
  MOCK_PORT=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$DIR/work/mock.json")
}
stop_mock() {
  if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null; wait "$MOCK_PID" 2>/dev/null; fi
}

# free_ports N: N distinct TCP ports on 127.0.0.1 that nothing listens on
# right now, on one line.
free_ports() {
  /usr/bin/python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))' "$1"
}

# remove_prefix: DIR removed, or kept (and said so) with KEEP=1.
remove_prefix() {
  if [ "${KEEP:-0}" = 1 ]; then echo "# kept $DIR"; else rm -rf "$DIR"; fi
}
