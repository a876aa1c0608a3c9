#!/usr/bin/env bash
# The docs' quoted known answers and examples agree with the code and vectors.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/docs
