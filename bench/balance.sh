#!/usr/bin/env bash
# bench/balance.sh — the load balancer on the emulated LinguaLinked-like cluster
# of bench/plan_cluster.sh: three workers on this machine, each offering 45% of
# the memory the 110M-shape Q8_0 model needs (-c 256 x 4 sequences), links of
# 5 ms and 20 Mbit/s.  All start at full speed; worker local-2 becomes S times
# slower (S = 2.5, then 4) from its 64th decode step on (--slowdown 1,1,S@64;
# with 4 sequences in flight, from step 256: token 64 of each).  For each S,
# with one sequence (latency objective) and with four (throughput objective),
# a 512-token generation runs three ways:
#   off    the optimal full-speed plan, --balance off (keeps it whatever happens)
#   on     the same start, --balance on (the monitor must find the slowdown)
#   fresh  the optimal plan for the slowed cluster from the start (profiled slow)
# Reported: tokens/s after the slowdown (tokens 96..512, i.e. from 32 tokens
# after it), its ratio to fresh (target >= 0.9), switches made by the balancer
# while the load is stable (target <= 1), the token of sequence 0 at which the
# first balancer switch was in place (target: by 64 + 32), overall speed-up of
# on over off, and the epochs.  Plot: tokens/s of sequence 0 per 16-token window, bench/balance-S.png
# (gnuplot; tools/deps.sh bench).  Per-run files go to bench/out/.
# usage: [BALANCE_ARGS="--balance-window 1000"] bench/balance.sh [N_TOKENS (default 512)]
#   (BALANCE_ARGS: extra options for the balancer-on runs)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-512}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target lingua >/dev/null
mkdir -p bench/out
lingua=bench/out/lingua-balance   # a copy: rebuilding build/ meanwhile cannot disturb the runs
cp build/lingua "$lingua"
m=bench/out/synth-110M-q8_0.gguf
[ -f "$m" ] || $lingua synth -o "$m" --dim 768 --layers 12 --heads 12 --kv-heads 12 --ffn 2048 --vocab 32000 \
  --ctx 1024 --type q8_0 --seed 1 2>/dev/null
common=(-m "$m" --local 3 -c 640 --seq 4 --link-latency 5 --link-bandwidth 20 --temp 0 -v --json)
printf '%s\n' "Once upon a time" "The little dog" "Lily wanted to" "One day" > bench/out/prompts-4.txt
total=$($lingua run "${common[@]}" -p "Once" -n 2 2>&1 >/dev/null | awk '/^0 /{print $4; exit}')
cap=$(python3 -c "print(round(0.45 * $total, 1))")
echo "model memory (weights + KV for 640 x 4 + scratch): $total MiB; each worker offers $cap MiB (45%)"
echo "balancer-on runs add: ${BALANCE_ARGS:-(nothing)}"
echo "machine: $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

run() {  # run NAME SEQS OBJECTIVE ARGS...
  local name=$1 k=$2 obj=$3; shift 3
  local src=(-p "Once upon a time")
  [ "$k" -gt 1 ] && src=(--prompts bench/out/prompts-4.txt)
  $lingua run "${common[@]}" --mem-limit "$cap" --objective "$obj" "${src[@]}" -n "$n" \
    --token-log "bench/out/$name.tokens" "$@" > "bench/out/$name.json" 2> "bench/out/$name.err"
}

echo "| slow x | in flight | run | tok/s after slowdown (seq 0) | vs fresh | balance switches | first switch at token (seq 0) | overall tok/s | epochs |"
echo "|---:|---:|---|---:|---:|---:|---:|---:|---|"
for s in 2.5 4; do
  for case in "1:latency" "4:throughput"; do
    k=${case%%:*} obj=${case#*:} step=$((64 * ${case%%:*}))
    run "bal-$s-$k-off" "$k" "$obj" --plan optimal --balance off --slowdown "1,1,$s@$step"
    run "bal-$s-$k-on" "$k" "$obj" --plan optimal --balance on --slowdown "1,1,$s@$step" ${BALANCE_ARGS:-}
    run "bal-$s-$k-fresh" "$k" "$obj" --plan optimal --balance off --slowdown "1,1,$s"
    python3 - "$s" "$k" "$n" <<'PY'
import json, sys
s, k, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(run):
    base = f"bench/out/bal-{s}-{k}-{run}"
    t = [float(l.split()[1]) / 1e3 for l in open(base + ".tokens")]
    d = json.load(open(base + ".json"))
    return t, d
def token_at(t, unix_ms):  # sequence 0's tokens accepted before a wall-clock time
    return sum(1 for x in t if x * 1e3 < unix_ms)
res = {r: load(r) for r in ("off", "on", "fresh")}
def after(t):  # tokens 96..n of sequence 0
    a, b = min(96, len(t) - 1), len(t) - 1
    return (b - a) / (t[b] - t[a]) if t[b] > t[a] else 0.0
fresh = after(res["fresh"][0])
for r in ("off", "on", "fresh"):
    t, d = res[r]
    overall = d.get("gen_tokens_per_s") or (len(t) - 1) / (t[-1] - t[0])
    ep = d["epochs"]
    bal = [e for e in ep if e["why"].startswith("balance")]
    sw = len(bal)
    first = str(token_at(t, bal[0]["at_unix_ms"])) if bal else "–"
    desc = "; ".join(f'{e["why"]} @{e["at_s"]:.1f}s (token {token_at(t, e["at_unix_ms"])}) ' + ",".join(f'{x["worker"]}[{x["units"][0]}-{x["units"][1]}]' for x in e["stages"]) for e in ep)
    a = after(t)
    print(f"| {s} | {k} | {r} | {a:.2f} | {a / fresh if fresh else 0:.2f} | {sw} | {first} | {overall:.2f} | {desc} |")
    with open(f"bench/out/bal-{s}-{k}-{r}.win", "w") as f:   # tokens/s per 16-token window
        for i in range(16, len(t), 16):
            f.write(f"{i} {16 / (t[i] - t[i - 16]):.3f}\n")
PY
  done
  if command -v gnuplot > /dev/null; then
    gnuplot <<GP
set terminal pngcairo size 900,500
set output "bench/balance-$s.png"
set title "local-2 ${s}x slower from token 64: tokens/s of sequence 0 per 16-token window"
set xlabel "token"; set ylabel "tokens/s"; set key bottom right; set grid
set arrow from 64, graph 0 to 64, graph 1 nohead dt 2
plot "bench/out/bal-$s-1-off.win" w lp t "1 seq, balancer off", "bench/out/bal-$s-1-on.win" w lp t "1 seq, balancer on", \
     "bench/out/bal-$s-1-fresh.win" w lp t "1 seq, fresh plan", "bench/out/bal-$s-4-off.win" w l t "4 seqs, off", \
     "bench/out/bal-$s-4-on.win" w l t "4 seqs, on", "bench/out/bal-$s-4-fresh.win" w l t "4 seqs, fresh"
GP
  fi
done
grep -h "^balance:" bench/out/bal-*-on.err | sort | uniq -c | sort -rn | head -20 > bench/out/balance-decisions.txt || true
echo
echo "balancer decisions (-v): bench/out/balance-decisions.txt"
