#!/bin/bash
# valgrind memcheck over the model loader and the CPU references (no GPU: valgrind and a JIT
# Vulkan driver do not mix well, and the device code is covered by the ASan/UBSan build):
#   1. check_loader_ref  - the test networks, the fuzz model seeds and the shipped models
#                          (models/*.kwvk): load (file and memory), info, labels, whole-model
#                          CPU reference runs, truncations;
#   2. test_hostile_model files - every hostile model file (about 31,500 loads);
#   3. fuzz_model_replay - the model fuzz harness over the seeds and the saved regressions
#                          (and over a fuzzing corpus when FUZZ_CORPUS names one).
# Any memcheck error or definite/indirect/possible leak fails the step.
# Usage: tests/hostile/valgrind.sh [BUILD-DIR]   (default: build; a build without sanitizers)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
T="$B/tests/hostile"
cmake --build "$B" -j"${JOBS:-2}" --target check_loader_ref test_hostile_model fuzz_model_replay make_seeds >/dev/null
if ! command -v valgrind >/dev/null; then
  echo "valgrind.sh: valgrind is not installed (Debian: valgrind)" >&2
  exit 1
fi
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
"$T/fuzz/make_seeds" "$seeds" >/dev/null
VG=(valgrind -q --tool=memcheck --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible --track-origins=yes)
run() { # name command...
  local name=$1; shift
  local log; log=$(mktemp)
  local s0; s0=$(date +%s)
  if "${VG[@]}" "$@" >"$log" 2>&1; then
    echo "valgrind: $name clean ($(( $(date +%s) - s0 )) s): $(tail -1 "$log")"
    rm -f "$log"
  else
    cat "$log"
    echo "valgrind: $name FAILED" >&2
    rm -f "$log"
    return 1
  fi
}
extra=()
if [ -n "${FUZZ_CORPUS:-}" ]; then extra=("$FUZZ_CORPUS"); fi
models=()
if ls models/*.kwvk >/dev/null 2>&1; then models=(models); fi  # the shipped models, when present
run check_loader_ref "$T/check_loader_ref" "$seeds/model" "${models[@]}"
run "test_hostile_model files" "$T/test_hostile_model" files
run fuzz_model_replay "$T/fuzz/fuzz_model_replay" "$seeds/model" tests/fuzz/regressions/model "${extra[@]}"
