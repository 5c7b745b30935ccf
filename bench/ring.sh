#!/usr/bin/env bash
# bench/ring.sh — the distributed ring on loopback against one device, with the
# 110M-shape Q8_0 model (written by `lingua synth`, seed 1):
#  - decode tokens/s of `lingua generate` (1 thread) and of `lingua run --local K --plan even`
#    for K = 1, 2, 3 (each worker 1 thread; the even split, so every worker holds a
#    stage — the optimal plan would put this model on one device), medians of REPS runs;
#  - per-hop overhead: (1/ring − 1/single) per token, divided by the hops a token
#    makes (K−1 activations forward + 1 token back; for K = 1 the coordinator's
#    stream is the only extra);
#  - throughput with 1, 2, 4, 8 sequences in flight on 2- and 3-worker rings.
# Prints Markdown. usage: bench/ring.sh [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target lingua >/dev/null
mkdir -p bench/out
lingua=build/lingua
m=bench/out/synth-110M-q8_0.gguf
[ -f "$m" ] || $lingua synth -o "$m" --dim 768 --layers 12 --heads 12 --kv-heads 12 --ffn 2048 --vocab 32000 \
  --ctx 1024 --type q8_0 --seed 1 2>/dev/null
tps() { python3 -c 'import json,sys; print(json.load(sys.stdin)["gen_tokens_per_s"])'; }
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

declare -A runs
for ((r = 0; r < reps; r++)); do
  runs[single]+=" $($lingua generate -m "$m" -p "Once upon a time" -n 128 --temp 0 -t 1 --json | tps)"
  for k in 1 2 3; do
    runs[ring$k]+=" $($lingua run -m "$m" --local "$k" --plan even -p "Once upon a time" -n 128 --temp 0 -t 1 --json 2>/dev/null | tps)"
  done
done
single=$(median ${runs[single]})
echo "| setup | decode tok/s (median of $reps) | vs one device | overhead µs/token/hop |"
echo "|---|---:|---:|---:|"
printf '| one device (`lingua generate -t 1`) | %.1f | 100%% | — |\n' "$single"
for k in 1 2 3; do
  v=$(median ${runs[ring$k]})
  python3 -c 'import sys
s, v, k = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
hops = max(k, 1) if k > 1 else 1
print("| `lingua run --local %d` | %.1f | %.1f%% | %.0f |" % (k, v, 100 * v / s, 1e6 * (1 / v - 1 / s) / hops))' "$single" "$v" "$k"
done
echo
echo "| ring | sequences in flight | aggregate decode tok/s (median of $reps) |"
echo "|---|---:|---:|"
for k in 2 3; do
  for s in 1 2 4 8; do
    python3 -c 'import sys
for i in range(int(sys.argv[1])): print(["Once upon a time", "The little dog", "Lily wanted to", "One day", "The sun was", "Tom and his mom", "A big red ball", "In the park"][i])' "$s" > bench/out/prompts-$s.txt
    vals=""
    for ((r = 0; r < reps; r++)); do
      vals+=" $($lingua run -m "$m" --local "$k" --plan even --prompts bench/out/prompts-$s.txt --seq 8 -n 64 --temp 0 -t 1 --json 2>/dev/null | tps)"
    done
    printf '| %d workers | %d | %.1f |\n' "$k" "$s" "$(median $vals)"
  done
done
