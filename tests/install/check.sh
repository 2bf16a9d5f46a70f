#!/bin/sh
# Install kwvk from BUILD into a scratch prefix, then build a consumer with find_package(kwvk)
# (shared and static) and with pkg-config, and run each on MODEL.
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
echo "1 passed, 0 failed"
