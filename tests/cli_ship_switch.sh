#!/usr/bin/env bash
# cli_ship_switch.sh — weights shipped on demand meet the live ring: three
# workers without a model file (each fetches its stage into its own cache)
# under a coordinator that forces an epoch switch every 8 tokens: to random
# plans (each worker must fetch what it lacks before the switch), then to
# boundary moves within the overlap replicas (nothing to fetch for the stage).
# The tokens must equal `lingua generate` in every run.
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

# ring NAME ARGS...: a coordinator with ARGS and three cache-only workers; logs in $tmp/NAME.*
ring() {
  local name=$1; shift
  timeout 120 "$lingua" coordinator --bind "tcp://127.0.0.1:*" --workers 3 -m "$m" -p "Once upon a time" -n 40 \
    --temp 0 --json --plan even --switch-every 8 "$@" > "$tmp/$name.json" 2> "$tmp/$name.err" &
  local cpid=$!; pids+=($cpid)
  local ep=""
  for ((t = 0; t < 500; t++)); do
    ep=$(sed -n 's/^coordinator: listening on \([^,]*\),.*/\1/p' "$tmp/$name.err"); [ -n "$ep" ] && break; sleep 0.02
  done
  [ -n "$ep" ] || { echo "FAIL: no coordinator endpoint: $(cat "$tmp/$name.err")"; exit 1; }
  for i in 0 1 2; do
    timeout 120 "$lingua" worker --coordinator "$ep" --cache "$tmp/$name.cache$i" --name "w$i" 2> "$tmp/$name.w$i.err" &
    pids+=($!)
  done
  wait $cpid
  local rc=$?
  local got
  got=$(ids < "$tmp/$name.json" 2>/dev/null)
  [ $rc -eq 0 ] && [ "$got" = "$want" ] && ok || bad "$name: tokens differ from generate (rc $rc): got '$got' want '$want'; $(tail -3 "$tmp/$name.err")"
}

# Random plans: every re-plan gives workers units they do not hold yet.
ring random
epochs=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["epochs"]))' "$tmp/random.json" 2>/dev/null)
[ "${epochs:-0}" -ge 4 ] && ok || bad "expected at least 4 epochs, got '${epochs:-none}'"
# a worker fetched its stage more than once: a later epoch gave it tensors it did not have
refetch=0
for i in 0 1 2; do
  n=$(grep -c "fetched .* MiB (stage)" "$tmp/random.w$i.err"); [ "$n" -ge 2 ] && refetch=$((refetch + 1))
done
[ $refetch -ge 1 ] && ok || bad "no worker fetched new units at a switch: $(cat "$tmp"/random.w*.err | grep -i fetch)"

# Boundary moves of one or two units, onto the overlap replicas each worker keeps warm (--replicas 2): after the
# first deployment no worker fetches anything for its stage (only new replicas); without replicas they must.
moves="0-4,4-8,8-12;0-5,5-9,9-12;0-3,3-7,7-12;0-4,4-8,8-12"
for r in 2 0; do
  ring "replicas$r" --switch-to "$moves" --replicas $r
  most=0
  for i in 0 1 2; do
    n=$(grep -c "fetched .* MiB (stage)" "$tmp/replicas$r.w$i.err"); [ "$n" -gt $most ] && most=$n
  done
  if [ $r -gt 0 ]; then
    [ $most -le 1 ] && ok || bad "with replicas a worker fetched stage units at a boundary move: $(grep -H fetched "$tmp"/replicas$r.w*.err)"
    grep -q "fetched .* MiB (replicas)" "$tmp"/replicas$r.w*.err && ok || bad "no replica was fetched"
  else
    [ $most -ge 2 ] && ok || bad "without replicas no worker fetched at a boundary move: $(grep -H fetched "$tmp"/replicas$r.w*.err)"
  fi
done
echo "cli_ship_switch: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
