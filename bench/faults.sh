#!/usr/bin/env bash
# bench/faults.sh — device loss at scale: RUNS (default 200) SIGKILL runs of
# tests/cli_faults.sh (3 and 4 workers, `lingua run --local` and `lingua
# coordinator` + separate workers, stories260K and synth-15Mshape-Q8_0, a random
# worker — the header in about a quarter of the runs — killed at a random
# token), every one checked token for token against the single-device run;
# then the distribution of the stall (kill -> next token) in ms.
# usage: bench/faults.sh [BUILD_DIR (default build)] [RUNS] [SEED]
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
runs=${2:-200}
seed=${3:-20261201}
stalls=$(mktemp)
bin=$(mktemp -d)
trap 'rm -rf "$stalls" "$bin"' EXIT
cp "$build/lingua" "$bin/lingua"   # a copy: rebuilding meanwhile cannot disturb the runs
bash "$here/tests/cli_faults.sh" "$bin/lingua" "$here/../shared" "$runs" "$stalls" "$seed" 2>&1 |
  grep -E "^FAIL|kill runs done|passed"
status=${PIPESTATUS[0]}
python3 - "$stalls" <<'PY'
import sys
rows = [l.split(None, 1) for l in open(sys.argv[1]) if l.strip()]
v = sorted(float(r[0]) for r in rows)
if not v:
    sys.exit("no stalls recorded")
q = lambda p: v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]
print(f"stall kill -> next token over {len(v)} runs (ms): min {v[0]:.1f}  median {q(0.5):.1f}  "
      f"p90 {q(0.9):.1f}  p99 {q(0.99):.1f}  max {v[-1]:.1f}")
hdr = sorted(float(r[0]) for r in rows if "kill worker 0 " in r[1])
if hdr:
    print(f"  header killed: {len(hdr)} runs, median {hdr[len(hdr)//2]:.1f} ms, max {hdr[-1]:.1f} ms")
PY
exit "$status"
