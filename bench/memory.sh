#!/usr/bin/env bash
# bench/memory.sh — peak resident memory per process of 2-, 3- and 4-worker
# loopback rings of the 110M-shape Q8_0 model (`lingua synth`, seed 1), against
# what each process needs: a worker its stage's weights + its overlap replicas'
# weights (2 units either side, the coordinator's default) + KV cache + scratch
# (scratch includes a ring process's fixed cost, the peak of a worker that set
# itself up but holds no stage), the coordinator that fixed cost + its buffers.
# Peaks are ru_maxrss from wait4 — the kernel's VmHWM at exit — of separate
# `lingua coordinator` and `lingua worker` processes (bench/memory.py).
# Each ring runs twice: workers with their own model file, and workers without
# one (weights shipped into a fresh cache on that start).
# usage: bench/memory.sh [LINGUA [own]]   (LINGUA: another build to compare, e.g. an
# older commit's; "own": only the own-file rings, for builds that cannot ship)
set -euo pipefail
cd "$(dirname "$0")/.."
lingua=${1:-build/lingua}
if [ "$lingua" = build/lingua ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j2 --target lingua >/dev/null
fi
mkdir -p bench/out
m=bench/out/synth-110M-q8_0.gguf
[ -f "$m" ] || build/lingua synth -o "$m" --dim 768 --layers 12 --heads 12 --kv-heads 12 --ffn 2048 --vocab 32000 \
  --ctx 1024 --type q8_0 --seed 1 2>/dev/null
modes=(own shipped); [ "${2:-}" = own ] && modes=(own)
echo "| ring | weights | process | units | stage weights MiB | replica weights MiB | KV MiB | scratch MiB | need MiB | peak RSS MiB | peak / need |"
echo "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
for k in 2 3 4; do
 for mode in "${modes[@]}"; do
  extra=(); cache=$(mktemp -d); [ "$mode" = shipped ] && extra=(--shipped "$cache")
  python3 bench/memory.py "$lingua" "$m" "$k" "${extra[@]}" | MODE=$mode python3 -c '
import json, os, sys
d = json.load(sys.stdin); M = 2 ** 20; mode = os.environ["MODE"]
for w in d["workers"]:
    print("| %d workers | %s | worker %d | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f |" % (d["k"], mode, w["worker"],
          w["units"], w["weights"] / M, w["replicas"] / M, w["kv"] / M, w["scratch"] / M, w["need"] / M, w["peak"] / M, w["ratio"]))
need = d["base"] + d["coord_buffers"]
print("| %d workers | %s | coordinator | — | 0 | 0 | 0 | %.1f | %.1f | %.1f | %.2f |" % (d["k"], mode, need / M, need / M,
      d["coordinator_peak"] / M, d["coordinator_peak"] / need))'
  rm -rf "$cache"
 done
done
