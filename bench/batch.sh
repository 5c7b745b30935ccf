#!/usr/bin/env bash
# bench/batch.sh — continuous batching (issue 10), 110M-shape models written by
# `lingua synth --seed 1` in Q8_0, Q4_0 and F16:
#  - one device, 2 threads: `lingua bench --parallel 1,4,8,16` — aggregate prompt and
#    decode tokens/s with K sequences sharing every executor run, the bandwidth floor
#    (K x the single-sequence one), decode vs the single sequence of the same run, and
#    decode tokens per CPU-second (steadier than per second on a shared machine);
#  - the ring on loopback: `lingua run --local N --plan even -t 1` (N workers of 1 thread)
#    and the same placed by the planner (`--objective throughput`, which may also choose
#    fewer stages; the stages it chose are printed), with 8 and 16 prompts in flight
#    (--seq K), aggregate generated tokens/s, next to
#    `lingua run --local 1 -t T` with the same T threads in total (the issue's comparison:
#    T = 3 for three workers, more threads than this machine's 2 cores) and with 2, medians of REPS.
# Prints Markdown. usage: bench/batch.sh [REPS] [TYPES]   (TYPES default "q8_0 q4_0 f16")
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
types=${2:-"q8_0 q4_0 f16"}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target lingua >/dev/null
mkdir -p bench/out
lingua=build/lingua
tps() { python3 -c 'import json,sys; print(json.load(sys.stdin)["gen_tokens_per_s"])'; }
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
python3 -c '
base = ["Once upon a time", "The little dog", "Lily wanted to", "One day", "The sun was", "Tom and his mom",
        "A big red ball", "In the park"]
for i in range(16): print(base[i % 8] + (" there was" if i >= 8 else ""))' > bench/out/batch-prompts-16.txt
head -8 bench/out/batch-prompts-16.txt > bench/out/batch-prompts-8.txt

vlog=$(mktemp)
trap 'rm -f "$vlog"' EXIT
echo "Machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start, $(date -u +%F)."
for t in $types; do
  m=bench/out/synth-110M-$t.gguf
  [ -f "$m" ] || $lingua synth -o "$m" --dim 768 --layers 12 --heads 12 --kv-heads 12 --ffn 2048 --vocab 32000 \
    --ctx 1024 --type "$t" --seed 1 2>/dev/null
  echo
  echo "### 110M ${t^^}, one device, 2 threads (\`lingua bench -t 2 --prompt 64 --gen 64 --reps $reps --parallel 1,4,8,16\`)"
  echo
  echo "| sequences | prompt tok/s | decode tok/s | decode × 1 sequence | bandwidth floor tok/s | decode / floor | decode tok/CPU-s |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  $lingua bench -m "$m" -t 2 --prompt 64 --gen 64 --reps "$reps" --parallel 1,4,8,16 --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
for p in r["parallel"]:
    print("| %d | %.1f | %.1f | %.2f | %.1f | %.0f%% | %.1f |" % (p["sequences"], p["prompt_tokens_per_s"],
          p["gen_tokens_per_s"], p["decode_vs_single"], p["bandwidth_floor_tokens_per_s"],
          100 * p["gen_tokens_per_s"] / p["bandwidth_floor_tokens_per_s"], p["gen_tokens_per_cpu_s"]))'
  echo
  echo "### 110M ${t^^}, ring on loopback (\`lingua run --prompts FILE --seq K -n 64 --temp 0\`, median of $reps)"
  echo
  echo "| setup | threads in total | 8 in flight tok/s | 16 in flight tok/s | 8: vs one device, same threads | 16: vs one device, same threads | 8: vs one device, 2 threads | 16: vs one device, 2 threads |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  declare -A res=()
  setups="1:2:even 1:3:even 2:1:even 3:1:even 2:1:planner 3:1:planner"
  declare -A stages=()
  for setup in $setups; do
    IFS=: read -r n th how <<<"$setup"
    placement="--plan even"
    [ "$how" = planner ] && placement="--objective throughput"
    for k in 8 16; do
      vals=""
      for ((r = 0; r < reps; r++)); do
        vals+=" $($lingua run -m "$m" --local "$n" $placement --balance off --prompts bench/out/batch-prompts-$k.txt \
                 --seq "$k" -n 64 --temp 0 -t "$th" --json -v 2>"$vlog" | tps)"
        stages[$setup:$k]=$(tr -d '\000' <"$vlog" | grep -c "^stage [0-9]* (" || true)
      done
      res[$setup:$k]=$(median $vals)
    done
  done
  for setup in $setups; do   # compared with one device running as many threads in all
    IFS=: read -r n th how <<<"$setup"
    total=$((n * th))
    python3 -c 'import sys
n, th, how, st, tot, a, b, a1, b1, a2, b2 = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), *map(float, sys.argv[6:])
print("| `--local %s -t %d` %s (stages: %s) | %d | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f |" % (n, th, how, st, tot, a, b, a / a1, b / b1, a / a2, b / b2))' \
      "$n" "$th" "$how" "${stages[$setup:8]}/${stages[$setup:16]}" "$total" "${res[$setup:8]}" "${res[$setup:16]}" \
      "${res[1:$total:even:8]}" "${res[1:$total:even:16]}" "${res[1:2:even:8]}" "${res[1:2:even:16]}"
  done
  unset stages
  unset res
done
