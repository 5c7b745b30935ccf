#!/usr/bin/env bash
# tools/ci-arm64.sh — the NEON kernels, the Armv8 SHA-2 hashing and the cache
# eviction (DC CIVAC) on arm64: configures a cross build with
# tools/cross-aarch64.cmake (Release, no sanitizers), builds only those tests
# (test_kern, test_kern_q, test_sha256, test_cache)
# and runs them under qemu-user.  Exits non-zero when a build or a test fails,
# or when the NEON table (or the SHA-2 instructions) was not what a test ran.
#   tools/ci-arm64.sh [build-dir]        (default: build-arm64)
# Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user (tools/deps.sh test).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build-arm64}
sysroot=/usr/aarch64-linux-gnu

for tool in cmake aarch64-linux-gnu-gcc qemu-aarch64; do
  if ! command -v "$tool" >/dev/null; then
    echo "ci-arm64: '$tool' not found; run tools/deps.sh test" >&2
    exit 1
  fi
done

cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE="$PWD/tools/cross-aarch64.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DLL_SANITIZE=OFF -DLL_FUZZ=OFF >/dev/null
cmake --build "$build" --target test_kern test_kern_q test_sha256 test_cache -j"$(nproc)"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in test_kern test_kern_q; do
  status=0
  qemu-aarch64 -L "$sysroot" "$build/$t" 2>&1 | tee "$log" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "ci-arm64: $t failed under qemu-aarch64 (exit $status)" >&2
    exit "$status"
  fi
  if ! grep -q "^$t: ISA neon: tested, ok\$" "$log"; then
    echo "ci-arm64: the NEON kernel table was not tested by $t" >&2
    exit 1
  fi
done
qemu-aarch64 -L "$sysroot" "$build/test_sha256" 2>&1 | tee "$log"
if ! grep -q "^test_sha256: compression: Armv8 SHA-2\$" "$log" || ! grep -q "^test_sha256: .* 0 failed\$" "$log"; then
  echo "ci-arm64: test_sha256 failed or did not use the SHA-2 instructions under qemu-aarch64" >&2
  exit 1
fi
qemu-aarch64 -L "$sysroot" "$build/test_cache" 2>&1 | tee "$log"
if ! grep -q "^test_cache: eviction available\$" "$log" || ! grep -q "^test_cache: .* 0 failed\$" "$log"; then
  echo "ci-arm64: test_cache failed or could not evict (DC CIVAC) under qemu-aarch64" >&2
  exit 1
fi
echo "ci-arm64: NEON kernels, SHA-2 hashing and cache eviction passed on arm64 (qemu-aarch64)"
