#!/usr/bin/env bash
# What walletsign.nginx adds to an nginx worker per request (issue #15), run
# by scripts/bench.sh (part "nginx_sign"; alone: BENCH_ONLY=nginx_sign make
# bench, or this script).
#
# A front nginx (1 worker, the Lua module) proxies to a back nginx (1 worker,
# return 200) over keep-alive. Front locations differ only in the Lua phase:
#   /bare/proxy            proxy_pass, nothing else
#   /{hmac,jwt,message}/proxy   access_by_lua sign_upstream(auth) + the same proxy_pass
#   /lua/proxy             an access_by_lua that does nothing + the same proxy_pass
#                          (lua-nginx-module's own cost of the phase: informational)
#   /bare/callback         content_by_lua ngx.say("ok")
#   /verify/callback       access_by_lua verify_callback(verifier) + the same content
#   /insitu/{jwt,message,verify}  auth:sign / verifier:verify alone, timed with
#                          os.clock() around the call in the worker, once per
#                          request (the call's cache-cold cost; /insitu/report)
# wrk POSTs a JSON body to the proxy locations, and distinct pre-signed
# callbacks (bench/nginx_replay_sign.lua) to the callback ones, so every
# callback is verified, recorded in the shared dict and accepted; a round
# with any non-2xx answer fails the bench.
#
# Method: the front worker's CPU time per request, from /proc/PID/schedstat
# (nanoseconds on the CPU, user + system; what other tenants of the machine
# do to the wall clock does not enter), over each wrk run. The extra CPU of a
# location = its CPU/request - the bare location's in the same round. The
# raw C floor = `c_sign --floor raw_OP N` (thread CPU time of the bare
# primitive: OpenSSL ES256, libsecp256k1 sign, recover), run after every
# round; ratio = extra / floor, the median of the rounds [min..max]. Also
# printed: extra / walletsign's C call in c_sign's loop (--floor OP), and
# extra / the call timed in the worker (/insitu/*). hmac's
# target is on requests/s (wrk, wall clock): signed / bare proxy.
# Everything (both nginx, wrk, c_sign) is pinned to one core (BENCH_CPU).
#
# Then, unless BENCH_CALLGRIND=0, the same in instructions (deterministic,
# immune to the noise and to cache effects): a second front nginx runs
# under valgrind --tool=callgrind (master_process off); per location, the
# counters are zeroed, wrk sends requests for BENCH_NGINX_CG_SECONDS, the
# counters are dumped: Ir per request = user-space instructions of the
# worker / requests answered. extra Ir = location - bare location; the raw
# Ir = `c_sign --profile raw_OP N` minus its set-up, per op (as the
# callgrind part of scripts/bench.sh). Informational: the time figures carry
# what instructions do not (kernel work, cache misses).
#
# Knobs: BENCH_CPU (0), BENCH_NGINX_ROUNDS (5), BENCH_NGINX_SECONDS (1),
# BENCH_NGINX_CONNECTIONS (4), BENCH_NGINX_SIGNED (per round; 25000),
# BENCH_NGINX_FLOOR_N (2000), BENCH_CALLGRIND (1), BENCH_NGINX_CG_SECONDS (3),
# BUILD.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
CPU=${BENCH_CPU:-0}
ROUNDS=${BENCH_NGINX_ROUNDS:-5}
SECONDS_PER_ROUND=${BENCH_NGINX_SECONDS:-1}
CONNECTIONS=${BENCH_NGINX_CONNECTIONS:-4}
SIGNED=${BENCH_NGINX_SIGNED:-25000}
FLOOR_N=${BENCH_NGINX_FLOOR_N:-2000}
. scripts/lib.sh

