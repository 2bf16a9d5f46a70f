#!/bin/bash
# viewer_xvfb.sh MODE DIR - kwvk-viewer under Xvfb on the Vulkan device (lavapipe in CI), with
# the validation layer (any message fails): for each known image, the viewer runs a few frames
# in test mode (--frames N --screenshot), and vw_check_screenshot reads the screenshot back:
# the frame must be there pixel for pixel, and the overlay's top-1 label and confidence must
# be what kwvk-classify prints for the same image and model.
#   MODE fixtures: DIR from make_test_models.py (grey, RGB resize+crop, straight resize,
#                  1000 classes; slideshow, model switching, pause, resize, s key, pattern)
#   MODE shipped:  DIR = the repository's models/: fmnist_kw1x.kwvk and samples/*.png, and
#                  the README's command (no arguments: default model, sample slideshow)
#   MODE shared:   DIR as for fixtures; VW_VIEWER is the viewer linked against the shared
#                  libkwvk (VW_LIBKWVK): the library exports no Vulkan symbol (nm -D), the
#                  viewer loads it, and a grey, an RGB, a resize and a model-switch case pass
# Environment: VW_VIEWER, VW_CLASSIFY, VW_CHECK (binaries), VW_OUT (output directory).
set -uo pipefail # not -e: every case runs, failures are counted
MODE=$1
DIR=$2
: "${VW_VIEWER:?}" "${VW_CLASSIFY:?}" "${VW_CHECK:?}" "${VW_OUT:?}"

if [ -z "${VW_INNER:-}" ]; then # run again inside a private Xvfb
  export VW_INNER=1
  exec bash "$(dirname "$0")/with_xvfb.sh" bash "$0" "$@"
fi

OUT=$VW_OUT/$MODE
rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"
FAILED=0
RUNS=0

# classify IMAGE MODEL -> sets CLS, PCT, DEVICE (kwvk-classify's top-1 for the image)
classify() {
  local log info
  # results on stdout; "kwvk-classify: model M (...) on DEVICE; N image(s) ..." on stderr
  log=$("$VW_CLASSIFY" --validation --model "$2" "$1" 2>"$OUT/classify.err")
  info=$(cat "$OUT/classify.err")
  DEVICE=$(printf '%s\n' "$info" | sed -n 's/^kwvk-classify: model .* on \(.*\); [0-9]* image(s).*/\1/p' | head -n1)
  local line
  line=$(printf '%s\n' "$log" | grep -m1 -E '\(class [0-9]+\)$')
  PCT=$(printf '%s\n' "$line" | awk '{print $1}' | tr -d '%')
  CLS=$(printf '%s\n' "$line" | sed -E 's/.*\(class ([0-9]+)\)$/\1/')
  [ -n "$DEVICE" ] && [ -n "$PCT" ] && [ -n "$CLS" ] || { echo "cannot parse kwvk-classify's output:"; echo "$info"; echo "$log"; return 1; }
}

# view NAME -- VIEWER_ARGS... : run the viewer, its screenshot is $OUT/NAME.png
view() {
  local name=$1
  shift 2
  local t0=$SECONDS
  RUNS=$((RUNS + 1))
  if ! timeout 120 "$VW_VIEWER" --validation --size 800x600 --screenshot "$OUT/$name.png" "$@" >"$OUT/$name.log" 2>&1; then
    echo "FAIL $name: kwvk-viewer $* exited with an error:"
    cat "$OUT/$name.log"
    FAILED=$((FAILED + 1))
    return 1
  fi
  echo "  $name: $(tail -n1 "$OUT/$name.log") [$((SECONDS - t0)) s]"
}

# check NAME MODEL IMAGE|-- [checker args...]
check() {
  local name=$1 model=$2 image=$3
  shift 3
  local src=(--image "$image")
  [ "$image" = "--" ] && src=(--no-frame)
  if ! "$VW_CHECK" --screenshot "$OUT/$name.png" --model "$model" --class "$CLS" --pct "$PCT" \
      --device "$DEVICE" "${src[@]}" "$@" >"$OUT/$name.check" 2>&1; then
    echo "FAIL $name: the screenshot does not show what kwvk-classify says (class $CLS, $PCT%):"
    cat "$OUT/$name.check"
    FAILED=$((FAILED + 1))
    return 1
  fi
}

