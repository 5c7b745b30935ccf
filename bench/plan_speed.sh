#!/usr/bin/env bash
# bench/plan_speed.sh — solve times of `lingua plan` (DP and GLPK MILP) on
# LinguaLinked-like problems: N devices of 1x..4x speed holding 15%..50% of
# the model each, M units of 5..30 MB, links of 1..5 ms and 2..10 MB/s, both
# objectives, COUNT seeded problems per size.  Prints a Markdown table with
# each solver's solve_ms (as `lingua plan --json` reports it) and checks that
# the objectives agree to 1e-9.  The MILP gets LIMIT ms (default 600000).
# usage: bench/plan_speed.sh [COUNT] [LIMIT_MS] > table.md
#        LINGUA=path/to/lingua PLAN_OUT=dir bench/plan_speed.sh ...   (that binary, problems in dir)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-2}
limit=${2:-600000}
if [ -n "${LINGUA:-}" ]; then
  lingua=$LINGUA
else
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$(nproc)" --target lingua >/dev/null
  lingua=build/lingua
fi
mkdir -p "${PLAN_OUT:-bench/out}"

echo "| devices x units | objective | seed | dp ms | milp ms | stages | objective (s/token) |"
echo "|---|---|---:|---:|---:|---:|---:|"
for size in "3 46" "6 60" "8 130"; do
  set -- $size
  for obj in latency throughput; do
    for seed in $(seq 1 "$count"); do
      f=${PLAN_OUT:-bench/out}/plan-$1x$2-$obj-$seed.json
      python3 - "$f" "$1" "$2" "$obj" "$seed" <<'PY'
import json, random, sys
path, n, m, obj, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
r = random.Random(seed * 1000 + n)
units = [{"mem": r.randint(5_000_000, 30_000_000), "out_bytes": r.uniform(4096, 16384)} for _ in range(m)]
total = sum(u["mem"] for u in units)
devices = []
for d in range(n):
    speed = r.uniform(1, 4)
    devices.append({"name": "dev%d" % d, "mem": int(total * r.uniform(0.15, 0.5)),
                    "time": [speed * r.uniform(0.5e-3, 1.5e-3) for _ in range(m)]})
lat = [[0 if i == k else r.uniform(1e-3, 5e-3) for k in range(n)] for i in range(n)]
bw = [[0 if i == k else r.uniform(2e6, 1e7) for k in range(n)] for i in range(n)]
json.dump({"objective": obj, "header": r.randrange(n), "units": units, "devices": devices,
           "latency": lat, "bandwidth": bw, "token_bytes": 4}, open(path, "w"))
PY
      st=0; dp=$($lingua plan --problem "$f" --solver dp --json 2>/dev/null) || st=$?
      if [ "$st" -ne 0 ]; then
        mst=0; $lingua plan --problem "$f" --solver milp --json >/dev/null 2>&1 || mst=$?
        echo "| $1 x $2 | $obj | $seed | exit $st | exit $mst | | $([ "$st" -eq 2 ] && [ "$mst" -eq 2 ] && echo "no plan fits (both)") |"
        continue
      fi
      milp=$($lingua plan --problem "$f" --solver milp --json --time-limit "$limit" 2>&1) || milp='{"objective": null, "solve_ms": null, "stages": []}'
      python3 - "$1 x $2" "$obj" "$seed" "$dp" "$milp" <<'PY'
import json, sys
size, obj, seed, dp, milp = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), json.loads(sys.argv[5])
a, b = dp["objective"], milp["objective"]
agree = b is not None and abs(a - b) <= 1e-9 * max(a, b)
ms = "%.1f" % milp["solve_ms"] if milp["solve_ms"] is not None else "time limit"
print("| %s | %s | %s | %.1f | %s%s | %d | %.6g |" % (size, obj, seed, dp["solve_ms"], ms, "" if agree else " (differs!)",
                                                  len(dp["stages"]), a))
PY
    done
  done
done
