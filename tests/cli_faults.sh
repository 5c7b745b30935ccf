#!/usr/bin/env bash
# cli_faults.sh — device loss without lost tokens (coord/recovery.h), with real
# processes and SIGKILL from outside: rings of 3 and 4 workers, both as
# `lingua run --local N` and as `lingua coordinator` plus separate `lingua
# worker` processes, on stories260K and synth-15Mshape-Q8_0.  Each run kills a
# random worker (the header in some runs) when a random number of tokens has
# arrived (watched through --token-log); the run must complete with exactly
# the tokens of the uninterrupted single-device run and record one loss.
# Also: a worker killed in the middle of a KV move; a frozen worker (SIGSTOP) is lost through the liveness timeout; a
# killed worker restarted under its name rejoins; a worker joining a running
# ring is profiled and considered for the plan (also one without a model file,
# which fetches its stage while the ring runs); when the survivors cannot
# hold the model the run ends promptly with a clear error.  The stall (kill ->
# next token) of every run is appended to STALLS when given (bench/faults.sh).
# usage: cli_faults.sh LINGUA SHARED_DIR [RUNS (default 32)] [STALLS_FILE] [SEED]
set -u
lingua=$1
shared=$2
runs=${3:-32}
stalls=${4:-}
RANDOM=${5:-8}
if [ ! -d "$shared" ]; then echo "SKIP: ../shared absent"; exit 0; fi
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
pass=0 fail=0 missed=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
ids() { python3 -c 'import json,sys; print(json.load(sys.stdin)["gen_ids"])'; }
now_ms() { date +%s%3N; }

# wait_tokens LOG N PID [CS]: until LOG has N lines (or PID exits, or CS centiseconds (3000) pass)
wait_tokens() {
  local t
  for ((t = 0; t < ${4:-3000}; t++)); do
    [ -s "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
    kill -0 "$3" 2> /dev/null || return 1
    sleep 0.01
  done
  return 1
}

# workers_of PID: the worker processes of `timeout ... lingua run` (PID is timeout's), in start order
workers_of() {
  local run; run=$(ps -o pid= --ppid "$1" | tr -d ' ' | head -1)
  [ -n "$run" ] && ps -o pid= --ppid "$run" --sort=start_time,pid | tr -d ' '
}

# endpoint_of ERRFILE: the coordinator's ROUTER endpoint from its "listening on" line (5 s at most).  Callers
# remove ERRFILE before starting the coordinator: the shell may create it only after this first reads it, and
# a stale file names the previous, dead coordinator (its workers would then wait for nobody).
endpoint_of() {
  local ep="" t
  for ((t = 0; t < 500; t++)); do
    ep=$(sed -n 's/^coordinator: listening on \([^,]*\),.*/\1/p' "$1" 2> /dev/null)
    [ -n "$ep" ] && break
    sleep 0.01
  done
  echo "$ep"
}

ranges_for() {  # ranges_for UNITS K
  case "$1:$2" in
    12:3) echo 0-4,4-8,8-12 ;; 12:4) echo 0-3,3-6,6-9,9-12 ;;
    14:3) echo 0-5,5-10,10-14 ;; 14:4) echo 0-4,4-8,8-11,11-14 ;;
  esac
}

declare -A ref
reference() {  # reference MODEL N
  local key="$1:$2"
  [ -n "${ref[$key]:-}" ] && return
  ref[$key]=$("$lingua" generate -m "$shared/models/$1.gguf" -p "Once upon a time" -n "$2" --temp 0 --json | ids)
}

