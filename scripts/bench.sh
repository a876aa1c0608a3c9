#!/usr/bin/env bash
# make bench: build the benchmarks, then print in one run every ratio
# walletsign / bare primitive (C), peer library / walletsign and walletsign /
# C floor (Python, Lua 5.4, LuaJIT), with the date and the machine, and a
# summary with PASS/MISS per target.
#
# Only ratios measured in this one run mean anything: the machines are small
# noisy VMs, so absolute times move from run to run. Everything runs pinned to
# one core (BENCH_CPU, default 0): c_sign alone, then nginx (started once, for
# every HTTP benchmark) and the HTTP clients on that same core, so client and
# server share it the same way for every loop.
#
# Parts, in this order:
#   c          bench/c_sign.c: walletsign / the bare primitive
#   callgrind  instructions per operation of the same (deterministic)
#   http       bench/http_loop.c: wsig_client_query / bare libcurl, vs nginx
#   redis      bench/redis_store.c: verify with the Redis replay store /
#              (verify with the memory cache + one bare hiredis SET NX PX),
#              against a private redis-server (scripts/lib.sh start_redis);
#              bench/rate_limit_redis.c: a query with the Redis rate limit /
#              (a query without a limiter + one bare EVALSHA of a script of
#              the same Redis commands), against nginx and that Redis
#   python     bench/python_bench.py in build/venv: JwtAuth, HmacAuth,
#              MessageAuth, MessageVerifier, Client.query vs PyJWT, hmac +
#              base64, python-ecdsa, requests, and vs the C floor
#              (`c_sign --floor OP N`, interleaved with the Python rounds),
#              and Client.query's CPU per request vs ES256 sign + bare
#              libcurl round trip (`c_sign --floor raw_es256`, `http_loop
#              --floor`);
#              then bench/python_async_bench.py: query_many vs httpx.AsyncClient
#              and vs 8 hand-made threads, AsyncClient.query vs Client.query
#   lua        bench/lua_bench.lua under lua5.4, then luajit: HMAC headers
#              and ES256 vs luaossl, and vs the C floor
#   pyredis    bench/python_replay_bench.py in build/venv: MessageVerifier
#              with a RedisReplayStore vs the in-memory cache + one redis-py
#              SET NX PX, against a private redis-server (scripts/lib.sh
#              start_redis, not pinned)
#   nginx_replay  bench/nginx_replay.sh: nginx verify_callback with the
#              Redis replay store vs with the shared dict (its own nginx and
#              redis-server, pinned to the same core; recorded, no target)
#   nginx_sign bench/nginx_sign.sh: the nginx worker CPU that sign_upstream
#              (hmac, jwt, message) and verify_callback add per request vs
#              the raw C floor of the signature or recovery (issue #15)
#   ngx        bench/nginx_client.sh: walletsign.nginx's client from a
#              content handler vs a bare proxy_pass of the same request (wrk,
#              one front worker; recorded, no target)
# The Python and Lua modules are (re)built first by scripts/build-python.sh
# and scripts/build-lua.sh (both are no-ops when nothing changed).
#
# Knobs (environment): BENCH_ONLY (comma list of parts; default all),
# BENCH_CPU, BENCH_SIGN_ROUNDS (41), BENCH_SIGN_ROUND_MS (10),
# BENCH_HTTP_REQUESTS (500), BENCH_HTTP_ROUNDS (31), BENCH_PY_ROUNDS (21),
# BENCH_PY_ROUND_MS (10), BENCH_PY_HTTP_ROUND_MS (30), BENCH_LUA_ROUNDS (21),
# BENCH_LUA_ROUND_MS (10), BUILD (build), and BENCH_CALLGRIND=0 to skip the
# instruction counts per operation (valgrind --tool=callgrind: deterministic,
# so immune to the noise; ~30 s of the run).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CPU=${BENCH_CPU:-0}
SIGN_ROUNDS=${BENCH_SIGN_ROUNDS:-41}
SIGN_ROUND_MS=${BENCH_SIGN_ROUND_MS:-10}
HTTP_REQUESTS=${BENCH_HTTP_REQUESTS:-500}
HTTP_ROUNDS=${BENCH_HTTP_ROUNDS:-31}
ONLY=${BENCH_ONLY:-c,callgrind,http,redis,python,lua,pyredis,nginx_replay,nginx_sign,ngx}
if [ "${BENCH_CALLGRIND:-1}" != 1 ]; then
  ONLY=$(echo "$ONLY" | sed 's/callgrind//; s/,,*/,/g; s/^,//; s/,$//')
fi
want() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

make --no-print-directory -s lib
make --no-print-directory -s "$BUILD/bench/c_sign" "$BUILD/bench/http_loop" "$BUILD/bench/redis_store" \
  "$BUILD/bench/rate_limit_redis"
