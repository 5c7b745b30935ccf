#!/usr/bin/env bash
# bench/secure.sh — the cost of CURVE: decode tokens/s of a 3-worker loopback
# ring (`lingua run --local 3 --plan even`, 1 thread per worker) of the
# 110M-shape Q8_0 model (`lingua synth`, seed 1) with and without --secure.
# Plain and secure runs alternate, so both see the same machine load; medians
# of REPS runs each, and their ratio (target >= 95%).  Also one sequence vs 4
# in flight.  Prints Markdown.  usage: bench/secure.sh [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target lingua >/dev/null
mkdir -p bench/out
lingua=build/lingua
m=bench/out/synth-110M-q8_0.gguf
[ -f "$m" ] || $lingua synth -o "$m" --dim 768 --layers 12 --heads 12 --kv-heads 12 --ffn 2048 --vocab 32000 \
  --ctx 1024 --type q8_0 --seed 1 2>/dev/null
tps() { python3 -c 'import json,sys; print(json.load(sys.stdin)["gen_tokens_per_s"])'; }
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
printf 'Once upon a time\nThe little dog\nLily wanted to\nOne day\n' > bench/out/prompts-secure.txt

declare -A runs
for ((r = 0; r < reps; r++)); do
  for mode in plain secure; do
    extra=(); [ "$mode" = secure ] && extra=(--secure)
    runs[$mode-1]+=" $($lingua run -m "$m" --local 3 --plan even "${extra[@]}" -p "Once upon a time" -n 128 --temp 0 \
                      -t 1 --json 2>/dev/null | tps)"
    runs[$mode-4]+=" $($lingua run -m "$m" --local 3 --plan even "${extra[@]}" --prompts bench/out/prompts-secure.txt \
                      --seq 4 -n 64 --temp 0 -t 1 --json 2>/dev/null | tps)"
  done
done
echo "| 3-worker loopback ring | sequences | plaintext tok/s | --secure tok/s | secure / plaintext |"
echo "|---|---:|---:|---:|---:|"
for s in 1 4; do
  p=$(median ${runs[plain-$s]}); q=$(median ${runs[secure-$s]})
  python3 -c 'import sys
p, q, s = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
print("| 110M-shape Q8_0, even split | %s | %.1f | %.1f | %.1f%% |" % (s, p, q, 100 * q / p))' "$p" "$q" "$s"
done
echo
echo "(medians of $reps alternating runs; $(date -u +%Y-%m-%d), $(nproc) cores)"
