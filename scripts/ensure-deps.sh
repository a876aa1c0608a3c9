#!/usr/bin/env bash
# Install the Debian packages walletsign builds and tests with, only when missing.
set -euo pipefail
PKGS=(build-essential pkg-config libssl-dev libcurl4-openssl-dev libcjson-dev libsecp256k1-dev
      python3-dev python3-setuptools python3-wheel python3-pytest python3-jwt python3-cryptography
      python3-ecdsa python3-pycryptodome python3-venv python3-pip
      lua5.4 liblua5.4-dev luarocks lua-busted luajit2 libluajit2-5.1-dev
      nginx libnginx-mod-http-lua valgrind clang libclang-rt-14-dev openssl curl
      python3-requests python3-httpx
      redis-server libhiredis-dev python3-redis gunicorn lua-nginx-redis
      python3-tqdm python3-pandas python3-matplotlib python3-ipykernel jupyter-nbconvert jupyter-client)
# `--bench`: the peers the benchmarks compare against.
[ "${1:-}" = "--bench" ] && PKGS+=(lua-luaossl python3-pycurl hyperfine wrk)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "ensure-deps: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
