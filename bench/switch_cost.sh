#!/usr/bin/env bash
# bench/switch_cost.sh — what an epoch switch costs (coord/epoch.h) with a
# 1,000-token context: the 110M-shape Q8_0 model on three local workers
# (ranges 0-9,9-18,18-26), a ~1,000-token prompt, then at token 8 a boundary
# move of one layer from local-1 onto local-0 (0-11,11-18,18-26: what an overlap
# replica of those units would allow) and at token 16 the move back.  Each
# switch either moves the KV rows of the layer worker to worker (--kv-move on)
# or makes every session replay its whole history (--kv-move off), on loopback
# and on emulated 5 ms / 20 Mbit/s links.  Reported per switch: the stall (the
# token gap that holds the switch minus the median gap), the coordinator's
# switch time (deploy + reopen), and the KV bytes that moved.
# usage: bench/switch_cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target lingua >/dev/null
mkdir -p bench/out
lingua=bench/out/lingua-switch
cp build/lingua "$lingua"
m=bench/out/synth-110M-q8_0.gguf
[ -f "$m" ] || $lingua synth -o "$m" --dim 768 --layers 12 --heads 12 --kv-heads 12 --ffn 2048 --vocab 32000 \
  --ctx 1024 --type q8_0 --seed 1 2>/dev/null
python3 -c 'print(" ".join(["Once upon a time there was a little girl who liked to play."] * 66))' > bench/out/long.txt
echo "machine: $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ); load average $(cut -d" " -f1-3 /proc/loadavg)"
echo
echo "| links | switch | kind | context tokens | stall ms | switch ms | KV MiB moved |"
echo "|---|---|---|---:|---:|---:|---:|"
for links in loopback shaped; do
  shape=()
  [ $links = shaped ] && shape=(--link-latency 5 --link-bandwidth 20)
  for kvm in on off; do
    out=bench/out/switch-$links-$kvm
    $lingua run -m "$m" --local 3 -c 1024 --seq 1 --ranges 0-9,9-18,18-26 -f bench/out/long.txt -n 24 --temp 0 \
      --json --switch-every 8 --switch-to "0-11,11-18,18-26;0-9,9-18,18-26" --kv-move $kvm "${shape[@]}" \
      --token-log "$out.tokens" > "$out.json" 2> "$out.err"
    python3 - "$out" "$links" "$kvm" <<'PY'
import json, statistics, sys
out, links, kvm = sys.argv[1:4]
d = json.load(open(out + ".json"))
t = [float(l.split()[1]) for l in open(out + ".tokens")]
gaps = [b - a for a, b in zip(t, t[1:])]
med = statistics.median(gaps)
n_prompt = len(d["prompt_ids"])
for k, e in zip((8, 16), d["epochs"][1:3]):
    stall = gaps[k - 1] - med   # between token k-1 and token k: the switch after k accepted tokens
    kind = "KV move" if e["kv_moved"] else "replay"
    name = "onto the replica" if k == 8 else "off it"
    print(f"| {links} | {name} | {kind} | {n_prompt + k} | {stall:.1f} | {e['switch_ms']:.1f} | "
          f"{e['kv_bytes'] / 1048576:.2f} |")
PY
  done
done
