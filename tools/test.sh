#!/usr/bin/env bash
# tools/test.sh — the whole test suite: a build with AddressSanitizer and
# UndefinedBehaviorSanitizer, every CTest test, then the NEON kernels
# cross-compiled for arm64 and run under qemu-user.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh test
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLL_SANITIZE=ON >/dev/null
cmake --build build-test -j"$(nproc)"
(cd build-test && ctest --output-on-failure -j"$(nproc)" --timeout 600)
tools/ci-arm64.sh
