#!/usr/bin/env bash
# The second README command: the same set-up, then the whole test suite
# through ctest twice: a gcc build with -Werror, and a clang build under
# AddressSanitizer + UndefinedBehaviorSanitizer that also runs every libFuzzer
# harness for a bounded time (FUZZ_SECONDS, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh

echo "== build (gcc, -Werror)"
./deploy/build.sh build -DFIDUCIA_WERROR=ON -DFIDUCIA_TEST_HOOKS=ON
echo "== tests"
(cd build && ctest --output-on-failure -j2)

echo "== build (clang, ASan + UBSan + libFuzzer)"
CC=clang ./deploy/build.sh build-asan -DFIDUCIA_WERROR=ON -DFIDUCIA_TEST_HOOKS=ON -DFIDUCIA_SANITIZE=ON \
	-DFIDUCIA_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug -DFUZZ_SECONDS="${FUZZ_SECONDS:-20}"
echo "== tests under ASan + UBSan, fuzzers included"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j2)
echo "== all tests passed"
