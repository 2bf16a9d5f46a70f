#!/bin/sh
# check_args.sh TOOLS_DIR MODEL - every command-line tool: --version answers with the kwvk
# version and exit 0; --help lists its options with their defaults; unknown options,
# missing values, non-numeric or out-of-range numbers and malformed shapes are refused
# with exit status 2 and a message that names the option and what was expected. None of
# these needs a Vulkan device.
set -u
bin=$1 model=$2
fails=0
# expect STATUS PATTERN CMD...: the exit status and a grep -E pattern of stdout+stderr
expect() {
  want=$1 pat=$2
  shift 2
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" != "$want" ] || ! printf '%s\n' "$out" | grep -qE -- "$pat"; then
    echo "FAIL: $* -> exit $rc (want $want), output: $out (want /$pat/)"
    fails=$((fails + 1))
  fi
}
version='\(kwvk [0-9]+\.[0-9]+\.[0-9]+'
for t in kwvk-run kwvk-classify kwvk-eval kwvk-bench; do
  expect 0 "^$t $version" "$bin/$t" --version
  expect 0 "default" "$bin/$t" --help
  expect 2 "unknown option --frobnicate" "$bin/$t" --frobnicate
  expect 2 "--device needs a value" "$bin/$t" --device
done
if [ -n "${KWVK_VIEWER:-}" ]; then
  expect 0 "^kwvk-viewer $version" "$KWVK_VIEWER" --version
  expect 0 "default" "$KWVK_VIEWER" --help
fi
if [ -n "${KWVK_PY_TOOLS:-}" ]; then
  expect 0 "^kwvk-convert $version" "$KWVK_PY_TOOLS/kwvk-convert" --version
  expect 0 "^kwvk-train $version" "$KWVK_PY_TOOLS/kwvk-train" --version
fi
# kwvk-run
expect 2 "--shape 1,1,28: four values N,C,H,W are needed" "$bin/kwvk-run" --model "$model" --input x --output y --shape 1,1,28
expect 2 "--shape 1,1,28,28,1: more than four values" "$bin/kwvk-run" --model "$model" --input x --output y --shape 1,1,28,28,1
expect 2 "--shape 1,a,28,28: N,C,H,W must be integers" "$bin/kwvk-run" --model "$model" --input x --output y --shape 1,a,28,28
expect 2 "--shape 0,1,28,28: N,C,H,W must be integers from 1" "$bin/kwvk-run" --model "$model" --input x --output y --shape 0,1,28,28
expect 2 "--repeat expects an integer from 1 to 1000000, got 'abc'" "$bin/kwvk-run" --repeat abc
expect 2 "--repeat expects an integer .*got '5x'" "$bin/kwvk-run" --repeat 5x
expect 2 "--model needs a value, got the option --input" "$bin/kwvk-run" --model --input x
expect 2 "missing --input" "$bin/kwvk-run" --model "$model"
expect 2 "unexpected argument 'stray'" "$bin/kwvk-run" stray
expect 0 "classes +10:" "$bin/kwvk-run" --info --model "$model"
expect 0 "ops +28, of which 8 KernelWarehouse convolutions" "$bin/kwvk-run" --info --model "$model"
# the warehouse sizes docs/parity.md lists for this net (KW 1x: 305,152 warehouse parameters)
expect 0 "warehouses +3 \(305152 parameters\)" "$bin/kwvk-run" --info --model "$model"
# kwvk-classify
expect 2 "--batch expects an integer from 1 to 1024, got '0'" "$bin/kwvk-classify" --batch 0 x.png
expect 2 "--top expects an integer from 1 to 16, got 'five'" "$bin/kwvk-classify" --top five x.png
expect 2 "--json and --batch need IMAGE" "$bin/kwvk-classify" --json
expect 2 "--samples and --check are for the mode without IMAGE" "$bin/kwvk-classify" --check x.png
# kwvk-eval
expect 2 "--limit expects an integer from 0 to 100000000, got 'abc'" "$bin/kwvk-eval" --limit abc
expect 2 "--batch expects an integer from 1 to 4096, got '-3'" "$bin/kwvk-eval" --batch -3
expect 2 "--reference goes with --images" "$bin/kwvk-eval" --reference r.txt
expect 2 "unexpected argument 'data'" "$bin/kwvk-eval" data
# kwvk-bench
expect 2 "--runs expects an integer" "$bin/kwvk-bench" --runs 1.5 "$model"
expect 2 "--size expects an integer" "$bin/kwvk-bench" --size big "$model"
expect 2 "--batches" "$bin/kwvk-bench" --batches 1,x "$model"
echo "$((fails == 0)) passed, $fails failed"
[ "$fails" = 0 ]
