#!/usr/bin/env bash
# The nginx client (walletsign.nginx.client) from a content handler vs a bare
# proxy_pass of the same request, with wrk against nginx on 127.0.0.1 (issue
# #15). Run by scripts/bench.sh (part "ngx"); alone:
#   bench/nginx_client.sh [BUILD]      (needs BUILD/luajit: scripts/build-lua.sh)
#
# Two nginx instances, one worker each: the front (measured) and a static
# backend that answers POST /query with a fixed JSON body (no verification:
# only the front's cost is of interest). The front serves
#   /bare    proxy_pass to the backend (keep-alive), the request as wrk sends it
#   /capture the transport alone: ngx.location.capture to a plain proxy_pass
#            location, no walletsign (where the client's time goes)
#   /jwt     apis.jwt:query("get_client_profile"): an ES256 JWT signed per call
#   /hmac    apis.hmac:request("POST", "/query", {body = ...}): HMAC headers
# wrk sends the same POST /query body to each. Rounds alternate bare, capture,
# jwt, hmac (BENCH_NGX_ROUNDS, default 5, of BENCH_NGX_SECONDS, default 2 s each);
# for each round: requests/s from wrk, and the front worker's CPU time per
# request from /proc/PID/stat (utime + stime, clock ticks) over the round.
# Printed: the medians and the ratio client / bare of each (median over rounds
# of the per-round ratio). Pinning: front worker on BENCH_CPU (0), backend and
# wrk on the next core (BENCH_CPU2).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${1:-${BUILD:-build}}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
CPU=${BENCH_CPU:-0}
CPU2=${BENCH_CPU2:-$(( (CPU + 1) % $(nproc) ))}
ROUNDS=${BENCH_NGX_ROUNDS:-5}
SECONDS_PER=${BENCH_NGX_SECONDS:-2}
SO=$BUILD/luajit/lib/lua/5.1/walletsign/core.so
[ -f "$SO" ] || { echo "# nginx client bench: missing $SO (scripts/build-lua.sh luajit)"; exit 0; }
command -v wrk >/dev/null || { echo "# nginx client bench: wrk not installed (scripts/ensure-deps.sh --bench)"; exit 0; }

