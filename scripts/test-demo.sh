#!/usr/bin/env bash
# The demo as a test suite (run by scripts/run-tests.sh as suite "demo"):
# runs scripts/demo.sh with its output captured and shown, counts its checks
# ("✔ " / "✘ " lines), and checks that nothing secret reached the output:
# none of the test vectors' secrets (scripts/grep-secrets.py; the mock's
# default HMAC secret is one of them), no PEM private key, no 64-hex-digit
# string (a raw secp256k1 key such as the mock's merchant key).
# Last line: "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
out=$(mktemp); chk=$(mktemp); trap 'rm -f "$out" "$chk"' EXIT

timeout 600 scripts/demo.sh >"$out" 2>&1
rc=$?
cat "$out"
echo
echo "-- test-demo: checking the demo's output"
p=$(grep -c '^✔ ' "$out"); f=$(grep -c '^✘ ' "$out")
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
  echo "FAIL scripts/demo.sh exited with status $rc without a ✘ line"; f=$((f + 1))
fi
if [ "$rc" -eq 0 ] && ! tail -n 1 "$out" | grep -q '^demo OK: '; then
  echo "FAIL scripts/demo.sh exited 0 without its closing 'demo OK' line"; f=$((f + 1))
fi

if /usr/bin/python3 scripts/grep-secrets.py "$out" >"$chk" 2>&1; then
  p=$((p + 1)); echo "ok   no test vector secret in the output ($(tail -n 1 "$chk" | grep -oE '^[0-9]+') secrets checked)"
else
  f=$((f + 1)); grep -v -E '^[0-9]+ passed' "$chk" | sed 's/^/FAIL /'
fi
if grep -q 'PRIVATE KEY' "$out"; then
  f=$((f + 1)); echo "FAIL a PEM private key marker appears in the output"
else
  p=$((p + 1)); echo "ok   no PEM private key in the output"
fi
if grep -qE '(^|[^0-9a-fA-Fx])(0x)?[0-9a-fA-F]{64}([^0-9a-fA-F]|$)' "$out"; then
  f=$((f + 1)); echo "FAIL a 64-hex-digit string (a raw private key?) appears in the output"
else
  p=$((p + 1)); echo "ok   no 64-hex-digit string in the output"
fi

echo "$p passed, $f failed"
[ "$f" -eq 0 ] && [ "$rc" -eq 0 ] && [ "$p" -gt 0 ]
