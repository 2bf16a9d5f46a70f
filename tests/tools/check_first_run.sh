#!/bin/sh
# check_first_run.sh KWVK_RUN MODEL - the first-run notice: with an empty pipeline cache
# directory kwvk-run says "first run on DEVICE: compiling N GPU programs" (N > 0, from
# kwvk_net_stats.pipelines_created) and marks its first run as including the compilation; a
# second start with the same cache directory (kwvk_net_stats.pipeline_cache_loaded) says
# neither.
set -u
run=$1 model=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 3136 /dev/zero > "$work/x.f32" # 1 x 1 x 28 x 28 float32 zeros
fails=0
for pass in 1 2; do
  KWVK_CACHE_DIR=$work/cache "$run" --model "$model" --input "$work/x.f32" --shape 1,1,28,28 \
    --output "$work/y.f32" --repeat 2 2> "$work/err$pass" || { cat "$work/err$pass"; exit 1; }
  cat "$work/err$pass"
done
grep -qE "^kwvk-run: first run on .+: compiling [1-9][0-9]* GPU programs; later runs reuse them$" "$work/err1" ||
  { echo "FAIL: no first-run notice with an empty cache"; fails=$((fails + 1)); }
grep -q "the first run includes compiling the GPU programs" "$work/err1" ||
  { echo "FAIL: the first run's time is not marked as including compilation"; fails=$((fails + 1)); }
if grep -q "compiling" "$work/err2"; then
  echo "FAIL: the second start still announces compilation"
  fails=$((fails + 1))
fi
echo "$((fails == 0)) passed, $fails failed"
[ "$fails" = 0 ]
