#!/usr/bin/env bash
# cli_plan.sh — `lingua plan` end to end on problem files written here:
#   a LinguaLinked-like cluster (two fast devices, one 2.5x slower, a Wi-Fi-like
#   link of 2 ms and 40 Mbit/s) for both objectives: --json parses, has exactly
#   the documented keys, the stages cover the units in order from the header,
#   DP and MILP objectives agree to 1e-9, --overlap adds replicas that fit;
#   the table names every device used; an infeasible problem exits 2 saying
#   why; malformed JSON, a missing field, a wrong length and bad options exit
#   1 or 2 with a message naming the problem.  Needs no shared files.
# usage: cli_plan.sh LINGUA SHARED_DIR
set -u
lingua=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# problem NAME OBJECTIVE [MEM_FAST MEM_SLOW UNIT_MEM]: a 46-unit model (22 blocks x 2 + embedding + output).
problem() {
  python3 - "$tmp/$1.json" "$2" "${3:-1000000000}" "${4:-1200000000}" "${5:-45000000}" <<'PY'
import json, sys
path, objective, mem_fast, mem_slow, unit_mem = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
M = 46
units = [{"mem": unit_mem + (25000000 if u in (0, M - 1) else 0), "out_bytes": 8192} for u in range(M)]
speeds, names = [1.0, 1.0, 2.5], ["phone-a", "phone-b", "tablet"]
mems = [mem_fast, mem_fast, mem_slow]
devices = [{"name": names[d], "mem": mems[d],
            "time": [round(0.0012 * speeds[d] * (1.6 if u in (0, M - 1) else 1.0), 7) for u in range(M)]}
           for d in range(3)]
lat = [[0 if i == k else 0.002 for k in range(3)] for i in range(3)]
bw = [[0 if i == k else 5e6 for k in range(3)] for i in range(3)]
json.dump({"objective": objective, "header": 0, "units": units, "devices": devices,
           "latency": lat, "bandwidth": bw, "token_bytes": 4}, open(path, "w"), indent=1)
PY
}

# check_json FILE.json OUT.json [overlap]: shape, coverage, objective recomputed.
check_json() {
  python3 - "$@" <<'PY'
import json, sys
prob = json.load(open(sys.argv[1])); out = json.load(open(sys.argv[2])); overlap = len(sys.argv) > 3
keys = {"stages", "objective", "solver", "solve_ms"} | ({"replicas"} if overlap else set())
assert set(out) == keys, sorted(out)
st = out["stages"]; M = len(prob["units"]); N = len(prob["devices"])
assert st[0]["device"] == prob["header"] and st[0]["start"] == 0 and st[-1]["end"] == M, st
assert all(a["end"] == b["start"] for a, b in zip(st, st[1:])), st
assert len({s["device"] for s in st}) == len(st), st
lat, bw = prob["latency"], prob["bandwidth"]
costs = []
for i, s in enumerate(st):
    d = s["device"]; units = range(s["start"], s["end"])
    assert sum(prob["units"][u]["mem"] for u in units) <= prob["devices"][d]["mem"]
    t = sum(prob["devices"][d]["time"][u] for u in units)
    if i + 1 < len(st):
        k = st[i + 1]["device"]; t += lat[d][k] + prob["units"][s["end"] - 1]["out_bytes"] / bw[d][k]
    elif len(st) > 1:
        h = prob["header"]; t += lat[d][h] + prob["token_bytes"] / bw[d][h]
    costs.append(t)
want = sum(costs) if prob["objective"] == "latency" else max(costs)
assert abs(want - out["objective"]) <= 1e-9 * want, (want, out["objective"])
if overlap:
    for r in out["replicas"]:
        d = r["device"]; own = next(s for s in st if s["device"] == d)
        assert r["end"] == own["start"] or r["start"] == own["end"], r
        used = sum(prob["units"][u]["mem"] for u in range(own["start"], own["end"]))
        used += sum(prob["units"][u]["mem"] for x in out["replicas"] if x["device"] == d for u in range(x["start"], x["end"]))
        assert used <= prob["devices"][d]["mem"], (d, used)
print("  %s %s: %d stages, objective %.6g, %s %.3f ms" % (prob["objective"], out["solver"], len(st), out["objective"], out["solver"], out["solve_ms"]))
PY
}

for obj in latency throughput; do
  problem "ll_$obj" "$obj"
  for solver in dp milp; do
    if "$lingua" plan --problem "$tmp/ll_$obj.json" --solver "$solver" --json >"$tmp/$obj.$solver.json" 2>"$tmp/err"; then
      check_json "$tmp/ll_$obj.json" "$tmp/$obj.$solver.json" && ok || bad "$obj $solver: json check"
    else
      bad "$obj $solver: exit status $?: $(cat "$tmp/err")"
    fi
  done
  python3 - "$tmp/$obj.dp.json" "$tmp/$obj.milp.json" <<'PY' && ok || bad "$obj: dp and milp objectives differ"
