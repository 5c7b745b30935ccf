#!/usr/bin/env bash
# cli_ship_switch.sh — weights shipped on demand meet the live ring: three
# workers without a model file (each fetches its stage into its own cache)
# under a coordinator that forces an epoch switch every 8 tokens, so every
# re-plan gives workers units they do not hold yet.  Each worker must fetch
# what it lacks before the switch, and the tokens must equal `lingua generate`.
# Loopback only; bounded by `timeout`.
# usage: cli_ship_switch.sh LINGUA SHARED_DIR
set -u
lingua=$1
shared=$2
m="$shared/models/stories260K.gguf"
if [ ! -f "$m" ]; then echo "SKIP: $m absent"; exit 0; fi
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
ids() { python3 -c 'import json,sys; print(" ".join(map(str, json.load(sys.stdin)["gen_ids"])))'; }

want=$("$lingua" generate -m "$m" -p "Once upon a time" -n 40 --temp 0 --json 2>/dev/null | ids)
timeout 120 "$lingua" coordinator --bind "tcp://127.0.0.1:*" --workers 3 -m "$m" -p "Once upon a time" -n 40 \
  --temp 0 --json --plan even --switch-every 8 > "$tmp/out.json" 2> "$tmp/err" &
cpid=$!; pids+=($cpid)
ep=""
for ((t = 0; t < 500; t++)); do
  ep=$(sed -n 's/^coordinator: listening on \([^,]*\),.*/\1/p' "$tmp/err"); [ -n "$ep" ] && break; sleep 0.02
done
[ -n "$ep" ] || { echo "FAIL: no coordinator endpoint: $(cat "$tmp/err")"; exit 1; }
for i in 0 1 2; do
  timeout 120 "$lingua" worker --coordinator "$ep" --cache "$tmp/cache$i" --name "w$i" 2> "$tmp/w$i.err" &
  pids+=($!)
done
wait $cpid
rc=$?
got=$(ids < "$tmp/out.json" 2>/dev/null)
[ $rc -eq 0 ] && [ "$got" = "$want" ] && ok || bad "tokens differ from generate (rc $rc): got '$got' want '$want'; $(tail -3 "$tmp/err")"
epochs=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["epochs"]))' "$tmp/out.json" 2>/dev/null)
[ "${epochs:-0}" -ge 4 ] && ok || bad "expected at least 4 epochs, got '${epochs:-none}'"
# a worker fetched more than once: a later epoch gave it tensors it did not have
refetch=0
for i in 0 1 2; do
  n=$(grep -c "fetched .* MiB" "$tmp/w$i.err"); [ "$n" -ge 2 ] && refetch=$((refetch + 1))
done
[ $refetch -ge 1 ] && ok || bad "no worker fetched new units at a switch: $(cat "$tmp"/w*.err | grep -i fetch)"
echo "cli_ship_switch: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
