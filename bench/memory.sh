#!/usr/bin/env bash
# bench/memory.sh — peak resident memory per process of 2-, 3- and 4-worker
# loopback rings of the 110M-shape Q8_0 model (`lingua synth`, seed 1), against
# what each process needs: a worker its stage's weights + KV cache + scratch
# (scratch includes a ring process's fixed cost, the peak of a worker that set
# itself up but holds no stage), the coordinator that fixed cost + its buffers.
# Peaks are ru_maxrss from wait4 — the kernel's VmHWM at exit — of separate
# `lingua coordinator` and `lingua worker` processes (bench/memory.py).
# usage: bench/memory.sh [LINGUA]   (LINGUA: another build to compare, e.g. an older commit's)
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
echo "| ring | process | units | stage weights MiB | KV MiB | scratch MiB | need MiB | peak RSS MiB | peak / need |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
for k in 2 3 4; do
  python3 bench/memory.py "$lingua" "$m" "$k" | python3 -c '
import json, sys
d = json.load(sys.stdin); M = 2 ** 20
for w in d["workers"]:
    print("| %d workers | worker %d | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f |" % (d["k"], w["worker"], w["units"],
          w["weights"] / M, w["kv"] / M, w["scratch"] / M, w["need"] / M, w["peak"] / M, w["ratio"]))
need = d["base"] + d["coord_buffers"]
print("| %d workers | coordinator | — | 0 | 0 | %.1f | %.1f | %.1f | %.2f |" % (d["k"], need / M, need / M,
      d["coordinator_peak"] / M, d["coordinator_peak"] / need))'
done
