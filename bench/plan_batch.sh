#!/usr/bin/env bash
# bench/plan_batch.sh — the planner's throughput model with sequences in flight
# (issue 10): predicted vs measured stage times of a ring of WORKERS emulated
# devices (1 thread each) with K sequences in flight.  Each run is
#   lingua run -m M --local WORKERS --objective throughput --plan PLAN --prompts (K prompts) --seq K
#              -n 64 -t 1 -v --balance off
# whose -v report gives each stage's time per token as the plan prices it (the
# profile at the rows per step of that stage count), as the ring model simulates
# it (plan/ring_sim.h: the rows each stage really batches, from the profiles at
# every batch size), and as measured (decode steps of the run), with the rows
# per step.  Prints a Markdown table per run and the bottleneck ratios.
# usage: bench/plan_batch.sh [RUNS=5] [TYPE=q8_0] [K=8] [WORKERS=2] [PLAN=even] [LINGUA=build/lingua, built first]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5} type=${2:-q8_0} k=${3:-8} workers=${4:-2} plan=${5:-even} lingua=${6:-}
if [ -z "$lingua" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$(nproc)" --target lingua >/dev/null
  lingua=build/lingua
fi
mkdir -p bench/out
m=bench/out/synth-110M-$type.gguf
[ -f "$m" ] || "$lingua" synth -o "$m" --dim 768 --layers 12 --heads 12 --kv-heads 12 --ffn 2048 --vocab 32000 \
  --ctx 1024 --type "$type" --seed 1 >/dev/null 2>&1
prompts=bench/out/plan-batch-prompts-$k.txt
python3 -c '
import sys
base = ["Once upon a time", "The little dog", "Lily wanted to", "One day", "The sun was", "Tom and his mom",
        "A big red ball", "In the park"]
for i in range(int(sys.argv[1])): print(base[i % 8] + " there was" * (i // 8))' "$k" > "$prompts"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "Machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start, $(date -u '+%F %H:%M') UTC;" \
  "110M $type, --local $workers -t 1, --plan $plan, $k in flight."
echo
echo "| run | stage | units | plan ms/token | simulated ms/token (rows) | measured ms/token (rows) | measured / plan | measured / simulated |"
echo "|---:|---:|---|---:|---:|---:|---:|---:|"
for ((r = 1; r <= runs; r++)); do
  "$lingua" run -m "$m" --local "$workers" --objective throughput --plan "$plan" --prompts "$prompts" --seq "$k" \
    -n 64 --temp 0 -t 1 -v --balance off 2>&1 >/dev/null | tr -d '\000' > "$log" || true
  python3 - "$log" "$r" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
part = text.split("predicted vs measured:")[-1]
rows = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"stage (\d+) \([^)]*\): \d+ decode steps of ([\d.]+) rows", text)}
sim = {int(m.group(1)): (float(m.group(2)), float(m.group(3)))
       for m in re.finditer(r"simulated stage (\d+): decode steps of ([\d.]+) rows, ([\d.]+) ms per token", part)}
stages = re.findall(r"^(\d+)\s+\S+\s+(\d+-\d+)\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s+[\d.]+\s+([\d.]+)\s*$", part, re.M)
if not stages:
    print("| %s | run failed: %s |" % (sys.argv[2], text.strip().splitlines()[-1][:200] if text.strip() else "no output"))
    sys.exit(0)
pred, meas, simt = [], [], []
for (st, units, p, mm) in stages:
    st, p, mm = int(st), float(p), float(mm)
    sr, sm = sim.get(st, (0.0, 0.0))
    pred.append(p); meas.append(mm); simt.append(sm)
    print("| %s | %d | %s | %.3f | %.3f (%.1f) | %.3f (%.1f) | %.2f | %s |" % (sys.argv[2], st, units, p, sm, sr, mm,
          rows.get(st, 0.0), mm / p, "%.2f" % (mm / sm) if sm else "-"))
print("| %s | bottleneck | | %.3f | %.3f | %.3f | **%.2f** | **%s** |" % (sys.argv[2], max(pred), max(simt), max(meas),
      max(meas) / max(pred), "%.2f" % (max(meas) / max(simt)) if max(simt) else "-"))
PY
done
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
