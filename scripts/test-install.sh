#!/usr/bin/env bash
# The README's two offline installs, each into a fresh venv from a fresh copy
# of the sources: `pip install --no-build-isolation .` and the editable
# `pip install --no-build-isolation -e .`. Each installed package is imported
# from outside the source tree and must sign an HMAC request exactly as
# Python's hmac + base64 do. Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
BUILD=${BUILD:-build}
ROOT="$PWD/$BUILD/install-test"
pass=0; fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

# The installed package signs like the reference, and comes from where the
# install form says it should (site-packages, or the source copy when editable).
check_import() { # check_import NAME VENV EXPECTED_DIR
  local name=$1 venv=$2 where=$3 out
  if out=$(cd / && "$venv/bin/python" - "$where" 2>&1 <<'EOF'
import base64, hashlib, hmac, os, sys
import walletsign as ws
where = os.path.realpath(sys.argv[1])
assert os.path.realpath(ws.__file__).startswith(where + os.sep), (ws.__file__, where)
pkg = os.path.dirname(ws.__file__)
assert os.path.exists(os.path.join(pkg, "py.typed")), "py.typed missing"
assert os.path.exists(os.path.join(pkg, "__init__.pyi")), "__init__.pyi missing"
h = ws.HmacAuth("key", "secret").sign("post", "/query", b"{}", timestamp=1700000000000)
mac = hmac.new(b"secret", b"1700000000000|POST|/query|{}", hashlib.sha256).digest()
assert h == {"x-api-key": "key", "x-timestamp": "1700000000000",
             "x-signature": base64.b64encode(mac).decode()}, h
print("signed from", ws.__file__)
EOF
  ); then ok "$name: $out"; else bad "$name"; echo "$out" | sed 's/^/     /'; fi
}

install_one() { # install_one NAME PIP_ARGS...
  local name=$1; shift
  local src="$ROOT/$name/src" venv="$ROOT/$name/venv" log="$ROOT/$name/pip.log"
  rm -rf "$ROOT/$name"
  copy_python_tree "$src"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  if (cd "$src" && "$venv/bin/pip" install --no-build-isolation --disable-pip-version-check \
        "$@" >"$log" 2>&1); then
    ok "$name: pip install $*"
  else
    bad "$name: pip install $*"; tail -20 "$log" | sed 's/^/     /'; return
  fi
  if [ "$name" = editable ]; then
    check_import "$name" "$venv" "$src"
  else
    check_import "$name" "$venv" "$venv"
  fi
}

install_one regular .
install_one editable -e .
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