# one image, one model: classify, view, check
case_image() { # NAME MODEL IMAGE [viewer args]
  local name=$1 model=$2 image=$3
  shift 3
  classify "$image" "$model" || { FAILED=$((FAILED + 1)); return; }
  view "$name" -- --model "$model" --image "$image" --frames 3 "$@" || return
  check "$name" "$model" "$image" --line3 "$(basename "${model%.kwvk}")  $(basename "$image")"
}

if [ "$MODE" = fixtures ]; then
  for img in "$DIR"/grey/*.png; do
    case_image "grey28_$(basename "${img%.png}")" "$DIR/grey28.kwvk" "$img"
  done
  case_image rgb_crop_0 "$DIR/rgb_crop.kwvk" "$DIR/rgb/picture_0_64x48.png"
  case_image rgb_crop_3 "$DIR/rgb_crop.kwvk" "$DIR/rgb/picture_3_640x480.png"
  case_image rgb_direct_2 "$DIR/rgb_direct.kwvk" "$DIR/rgb/picture_2_37x53.png"
  case_image wide1000_1 "$DIR/wide1000.kwvk" "$DIR/rgb/picture_1_300x200.png"

  # slideshow with a new image every frame: frame 5 shows the 2nd of 4 sorted images
  imgs=("$DIR"/grey/*.png)
  classify "${imgs[1]}" "$DIR/grey28.kwvk" && view slideshow -- --model "$DIR/grey28.kwvk" --dir "$DIR/grey" \
    --interval 0 --frames 6 && check slideshow "$DIR/grey28.kwvk" "${imgs[1]}"

  # m switches to the second model (fresh networks for both frames in flight)
  img=$DIR/rgb/picture_0_64x48.png
  classify "$img" "$DIR/rgb_crop.kwvk" && view switch -- --model "$DIR/grey28.kwvk" --model "$DIR/rgb_crop.kwvk" \
    --image "$img" --key 2:m --frames 5 && check switch "$DIR/rgb_crop.kwvk" "$img" --line3 "rgb_crop  "

  # space pauses; the overlay says so and the last result stays on screen
  img=${imgs[2]}
  classify "$img" "$DIR/grey28.kwvk" && view pause -- --model "$DIR/grey28.kwvk" --image "$img" --key 2:space \
    --frames 5 && check pause "$DIR/grey28.kwvk" "$img" --paused

  # a window resize recreates the swapchain; the screenshot has the new size
  classify "$img" "$DIR/grey28.kwvk" && view resize -- --model "$DIR/grey28.kwvk" --image "$img" \
    --key 2:resize=640x400 --frames 8 && check resize "$DIR/grey28.kwvk" "$img"
  if [ -f resize.png ] && ! grep -q "(640x400)" resize.log; then
    echo "FAIL resize: the screenshot is not 640x400 after the resize: $(grep screenshot resize.log)"
    FAILED=$((FAILED + 1))
  fi

  # the s key writes a screenshot of its own (into the working directory)
  mkdir -p skey && (cd skey && timeout 120 "$VW_VIEWER" --validation --size 640x400 --model "$DIR/grey28.kwvk" --image "$img" \
    --key 1:s --frames 4 >skey.log 2>&1) && ls skey/kwvk-viewer-*.png >/dev/null 2>&1 \
    || { echo "FAIL skey: no screenshot from the s key"; cat skey/skey.log; FAILED=$((FAILED + 1)); }
  RUNS=$((RUNS + 1))

  # the test pattern (YUYV, converted on the GPU): overlay checked against the viewer's own
  # printed top-1 (no file to classify)
  if view pattern -- --model "$DIR/rgb_crop.kwvk" --pattern --frames 4; then
    line=$(tail -n1 pattern.log)
    PCT=$(printf '%s\n' "$line" | sed -E 's/^[^:]*: ([0-9.]+)% .*/\1/')
    CLS=$(printf '%s\n' "$line" | sed -E 's/^[^(]*\(class ([0-9]+)\).*/\1/')
    check pattern "$DIR/rgb_crop.kwvk" -- --line3 "rgb_crop  test pattern"
  fi
