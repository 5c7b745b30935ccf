#!/usr/bin/env bash
# cli_ship_switch.sh — weights shipped on demand meet the live ring: three
# workers without a model file (each fetches its stage into its own cache)
# under a coordinator that forces an epoch switch every 8 tokens: to random
# plans (each worker must fetch what it lacks: with --prepare on while the old
# plan keeps running, so no deployment after the first fetches anything; with
# off at the deployment), then to boundary moves within the overlap replicas
# (nothing to fetch or prepare for the stage).  Links of 2 ms (emulated) keep
# the tiny model slow enough for several switches in one generation.
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

n=200
want=$("$lingua" generate -m "$m" -p "Once upon a time" -n $n --temp 0 --json 2>/dev/null | ids)

# ring NAME ARGS...: a coordinator with ARGS and three cache-only workers; logs in $tmp/NAME.*
ring() {
  local name=$1; shift
  timeout 120 "$lingua" coordinator --bind "tcp://127.0.0.1:*" --workers 3 -m "$m" -p "Once upon a time" -n $n \
    --temp 0 --json --plan even --switch-every 8 "$@" > "$tmp/$name.json" 2> "$tmp/$name.err" &
  local cpid=$!; pids+=($cpid)
  local ep=""
  for ((t = 0; t < 500; t++)); do
    ep=$(sed -n 's/^coordinator: listening on \([^,]*\),.*/\1/p' "$tmp/$name.err" 2>/dev/null); [ -n "$ep" ] && break; sleep 0.02
  done
  [ -n "$ep" ] || { echo "FAIL: no coordinator endpoint: $(cat "$tmp/$name.err")"; exit 1; }
  for i in 0 1 2; do
    timeout 120 "$lingua" worker --coordinator "$ep" --cache "$tmp/$name.cache$i" --name "w$i" --link-latency 2 2> "$tmp/$name.w$i.err" &
    pids+=($!)
  done
  wait $cpid
  local rc=$?
  local got
  got=$(ids < "$tmp/$name.json" 2>/dev/null)
  [ $rc -eq 0 ] && [ "$got" = "$want" ] && ok || bad "$name: tokens differ from generate (rc $rc): got '$got' want '$want'; $(tail -3 "$tmp/$name.err")"
}

# most_fetches NAME WHAT: the most "fetched ... (WHAT)" lines of one worker of run NAME
most_fetches() {
  local most=0 k
  for i in 0 1 2; do
    k=$(grep -c "fetched .* MiB ($2)" "$tmp/$1.w$i.err"); [ "$k" -gt $most ] && most=$k
  done
  echo $most
}
epochs() { python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["epochs"]))' "$tmp/$1.json" 2>/dev/null; }

# Random plans: every re-plan gives workers units they do not hold yet.  With --prepare on (the default) they
# fetch them while the old plan runs (lines "(prepare)"), so only the first deployment fetches its stage.
ring random
e=$(epochs random); [ "${e:-0}" -ge 3 ] && ok || bad "expected at least 3 epochs, got '${e:-none}'"
[ "$(most_fetches random stage)" -le 1 ] && ok || bad "a deployment after the first fetched its stage: $(grep -H fetched "$tmp"/random.w*.err)"
[ "$(most_fetches random prepare)" -ge 1 ] && ok || bad "no worker prepared new units before a switch: $(grep -H fetch "$tmp"/random.w*.err)"
python3 -c 'import json,sys; sys.exit(0 if any(e["prepare_ms"] > 0 for e in json.load(open(sys.argv[1]))["epochs"]) else 1)' \
  "$tmp/random.json" && ok || bad "no epoch record has a prepare time"
# --prepare off: the same switches fetch at the deployment (the check above can fail)
ring noprepare --prepare off
[ "$(most_fetches noprepare stage)" -ge 2 ] && ok || bad "with --prepare off no deployment fetched new units: $(grep -H fetched "$tmp"/noprepare.w*.err)"
[ "$(most_fetches noprepare prepare)" -eq 0 ] && ok || bad "--prepare off still prepared"

# Boundary moves of one or two units, onto the overlap replicas each worker keeps warm (--replicas 2): after the
# first deployment no worker fetches anything for its stage (only new replicas); without replicas they must.
moves="0-4,4-8,8-12;0-5,5-9,9-12;0-3,3-7,7-12;0-4,4-8,8-12"
for r in 2 0; do
  ring "replicas$r" --switch-to "$moves" --replicas $r
  if [ $r -gt 0 ]; then
    [ "$(most_fetches replicas$r stage)" -le 1 ] && [ "$(most_fetches replicas$r prepare)" -eq 0 ] && ok ||
      bad "with replicas a worker fetched stage units at a boundary move: $(grep -H fetched "$tmp"/replicas$r.w*.err)"
    grep -q "fetched .* MiB (replicas)" "$tmp"/replicas$r.w*.err && ok || bad "no replica was fetched"
  else
    [ "$(most_fetches replicas$r prepare)" -ge 1 ] && ok || bad "without replicas no worker fetched at a boundary move: $(grep -H fetched "$tmp"/replicas$r.w*.err)"
  fi
done
echo "cli_ship_switch: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
