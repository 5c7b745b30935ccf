#!/usr/bin/env bash
# bench/llamacpp.sh — our engine next to llama.cpp on this machine, alternated:
# ROUNDS rounds, each running, for every type T and thread count TH, both
#   lingua bench -m bench/out/synth-SIZE-T.gguf -t TH --prompt 64 --gen 128 --reps 1
#   node bench/llamacpp.mjs bench/out/synth-SIZE-T.gguf TH 64 128
# (their order swapped every round); prints a Markdown table of the medians
# (prompt and decode tokens/s, ours / theirs).  llama.cpp is the prebuilt CPU
# build that the npm package node-llama-cpp ships (its own version of llama.cpp,
# not the b4747 the issues quote; its dynamic CPU backends pick the variant for
# this CPU), installed with npm into bench/out/nlc (ignored by git; no install
# scripts run) the first time, measured as llama-bench measures (bench/llamacpp.mjs:
# one prompt batch, then single tokens without sampling; ours samples each token).
# Models as bench/ab.sh makes them.
# usage: [SIZE=110M|15M] bench/llamacpp.sh [ROUNDS=5] [TYPES="q4_k_m q5_k_m q6_k q8_0"] [THREADS="1 2"] [LINGUA=build/lingua]
# (SIZE picks the shape, as in bench/engine.sh; default 110M)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5} types=${2:-"q4_k_m q5_k_m q6_k q8_0"} threads=${3:-"1 2"} lingua=${4:-build/lingua}
size=${SIZE:-110M}
case $size in
  110M) shape="--dim 768 --layers 12 --heads 12 --kv-heads 12 --ffn 2048 --vocab 32000 --ctx 1024" ;;
  15M) shape="--dim 288 --layers 6 --heads 6 --kv-heads 6 --ffn 768 --vocab 32000 --ctx 256" ;;
  *) echo "SIZE must be 110M or 15M" >&2; exit 2 ;;
esac
mkdir -p bench/out
if [ ! -d bench/out/nlc/node_modules/node-llama-cpp ]; then
  mkdir -p bench/out/nlc
  (cd bench/out/nlc && npm install --no-audit --no-fund --ignore-scripts node-llama-cpp@3.22.1 >/dev/null)
fi
cp bench/llamacpp.mjs bench/out/nlc/bench.mjs
for t in $types; do
  f=bench/out/synth-$size-$t.gguf
  [ -f "$f" ] || "$lingua" synth -o "$f" $shape --type "$t" --seed 1 >/dev/null 2>&1
done
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%F %H:%M') UTC" >&2
for ((r = 0; r < rounds; r++)); do
  for t in $types; do
    for th in $threads; do
      order="ours theirs"
      ((r % 2)) && order="theirs ours"
      for which in $order; do
        if [ "$which" = ours ]; then
          "$lingua" bench -m "bench/out/synth-$size-$t.gguf" -t "$th" --prompt 64 --gen 128 --reps 1 --json |
            python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["prompt_tokens_per_s"], r["gen_tokens_per_s"])'
        else
          node bench/out/nlc/bench.mjs "$PWD/bench/out/synth-$size-$t.gguf" "$th" 64 128 |
            python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["prompt_tps"], r["gen_tps"])'
        fi | sed "s/^/$t $th $which /" >>"$log"
      done
    done
  done
  echo "round $((r + 1))/$rounds done" >&2
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$log" "$types" "$threads" "$size" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda t, th, w, i: statistics.median(float(r[3 + i]) for r in rows if r[:3] == [t, th, w])
print("| model | threads | prompt ours | prompt llama.cpp | ours / theirs | decode ours | decode llama.cpp | ours / theirs |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for t in sys.argv[2].split():
    for th in sys.argv[3].split():
        po, pt, do, dt = med(t, th, "ours", 0), med(t, th, "theirs", 0), med(t, th, "ours", 1), med(t, th, "theirs", 1)
        print("| %s %s | %s | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx |" % (sys.argv[4], t.upper(), th, po, pt, po / pt, do, dt, do / dt))
PY