SO=$BUILD/luajit/lib/lua/5.1/walletsign/core.so
C_SIGN=$BUILD/bench/c_sign
[ -f "$SO" ] || { echo "nginx_sign: missing $SO (scripts/build-lua.sh luajit)" >&2; exit 1; }
[ -x "$C_SIGN" ] || { echo "nginx_sign: missing $C_SIGN (make $C_SIGN)" >&2; exit 1; }
for f in wrk nginx luajit; do
  command -v "$f" >/dev/null || { echo "nginx_sign: $f is not installed (make deps)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/walletsign-bench-sign.XXXXXX)
chmod 755 "$tmp"
stop_nginx() { # stop_nginx PIDFILE
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
}
cleanup() {
  stop_nginx "$tmp/logs/front.pid"
  stop_nginx "$tmp/logs/back.pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/lib/walletsign" "$tmp/share/walletsign" "$tmp/logs" "$tmp/work" "$tmp/keys"
cp "$SO" "$tmp/lib/walletsign/core.so"
cp lua/walletsign/init.lua lua/walletsign/nginx.lua "$tmp/share/walletsign/"
cp tests/vectors/keys/p256_sec1.pem "$tmp/keys/"
chmod -R a+rX "$tmp"
KEY_HEX=4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318
export LUA_PATH="$tmp/share/?.lua;$tmp/share/?/init.lua;;" LUA_CPATH="$tmp/lib/?.so;;"
ADDRESS=$(luajit -e "io.write(require('walletsign').key.from_hex('$KEY_HEX'):address())")
FRONT=$(free_port)
BACK=$(free_port)

common() { # the http-level settings both nginx share
  cat <<EOF
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
EOF
}

cat >"$tmp/back.conf" <<EOF
worker_processes 1;
pid $tmp/logs/back.pid;
error_log $tmp/logs/back-error.log warn;
events { worker_connections 256; }
http {
$(common)
    server {
        listen 127.0.0.1:$BACK;
        location / { return 200 '{}'; }
    }
}
EOF

proxy='proxy_pass http://back; proxy_http_version 1.1; proxy_set_header Connection "";'
front_conf() { # front_conf PORT NAME [MAIN-DIRECTIVES]: the front's nginx.conf on stdout
  local FRONT=$1 name=$2
  cat <<EOF
worker_processes 1;
pid $tmp/logs/$name.pid;
${3:-}
error_log $tmp/logs/error.log warn;
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
events { worker_connections 256; }
http {
$(common)
    lua_package_path "$tmp/share/?.lua;$tmp/share/?/init.lua;;";
    lua_package_cpath "$tmp/lib/?.so;;";
    lua_shared_dict walletsign_replay 64m;
    lua_shared_dict walletsign_metrics 1m;
    upstream back { server 127.0.0.1:$BACK; keepalive 16; }
    init_by_lua_block {
        local ws = require "walletsign"
        bench = {
            hmac = ws.assert(ws.hmac_auth{api_key = "bench-api-key", secret = "bench-secret-of-32-bytes-length!"}),
            jwt = ws.assert(ws.jwt_auth{key = ws.assert(ws.key.load_file("$tmp/keys/p256_sec1.pem")), key_id = "bench"}),
            message = ws.assert(ws.message_auth{key = ws.assert(ws.key.from_hex("$KEY_HEX"))}),
            verifier = ws.assert(ws.message_verifier{trusted = {"$ADDRESS"}, replay_cache = false}),
            timed = {},
        }
        function bench.read_body() ngx.req.read_body(); return ngx.req.get_body_data() or "" end
        function bench.insitu(name, fn, ...)
            local c0 = os.clock()
            local ok = fn(...)
            local dt = os.clock() - c0
            if not ok then return ngx.exit(500) end
            local t = bench.timed[name] or {s = 0, n = 0}
            bench.timed[name] = t
            t.s, t.n = t.s + dt, t.n + 1
        end
    }
    server {
        listen 127.0.0.1:$FRONT;
        location = /bare/proxy { $proxy }
        location = /lua/proxy {
            access_by_lua_block { local _ = require("walletsign.nginx") }
            $proxy
        }
        location = /hmac/proxy {
            access_by_lua_block { require("walletsign.nginx").sign_upstream(bench.hmac) }
            $proxy
        }
        location = /jwt/proxy {
            access_by_lua_block { require("walletsign.nginx").sign_upstream(bench.jwt) }
            $proxy
        }
        location = /message/proxy {
            access_by_lua_block { require("walletsign.nginx").sign_upstream(bench.message) }
            $proxy
        }
        # The C call alone, timed inside the worker per request (os.clock:
        # process CPU time; its two clock reads are in the figure).
        location = /insitu/jwt {
            access_by_lua_block { bench.insitu("jwt", bench.jwt.sign, bench.jwt, "POST", "/insitu/jwt", bench.read_body()) }
            $proxy
        }
        location = /insitu/message {
            access_by_lua_block { bench.insitu("message", bench.message.sign, bench.message, "POST", "/insitu/message", bench.read_body()) }
            $proxy
        }
        location = /insitu/verify {
            access_by_lua_block { bench.insitu("verify", bench.verifier.verify, bench.verifier, ngx.req.get_headers(), bench.read_body()) }
            content_by_lua_block { ngx.say("ok") }
        }
        location = /insitu/report {
            content_by_lua_block {
                local t = bench.timed[ngx.var.arg_name]
                ngx.say(string.format("%.3f", t.s / t.n * 1e6))
                bench.timed[ngx.var.arg_name] = nil
            }
        }
        location = /bare/callback {
            content_by_lua_block { ngx.say("ok") }
        }
        location = /verify/callback {
            access_by_lua_block { require("walletsign.nginx").verify_callback(bench.verifier) }
            content_by_lua_block { ngx.say("ok") }
        }
    }
}
EOF
}
front_conf "$FRONT" front >"$tmp/front.conf"
taskset -c "$CPU" nginx -p "$tmp" -c "$tmp/back.conf" -e "$tmp/logs/back-error.log"
env -u LUA_PATH -u LUA_CPATH taskset -c "$CPU" nginx -p "$tmp" -c "$tmp/front.conf" -e "$tmp/logs/error.log"
for _ in $(seq 50); do
  curl -s -o /dev/null -X POST --data '{}' "http://127.0.0.1:$FRONT/bare/proxy" && break
  sleep 0.1
done
# (processes may vanish while grep reads /proc: its complaints are no failure)
worker_pid=$( (grep -l "^PPid:[[:space:]]*$(cat "$tmp/logs/front.pid")$" /proc/[0-9]*/status 2>/dev/null || true) |
             head -1 | cut -d/ -f3)
[ -n "$worker_pid" ] || { echo "nginx_sign: no nginx worker (see $tmp/logs/error.log)" >&2; exit 1; }
worker_ns() { cut -d' ' -f1 "/proc/$worker_pid/schedstat"; }

# The bare callback location verifies nothing: one set of requests serves
# every round.
taskset -c "$CPU" luajit bench/nginx_replay_sign.lua "$KEY_HEX" "127.0.0.1:$FRONT" /bare/callback \
  "$SIGNED" "$tmp/work/bare-callback"

# measure LOCATION -> "requests/s worker-CPU-us/request": one wrk run.
measure() {
  local loc=$1 out c0 c1 script=bench/nginx_sign_wrk.lua reqs=""
  case $loc in
    verify/callback)
      taskset -c "$CPU" luajit bench/nginx_replay_sign.lua "$KEY_HEX" "127.0.0.1:$FRONT" "/$loc" \
        "$SIGNED" "$tmp/work/verify-callback"
      script=bench/nginx_replay_wrk.lua reqs=$tmp/work/verify-callback ;;
    insitu/verify)
      taskset -c "$CPU" luajit bench/nginx_replay_sign.lua "$KEY_HEX" "127.0.0.1:$FRONT" "/$loc" \
        "$SIGNED" "$tmp/work/insitu-verify"
      script=bench/nginx_replay_wrk.lua reqs=$tmp/work/insitu-verify ;;
    bare/callback) script=bench/nginx_replay_wrk.lua reqs=$tmp/work/bare-callback ;;
  esac
  c0=$(worker_ns)
  out=$(WS_REQUESTS=$reqs taskset -c "$CPU" wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_ROUND}s" \
          -s "$script" "http://127.0.0.1:$FRONT/$loc" | grep '^RESULT')
  c1=$(worker_ns)
  read -r _ n non2xx errors secs <<<"$out"
  if [ "$non2xx" != 0 ] || [ "$errors" != 0 ]; then
    echo "nginx_sign: /$loc: $non2xx non-2xx answers, $errors socket errors of $n" \
         "(more requests than BENCH_NGINX_SIGNED=$SIGNED? see $tmp/logs/error.log)" >&2
    tail -5 "$tmp/logs/error.log" >&2
    return 1
  fi
  if [ "$loc" = verify/callback ] && [ "$n" -ge "$SIGNED" ]; then
    echo "nginx_sign: $n requests to /$loc in a round, more than the $SIGNED signed: raise BENCH_NGINX_SIGNED" >&2
    return 1
  fi
  awk -v n="$n" -v s="$secs" -v c=$((c1 - c0)) 'BEGIN {printf "%.1f %.3f\n", n / s, c / 1e3 / n}'
}

