#!/bin/bash
# ThreadSanitizer build (clang) of the thread test, run with the validation layer on:
# two nets on one context from two threads (with a third thread reading the context's
# counters), two nets of one model, jobs of one net in flight from two threads, one context
# per thread, mixed contexts. No suppressions:
# any report fails the step (TSAN exit code 66). Mesa's shader disk cache is off here: its
# writer threads ("disk$0", "disk$1") sync through a pthread barrier that TSan, which does
# not instrument Mesa, now and then reports as a race between barrier_wait and
# barrier_destroy inside libvulkan_lvp.so (seen once in a fresh-clone CI run). That thread
# pool is Mesa's, not kwvk's; without it the run compiles every program itself (~12 s
# instead of ~3 s) and has only kwvk's threads and lavapipe's own.
# Usage: tests/hostile/tsan.sh [ITER]   env: TSAN_BUILD (build-tsan), JOBS, TSAN_WERROR (ON)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${TSAN_BUILD:-build-tsan}
if ! command -v clang >/dev/null; then
  echo "tsan.sh: clang is not installed (Debian: clang libclang-rt-14-dev)" >&2
  exit 1
fi
cmake -S . -B "$B" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKWVK_BUILD_TOOLS=OFF \
  -DKWVK_BUILD_VIEWER=OFF -DKWVK_WERROR="${TSAN_WERROR:-ON}" \
  -DCMAKE_C_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
  -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread >/dev/null
cmake --build "$B" -j"${JOBS:-2}" --target test_threads
MESA_SHADER_CACHE_DISABLE=true TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" KWVK_QUIET=0 \
  "$B/tests/hostile/test_threads" "${1:-12}"
