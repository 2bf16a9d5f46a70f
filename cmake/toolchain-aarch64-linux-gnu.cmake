# CMake toolchain file: cross-build kwvk for 64-bit ARM Linux on a Debian amd64 host, and run
# its tests under user-mode QEMU.
#
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake
#
# Debian packages (scripts/test-arm64 installs them):
#   host:  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static glslang-tools
#          libvulkan-volk-dev (volk.h/volk.c are compiled from source for the target)
#   arm64 multiarch (dpkg --add-architecture arm64), for running the tests:
#          libvulkan1:arm64 libvulkan-dev:arm64 mesa-vulkan-drivers:arm64 vulkan-validationlayers:arm64
#
# No sysroot: Debian multiarch keeps the arm64 libraries in /usr/lib/aarch64-linux-gnu and
# the architecture-independent headers (vulkan/vulkan.h, volk.h) in /usr/include. The engine
# loads libvulkan at run time (volk), so nothing links against an arm64 libvulkan.
#
# Tests run through qemu-aarch64-static (CMAKE_CROSSCOMPILING_EMULATOR). The arm64 Vulkan
# loader must be pointed at the arm64 lavapipe ICD: tests/CMakeLists.txt adds
# VK_DRIVER_FILES=${KWVK_CROSS_VK_DRIVER_FILES} to every test's environment.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_AR aarch64-linux-gnu-ar CACHE FILEPATH "archiver")
set(CMAKE_RANLIB aarch64-linux-gnu-ranlib CACHE FILEPATH "ranlib")
set(CMAKE_STRIP aarch64-linux-gnu-strip CACHE FILEPATH "strip")

# Programs (glslangValidator, python3) come from the build host; libraries from the target's
# multiarch directories; headers from /usr/include, which is architecture-independent.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

find_program(KWVK_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64
             DOC "user-mode QEMU that runs the aarch64 test binaries")
if(KWVK_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${KWVK_QEMU_AARCH64})
endif()

# The arm64 lavapipe ICD (Debian mesa-vulkan-drivers:arm64). lavapipe on aarch64 uses 128-bit
# vectors, so its subgroup size is 4.
set(KWVK_CROSS_VK_DRIVER_FILES /usr/share/vulkan/icd.d/lvp_icd.aarch64.json
    CACHE FILEPATH "Vulkan ICD manifest the cross-built tests use (VK_DRIVER_FILES)")
