#!/usr/bin/env bash
# The main job (`make demo`, after `make deps`): build what the demo needs,
# start the mock server of tests/mock_server, and walk through the three APIs
# end to end with the CLI, Python and Lua (scripts in demo/):
#   0. build: CLI, README C examples, Python module (build/venv), Lua module
#   1. a P-256 key and CSR made with the CLI, the CSR registered with the mock
#   2. a Halogen query, command and typed error from Python, Lua and the CLI
#   3. an HMAC wallet list (Python)
#   4. a Wallet Manager get_address, the signed answer verified (Python)
#   5. signed deposit_status callbacks to a merchant (demo/merchant.py):
#      accepted, replayed (refused), tampered (refused)
#   6. stop everything it started (also on failure or Ctrl-C: trap on EXIT)
# Each check prints one "✔ " or "✘ " line (scripts/test-demo.sh counts them).
# A failed section is reported and the demo goes on with the next one; the exit
# status is non-zero if anything failed. No secret is printed: the mock's
# startup line (HMAC secret, merchant key) stays in a 0700 temp dir.
#   DEMO_LUA=luajit|lua54 (default luajit), BUILD=dir (default build)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ABS_BUILD=$BUILD ;; *) ABS_BUILD=$ROOT/$BUILD ;; esac
export BUILD
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in demo/
DEMO_LUA=${DEMO_LUA:-luajit}
PY=$ABS_BUILD/venv/bin/python
WALLETSIGN=$ABS_BUILD/walletsign
STEP_TIMEOUT=60

SECONDS=0
passed=0; failed=0; failed_sections=()
MOCK_PID=""; MERCHANT_PID=""; BUILD_JOBS=()
TMP=$(mktemp -d "${TMPDIR:-/tmp}/walletsign-demo.XXXXXX") || { echo "✘ cannot make a temp dir"; exit 1; }

stop() { # stop PID: SIGTERM, then SIGKILL after 5 s
  local pid=$1 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}
