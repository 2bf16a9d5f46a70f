#!/bin/sh
# Install kwvk from BUILD into a scratch prefix, then build a consumer with find_package(kwvk)
# (shared and static) and with pkg-config, and run each on MODEL; then run the installed
# Python tools (kwvk-convert converts a shipped checkpoint, kwvk-train answers --version)
# from the prefix, with their package from the prefix.
# Usage: check.sh BUILD_DIR SOURCE_DIR WORK_DIR MODEL [CFLAGS]
# (CFLAGS: the sanitizer flags when kwvk itself was built with them)
set -eu
build=$1 src=$2 work=$3 model=$4 cflags=${5:-}
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/tests/install/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$cflags" >/dev/null
cmake --build "$work/consumer" >/dev/null
libdir=$(dirname "$(find "$work/prefix" -name 'libkwvk.so*' | head -n 1)")
LD_LIBRARY_PATH=$libdir "$work/consumer/consumer_shared" "$model"
"$work/consumer/consumer_static" "$model"
pc=$(dirname "$(find "$work/prefix" -name kwvk.pc)")
# shellcheck disable=SC2046
# shellcheck disable=SC2086
cc $cflags -o "$work/consumer_pc" "$src/tests/install/consumer/consumer.c" \
   $(PKG_CONFIG_PATH=$pc pkg-config --cflags --libs --static kwvk)
LD_LIBRARY_PATH=$libdir "$work/consumer_pc" "$model"
for t in kwvk-convert kwvk-train; do
  "$work/prefix/bin/$t" --version | grep -q "^$t (kwvk [0-9]" || { echo "FAIL: $t --version from the prefix"; exit 1; }
done
# (run from the prefix, the script can only find the installed kwvk_py)
(cd "$work" && OMP_NUM_THREADS=2 "$work/prefix/bin/kwvk-convert" --arch resnet_fm \
   --checkpoint "$src/models/fmnist_static.pth" --out "$work/converted.kwvk" --check) ||
  { echo "FAIL: kwvk-convert from the prefix"; exit 1; }
"$work/prefix/bin/kwvk-run" --info --model "$work/converted.kwvk" | grep -qE "^architecture +resnet_fm" ||
  { echo "FAIL: the converted model"; exit 1; }
echo "1 passed, 0 failed"