elif [ "$MODE" = shipped ]; then
  MODEL=$DIR/fmnist_kw1x.kwvk
  [ -f "$MODEL" ] || { echo "FAIL: the shipped model $MODEL is missing"; exit 1; }
  samples=("$DIR"/samples/*.png)
  [ -f "${samples[0]}" ] || { echo "FAIL: no sample images in $DIR/samples"; exit 1; }
  n=0
  for img in "${samples[@]}"; do
    case_image "shipped_$(basename "${img%.png}")" "$MODEL" "$img"
    n=$((n + 1))
    [ $n -ge 4 ] && break
  done
  # the README's command: no arguments (default model, slideshow of models/samples); a long
  # interval keeps the first sample on screen for the check
  classify "${samples[0]}" "$MODEL" && view readme -- --interval 1000 --frames 3 && \
    check readme "$MODEL" "${samples[0]}" --line3 "fmnist_kw1x  $(basename "${samples[0]}")"
elif [ "$MODE" = shared ]; then
  : "${VW_LIBKWVK:?}"
  # the shared library exports the kwvk API and nothing of Vulkan (its volk copy stays inside)
  syms=$(nm -D --defined-only "$VW_LIBKWVK" | awk '{print $NF}')
  if ! printf '%s\n' "$syms" | grep -qx kwvk_context_vulkan_handles; then
    echo "FAIL: nm -D $VW_LIBKWVK does not list kwvk_context_vulkan_handles"
    FAILED=$((FAILED + 1))
  fi
  vk=$(printf '%s\n' "$syms" | grep -E '^(vk|volk)' | head -n 5)
  if [ -n "$vk" ]; then
    echo "FAIL: $VW_LIBKWVK exports Vulkan symbols: $vk"
    FAILED=$((FAILED + 1))
  fi
  # the viewer needs the shared libkwvk and no Vulkan loader of its own
  needed=$(readelf -d "$VW_VIEWER" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  if ! printf '%s\n' "$needed" | grep -q '^libkwvk\.so'; then
    echo "FAIL: $VW_VIEWER does not link the shared libkwvk (NEEDED: $(echo $needed))"
    FAILED=$((FAILED + 1))
  fi
  if printf '%s\n' "$needed" | grep -q '^libvulkan'; then
    echo "FAIL: $VW_VIEWER links a Vulkan loader itself (NEEDED: $(echo $needed))"
    FAILED=$((FAILED + 1))
  fi
  imgs=("$DIR"/grey/*.png)
  case_image shared_grey28 "$DIR/grey28.kwvk" "${imgs[0]}"
  case_image shared_rgb_crop "$DIR/rgb_crop.kwvk" "$DIR/rgb/picture_3_640x480.png"
  img=${imgs[2]}
  classify "$img" "$DIR/grey28.kwvk" && view shared_resize -- --model "$DIR/grey28.kwvk" --image "$img" \
    --key 2:resize=640x400 --frames 8 && check shared_resize "$DIR/grey28.kwvk" "$img"
  img=$DIR/rgb/picture_0_64x48.png
  classify "$img" "$DIR/rgb_crop.kwvk" && view shared_switch -- --model "$DIR/grey28.kwvk" --model "$DIR/rgb_crop.kwvk" \
    --image "$img" --key 2:m --frames 5 && check shared_switch "$DIR/rgb_crop.kwvk" "$img" --line3 "rgb_crop  "
else
  echo "usage: viewer_xvfb.sh fixtures|shipped|shared DIR" >&2
  exit 2
fi

if [ $FAILED -ne 0 ]; then
  echo "viewer_xvfb $MODE: $FAILED failure(s) in $RUNS runs (outputs in $OUT)"
  exit 1
fi
echo "viewer_xvfb $MODE: $RUNS viewer runs OK (screenshots in $OUT)"