tmp=$(mktemp -d /tmp/walletsign-ngx-bench.XXXXXX)
chmod 755 "$tmp"
stop() { # stop PIDFILE
  local pid; pid=$(cat "$1" 2>/dev/null) || return 0
  kill -QUIT "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() { stop "$tmp/front.pid"; stop "$tmp/back.pid"; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/lib/walletsign" "$tmp/share/walletsign" "$tmp/logs"
cp "$SO" "$tmp/lib/walletsign/core.so"
cp lua/walletsign/init.lua lua/walletsign/nginx.lua lua/walletsign/nginx_client.lua "$tmp/share/walletsign/"
chmod -R a+rX "$tmp"
ports=$(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
read -r FRONT BACK <<<"$ports"

temp_paths() {
  for t in client_body proxy fastcgi uwsgi scgi; do echo "    ${t}_temp_path $tmp/$1-$t;"; done
}

cat >"$tmp/back.conf" <<EOF
worker_processes 1;
pid $tmp/back.pid;
error_log $tmp/logs/back.log warn;
events { worker_connections 256; }
http {
    access_log off;
    keepalive_requests 1000000;
$(temp_paths back)
    server {
        listen 127.0.0.1:$BACK;
        location = /query { default_type application/json; return 200 '{"name":"Test Client"}'; }
    }
}
EOF

internal() { # internal NAME: the documented internal location, to the backend
  cat <<EOF
        location /_walletsign/$1 {
            internal;
            set \$walletsign_target "";
            rewrite_by_lua_block { require("walletsign.nginx_client").prepare() }
            header_filter_by_lua_block { require("walletsign.nginx_client").header_filter() }
            proxy_pass http://backend\$walletsign_target;
            proxy_set_header Host \$http_host;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream off;
        }
EOF
}

cat >"$tmp/front.conf" <<EOF
worker_processes 1;
pid $tmp/front.pid;
error_log $tmp/logs/front.log warn;
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
events { worker_connections 256; }
http {
    access_log off;
    keepalive_requests 1000000;
$(temp_paths front)
    lua_package_path "$tmp/share/?.lua;$tmp/share/?/init.lua;;";
    lua_package_cpath "$tmp/lib/?.so;;";
    init_by_lua_block {
        local ws = require "walletsign"
        local wsn = require "walletsign.nginx"
        local key = ws.assert(ws.key.generate("P-256"))
        local base = "http://127.0.0.1:$BACK"
        apis = {
            jwt = ws.assert(wsn.client{base_url = base, location = "/_walletsign/jwt", rate_limit = false,
                                       auth = ws.assert(ws.jwt_auth{key = key, key_id = "bench"})}),
            hmac = ws.assert(wsn.client{base_url = base, location = "/_walletsign/hmac", rate_limit = false,
                                        auth = ws.assert(ws.hmac_auth{api_key = "k", secret = "s"})}),
        }
    }
    upstream backend { server 127.0.0.1:$BACK; keepalive 16; }
    server {
        listen 127.0.0.1:$FRONT;
        location = /bare {
            proxy_pass http://backend/query;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
$(internal jwt)
$(internal hmac)
        # The transport alone: a subrequest to a plain proxy location, no walletsign.
        location /_plain {
            internal;
            proxy_pass http://backend/query;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /capture {
            content_by_lua_block {
                ngx.req.read_body()
                local r = ngx.location.capture("/_plain", {method = ngx.HTTP_POST, body = ngx.req.get_body_data()})
                ngx.say(r.status)
            }
        }
        location = /jwt {
            content_by_lua_block {
                local r = assert(apis.jwt:query("get_client_profile"))
                ngx.say(r.name)
            }
        }
        location = /hmac {
            content_by_lua_block {
                ngx.req.read_body()
                local r = assert(apis.hmac:request("POST", "/query", {body = ngx.req.get_body_data()}))
                ngx.say(r.status)
            }
        }
    }
}
EOF

taskset -c "$CPU2" nginx -p "$tmp" -c "$tmp/back.conf" -e "$tmp/logs/back.log"
taskset -c "$CPU" nginx -p "$tmp" -c "$tmp/front.conf" -e "$tmp/logs/front.log"
body='{"name":"get_client_profile","payload":{}}'
for _ in $(seq 50); do
  curl -fs -o /dev/null -X POST --data "$body" "http://127.0.0.1:$FRONT/jwt" && break
  sleep 0.1
done
curl -fsS -o /dev/null -X POST --data "$body" "http://127.0.0.1:$FRONT/jwt" ||
  { echo "# nginx client bench: front did not answer"; cat "$tmp/logs/front.log"; exit 1; }
front_master=$(cat "$tmp/front.pid")
worker=$( (grep -l "^PPid:[[:space:]]*$front_master\$" /proc/[0-9]*/status 2>/dev/null || true) | head -1 | cut -d/ -f3)
[ -n "$worker" ] || { echo "# nginx client bench: no front worker"; exit 1; }
ticks=$(getconf CLK_TCK)

cat >"$tmp/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
EOF

cpu_ticks() { awk '{print $14 + $15}' "/proc/$worker/stat"; }

# round PATH -> "req/s us-per-request"
round() {
  local before after out rps reqs
  before=$(cpu_ticks)
  out=$(taskset -c "$CPU2" wrk -t1 -c4 -d"${SECONDS_PER}s" -s "$tmp/post.lua" "http://127.0.0.1:$FRONT$1")
  after=$(cpu_ticks)
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  if grep -q "Non-2xx" <<<"$out"; then echo "# $1: non-2xx answers" >&2; fi
  awk -v r="$rps" -v n="$reqs" -v t=$((after - before)) -v hz="$ticks" \
    'BEGIN {printf "%s %.1f\n", r, t / hz * 1e6 / n}'
}

for path in /bare /capture /jwt /hmac; do round "$path" >/dev/null; done # warm-up: connections, JIT
: >"$tmp/rounds"
for _ in $(seq "$ROUNDS"); do
  for path in /bare /capture /jwt /hmac; do echo "$path $(round "$path")" >>"$tmp/rounds"; done
done

echo "# nginx client vs bare proxy_pass: wrk -t1 -c4 POST /query, one front worker on CPU $CPU,"\
     "backend + wrk on CPU $CPU2, $ROUNDS rounds x ${SECONDS_PER}s; CPU/req = front worker utime+stime / requests"
/usr/bin/python3 - "$tmp/rounds" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for path, rps, us in rows:
    by.setdefault(path, []).append((float(rps), float(us)))
bare = by["/bare"]
print("%-22s %9.0f req/s  front CPU %6.1f us/req" % ("bare proxy_pass",
      statistics.median(r for r, _ in bare), statistics.median(u for _, u in bare)))
for path, label in (("/capture", "bare subrequest"), ("/jwt", "client query (jwt)"),
                    ("/hmac", "client request (hmac)")):
    rs = by[path]
    ratios = [a[0] / b[0] for a, b in zip(rs, bare)]
    cpu = [a[1] / b[1] for a, b in zip(rs, bare)]
    print("%-22s %9.0f req/s  front CPU %6.1f us/req  ratio %.3f [%.3f..%.3f] of bare req/s,"
          " CPU/req x%.2f" % (label, statistics.median(r for r, _ in rs),
                             statistics.median(u for _, u in rs), statistics.median(ratios),
                             min(ratios), max(ratios), statistics.median(cpu)))
EOF
