#!/usr/bin/env bash
# cli_epoch.sh — the epoch switch keeps every token (coord/epoch.h): `lingua run
# --switch-every K` moves the running ring to a random valid plan (random device
# subset, order and unit ranges; the header moves too) every K tokens while 1 to
# 8 sequences are in flight; each session crosses over at its next token
# boundary and replays its history through the new stages.  The tokens must be
# bit-identical to the single-device engine, greedy and with temperature
# sampling (the sampler's RNG is carried across), and the --json record must
# list exactly the switches made (one after every K accepted tokens, with
# --prepare off: the switch at once).  With --prepare on (the default) a switch
# that gives a worker units it does not hold waits until it has hashed them,
# the old plan running meanwhile: the tokens must be the same.
# usage: cli_epoch.sh LINGUA SHARED_DIR
set -u
lingua=$1
shared=$2
if [ ! -d "$shared" ]; then echo "SKIP: ../shared absent"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
ids() { python3 -c 'import json,sys; print(json.load(sys.stdin)["gen_ids"])'; }
m="$shared/models/stories260K.gguf"
printf '%s\n' "Once upon a time" "The little dog" "Lily wanted to" "One day, a boy" "The sun was" \
  "Tom and his mom" "A big red ball" "In the park there" > "$tmp/all.txt"

# Single sequences: greedy and sampled, several seeds for the random plans.
for cfg in "3 0 5 1" "4 0.8 3 2" "2 0.9 2 3"; do
  read -r k temp every seed <<< "$cfg"
  samp=(--temp "$temp" --seed 11 --repeat-penalty 1.1)
  want=$("$lingua" generate -m "$m" -p "Once upon a time" -n 64 "${samp[@]}" --json | ids)
  if "$lingua" run -m "$m" --local "$k" -p "Once upon a time" -n 64 "${samp[@]}" --json --switch-every "$every" \
       --switch-seed "$seed" --prepare off > "$tmp/got.json" 2> "$tmp/err"; then
    [ "$(ids < "$tmp/got.json")" = "$want" ] && ok || bad "1 sequence, $k workers, temp $temp: tokens differ"
    n=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(e["why"]=="forced switch" for e in d["epochs"]))' "$tmp/got.json")
    # a switch after every K accepted tokens while the session runs: exactly (64 - 1) / K of them
    [ "$n" -eq $(((64 - 1) / every)) ] && ok || bad "1 sequence, $k workers: $n forced switches, want $(((64 - 1) / every))"
  else
    bad "1 sequence, $k workers, temp $temp: $(tail -c 300 "$tmp/err")"
  fi
  if "$lingua" run -m "$m" --local "$k" -p "Once upon a time" -n 64 "${samp[@]}" --json --switch-every "$every" \
       --switch-seed "$seed" > "$tmp/got.json" 2> "$tmp/err"; then
    [ "$(ids < "$tmp/got.json")" = "$want" ] && ok || bad "1 sequence, $k workers, temp $temp, prepared: tokens differ"
  else
    bad "1 sequence, $k workers, temp $temp, prepared: $(tail -c 300 "$tmp/err")"
  fi
done

# Switches between the same live workers move KV rows worker to worker (RING_OPEN_RESUME); others replay.
# Both kinds must occur in this run, and --kv-move off must give the same tokens by replay alone.  (--prepare off:
# a switch every 4 tokens exactly, whatever the time its workers need.)
want=$("$lingua" generate -m "$m" -p "Once upon a time" -n 64 --temp 0.8 --seed 11 --json | ids)
for kvm in on off; do
  if "$lingua" run -m "$m" --local 3 --ranges 0-4,4-8,8-12 -p "Once upon a time" -n 64 --temp 0.8 --seed 11 --json \
       --switch-every 4 --switch-seed 10 --kv-move "$kvm" --prepare off > "$tmp/got.json" 2> "$tmp/err"; then
    [ "$(ids < "$tmp/got.json")" = "$want" ] && ok || bad "--kv-move $kvm: tokens differ"
    kinds=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["epochs"][1:]; print(sum(x["kv_moved"] for x in e), sum(not x["kv_moved"] for x in e), sum(x["kv_bytes"] for x in e))' "$tmp/got.json")
    read -r moved replayed bytes <<< "$kinds"
    if [ "$kvm" = on ]; then [ "$moved" -ge 1 ] && [ "$replayed" -ge 1 ] && [ "$bytes" -gt 0 ] && ok || bad "--kv-move on: $kinds"
    else [ "$moved" -eq 0 ] && ok || bad "--kv-move off moved KV: $kinds"; fi
    grep -q "did not start within" "$tmp/err" && bad "--kv-move $kvm: a KV transfer timed out" || ok
  else
    bad "--kv-move $kvm: $(tail -c 300 "$tmp/err")"
  fi