if want python || want pyredis; then scripts/build-python.sh; fi
if want lua || want nginx_replay || want nginx_sign || want ngx; then scripts/build-lua.sh; fi

. scripts/lib.sh # start_redis, stop_redis
pin() { taskset -c "$CPU" "$@"; }
version() { "$@" 2>&1 | head -1 || true; }
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
C_SIGN=$(abspath "$BUILD/bench/c_sign")

# One temporary directory for everything (nginx prefix, results, callgrind
# files); nginx is stopped and the directory removed however the run ends.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/walletsign-bench.XXXXXX")
results=$tmp/results
: >"$results"
nginx_pid=""
cleanup() {
  if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
  fi
  stop_redis
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One line per target: every printed line ending in PASS or MISS, with its
# label, the figure the target is on (the token after "ratio", "speedup" or
# "per-op") and the target.
summary() {
  echo
  echo "== summary (medians of this run; ratio = walletsign / baseline, speedup = peer / walletsign)"
  awk '/ (PASS|MISS)$/ {
         k = ""; v = ""; t = ""
         for (i = 1; i <= NF; i++) {
           if ($i == "ratio" || $i == "speedup" || $i == "per-op") { k = $i; v = $(i + 1) }
           if ($i == "target") t = $(i + 1) " " $(i + 2)
         }
         printf "  %-30s %-7s %7s  (target %s%s)  %s\n", $1, k, v, t, (k == "per-op" ? " us" : ""), $NF
         n++; m += ($NF == "MISS") }
       END { printf "  %d target(s), %d missed\n", n, m }' "$results"
}

echo "== walletsign bench  $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
     "$(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "versions: walletsign $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- csrc python lua 2>/dev/null || echo '+dirty'),"\
     "OpenSSL $(pkg-config --modversion openssl), libsecp256k1 $(pkg-config --modversion libsecp256k1),"\
     "libcurl $(pkg-config --modversion libcurl), $(version nginx -v | sed 's/^nginx version: //')"
echo "pinned to CPU $CPU (taskset); ratio = walletsign / raw, median of interleaved rounds; parts: $ONLY"
echo

# ---------------------------------------------------------------- signing
if want c; then
  pin "$C_SIGN" --rounds "$SIGN_ROUNDS" --round-ms "$SIGN_ROUND_MS" | tee -a "$results"
  echo
fi

# ---------------------------------------------------------------- instructions
# Ir per operation = (Ir of N operations - Ir of set-up alone) / N.
if want callgrind && command -v valgrind >/dev/null 2>&1; then
  cg=$tmp/callgrind
  mkdir -p "$cg"
  ir() { # ir NAME N -> instructions of N operations, set-up included
    valgrind --tool=callgrind --callgrind-out-file="$cg/out" "$C_SIGN" --profile "$1" "$2" \
      >/dev/null 2>"$cg/log" || { cat "$cg/log" >&2; return 1; }
    awk '/^(summary|totals):/ {print $2; exit}' "$cg/out"
  }
  base=$(ir es256 0)
  echo "# callgrind: instructions per operation (deterministic), walletsign / raw"
  for pair in es256_jwt_sign:es256:200 hmac_headers_sign:hmac:4000 message_headers_sign:msg_sign:200 \
              message_verify:msg_verify:200 rs256_4096_jwt_sign:rs256:3; do
    IFS=: read -r label name n <<<"$pair"
    w=$(( ($(ir "$name" "$n") - base) / n )); r=$(( ($(ir "raw_$name" "$n") - base) / n ))
    awk -v l="$label" -v w="$w" -v r="$r" \
      'BEGIN {printf "%-26s walletsign %10d Ir  raw %10d Ir  ratio %5.3f\n", l, w, r, w / r}'
  done
  echo
fi

# ---------------------------------------------------------------- nginx
# Started once, for every HTTP benchmark (http_loop and Python's
# Client.query); stopped by the trap at the end of the run.
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_nginx() { # start_nginx PORT: 0 once nginx answers POST /query
  local port=$1
  cat >"$tmp/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        location = /query {
            default_type application/json;
            return 200 '{}';
        }
    }
}
EOF
  # Not through pin(): a backgrounded function is a bash subshell, whose pid
  # would be $! and which ignores SIGQUIT. taskset execs nginx in place.
  taskset -c "$CPU" nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" &
  nginx_pid=$!
  for _ in $(seq 50); do
    if curl -fs -o /dev/null -X POST --data '{}' "http://127.0.0.1:$port/query"; then return 0; fi
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -QUIT "$nginx_pid" 2>/dev/null || true
  wait "$nginx_pid" 2>/dev/null || true
  nginx_pid=""
  return 1
}