floor() { # floor OP -> CPU us per op of `c_sign --floor OP`
  taskset -c "$CPU" "$C_SIGN" --floor "$1" "$FLOOR_N" |
    sed -n 's/.*"cpu_ns_per_op":\([0-9.]*\).*/\1/p' | awk '{printf "%.3f\n", $1 / 1e3}'
}

LOCATIONS="bare/proxy hmac/proxy jwt/proxy message/proxy bare/callback verify/callback lua/proxy"
FLOORS="raw_hmac raw_es256 raw_msg_sign raw_msg_verify hmac es256 msg_sign msg_verify"
for loc in $LOCATIONS; do measure "$loc" >/dev/null; done # warm-up: JIT, pools, caches
rows=()
for r in $(seq "$ROUNDS"); do
  locs=$LOCATIONS
  [ $((r % 2)) = 0 ] && locs=$(echo "$LOCATIONS" | tr ' ' '\n' | tac | tr '\n' ' ')
  declare -A got=()
  for loc in $locs; do got[$loc]=$(measure "$loc"); done
  row=""
  for loc in $LOCATIONS; do row="$row ${got[$loc]}"; done
  for op in $FLOORS; do row="$row $(floor "$op")"; done
  for name in jwt message verify; do
    measure "insitu/$name" >/dev/null
    row="$row $(curl -fsS "http://127.0.0.1:$FRONT/insitu/report?name=$name")"
  done
  rows+=("$row")
