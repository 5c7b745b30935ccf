#!/usr/bin/env bash
# bench/engine.sh — single-device engine speed: prompt (64 tokens) and decode
# tokens/s for synthetic models of the 15M and 110M shapes in Q8_0, F16 and
# Q4_0, and of the 110M shape in llama-quantize's Q4_K_M, Q5_K_M and Q6_K mixes
# (`lingua synth --type q4_k_m` etc.; the 15M shape's rows of 288 are no multiple of
# 256), with 1 and 2 threads, plus the memory-bandwidth floor.  Medians over
# REPS repetitions (default 5).  Prints a Markdown table; models are written to
# bench/out/ (ignored by git) once.
# usage: bench/engine.sh [REPS] [MODEL-FILTER] > table.md   (filter: a regex on "SHAPE TYPE")
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
filter=${2:-.}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target lingua >/dev/null
mkdir -p bench/out
lingua=build/lingua

declare -A shape=(
  [15M]="--dim 288 --layers 6 --heads 6 --kv-heads 6 --ffn 768 --vocab 32000 --ctx 256"
  [110M]="--dim 768 --layers 12 --heads 12 --kv-heads 12 --ffn 2048 --vocab 32000 --ctx 1024"
)
echo "| model | threads | prompt tok/s | decode tok/s | MiB read/token | read GB/s | floor tok/s | decode / floor |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
declare -A types=([15M]="q8_0 f16 q4_0" [110M]="q8_0 f16 q4_0 q4_k_m q5_k_m q6_k")
for s in 15M 110M; do
  for t in ${types[$s]}; do
    echo "$s $t" | grep -Eq "$filter" || continue
    f=bench/out/synth-$s-$t.gguf
    [ -f "$f" ] || $lingua synth -o "$f" ${shape[$s]} --type "$t" --seed 1 2>/dev/null
    for th in 1 2; do
      $lingua bench -m "$f" -t "$th" --prompt 64 --gen 128 --reps "$reps" --json |
        python3 -c '
import json, sys
r = json.load(sys.stdin)
print("| %s %s | %d | %.1f | %.1f | %.1f | %.2f | %.1f | %.0f%% |" % (sys.argv[1], sys.argv[2].upper(), r["threads"],
      r["prompt_tokens_per_s"], r["gen_tokens_per_s"], r["bytes_per_token"] / 1048576, r["read_bandwidth_gbs"],
      r["bandwidth_floor_tokens_per_s"], 100 * r["fraction_of_floor"]))' "$s" "$t"
    done
  done
done