done

# 1..8 sequences in flight at once, switching every few tokens (prepared: some switch must have waited).
prepared=0
for n_seq in 1 2 3 5 8; do
  head -n "$n_seq" "$tmp/all.txt" > "$tmp/prompts.txt"
  temp=$([ $((n_seq % 2)) -eq 0 ] && echo 0.8 || echo 0)
  if ! "$lingua" run -m "$m" --local 3 --prompts "$tmp/prompts.txt" -n 32 --temp "$temp" --seed 5 --json \
       --seq "$n_seq" --switch-every 4 --switch-seed "$n_seq" > "$tmp/many.json" 2> "$tmp/err"; then
    bad "$n_seq sequences: $(tail -c 300 "$tmp/err")"; continue
  fi
  python3 -c 'import json,sys; sys.exit(0 if any(e["prepare_ms"] > 0 for e in json.load(open(sys.argv[1]))["epochs"]) else 1)' \
    "$tmp/many.json" && prepared=$((prepared + 1))
  i=0
  while IFS= read -r p; do
    want=$("$lingua" generate -m "$m" -p "$p" -n 32 --temp "$temp" --seed 5 --json | ids)
    got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["gen_ids"])' "$tmp/many.json" "$i")
    [ "$got" = "$want" ] && ok || bad "$n_seq sequences, temp $temp: sequence $i ('$p') differs"
    i=$((i + 1))
  done < "$tmp/prompts.txt"
done
[ $prepared -ge 1 ] && ok || bad "no multi-sequence run had a switch that waited for its workers (prepare_ms)"

# A larger model (Q8_0, 14 units) through switching plans.
m2="$shared/models/synth-15Mshape-Q8_0.gguf"
want=$("$lingua" generate -m "$m2" -p "Once upon a time" -n 20 --temp 0.7 --seed 3 --json | ids)
got=$("$lingua" run -m "$m2" --local 3 -p "Once upon a time" -n 20 --temp 0.7 --seed 3 --json --switch-every 3 2> "$tmp/err" | ids)
[ "$got" = "$want" ] && ok || bad "synth-15Mshape-Q8_0 under switching differs: $(tail -c 200 "$tmp/err")"

# A worker that may not hold its current and its next stage at once (--mem-limit 12 MB; the embedding and the
# output units are 9.3 MiB each) says so instead of preparing; the switch still happens (its deployment loads the
# stage) and the tokens are unchanged.
want=$("$lingua" generate -m "$m2" -p "Once upon a time" -n 64 --temp 0 --json | ids)
got=$("$lingua" run -m "$m2" --local 3 --mem-limit 16,12,12 --ranges 0-1,1-13,13-14 -p "Once upon a time" -n 64 \
  --temp 0 --json --switch-every 6 --switch-to "0-13,13-14,14-14;0-1,1-13,13-14" 2> "$tmp/err" | ids)
[ "$got" = "$want" ] && ok || bad "switching with a refused prepare differs: $(tail -c 200 "$tmp/err")"
grep -q "worker local-1 cannot prepare its next stage (holding .* exceeds the 12.0 MiB" "$tmp/err" && ok ||
  bad "the refused prepare was not reported: $(grep -i prepar "$tmp/err")"
grep -q "worker local-0: units 0-13 (prepare) resident" "$tmp/err" && ok || bad "local-0 did not prepare units 0-13"

# The balancer on a worker that becomes 4x slower mid-run (whether and when it switches depends on the
# machine's timing; the tokens may not).
got=$("$lingua" run -m "$m2" --local 3 --plan even --balance on --balance-window 300 --slowdown 1,1,4@8 \
      -p "Once upon a time" -n 48 --temp 0 --json 2> "$tmp/err" | ids)
want=$("$lingua" generate -m "$m2" -p "Once upon a time" -n 48 --temp 0 --json | ids)
[ "$got" = "$want" ] && ok || bad "balancer run differs: $(tail -c 200 "$tmp/err")"

echo "cli_epoch: $pass passed, $fail failed"
[ $fail -eq 0 ]