import json, sys
a, b = (json.load(open(f))["objective"] for f in sys.argv[1:3])
assert abs(a - b) <= 1e-9 * max(a, b), (a, b)
PY
  "$lingua" plan --problem "$tmp/ll_$obj.json" --json --overlap >"$tmp/ov.json" 2>"$tmp/err" &&
    check_json "$tmp/ll_$obj.json" "$tmp/ov.json" overlap && ok || bad "$obj --overlap: $(cat "$tmp/err")"
  out=$("$lingua" plan --problem "$tmp/ll_$obj.json" --overlap) && ok || bad "$obj table: exit status $?"
  for word in phone-a "objective:" "solver: dp" "overlap replicas" "memory used / available"; do
    grep -q -- "$word" <<<"$out" && ok || bad "$obj table lacks '$word'"
  done
done
# The throughput plan uses all three devices; latency keeps to fewer hops than stages allow.
python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))["stages"]) == 3' "$tmp/throughput.dp.json" && ok ||
  bad "throughput plan does not use the three devices"

# expect STATUS PATTERN ARGS...: exit status and a message on stderr.
expect() {
  local want=$1 pattern=$2; shift 2
  "$lingua" plan "$@" >"$tmp/out" 2>"$tmp/err"; local st=$?
  if [ "$st" -eq "$want" ] && grep -q -- "$pattern" "$tmp/err"; then ok
  else bad "plan $*: status $st (want $want), stderr: $(head -c 300 "$tmp/err")"; fi
}

# Infeasible: 46 units of 200 MB on 3 x 1 GB -> exit 2 with the reason, for both solvers.
problem tight latency 1000000000 1000000000 200000000
expect 2 "no plan fits: total unit memory" --problem "$tmp/tight.json"
expect 2 "no plan fits: total unit memory" --problem "$tmp/tight.json" --solver milp
problem huge throughput 1300000000 1250000000
python3 - "$tmp/huge.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); p["units"][12]["mem"] = 1350000000; json.dump(p, open(sys.argv[1], "w"))
PY
expect 2 "no plan fits: units 12..12 fit on no device" --problem "$tmp/huge.json" --json
expect 2 "units 12..12 fit on no device" --problem "$tmp/huge.json" --solver milp

# Malformed input -> exit 1 naming the problem.
printf '{"objective": "latency", "header": 0,' >"$tmp/trunc.json"
expect 1 "byte 36: malformed JSON" --problem "$tmp/trunc.json"
sed 's/"token_bytes": 4/"token_bytez": 4/' "$tmp/ll_latency.json" >"$tmp/typo.json"
expect 1 "unknown field 'token_bytez'" --problem "$tmp/typo.json"
python3 - "$tmp/ll_latency.json" "$tmp" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); d = sys.argv[2]
q = json.loads(json.dumps(p)); q["devices"][1]["time"].pop(); json.dump(q, open(d + "/short.json", "w"))
q = json.loads(json.dumps(p)); q["bandwidth"][0][2] = 0; json.dump(q, open(d + "/bw0.json", "w"))
q = json.loads(json.dumps(p)); q["header"] = 3; json.dump(q, open(d + "/hdr.json", "w"))
q = json.loads(json.dumps(p)); del q["latency"]; json.dump(q, open(d + "/nolat.json", "w"))
q = json.loads(json.dumps(p)); q["units"][5]["mem"] = -1; json.dump(q, open(d + "/neg.json", "w"))
q = json.loads(json.dumps(p)); q["latency"].pop(); json.dump(q, open(d + "/lat2.json", "w"))
PY
expect 1 "devices\[1\].time: 45 entries, expected 46" --problem "$tmp/short.json"
expect 1 "bandwidth\[0\]\[2\]: 0 between distinct devices" --problem "$tmp/bw0.json"
expect 1 "header: 3 out of range 0..2" --problem "$tmp/hdr.json"
expect 1 "missing field 'latency'" --problem "$tmp/nolat.json"
expect 1 "units\[5\].mem: -1 is negative" --problem "$tmp/neg.json"
expect 1 "latency: 2 entries, expected 3" --problem "$tmp/lat2.json"
expect 1 "cannot open" --problem "$tmp/absent.json"

# Bad command lines -> exit 2.
expect 2 "give the problem" --json
expect 2 "--solver expects dp or milp" --problem "$tmp/ll_latency.json" --solver simplex
expect 2 "unknown option '--fast'" --problem "$tmp/ll_latency.json" --fast
expect 2 "--time-limit expects" --problem "$tmp/ll_latency.json" --time-limit soon

echo "cli_plan: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