base_url=""
if want http || want python || want redis; then
  if ! command -v nginx >/dev/null 2>&1; then
    echo "# nginx is not installed (make deps): http_loop and Client.query skipped"
    echo
  else
    port=""
    for _ in 1 2 3; do
      p=$(free_port)
      if start_nginx "$p"; then port=$p; break; fi
    done
    if [ -z "$port" ]; then
      echo "# nginx did not start:"; cat "$tmp/error.log" 2>/dev/null || true
      exit 1
    fi
    base_url="http://127.0.0.1:$port"
    echo "# nginx $(version nginx -v | sed 's/^nginx version: //') on 127.0.0.1:$port, worker_processes 1,"\
         "pinned to CPU $CPU with the clients; serves http_loop and Python's Client.query"
  fi
fi

# ---------------------------------------------------------------- HTTP (C)
if want http && [ -n "$base_url" ]; then
  pin "$BUILD/bench/http_loop" "$base_url" --requests "$HTTP_REQUESTS" --rounds "$HTTP_ROUNDS" |
    tee -a "$results"
  echo
fi

# ---------------------------------------------------------------- Redis
# The client pinned as the others; redis-server (a private one, no
# persistence) is not, like a store on another core or host.
if want redis; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "# redis-server is not installed (make deps): redis_store skipped"
  elif start_redis "$tmp/redis"; then
    echo "# redis-server $(redis-server --version | grep -o 'v=[^ ]*' | cut -c3-) on 127.0.0.1:$REDIS_PORT (not pinned)"
    pin "$BUILD/bench/redis_store" "$REDIS_URL" | tee -a "$results"
    if [ -n "$base_url" ]; then
      pin "$BUILD/bench/rate_limit_redis" "$base_url" "$REDIS_URL" | tee -a "$results"
    fi
    stop_redis
  else
    echo "# redis-server did not start: redis_store skipped"
  fi
  echo
fi

# ---------------------------------------------------------------- Python
if want python; then
  PYTHONUNBUFFERED=1 WALLETSIGN_C_SIGN=$C_SIGN WALLETSIGN_HTTP_LOOP=$(abspath "$BUILD/bench/http_loop") \
    WALLETSIGN_BENCH_URL=$base_url \
    pin "$BUILD/venv/bin/python" bench/python_bench.py | tee -a "$results"
  echo
  # Batches and AsyncClient (#14): query_many vs httpx.AsyncClient and hand-made
  # threads, AsyncClient.query vs Client.query; the same nginx, the same core.
  PYTHONUNBUFFERED=1 WALLETSIGN_BENCH_URL=$base_url \
    pin "$BUILD/venv/bin/python" bench/python_async_bench.py | tee -a "$results"
  echo
fi

# ---------------------------------------------------------------- Lua
if want lua; then
  for spec in lua54:5.4:lua5.4 luajit:5.1:luajit; do
    IFS=: read -r tree v interp <<<"$spec"
    t=$(abspath "$BUILD/$tree")
    LUA_PATH="$t/share/lua/$v/?.lua;$t/share/lua/$v/?/init.lua;;" LUA_CPATH="$t/lib/lua/$v/?.so;;" \
      WALLETSIGN_C_SIGN=$C_SIGN pin "$interp" bench/lua_bench.lua | tee -a "$results"
    echo
  done
fi

# ---------------------------------------------------------------- Python + Redis
if want pyredis; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "# redis-server is not installed (make deps): pyredis skipped"
  elif start_redis "$tmp/redis-py"; then
    echo "# redis-server on 127.0.0.1:$REDIS_PORT (not pinned, as for redis_store)"
    PYTHONUNBUFFERED=1 WALLETSIGN_BENCH_REDIS_URL=$REDIS_URL \
      pin "$BUILD/venv/bin/python" bench/python_replay_bench.py | tee -a "$results"
    stop_redis
  else
    echo "# redis-server did not start: pyredis skipped"
  fi
  echo
fi

# ---------------------------------------------------------------- nginx replay store
if want nginx_replay; then
  BENCH_CPU=$CPU BUILD=$BUILD bench/nginx_replay.sh | tee -a "$results"
  echo
fi

# ---------------------------------------------------------------- nginx signing and verifying
if want nginx_sign; then
  BENCH_CPU=$CPU BUILD=$BUILD bench/nginx_sign.sh | tee -a "$results"
  echo
fi

# ---------------------------------------------------------------- nginx client
# Its own two nginx instances (front and backend), pinned to the two cores.
if want ngx; then
  BENCH_CPU=$CPU bench/nginx_client.sh "$BUILD" | tee -a "$results"
  echo
fi

summary