done

# per round: req/s and CPU us/req of each location (in LOCATIONS order),
# then the floors (in FLOORS order)
printf '%s\n' "${rows[@]}" | awk -v rounds="$ROUNDS" -v c="$CONNECTIONS" -v secs="$SECONDS_PER_ROUND" '
  function median(a, n,   i, j, t, b) {
    for (i = 1; i <= n; i++) b[i] = a[i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t }
    return n % 2 ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
  }
  function lo(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] < m) m = a[i]; return m }
  function hi(a, n,   i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] > m) m = a[i]; return m }
  function verdict(v, max) { return v <= max ? "PASS" : "MISS" }
  {
    # locations: 1 bare proxy, 2 hmac, 3 jwt, 4 message, 5 bare callback, 6 verify, 7 empty access_by_lua
    for (i = 1; i <= 7; i++) { rps[i, NR] = $(2 * i - 1); cpu[i, NR] = $(2 * i) }
    # floors: 13 raw_hmac 14 raw_es256 15 raw_msg_sign 16 raw_msg_verify 17 hmac 18 es256 19 msg_sign 20 msg_verify
    for (i = 15; i <= 22; i++) fl[i - 2, NR] = $i
    # the C call timed in the worker: 21 jwt sign, 22 message sign, 23 verify
    for (i = 23; i <= 25; i++) fl[i - 2, NR] = $i
  }
  function line(label, loc, base, raw, wsig, insitu, target,   r, x, e, f, w, rr, rw, iw, ri) {
    for (r = 1; r <= NR; r++) {
      e[r] = cpu[loc, r] - cpu[base, r]; f[r] = fl[raw, r]; w[r] = fl[wsig, r]
      rr[r] = e[r] / f[r]; rw[r] = e[r] / w[r]
      if (insitu) { iw[r] = fl[insitu, r]; ri[r] = e[r] / iw[r] }
    }
    printf "%-30s extra worker CPU %6.2f us/req (%6.2f - bare %6.2f)  raw C floor %6.2f us  ratio %5.3f  [%.3f..%.3f]  / walletsign C call %6.2f us = %5.3f  ",
           label, median(e, NR), medloc(loc), medloc(base), median(f, NR),
           median(rr, NR), lo(rr, NR), hi(rr, NR), median(w, NR), median(rw, NR)
    if (insitu) printf "/ the call timed in the worker %6.2f us = %5.3f  ", median(iw, NR), median(ri, NR)
    if (target) printf "target <= %.2f  %s\n", target, verdict(median(rr, NR), target)
    else printf "(informational)\n"
  }
  function medloc(loc,   r, a) { for (r = 1; r <= NR; r++) a[r] = cpu[loc, r]; return median(a, NR) }
  END {
    printf "# nginx_sign: front nginx worker CPU per request (/proc schedstat), median of %d rounds x %ds, %d connections; extra = location - bare location, same round; ratio = extra / raw C floor (c_sign --floor raw_OP)\n", rounds, secs, c
    line("nginx_sign_upstream_jwt", 3, 1, 14, 18, 21, 1.3)
    line("nginx_sign_upstream_message", 4, 1, 15, 19, 22, 1.3)
    line("nginx_verify_callback", 6, 5, 16, 20, 23, 1.3)
    line("nginx_sign_upstream_hmac_cpu", 2, 1, 13, 17, 0, 0)
    for (r = 1; r <= NR; r++) { x[r] = cpu[7, r] - cpu[1, r] }
    printf "%-30s extra worker CPU %6.2f us/req (%6.2f - bare %6.2f)  lua-nginx-module'"'"'s own cost of an access_by_lua phase  (informational)\n",
           "nginx_access_by_lua_empty", median(x, NR), medloc(7), medloc(1)
    for (r = 1; r <= NR; r++) { q[r] = rps[2, r] / rps[1, r]; b[r] = rps[1, r]; h[r] = rps[2, r] }
    printf "%-30s hmac %7.0f req/s  bare proxy %7.0f req/s  ratio %5.3f  [%.3f..%.3f]  target >= 0.90  %s\n",
           "nginx_sign_upstream_hmac", median(h, NR), median(b, NR), median(q, NR), lo(q, NR), hi(q, NR),
           (median(q, NR) >= 0.9 ? "PASS" : "MISS")
  }'