cleanup() {
  local job
  for job in "${BUILD_JOBS[@]}"; do kill -TERM -- "-$job" 2>/dev/null; done
  stop "$MERCHANT_PID"; MERCHANT_PID=""
  stop "$MOCK_PID"; MOCK_PID=""
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo; echo "✘ interrupted"; exit 130' INT
trap 'echo "✘ terminated"; exit 143' TERM

# -- output
section() { printf '\n━━ %s\n' "$*"; }
sub() { printf '  ▸ %s\n' "$*"; }
say() { printf '  %s\n' "$*"; }
pass() { printf '✔ %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf '✘ %s\n' "$*"; failed=$((failed + 1)); }
section_failed() { failed_sections+=("$1"); }
# fatal MESSAGE [LOG]: nothing after this step can run.
fatal() {
  fail "$1"
  if [ -n "${2:-}" ] && [ -s "$2" ]; then echo "  last lines of $(basename "$2"):"; tail -n 25 "$2" | sed 's/^/    /'; fi
  printf '\ndemo FAILED after %ss: %s\n' "$SECONDS" "$1"
  exit 1
}

# run LABEL CMD...: run one demo script (bounded in time), show its output,
# count its ✔/✘ lines; a non-zero exit without a ✘ line is reported here.
run() {
  local label=$1; shift
  local out=$TMP/step.out rc p f
  # --foreground: a Ctrl-C reaches the script at once.
  timeout --foreground "$STEP_TIMEOUT" "$@" >"$out" 2>&1; rc=$?
  cat "$out"
  p=$(grep -c '^✔ ' "$out"); f=$(grep -c '^✘ ' "$out")
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$rc" -ne 0 ]; then
    if [ "$f" -eq 0 ]; then
      if [ "$rc" -eq 124 ]; then fail "$label: no answer within ${STEP_TIMEOUT}s"
      else fail "$label: exited with status $rc"; fi
    fi
    return 1
  fi
  [ "$p" -gt 0 ] || { fail "$label: printed no result"; return 1; }
}

# json FILE KEY: one field of a JSON object (no jq on a fresh machine).
json() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# wait_line FILE PID SECONDS: wait until a background process has printed its
# JSON line into FILE (and is still alive).
wait_line() {
  local file=$1 pid=$2 i
  for i in $(seq $(($3 * 10))); do
    kill -0 "$pid" 2>/dev/null || return 1
    if [ -s "$file" ] && head -n 1 "$file" | /usr/bin/python3 -c 'import json,sys; json.loads(sys.stdin.readline())' 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

echo "walletsign demo: sign, send and verify with the three protocols (jwt, hmac, message)"
echo "against the local mock server of Halogen, the HMAC wallet API and the Wallet Manager."

# ---------------------------------------------------------------- 0. build
section "0. Build"
say "make: the C library, the CLI ($BUILD/walletsign) and the README's C examples"
make --no-print-directory -s lib "$BUILD/walletsign" "$BUILD/readme_examples" >"$TMP/make.log" 2>&1 ||
  fatal "make failed" "$TMP/make.log"
pass "C library and CLI built: $("$WALLETSIGN" --version)"

say "Python module → $BUILD/venv (scripts/build-python.sh) and Lua module → $BUILD/$DEMO_LUA (scripts/build-lua.sh), in parallel"
# Each build in its own process group (set -m), so that cleanup can stop it whole.
set -m
( s=$SECONDS; scripts/build-python.sh >"$TMP/build-python.log" 2>&1; echo "$? $((SECONDS - s))" >"$TMP/build-python.rc" ) &
BUILD_JOBS=($!)
( s=$SECONDS; scripts/build-lua.sh "$DEMO_LUA" >"$TMP/build-lua.log" 2>&1; echo "$? $((SECONDS - s))" >"$TMP/build-lua.rc" ) &
BUILD_JOBS+=($!)
set +m
wait "${BUILD_JOBS[@]}"
BUILD_JOBS=()
read -r py_rc py_s <"$TMP/build-python.rc" || py_rc=1
read -r lua_rc lua_s <"$TMP/build-lua.rc" || lua_rc=1
[ "$py_rc" -eq 0 ] || fatal "the Python module did not build (scripts/build-python.sh)" "$TMP/build-python.log"
py_version=$("$PY" -c 'import walletsign; print(walletsign.__version__)' 2>"$TMP/import.log") ||
  fatal "the Python module does not import" "$TMP/import.log"
pass "Python module walletsign $py_version built and importable ($("$PY" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])'), ${py_s}s)"

case $DEMO_LUA in
  luajit) LUA=luajit; LUA_V=5.1 ;;
  lua54) LUA=lua5.4; LUA_V=5.4 ;;
  *) fatal "DEMO_LUA must be luajit or lua54, not '$DEMO_LUA'" ;;
esac
[ "$lua_rc" -eq 0 ] || fatal "the Lua module did not build (scripts/build-lua.sh $DEMO_LUA)" "$TMP/build-lua.log"
LUA_ENV=(LUA_PATH="$ABS_BUILD/$DEMO_LUA/share/lua/$LUA_V/?.lua;$ABS_BUILD/$DEMO_LUA/share/lua/$LUA_V/?/init.lua;;"
         LUA_CPATH="$ABS_BUILD/$DEMO_LUA/lib/lua/$LUA_V/?.so;;")
lua_version=$(env "${LUA_ENV[@]}" "$LUA" -e 'print((jit and jit.version or _VERSION) .. ", walletsign " .. require("walletsign").version)' 2>"$TMP/import.log") ||
  fatal "the Lua module does not load in $LUA" "$TMP/import.log"
pass "Lua module built and loadable ($lua_version, ${lua_s}s)"

