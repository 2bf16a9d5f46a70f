#!/bin/bash
# viewer_errors.sh FIXTURE_DIR - kwvk-viewer's failures: each must print exactly one line to
# stderr naming the problem and exit with status 1 (2 for a usage error, as every kwvk tool;
# not a signal, not a crash, nothing on stdout). No display, no camera, a node that is not a camera, an image that does not decode,
# a model that does not load, a bad option, and the GPU device lost in the middle of the frame
# loop (simulated: KWVK_VIEWER_FAULT=device_lost@N makes frame N's submission report
# VK_ERROR_DEVICE_LOST; a real loss takes the same path).
set -uo pipefail
DIR=$1
: "${VW_VIEWER:?}" "${VW_OUT:?}"
if [ -z "${VW_INNER:-}" ]; then # run again inside a private Xvfb
  export VW_INNER=1
  exec bash "$(dirname "$0")/with_xvfb.sh" bash "$0" "$@"
fi
OUT=$VW_OUT/errors
mkdir -p "$OUT"
FAILED=0
M=$DIR/grey28.kwvk
IMG=$DIR/grey/sample_0.png

expect() { # NAME REGEX -- command...   (exit status 1, or $RC)
  local name=$1 re=$2 want=${RC:-1}
  shift 3
  timeout 120 "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
  local rc=$?
  local lines
  lines=$(wc -l <"$OUT/$name.err")
  if [ $rc -ne "$want" ] || [ "$lines" -ne 1 ] || ! grep -qE "^kwvk-viewer: .*$re" "$OUT/$name.err" || [ -s "$OUT/$name.out" ]; then
    echo "FAIL $name: exit $rc, $lines stderr line(s), expected one line matching /$re/ and exit $want:"
    cat "$OUT/$name.err" "$OUT/$name.out"
    FAILED=$((FAILED + 1))
  else
    echo "  $name: $(cat "$OUT/$name.err")"
  fi
}

V=("$VW_VIEWER" --model "$M")
expect no_display "no display" -- env -u DISPLAY -u WAYLAND_DISPLAY "${V[@]}" --image "$IMG"
expect no_camera "no camera: /dev/video-kwvk-none does not exist" -- "${V[@]}" --camera /dev/video-kwvk-none
expect not_a_camera "/dev/null is not a V4L2 camera" -- "${V[@]}" --camera /dev/null
expect regular_file "is not a camera" -- "${V[@]}" --camera "$M"
expect bad_image "cannot decode" -- "${V[@]}" --image "$M"
expect missing_image "cannot open" -- "${V[@]}" --image "$DIR/none.png"
expect empty_dir "no images" -- "${V[@]}" --dir "$OUT"
expect bad_model "cannot load the model" -- "$VW_VIEWER" --model "$IMG" --image "$IMG"
RC=2 expect bad_option "unknown option --frobnicate" -- "${V[@]}" --frobnicate 1
RC=2 expect bad_size "--size wants WxH" -- "${V[@]}" --size 0x0
RC=2 expect missing_value "--device needs a value" -- "${V[@]}" --device
RC=2 expect bad_frames "--frames expects an integer" -- "${V[@]}" --frames abc
expect lost_in_loop "GPU device was lost" -- env KWVK_VIEWER_FAULT=device_lost@3 "${V[@]}" --validation --image "$IMG" --frames 10

if [ $FAILED -ne 0 ]; then
  echo "viewer_errors: $FAILED failure(s)"
  exit 1
fi
echo "viewer_errors: all failures reported cleanly"