# ---------------------------------------------------------------- instructions
[ "${BENCH_CALLGRIND:-1}" = 1 ] && command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
  exit 0
CG_SECONDS=${BENCH_NGINX_CG_SECONDS:-3}
CG_PORT=$(free_port)
front_conf "$CG_PORT" cg "master_process off; daemon off;" >"$tmp/cg.conf"
# LuaJIT writes its machine code at run time: valgrind must watch for it.
env -u LUA_PATH -u LUA_CPATH taskset -c "$CPU" valgrind --tool=callgrind --smc-check=all-non-file \
  --callgrind-out-file="$tmp/cg/out" nginx -p "$tmp" -c "$tmp/cg.conf" -e "$tmp/logs/error.log" \
  2>"$tmp/logs/valgrind.log" &
cg_pid=$!
mkdir -p "$tmp/cg"
stop_cg() { kill -QUIT "$cg_pid" 2>/dev/null || true; wait "$cg_pid" 2>/dev/null || true; }
trap 'stop_cg; cleanup' EXIT
for _ in $(seq 100); do
  curl -s -o /dev/null -X POST --data '{}' "http://127.0.0.1:$CG_PORT/bare/proxy" && break
  sleep 0.3
done
# (valgrind: ~50 times slower; every wrk run of the verified location gets
# callbacks of its own)
for f in cg-verify-1 cg-verify-$CG_SECONDS; do
  taskset -c "$CPU" luajit bench/nginx_replay_sign.lua "$KEY_HEX" "127.0.0.1:$CG_PORT" /verify/callback \
    5000 "$tmp/work/$f"
