#!/usr/bin/env bash
# bench/ab.sh — before/after engine speed of two `lingua` binaries, alternated:
# ROUNDS rounds, each running `lingua bench -m bench/out/synth-110M-T.gguf -t TH
# --prompt 64 --gen 128 --reps 1` with both binaries (their order swapped every
# round) for every type T and thread count TH; prints a Markdown table of the
# medians (prompt and decode tokens/s, after/before ratios) and the load average
# before and after.  Models as bench/engine.sh makes them (the 110M shape), written
# to bench/out/ (ignored by git) once with the AFTER binary.
# usage: bench/ab.sh BEFORE AFTER [ROUNDS=5] [TYPES="q4_k_m q5_k_m q6_k q8_0"] [THREADS="1 2"]
set -euo pipefail
cd "$(dirname "$0")/.."
before=$1 after=$2 rounds=${3:-5}
types=${4:-"q4_k_m q5_k_m q6_k q8_0"} threads=${5:-"1 2"}
shape="--dim 768 --layers 12 --heads 12 --kv-heads 12 --ffn 2048 --vocab 32000 --ctx 1024"
mkdir -p bench/out
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for t in $types; do
  f=bench/out/synth-110M-$t.gguf
  [ -f "$f" ] || "$after" synth -o "$f" $shape --type "$t" --seed 1 >/dev/null 2>&1
done
for ((r = 0; r < rounds; r++)); do
  for t in $types; do
    for th in $threads; do
      order="before after"
      ((r % 2)) && order="after before"
      for which in $order; do
        bin=$before
        [ "$which" = after ] && bin=$after
        "$bin" bench -m "bench/out/synth-110M-$t.gguf" -t "$th" --prompt 64 --gen 128 --reps 1 --json |
          python3 -c 'import json,sys; r=json.load(sys.stdin); print(sys.argv[1], sys.argv[2], sys.argv[3], r["prompt_tokens_per_s"], r["gen_tokens_per_s"])' \
            "$t" "$th" "$which" >>"$log"
      done
    done
  done
  echo "round $((r + 1))/$rounds done" >&2
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$log" "$types" "$threads" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda t, th, w, i: statistics.median(float(r[3 + i]) for r in rows if r[:3] == [t, th, w])
print("| model | threads | prompt before | prompt after | prompt ratio | decode before | decode after | decode ratio |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for t in sys.argv[2].split():
    for th in sys.argv[3].split():
        pb, pa, db, da = med(t, th, "before", 0), med(t, th, "after", 0), med(t, th, "before", 1), med(t, th, "after", 1)
        print("| 110M %s | %s | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx |" % (t.upper(), th, pb, pa, pa / pb, db, da, da / db))
PY
