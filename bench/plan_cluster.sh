#!/usr/bin/env bash
# bench/plan_cluster.sh — planning on an emulated LinguaLinked-like cluster:
# three workers on this machine, two at full speed and one slowed (--slowdown S,
# S = 2.5 and 4), each offering at most 45% of the memory the 110M-shape Q8_0
# model needs (weights, KV cache for -c 256 x 4 sequences, scratch), links of
# 5 ms and 20 Mbit/s, header on a full-speed worker.  For each slowdown:
# --plan even and --plan optimal under both objectives (latency with one
# sequence; throughput with one and with four in flight): predicted and measured
# tokens/s, the measured speed-up over the even split, and the best speed-up the
# measured profiles allow (even's predicted time over the optimum's).
# Medians of REPS runs.  Prints Markdown; per-stage tables go to bench/out/.
# usage: bench/plan_cluster.sh [REPS]
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
common=(-m "$m" --local 3 -c 256 --seq 4 --link-latency 5 --link-bandwidth 20 --temp 0 -v --json)
printf '%s\n' "Once upon a time" "The little dog" "Lily wanted to" "One day" > bench/out/prompts-4.txt

# The model's memory on one device: the single stage of an unconstrained plan.
total=$($lingua run "${common[@]}" -p "Once" -n 2 2>&1 >/dev/null | awk '/^0 /{print $4; exit}')
cap=$(python3 -c "print(round(0.45 * $total, 1))")
echo "model memory (weights + KV for 256 x 4 + scratch): $total MiB; each worker offers $cap MiB (45%)"
echo

# run_one OUTFILE IN_FLIGHT ARGS...: prints "predicted_tps measured_tps".  The prediction for k
# sequences in flight on the deployed plan (stage times from the profiles, hops from the link
# probes): min(k / latency, 1 / bottleneck), latency = sum of stage compute + hops, bottleneck =
# the slowest stage's compute + outgoing hop.
run_one() {
  local out=$1 k=$2; shift 2
  $lingua run "${common[@]}" --mem-limit "$cap" "$@" > "$out.json" 2> "$out.err"
  python3 - "$out" "$k" <<'PY'
import json, sys
out, k = sys.argv[1], int(sys.argv[2])
o = json.load(open(out + ".json"))
lines = open(out + ".err").read().split("predicted vs measured:")[1].splitlines()
stages = [l.split() for l in lines if l[:1].isdigit()]
t = [(float(c[5]) + float(c[6])) / 1e3 for c in stages]
print(min(k / sum(t), 1 / max(t)), o["gen_tokens_per_s"])
PY
}

echo "| slow device | objective | in flight | plan | predicted tok/s | measured tok/s (median) | measured / predicted |"
echo "|---:|---|---:|---|---:|---:|---:|"
declare -A meas pred
for s in 2.5 4; do
  for case in "latency:1" "throughput:1" "throughput:4"; do
    obj=${case%%:*} fl=${case#*:}
    for plan in even optimal; do
      vals="" p=0
      for ((r = 0; r < reps; r++)); do
        f=bench/out/cluster-$s-$obj-$fl-$plan-$r
        if [ "$fl" = 1 ]; then res=$(run_one "$f" 1 --slowdown "1,1,$s" --plan "$plan" --objective "$obj" -p "Once upon a time" -n 48)
        else res=$(run_one "$f" 4 --slowdown "1,1,$s" --plan "$plan" --objective "$obj" --prompts bench/out/prompts-4.txt -n 48); fi
        p=${res% *}; vals+=" ${res#* }"
      done
      v=$(python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' $vals)
      meas[$s,$case,$plan]=$v; pred[$s,$case,$plan]=$p
      python3 -c 'import sys; p,v=float(sys.argv[1]),float(sys.argv[2]); print("| %s | %s | %s | %s | %.1f | %.1f | %.2f |" % (sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], p, v, v / p if p else 0))' \
        "$p" "$v" "$s" "$obj" "$fl" "$plan"
    done
  done
done
echo
echo "| slow device | objective | in flight | measured speed-up (optimal / even) | best possible on the measured profiles | ratio |"
echo "|---:|---|---:|---:|---:|---:|"
for s in 2.5 4; do
  for case in "latency:1" "throughput:1" "throughput:4"; do
    python3 -c 'import sys
me, mo, pe, po = map(float, sys.argv[1:5])
got, best = mo / me, po / pe
print("| %s | %s | %s | %.2fx | %.2fx | %.2f |" % (sys.argv[5], sys.argv[6], sys.argv[7], got, best, got / best))' \
      "${meas[$s,$case,even]}" "${meas[$s,$case,optimal]}" "${pred[$s,$case,even]}" "${pred[$s,$case,optimal]}" \
      "$s" "${case%%:*}" "${case#*:}"
  done
done
