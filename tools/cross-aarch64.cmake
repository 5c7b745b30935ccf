# tools/cross-aarch64.cmake — CMake toolchain for arm64 Linux with Debian's cross
# compiler (packages gcc-aarch64-linux-gnu, libc6-dev-arm64-cross).  Target
# binaries run on the build machine under qemu-user (package qemu-user), which is
# also what CTest uses through CMAKE_CROSSCOMPILING_EMULATOR.
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=tools/cross-aarch64.cmake
# Used by tools/ci-arm64.sh.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)

# Headers and libraries come from the arm64 sysroot only; build tools from the host.
set(LL_AARCH64_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH ${LL_AARCH64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# -L points qemu at the arm64 dynamic loader and libc.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L ${LL_AARCH64_SYSROOT})
