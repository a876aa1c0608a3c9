# Sourced by the scripts that build or test copies of the tree (not run on its own).

# Compiler and linker flags of every sanitizer build.
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

# copy_python_tree DEST: what `pip install .` needs, copied to DEST, without
# the build products an earlier in-place build may have left.
copy_python_tree() {
  local dest=$1
  rm -rf "$dest"
  mkdir -p "$dest"
  cp -r setup.py pyproject.toml MANIFEST.in README.md csrc python "$dest/"
  rm -rf "$dest"/python/*.egg-info "$dest"/python/walletsign/*.so
}

# sanitize_env DIR: export what a process needs to run under ASan+UBSan with
# the runtimes preloaded (an interpreter loading a sanitized module).
# Reports go to DIR/sanitizer.PID, because pytest captures fd 2 while a test
# runs and a report written there dies with the process that halted on it.
# Leaks are told apart by the one frame that called malloc: CPython's own
# (/usr/bin/python3.11, kept until exit, also the mock server's), the
# cryptography package's (_rust.abi3.so, _cffi_backend) and OpenSSL's
# (libcrypto.so.3: objects that CPython's ssl and hashlib modules keep until
# exit) are suppressed; anything malloc'ed by walletsign's core or a shim, or
# by libc/cJSON/libcurl on its behalf, is reported. A deeper malloc context
# would not do: LSan suppresses a leak when *any* frame matches, and every
# walletsign stack runs through the interpreter. To see a reported leak's
# whole stack, rerun with malloc_context_size=30. Leaks of OpenSSL objects by
# the core are caught by the C suite (ASan and valgrind).
sanitize_env() {
  local dir
  dir=$(cd "$1" && pwd)
  printf 'leak:/usr/bin/python3.11\nleak:_rust.abi3.so\nleak:_cffi_backend\nleak:libcrypto.so.3\n' \
    >"$dir/lsan.supp"
  rm -f "$dir"/sanitizer.*
  export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
  export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:malloc_context_size=2:log_path=$dir/sanitizer"
  export LSAN_OPTIONS="suppressions=$dir/lsan.supp"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$dir/sanitizer"
}

# lsan_tracer_crashed DIR: true when the only sanitizer output of a run is
# LeakSanitizer's own stop-the-world tracer dying at exit ("Tracer caught
# signal 11 ... LeakSanitizer has encountered a fatal error"): a known,
# intermittent crash of the runtime (google/sanitizers#1353), not a finding.
# Any leak or error report makes it false.
lsan_tracer_crashed() {
  local dir=$1
  grep -qs 'LeakSanitizer has encountered a fatal error' "$dir"/sanitizer.* || return 1
  ! grep -qsE 'ERROR: (AddressSanitizer|LeakSanitizer: detected)|runtime error:' "$dir"/sanitizer.*
}

# sanitize_report DIR RC: print the sanitizer reports of a run that exited RC
# (a clean run leaves only tables of the suppressions used); returns non-zero
# when the run failed or a report holds an error.
sanitize_report() {
  local dir=$1 rc=$2 report
  unset LD_PRELOAD
  for report in "$dir"/sanitizer.*; do
    [ -e "$report" ] || continue
    if [ "$rc" -ne 0 ] || grep -q 'ERROR' "$report"; then
      echo "== $report"; cat "$report"; [ "$rc" -ne 0 ] || rc=1
    fi
  done
  return "$rc"
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_redis DIR: a private redis-server on 127.0.0.1 at a free port, its
# files in DIR (no persistence); sets REDIS_PORT, REDIS_PID and REDIS_URL.
# The caller stops it with stop_redis from its own EXIT trap. Never touches
# a system-wide Redis.
start_redis() {
  local dir=$1 i
  mkdir -p "$dir"
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" --daemonize no >/dev/null 2>&1 &
  REDIS_PID=$!
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  for i in $(seq 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
    kill -0 "$REDIS_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "start_redis: redis-server did not start (see $dir/redis.log)" >&2
  return 1
}

# stop_redis: stop the server start_redis started (a no-op when none runs).
stop_redis() {
  [ -n "${REDIS_PID:-}" ] || return 0
  kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
  REDIS_PID=
}