# one_run MODE(local|coord) MODEL UNITS K N: kills a random worker at a random token
one_run() {
  local mode=$1 model=$2 units=$3 k=$4 n=$5 m="$shared/models/$2.gguf"
  reference "$model" "$n"
  local victim=$((RANDOM % k)) at=$((3 + RANDOM % (n / 2))) log="$tmp/tokens" pid
  local what="$mode $model k=$k kill worker $victim at token $at"
  rm -f "$log"
  local common=(-m "$m" -p "Once upon a time" -n "$n" --temp 0 --json --ranges "$(ranges_for "$units" "$k")"
                --link-latency 2 --token-log "$log")
  local wpids=()
  if [ "$mode" = local ]; then
    timeout 120 "$lingua" run --local "$k" "${common[@]}" > "$tmp/out.json" 2> "$tmp/err" & pid=$!
    pids+=("$pid")
    wait_tokens "$log" 1 "$pid"
    mapfile -t wpids < <(workers_of "$pid")
  else
    rm -f "$tmp/err"   # endpoint_of must not read the previous coordinator's endpoint
    timeout 120 "$lingua" coordinator --bind "tcp://127.0.0.1:*" --workers "$k" "${common[@]}" \
      > "$tmp/out.json" 2> "$tmp/err" & pid=$!
    pids+=("$pid")
    local ep; ep=$(endpoint_of "$tmp/err")
    for ((i = 0; i < k; i++)); do
      # no timeout wrapper: the pid must be the worker's (it leaves by itself once the coordinator is silent)
      "$lingua" worker --coordinator "$ep" -m "$m" --name "w$i" --link-latency 2 2> "$tmp/w$i.err" &
      wpids+=($!); pids+=($!)
    done
  fi
  if ! wait_tokens "$log" "$at" "$pid"; then
    wait "$pid"; bad "$what: the run ended before the kill ($(tail -c 300 "$tmp/err"))"; return
  fi
  # --local starts the workers in name order (local-0 is the header, as w0 is for the coordinator)
  kill -9 "${wpids[$victim]}"
  local killed=$(now_ms)
  if ! wait "$pid"; then bad "$what: exit status ($(grep -v 'older epochs' "$tmp/err" | tail -c 400))"; return; fi
  for p in "${wpids[@]}"; do wait "$p" 2> /dev/null; done
  [ "$(ids < "$tmp/out.json")" = "${ref[$model:$n]}" ] && ok || bad "$what: tokens differ"
  local stall; stall=$(awk -v k="$killed" '$2 > k { printf "%.1f", $2 - k; exit }' "$log")
  if [ -z "$stall" ]; then   # on a loaded machine the ring may finish before the kill lands: not a device loss
    missed=$((missed + 1)); return
  fi
  local losses; losses=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["losses"])' "$tmp/out.json")
  [ "$losses" = 1 ] && ok || bad "$what: $losses losses recorded"
  [ -n "$stalls" ] && [ -n "$stall" ] && echo "$stall $what" >> "$stalls"
}

configs=("local stories260K 12 3 100" "coord stories260K 12 3 100" "local stories260K 12 4 100"
         "coord stories260K 12 4 100" "local synth-15Mshape-Q8_0 14 3 60" "coord synth-15Mshape-Q8_0 14 4 60")
