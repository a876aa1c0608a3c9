#!/usr/bin/env bash
# nginx verify_callback with the Redis replay store vs with the shared dict
# (issue #13), run by scripts/bench.sh (part "nginx_replay"; alone:
# BENCH_ONLY=nginx_replay make bench, or this script).
#
# One nginx (1 worker) serves two locations that differ only in the store:
# /dict/callback (lua_shared_dict, safe_add) and /redis/callback (a private
# redis-server, SET NX PX over pooled cosockets). wrk sends distinct
# pre-signed callbacks (bench/nginx_replay_sign.lua), so every request is
# verified, recorded and accepted (200); a round with any other answer
# fails the bench. Rounds alternate dict, redis / redis, dict; nginx, Redis
# and wrk share one pinned core (BENCH_CPU), so the Redis side pays for
# Redis's CPU too, as on a one-box deployment. Reported: requests/s of each,
# and ratio = time per request with Redis / with the shared dict, the
# median of the per-round-pair ratios [min..max]; then the CPU time of the
# nginx worker plus redis-server per request (from /proc, so steadier on a
# shared machine than the wall clock) and its ratio likewise, and the nginx
# worker's share alone (what Redis costs nginx: the cosocket round trip).
#
# Knobs: BENCH_CPU (0), BENCH_NGINX_ROUNDS (7 pairs), BENCH_NGINX_SECONDS (1),
# BENCH_NGINX_CONNECTIONS (4), BENCH_NGINX_SIGNED (per round; 25000), BUILD.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
CPU=${BENCH_CPU:-0}
ROUNDS=${BENCH_NGINX_ROUNDS:-7}
SECONDS_PER_ROUND=${BENCH_NGINX_SECONDS:-1}
CONNECTIONS=${BENCH_NGINX_CONNECTIONS:-4}
SIGNED=${BENCH_NGINX_SIGNED:-25000}
. scripts/lib.sh

