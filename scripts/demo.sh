#!/usr/bin/env bash
# The main job: build walletsign and walk through the three protocols.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make --no-print-directory -s lib "$BUILD/readme_examples" >/dev/null
echo "walletsign $(grep -oE 'WSIG_VERSION "[^"]+"' csrc/include/walletsign.h | cut -d'"' -f2): signing with the three protocols"
for ex in "$BUILD"/readme_examples/*; do
  echo; echo "--- $(basename "$ex")"; "$ex"
done