for ((r = 0; r < runs; r++)); do
  # shellcheck disable=SC2086
  one_run ${configs[$((r % ${#configs[@]}))]}
done
echo "  $runs kill runs done ($missed ended before the kill landed)"

m="$shared/models/stories260K.gguf"
reference stories260K 100

# A worker vanishing in the middle of a KV move: forced switches every 20 tokens over slow links
# (2 Mbit/s, so moving the KV rows of a few layers takes most of a second); right after the first
# switch that moves KV rows begins, a worker is killed.  Recovery replays; the tokens stay.
reference synth-15Mshape-Q8_0 100
rm -f "$tmp/tokens"
timeout 120 "$lingua" run --local 3 -m "$shared/models/synth-15Mshape-Q8_0.gguf" -p "Once upon a time" -n 100 --temp 0 \
  --json --ranges 0-5,5-10,10-14 --link-bandwidth 2 --switch-every 20 --switch-seed 10 -v --token-log "$tmp/tokens" \
  > "$tmp/out.json" 2> "$tmp/err" & pid=$!
pids+=("$pid")
moved=0
for ((t = 0; t < 3000; t++)); do
  grep -q "cross over by moving KV rows" "$tmp/err" && { moved=1; break; }
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.01
done
if [ $moved = 1 ]; then
  kill -9 "$(workers_of "$pid" | sed -n 2p)"
  if wait "$pid"; then
    [ "$(ids < "$tmp/out.json")" = "${ref[synth-15Mshape-Q8_0:100]}" ] && ok || bad "kill during a KV move: tokens differ"
  else
    bad "kill during a KV move: $(grep -v 'older epochs' "$tmp/err" | tail -c 300)"
  fi
else
  wait "$pid"; bad "no switch moved KV rows ($(tail -c 200 "$tmp/err"))"
fi

# A frozen worker: only the liveness timeout can tell.
rm -f "$tmp/tokens"
timeout 120 "$lingua" run --local 3 -m "$m" -p "Once upon a time" -n 100 --temp 0 --json --ranges 0-4,4-8,8-12 \
  --link-latency 2 --liveness 800 --token-log "$tmp/tokens" > "$tmp/out.json" 2> "$tmp/err" & pid=$!
pids+=("$pid")
if wait_tokens "$tmp/tokens" 20 "$pid"; then
  victim=$(workers_of "$pid" | sed -n 2p)
  kill -STOP "$victim"
  if wait "$pid"; then
    [ "$(ids < "$tmp/out.json")" = "${ref[stories260K:100]}" ] && ok || bad "frozen worker: tokens differ"
    grep -q "lost: silent for" "$tmp/err" && ok || bad "frozen worker: no liveness timeout logged"
  else
    bad "frozen worker: $(tail -c 300 "$tmp/err")"
  fi
  kill -9 "$victim" 2> /dev/null
else
  bad "frozen worker: no tokens"
fi

# A killed worker restarted under its name rejoins the coordinator.
rm -f "$tmp/tokens"
rm -f "$tmp/err"
timeout 120 "$lingua" coordinator --bind "tcp://127.0.0.1:*" --workers 3 -m "$m" -p "Once upon a time" -n 100 --temp 0 --json \
  --ranges 0-4,4-8,8-12 --link-latency 5 --token-log "$tmp/tokens" > "$tmp/out.json" 2> "$tmp/err" & pid=$!
pids+=("$pid")
ep=$(endpoint_of "$tmp/err")
ws=()
for i in 0 1 2; do "$lingua" worker --coordinator "$ep" -m "$m" --name "w$i" --link-latency 5 2> /dev/null & ws+=($!); pids+=($!); done
if wait_tokens "$tmp/tokens" 10 "$pid"; then
  kill -9 "${ws[2]}"
  sleep 0.3
  timeout 120 "$lingua" worker --coordinator "$ep" -m "$m" --name w2 --link-latency 5 2> /dev/null & pids+=($!)
  if wait "$pid"; then
    [ "$(ids < "$tmp/out.json")" = "${ref[stories260K:100]}" ] && ok || bad "rejoin: tokens differ"
    grep -q "worker w2 joined while the ring runs" "$tmp/err" && ok || bad "rejoin: w2 did not rejoin"
  else
    bad "rejoin: $(tail -c 300 "$tmp/err")"
  fi
else
  bad "rejoin: no tokens"
fi

# A worker joining a running ring is profiled and planned in when that gains enough: two slowed workers,
# then a full-speed one says HELLO.  Whether it is taken depends on measured speeds; that it is
# considered, and that the tokens stay those of one device, does not.  Twice: the joiner with its own model
# file, and without one: it fetches what profiling needs and, when it is planned in, fetches and hashes its
# stage while the old plan keeps generating (coord/prepare.h).
m2="$shared/models/synth-15Mshape-Q8_0.gguf"
reference synth-15Mshape-Q8_0 120
# join_case NAME JOINER_ARGS...
join_case() {
  local name=$1; shift
  rm -f "$tmp/tokens" "$tmp/err" "$tmp/w2.err"
  timeout 120 "$lingua" coordinator --bind "tcp://127.0.0.1:*" --workers 2 -m "$m2" --plan even --balance off \
    --profile-rounds 2 -p "Once upon a time" -n 120 --temp 0 --json --token-log "$tmp/tokens" > "$tmp/out.json" \
    2> "$tmp/err" & pid=$!
  pids+=("$pid")
  ep=$(endpoint_of "$tmp/err")
  for i in 0 1; do "$lingua" worker --coordinator "$ep" -m "$m2" --name "w$i" --slowdown 4 2> /dev/null & pids+=($!); done
  if ! wait_tokens "$tmp/tokens" 5 "$pid" 9000; then
    bad "$name: no tokens ($(grep -v "older epochs" "$tmp/err" | tail -c 300))"
    return
  fi
  timeout 120 "$lingua" worker --coordinator "$ep" --name w2 "$@" 2> "$tmp/w2.err" & pids+=($!)
  if ! wait "$pid"; then
    bad "$name: $(tail -c 300 "$tmp/err")"
    return
  fi
  [ "$(ids < "$tmp/out.json")" = "${ref[synth-15Mshape-Q8_0:120]}" ] && ok || bad "$name: tokens differ"
  grep -q "worker w2 joined while the ring runs" "$tmp/err" && grep -Eq "join: worker w2|w2 stays idle" "$tmp/err" &&
    ok || bad "$name: no decision about w2 ($(grep coordinator: "$tmp/err" | tail -3))"
}
join_case join -m "$m2"
rm -rf "$tmp/jcache"
join_case "join from cache" --cache "$tmp/jcache"
if grep -q "join: worker w2" "$tmp/err"; then
  grep -q "worker w2: units .* (prepare) resident" "$tmp/w2.err" && ok ||
    bad "join from cache: w2 was planned in without preparing its stage first: $(grep -i fetch "$tmp/w2.err")"
fi

# Nothing fits on the survivors: a clear error, promptly.
rm -f "$tmp/tokens"
timeout 120 "$lingua" run --local 3 -m "$m" -p "Once upon a time" -n 100 --temp 0 --ranges 0-4,4-8,8-12 \
  --link-latency 2 --mem-limit 5 --token-log "$tmp/tokens" > /dev/null 2> "$tmp/err" & pid=$!
pids+=("$pid")
if wait_tokens "$tmp/tokens" 10 "$pid"; then
  kill -9 "$(workers_of "$pid" | sed -n 2p)"
  t0=$(now_ms)
  wait "$pid"; st=$?
  [ $st -ne 0 ] && grep -q "does not fit on the 2 remaining worker" "$tmp/err" && [ $(($(now_ms) - t0)) -lt 10000 ] && ok ||
    bad "nothing fits: status $st, $(tail -c 300 "$tmp/err")"
else
  bad "nothing fits: no tokens ($(tail -c 300 "$tmp/err"))"
fi

echo "cli_faults: $pass passed, $fail failed"
[ $fail -eq 0 ]