SO=$BUILD/luajit/lib/lua/5.1/walletsign/core.so
[ -f "$SO" ] || { echo "nginx_replay: missing $SO (scripts/build-lua.sh luajit)" >&2; exit 1; }
for f in wrk redis-server nginx luajit; do
  command -v "$f" >/dev/null || { echo "nginx_replay: $f is not installed (make deps)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/walletsign-bench-replay.XXXXXX)
chmod 755 "$tmp"
cleanup() {
  local pid
  pid=$(cat "$tmp/logs/nginx.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  stop_redis
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_redis "$tmp/redis"
# Redis on the bench core too (start_redis cannot pin it).
taskset -pc "$CPU" "$REDIS_PID" >/dev/null

mkdir -p "$tmp/lib/walletsign" "$tmp/share/walletsign" "$tmp/logs" "$tmp/work"
cp "$SO" "$tmp/lib/walletsign/core.so"
cp lua/walletsign/init.lua lua/walletsign/nginx.lua "$tmp/share/walletsign/"
chmod -R a+rX "$tmp"
KEY_HEX=4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318
export LUA_PATH="$tmp/share/?.lua;$tmp/share/?/init.lua;;" LUA_CPATH="$tmp/lib/?.so;;"
ADDRESS=$(luajit -e "io.write(require('walletsign').key.from_hex('$KEY_HEX'):address())")
PORT=$(free_port)

cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/logs/nginx.pid;
error_log $tmp/logs/error.log warn;
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
events { worker_connections 256; }
http {
    lua_package_path "$tmp/share/?.lua;$tmp/share/?/init.lua;;";
    lua_package_cpath "$tmp/lib/?.so;;";
    lua_shared_dict walletsign_replay 64m;
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    init_by_lua_block {
        local ws = require "walletsign"
        bench = {
            verifier = ws.assert(ws.message_verifier{trusted = {"$ADDRESS"}, replay_cache = false}),
            redis = {replay = {redis = {host = "127.0.0.1", port = $REDIS_PORT}}},
        }
    }
    server {
        listen 127.0.0.1:$PORT;
        location = /dict/callback {
            access_by_lua_block { require("walletsign.nginx").verify_callback(bench.verifier) }
            content_by_lua_block { ngx.say("ok") }
            log_by_lua_block { require("walletsign.nginx").release_on_error() }
        }
        location = /redis/callback {
            access_by_lua_block { require("walletsign.nginx").verify_callback(bench.verifier, bench.redis) }
            content_by_lua_block { ngx.say("ok") }
            log_by_lua_block { require("walletsign.nginx").release_on_error() }
        }
    }
}
EOF
env -u LUA_PATH -u LUA_CPATH taskset -c "$CPU" nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/logs/error.log"
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
  sleep 0.1
done

# CPU ticks (user + system) used so far by the nginx worker and Redis: the
# server side's cost, which other tenants of the machine do not inflate
# (they only slow the wall clock).
# (processes may vanish while grep reads /proc: its complaints are no failure)
worker_pid=$( (grep -l "^PPid:[[:space:]]*$(cat "$tmp/logs/nginx.pid")$" /proc/[0-9]*/status 2>/dev/null || true) |
             head -1 | cut -d/ -f3)
[ -n "$worker_pid" ] || { echo "nginx_replay: no nginx worker (see $tmp/logs/error.log)" >&2; exit 1; }
server_ticks() { # -> "worker redis"
  awk '{printf "%d ", $14 + $15} END {print ""}' "/proc/$worker_pid/stat" "/proc/$REDIS_PID/stat"
}
TICK=$(getconf CLK_TCK)

# round STORE -> "requests/s server-CPU-us/request worker-CPU-us/request": fresh
# signatures, then one wrk run.
round() {
  local store=$1 out
  taskset -c "$CPU" luajit bench/nginx_replay_sign.lua "$KEY_HEX" "127.0.0.1:$PORT" "/$store/callback" \
    "$SIGNED" "$tmp/work/requests"
  local w0 r0 w1 r1; read -r w0 r0 <<<"$(server_ticks)"
  out=$(WS_REQUESTS=$tmp/work/requests taskset -c "$CPU" wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_ROUND}s" \
          -s bench/nginx_replay_wrk.lua "http://127.0.0.1:$PORT/$store/callback" | grep '^RESULT')
  read -r _ n non2xx errors secs <<<"$out"
  read -r w1 r1 <<<"$(server_ticks)"
  if [ "$non2xx" != 0 ] || [ "$errors" != 0 ]; then
    echo "nginx_replay: $store round: $non2xx non-2xx answers, $errors socket errors of $n" \
         "(more requests than BENCH_NGINX_SIGNED=$SIGNED? see $tmp/logs/error.log)" >&2
    tail -5 "$tmp/logs/error.log" >&2
    return 1
  fi
  if [ "$n" -ge "$SIGNED" ]; then
    echo "nginx_replay: $n requests in a round, more than the $SIGNED signed: raise BENCH_NGINX_SIGNED" >&2
    return 1
  fi
  awk -v n="$n" -v s="$secs" -v w=$((w1 - w0)) -v r=$((r1 - r0)) -v hz="$TICK" \
    'BEGIN {printf "%.1f %.2f %.2f\n", n / s, (w + r) / hz * 1e6 / n, w / hz * 1e6 / n}'
}

round dict >/dev/null && round redis >/dev/null # warm-up: pools, JIT, Redis
pairs=()
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then d=$(round dict); s=$(round redis); else s=$(round redis); d=$(round dict); fi
  pairs+=("$d $s")
done
# per pair: dict req/s, CPU us/req, worker CPU us/req; redis the same
printf '%s\n' "${pairs[@]}" | awk -v rounds="$ROUNDS" -v c="$CONNECTIONS" -v secs="$SECONDS_PER_ROUND" '
  { d[NR] = $1; s[NR] = $4; r[NR] = $1 / $4; dc[NR] = $2; sc[NR] = $5; rc[NR] = $5 / $2
    dw[NR] = $3; sw[NR] = $6; rw[NR] = $6 / $3 }
  function median(a, n,   i, j, t, b) {
    for (i = 1; i <= n; i++) b[i] = a[i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t }
    return n % 2 ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
  }
  function lo(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] < m) m = a[i]; return m }
  function hi(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] > m) m = a[i]; return m }
  END {
    printf "nginx_verify_callback_redis  redis %7.0f req/s  shared dict %7.0f req/s  ratio %5.3f  [%.3f..%.3f]  %d x %ds rounds, %d connections  (recorded)\n",
           median(s, NR), median(d, NR), median(r, NR), lo(r, NR), hi(r, NR), rounds, secs, c
    printf "nginx_verify_callback_redis_cpu  nginx+redis CPU  redis %6.1f us/req  shared dict %6.1f us/req  ratio %5.3f  [%.3f..%.3f]  (recorded)\n",
           median(sc, NR), median(dc, NR), median(rc, NR), lo(rc, NR), hi(rc, NR)
    printf "nginx_verify_callback_redis_worker  nginx worker CPU  redis %6.1f us/req  shared dict %6.1f us/req  ratio %5.3f  [%.3f..%.3f]  (recorded)\n",
           median(sw, NR), median(dw, NR), median(rw, NR), lo(rw, NR), hi(rw, NR)
  }'
