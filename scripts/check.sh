#!/usr/bin/env bash
# make check: the C suite (with a private Redis, scripts/with-redis.sh) under
# ASan+UBSan (halt on error, leaks on) and under
# valgrind memcheck (0 errors, 0 definite leaks), and built with OpenSSL's
# deprecated API hidden (HMAC over EVP); the Python and Lua suites
# under ASan when their scripts support it (scripts/check-*.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0; pass=0

. scripts/lib.sh # SAN
echo "== c under ASan+UBSan"
if make --no-print-directory -s BUILD=build/asan OPT="-O1 -g" EXTRA_CFLAGS="$SAN" EXTRA_LDFLAGS="$SAN" \
     build/asan/test_c build/asan/readme_examples; then
  export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  if WSIG_TEST_SCALE=${WSIG_TEST_SCALE:-1} scripts/with-redis.sh build/asan/test_c; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
  for ex in build/asan/readme_examples/*; do
    if "$ex" >/dev/null; then pass=$((pass + 1)); else echo "FAIL $ex"; fail=$((fail + 1)); fi
  done
  unset ASAN_OPTIONS UBSAN_OPTIONS
else
  echo "ASan build failed"; fail=$((fail + 1))
fi

echo "== c under valgrind"
make --no-print-directory -s build/test_c || fail=$((fail + 1))
# The thread and fork stress groups shrink under valgrind (WSIG_TEST_SCALE).
if WSIG_TEST_SCALE=10 scripts/with-redis.sh valgrind -q --error-exitcode=99 --leak-check=full \
     --errors-for-leak-kinds=definite --show-leak-kinds=definite --trace-children=no build/test_c; then
  pass=$((pass + 1))
else
  echo "valgrind reported errors"; fail=$((fail + 1))
fi

# The core where OpenSSL's deprecated API is hidden, so csrc/hmac.c's EVP path
# is built and tested too (the runs above take its low-level SHA-256 path).
# On OpenSSL 3.0, OPENSSL_API_COMPAT=30000 alone only marks that API
# deprecated; OPENSSL_NO_DEPRECATED beside it hides the declarations.
echo "== c with OpenSSL's deprecated API hidden"
if make --no-print-directory -s BUILD=build/no-deprecated \
     EXTRA_CFLAGS="-DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED" build/no-deprecated/test_c; then
  if scripts/with-redis.sh build/no-deprecated/test_c; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
else
  echo "build without OpenSSL's deprecated API failed"; fail=$((fail + 1))
fi

for extra in scripts/check-*.sh; do
  [ -x "$extra" ] || continue
  echo "== $extra"
  if "$extra"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done

echo "check: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