sub "the README's C examples (compiled against $BUILD/libwalletsign.a)"
for ex in "$BUILD"/readme_examples/*; do
  if out=$(timeout --foreground "$STEP_TIMEOUT" "$ex" 2>&1); then
    pass "C example $(basename "$ex"): $(printf '%s\n' "$out" | tail -n 1)"
  else
    fail "C example $(basename "$ex") exited with status $?"; section_failed "0 (README C examples)"
  fi
done

# ---------------------------------------------------------------- mock server
section "Mock server (tests/mock_server)"
say "/usr/bin/python3 -m tests.mock_server --port 0: Halogen, the HMAC API and the Wallet Manager on 127.0.0.1"
/usr/bin/python3 -m tests.mock_server --port 0 >"$TMP/mock.json" 2>"$TMP/mock.log" &
MOCK_PID=$!
wait_line "$TMP/mock.json" "$MOCK_PID" 20 || fatal "the mock server did not start" "$TMP/mock.log"
chmod 600 "$TMP/mock.json"       # its startup line holds the HMAC secret and the merchant key
URL=$(json "$TMP/mock.json" url)
WM_ADDRESS=$(json "$TMP/mock.json" wallet_manager_address)
pass "mock server up at $URL (pid $MOCK_PID); Wallet Manager address $WM_ADDRESS"
export WALLETSIGN_BASE_URL=$URL DEMO_MOCK_INFO=$TMP/mock.json

# ---------------------------------------------------------------- 1. key + CSR
section "1. A Halogen API key: P-256 key and CSR (CLI), registered with the mock"
KEY_DIR=$TMP/keys
KEY_ID=""
section1() {
  say "walletsign keygen p256 --out \$TMP/keys (replaces the openssl commands of Halogen's docs)"
  "$WALLETSIGN" keygen p256 --out "$KEY_DIR" >"$TMP/keygen.log" 2>&1 ||
    { fail "walletsign keygen p256 exited with status $?: $(head -n 3 "$TMP/keygen.log")"; return 1; }
  local mode
  mode=$(stat -c %a "$KEY_DIR/ec_private_key.pem" 2>/dev/null)
  [ "$mode" = 600 ] && [ -s "$KEY_DIR/ec_csr.pem" ] && [ -s "$KEY_DIR/ec_public_key.pem" ] ||
    { fail "keygen: expected ec_private_key.pem (mode 600), ec_public_key.pem and ec_csr.pem"; return 1; }
  pass "wrote ec_private_key.pem (mode $mode, never printed), ec_public_key.pem, ec_csr.pem"
  local subject
  subject=$(openssl req -in "$KEY_DIR/ec_csr.pem" -noout -verify -subject -nameopt compat 2>/dev/null | sed -n 's/^subject=//p')
  [ -n "$subject" ] || { fail "openssl cannot read or verify the CSR"; return 1; }
  pass "the CSR's self-signature verifies (openssl req -verify); subject $subject"
  say "POST /_mock/halogen/register with the CSR (what pasting it into Settings → API Keys does)"
  curl -sS -f -m 15 -H 'Content-Type: application/x-pem-file' --data-binary @"$KEY_DIR/ec_csr.pem" \
       "$URL/_mock/halogen/register" >"$TMP/register.json" 2>"$TMP/register.log" ||
    { fail "registering the CSR failed: $(head -c 300 "$TMP/register.log")"; return 1; }
  KEY_ID=$(json "$TMP/register.json" key_id) && [ -n "$KEY_ID" ] ||
    { fail "the mock's answer has no key_id"; return 1; }
  pass "registered: key_id $KEY_ID ($(json "$TMP/register.json" alg), scope $(json "$TMP/register.json" scope))"
}
section1 || section_failed "1 (key and CSR)"

# ---------------------------------------------------------------- 2. Halogen
section "2. Halogen Wallet API (jwt): a query, a command and a typed error"
if [ -z "$KEY_ID" ]; then
  fail "skipped: no registered key (section 1 failed)"; section_failed "2 (Halogen)"
else
  export HALOGEN_WALLET_KEY_ID=$KEY_ID HALOGEN_WALLET_PRIVATE_KEY_PATH=$KEY_DIR/ec_private_key.pem
  say "every request carries a fresh ES256 bearer token bound to its path and body hash"
  sub "Python: demo/halogen.py (walletsign.Client + JwtAuth)"
  run "demo/halogen.py" "$PY" demo/halogen.py || section_failed "2 (Halogen, Python)"
  sub "Lua: demo/halogen.lua (ws.client + ws.jwt_auth, $LUA)"
  run "demo/halogen.lua" env "${LUA_ENV[@]}" "$LUA" demo/halogen.lua || section_failed "2 (Halogen, Lua)"
  sub "CLI: demo/halogen-cli.sh (walletsign query / command, credentials from the environment)"
  run "demo/halogen-cli.sh" demo/halogen-cli.sh "$WALLETSIGN" || section_failed "2 (Halogen, CLI)"
fi

# ---------------------------------------------------------------- 3. HMAC
section "3. API key + HMAC (hmac): list wallets"
say "demo/hmac_wallets.py: the mock's default api key; x-signature = HMAC-SHA256(secret, timestamp|method|path|body)"
run "demo/hmac_wallets.py" "$PY" demo/hmac_wallets.py || section_failed "3 (HMAC)"

# ---------------------------------------------------------------- 4. Wallet Manager
section "4. Wallet Manager (message): get_address, the signed answer verified"
say "demo/wallet_manager.py: request signed with the merchant's secp256k1 key, response_verifier trusting the Wallet Manager"
run "demo/wallet_manager.py" "$PY" demo/wallet_manager.py || section_failed "4 (Wallet Manager)"

# ---------------------------------------------------------------- 5. callbacks
section "5. Signed callbacks: the Wallet Manager → a merchant"
section5() {
  say "demo/merchant.py: http.server on 127.0.0.1, one walletsign.MessageVerifier trusting $WM_ADDRESS"
  "$PY" demo/merchant.py --trusted "$WM_ADDRESS" >"$TMP/merchant.json" 2>"$TMP/merchant.log" &
  MERCHANT_PID=$!
  wait_line "$TMP/merchant.json" "$MERCHANT_PID" 20 ||
    { fail "the merchant did not start: $(tail -n 5 "$TMP/merchant.log")"; return 1; }
  export DEMO_MERCHANT_URL
  DEMO_MERCHANT_URL=$(json "$TMP/merchant.json" url)
  pass "merchant listening at $DEMO_MERCHANT_URL (pid $MERCHANT_PID)"
  say "demo/callbacks.py: POST /_mock/wm/callback makes the mock sign and deliver a deposit_status callback"
  local rc=0
  run "demo/callbacks.py" "$PY" demo/callbacks.py || rc=1
  say "the merchant's log:"
  sed 's/^/    /' "$TMP/merchant.log"
  return $rc
}
section5 || section_failed "5 (callbacks)"

# ---------------------------------------------------------------- 6. stop
section "6. Clean up"
stop "$MERCHANT_PID"; m=$MERCHANT_PID; MERCHANT_PID=""
stop "$MOCK_PID"; k=$MOCK_PID; MOCK_PID=""
if { [ -z "$m" ] || ! kill -0 "$m" 2>/dev/null; } && ! kill -0 "$k" 2>/dev/null; then
  pass "stopped the mock server${m:+ and the merchant}; the temp dir (keys, mock startup line) is removed on exit"
else
  fail "a demo process is still running"; section_failed "6 (clean up)"
fi

echo
if [ "$failed" -eq 0 ] && [ ${#failed_sections[@]} -eq 0 ]; then
  echo "demo OK: all $passed checks passed in ${SECONDS}s"
  exit 0
fi
where="see the ✘ lines above"
[ ${#failed_sections[@]} -eq 0 ] || where="section $(IFS=,; echo "${failed_sections[*]}" | sed 's/,/, section /g')"
echo "demo FAILED in ${SECONDS}s: $where ($passed checks passed, $failed did not)"
exit 1
