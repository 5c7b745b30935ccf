#!/usr/bin/env bash
# bench/prepare_cost.sh — a move beyond the overlap replicas with weights shipped
# from the coordinator (coord/prepare.h): three workers without a model file
# (each fetches its stage into a fresh cache), the 110M-shape Q8_0 model, ranges
# 0-9,9-18,18-26 with --replicas 2, and at token 16 a re-plan to 0-5,5-22,22-26
# that gives local worker w1 four units beyond its replicas (5-7 and 20-22).
# --prepare on: w1 fetches and hashes them while the old plan keeps generating,
# and the switch happens when it is ready; --prepare off: its DEPLOY fetches them
# and the ring waits.  Reported per run: the stall at the switch (the token gap
# holding it minus the median gap), the coordinator's switch time, the prepare
# time, and the tokens generated between the decision and the switch.
# usage: bench/prepare_cost.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target lingua >/dev/null
mkdir -p bench/out
lingua=bench/out/lingua-prepare
cp build/lingua "$lingua"
m=bench/out/synth-110M-q8_0.gguf
[ -f "$m" ] || $lingua synth -o "$m" --dim 768 --layers 12 --heads 12 --kv-heads 12 --ffn 2048 --vocab 32000 \
  --ctx 1024 --type q8_0 --seed 1 2>/dev/null
echo "machine: $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ); load average $(cut -d" " -f1-3 /proc/loadavg)"
echo
echo "| round | --prepare | stall ms | switch ms | prepare ms | tokens during prepare | MiB fetched for the move |"
echo "|---:|---|---:|---:|---:|---:|---:|"
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done' EXIT
for ((r = 1; r <= rounds; r++)); do
  for prep in on off; do
    out=bench/out/prepare-$prep-$r
    rm -rf "$out".cache* "$out".err
    timeout 600 $lingua coordinator --bind "tcp://127.0.0.1:*" --workers 3 -m "$m" -p "Once upon a time" -n 40 \
      --temp 0 --json --ranges 0-9,9-18,18-26 --replicas 2 --switch-every 16 --switch-to "0-5,5-22,22-26" \
      --prepare $prep --balance off --token-log "$out.tokens" > "$out.json" 2> "$out.err" &
    cpid=$!; pids+=($cpid)
    ep=""
    for ((t = 0; t < 3000; t++)); do
      ep=$(sed -n 's/^coordinator: listening on \([^,]*\),.*/\1/p' "$out.err" 2>/dev/null || true); [ -n "$ep" ] && break; sleep 0.02
    done
    for i in 0 1 2; do
      timeout 600 $lingua worker --coordinator "$ep" --cache "$out.cache$i" --name "w$i" 2> "$out.w$i.err" &
      pids+=($!)
    done
    wait $cpid
    python3 - "$out" "$prep" "$r" <<'PY'
import json, re, statistics, sys
out, prep, r = sys.argv[1:4]
d = json.load(open(out + ".json"))
t = [float(l.split()[1]) for l in open(out + ".tokens")]
gaps = [b - a for a, b in zip(t, t[1:])]
med = statistics.median(gaps)
e = d["epochs"][1]
k = e["at_tokens"]   # the switch came after k accepted tokens
stall = gaps[k - 1] - med
mib = 0.0
for line in open(out + ".w1.err"):
    m = re.search(r"fetched ([0-9.]+) of [0-9.]+ MiB \((prepare|stage)\)", line)
    if m:
        mib = float(m.group(1))   # the last one: the move's
print(f"| {r} | {prep} | {stall:.0f} | {e['switch_ms']:.0f} | {e['prepare_ms']:.0f} | {k - 16} | {mib:.1f} |")
PY
  done
done
