#!/usr/bin/env bash
# with-redis.sh CMD...: run CMD with a private redis-server (scripts/lib.sh
# start_redis: 127.0.0.1, a free port, a temp dir, no persistence) whose URL
# and pid are in WSIG_TEST_REDIS_URL and WSIG_TEST_REDIS_PID; the server is
# stopped when CMD ends, whatever its exit. CMD's exit status is returned.
# The C suite's redis groups need it (they fail when the URL is unset).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/wsig-redis-XXXXXX")
trap 'stop_redis; rm -rf "$dir"' EXIT
start_redis "$dir" || exit 1
export WSIG_TEST_REDIS_URL=$REDIS_URL WSIG_TEST_REDIS_PID=$REDIS_PID
"$@"
