#!/usr/bin/env bash
# tools/deps.sh — makes sure the Debian packages a task needs are installed.
#   tools/deps.sh build   compiler and CMake (the main job)
#   tools/deps.sh test    + clang/libFuzzer, the arm64 cross compiler and qemu-user, curl, chromium, node
#                         and npm (the test suite)
#   tools/deps.sh bench   + gnuplot (bench/balance.sh draws its plot; not needed by CI)
# As root it installs what is missing with apt-get; otherwise it prints the exact
# apt-get line and exits 1.
set -euo pipefail

build_pkgs=(gcc make cmake libc6-dev libglpk-dev libzmq3-dev libmicrohttpd-dev libcjson-dev)
test_pkgs=("${build_pkgs[@]}" clang libclang-rt-14-dev libfuzzer-14-dev gcc-aarch64-linux-gnu
           libc6-dev-arm64-cross qemu-user python3 curl chromium nodejs iproute2)   # iproute2: `ip netns` for tests/cli_discovery.sh
bench_pkgs=("${build_pkgs[@]}" python3 gnuplot-nox)

case "${1:-build}" in
  build) want=("${build_pkgs[@]}") ;;
  test)  want=("${test_pkgs[@]}") ;;
  bench) want=("${bench_pkgs[@]}") ;;
  *) echo "usage: tools/deps.sh build|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm for the openai client test: Debian ships it apart from nodejs; NodeSource's nodejs bundles it (and
# conflicts with Debian's npm package), so it is only asked for when no npm is on the PATH.
if [ "${1:-build}" = test ] && ! command -v npm >/dev/null; then
  missing+=(npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
else
  echo "missing Debian packages; install them with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
