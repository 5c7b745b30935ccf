#!/usr/bin/env bash
# cli_segment.sh — `lingua segment`: the JSON form has the documented shape
# (units with name, weight_bytes, flops_per_token, kv_bytes_per_token,
# out_bytes_per_token; sdm; rdm), 2·n_layer+2 units in the documented order
# (their weights adding up to the file's tensors is checked in test_seg), an empty RDM; a finer --cuts gives a non-empty RDM; bad cuts fail.
# usage: cli_segment.sh LINGUA SHARED_DIR
set -u
lingua=$1
shared=$2
if [ ! -d "$shared" ]; then echo "SKIP: ../shared absent"; exit 0; fi
pass=0 fail=0
check() { if eval "$2"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1" >&2; fi; }

for model in stories260K synth-15Mshape-Q8_0; do
  f="$shared/models/$model.gguf"
  out=$("$lingua" segment -m "$f" --json)
  check "$model segment --json" "[ $? -eq 0 ]"
  python3 - "$f" <<PY
import json, os, struct, sys
o = json.loads('''$out''')
units = o["units"]
for u in units:
    for k in ("name", "weight_bytes", "flops_per_token", "kv_bytes_per_token", "out_bytes_per_token"):
        assert k in u, (k, u)
names = [u["name"] for u in units]
n_layer = (len(units) - 2) // 2
assert names[0] == "embed" and names[-1] == "output" and names[1] == "blk.0.attn" and names[2] == "blk.0.ffn", names
assert o["rdm"] == [], o["rdm"]
assert all(u["out_bytes_per_token"] == units[0]["out_bytes_per_token"] for u in units[:-1])
print("  %s: %d units, %d weight bytes" % (os.path.basename(sys.argv[1]), len(units), sum(u["weight_bytes"] for u in units)))
PY
  check "$model json shape" "[ $? -eq 0 ]"
done

f="$shared/models/stories260K.gguf"
out=$("$lingua" segment -m "$f" --json --cuts 0,3,9,15)
n_rdm=$(python3 -c 'import json,sys; print(len(json.loads(sys.stdin.read())["rdm"]))' <<<"$out")
check "finer cut gives an RDM" "[ '$n_rdm' -gt 0 ]"
"$lingua" segment -m "$f" --cuts 5,2 >/dev/null 2>&1; st=$?
check "decreasing cuts refused" "[ $st -eq 1 ]"
"$lingua" segment -m "$f" --cuts x >/dev/null 2>&1; st=$?
check "bad --cuts refused" "[ $st -eq 2 ]"
# profile: one positive time per unit, in the segmentation's order.
out=$("$lingua" profile -m "$f" --rounds 3 --json)
python3 -c 'import json,sys
o = json.loads(sys.argv[1]); names = [u["name"] for u in o["units"]]
assert len(names) == 12 and names[0] == "embed" and names[-1] == "output", names
assert all(u["time"] > 0 and u["spread"] >= 0 for u in o["units"])
assert o["free_mem_mb"] > 0' "$out"
check "profile --json" "[ $? -eq 0 ]"
# profile --batch: steps of several sequences, per-token times, same units.
out=$("$lingua" profile -m "$f" --rounds 2 --batch 5 --json)
python3 -c 'import json,sys
o = json.loads(sys.argv[1]); assert o["batch"] == 5 and len(o["units"]) == 12
assert all(u["time"] > 0 for u in o["units"])' "$out"
check "profile --batch 5" "[ $? -eq 0 ]"
"$lingua" profile -m "$f" --batch 0 >/dev/null 2>&1; st=$?
check "profile --batch 0 refused" "[ $st -eq 2 ]"
echo "cli_segment: $pass passed, $fail failed"
[ $fail -eq 0 ]