done
cp "$tmp/work/bare-callback" "$tmp/work/cg-bare"
cg_wrk() { # cg_wrk LOCATION SECONDS -> requests answered (all 2xx, or fail)
  local script=bench/nginx_sign_wrk.lua reqs="" out
  case $1 in
    verify/callback) script=bench/nginx_replay_wrk.lua reqs=$tmp/work/cg-verify-$2 ;;
    bare/callback) script=bench/nginx_replay_wrk.lua reqs=$tmp/work/cg-bare ;;
  esac
  out=$(WS_REQUESTS=$reqs taskset -c "$CPU" wrk -t1 -c2 -d"${2}s" -s "$script" \
          "http://127.0.0.1:$CG_PORT/$1" | grep '^RESULT')
  read -r _ n non2xx errors _ <<<"$out"
  [ "$non2xx" = 0 ] && [ "$errors" = 0 ] ||
    { echo "nginx_sign: callgrind /$1: $non2xx non-2xx, $errors errors of $n" >&2; return 1; }
  echo "$n"
}
cg_ir() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
declare -A cg=()
for loc in $LOCATIONS; do
  cg_wrk "$loc" 1 >/dev/null # warm-up (JIT, pools)
  callgrind_control -z "$cg_pid" >/dev/null 2>&1
  n=$(cg_wrk "$loc" "$CG_SECONDS")
  rm -f "$tmp/cg/out".*
  callgrind_control -d "$cg_pid" >/dev/null 2>&1
  cg[$loc]=$(( $(cg_ir "$(ls -t "$tmp/cg/out".* | head -1)") / n ))
done
raw_ir() { # raw_ir OP N -> instructions per op of c_sign --profile OP, set-up excluded
  local f=$tmp/cg/raw
  valgrind --tool=callgrind --callgrind-out-file="$f" "$C_SIGN" --profile "$1" "$2" >/dev/null 2>&1
  local with; with=$(cg_ir "$f")
  valgrind --tool=callgrind --callgrind-out-file="$f" "$C_SIGN" --profile es256 0 >/dev/null 2>&1
  echo $(( (with - $(cg_ir "$f")) / $2 ))
}
echo "# nginx_sign callgrind: front worker user-space instructions per request (deterministic); extra = location - bare location; ratio = extra / raw Ir (c_sign --profile raw_OP)"
for spec in "nginx_sign_upstream_jwt_ir jwt/proxy bare/proxy raw_es256 200" \
            "nginx_sign_upstream_message_ir message/proxy bare/proxy raw_msg_sign 200" \
            "nginx_verify_callback_ir verify/callback bare/callback raw_msg_verify 200" \
            "nginx_sign_upstream_hmac_ir hmac/proxy bare/proxy raw_hmac 4000" \
            "nginx_access_by_lua_empty_ir lua/proxy bare/proxy - 0"; do
  read -r label loc base op n <<<"$spec"
  r=0; [ "$op" = - ] || r=$(raw_ir "$op" "$n")
  awk -v l="$label" -v a="${cg[$loc]}" -v b="${cg[$base]}" -v r="$r" 'BEGIN {
        printf "%-30s extra %8d Ir/req (%8d - bare %6d)  ", l, a - b, a, b
        if (r) printf "raw %8d Ir  ratio %6.3f  (informational)\n", r, (a - b) / r
        else printf "lua-nginx-module'"'"'s own cost of an access_by_lua phase  (informational)\n" }'
done
