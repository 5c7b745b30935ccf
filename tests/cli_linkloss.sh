#!/usr/bin/env bash
# cli_linkloss.sh — a worker's links cut for 2 s, then restored: the run must
# complete with the tokens of one device.  The test makes its own network
# namespace: worker w2 runs inside it behind a veth pair (10.77.N.2), the
# coordinator and w0, w1 outside (10.77.N.1); `tc netem loss 100%` on the
# namespace's side (or, on kernels without sch_netem, that side of the link
# taken down) drops everything w2 sends and receives for 2 s.  TCP keeps
# the connections; depending on retransmission timing the coordinator either
# rides the cut out (silence below --liveness) or declares w2 lost and replays
# on the survivors — the tokens are the same either way, and the test says
# which happened.  Needs root (namespaces); skips otherwise.
# usage: cli_linkloss.sh LINGUA SHARED_DIR
set -u
lingua=$1
shared=$2
if [ ! -d "$shared" ]; then echo "SKIP: ../shared absent"; exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v ip > /dev/null || ! command -v tc > /dev/null; then
  echo "SKIP: needs root, ip and tc for a network namespace"; exit 0
fi
tmp=$(mktemp -d)
ns=llcut$$ net=$((($$ % 200) + 20))
va=lla$$ vb=llb$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
  ip netns del "$ns" 2> /dev/null; ip link del "$va" 2> /dev/null; rm -rf "$tmp"
}
trap cleanup EXIT
if ! { ip netns add "$ns" && ip link add "$va" type veth peer name "$vb" && ip link set "$vb" netns "$ns" &&
       ip addr add "10.77.$net.1/24" dev "$va" && ip link set "$va" up &&
       ip netns exec "$ns" ip addr add "10.77.$net.2/24" dev "$vb" && ip netns exec "$ns" ip link set "$vb" up &&
       ip netns exec "$ns" ip link set lo up; } 2> "$tmp/ip.err"; then
  echo "SKIP: cannot make a network namespace: $(cat "$tmp/ip.err")"; exit 0
fi
ids() { python3 -c 'import json,sys; print(json.load(sys.stdin)["gen_ids"])'; }
m="$shared/models/stories260K.gguf"
want=$("$lingua" generate -m "$m" -p "Once upon a time" -n 100 --temp 0 --json | ids)
timeout 120 "$lingua" coordinator --bind "tcp://10.77.$net.1:*" --workers 3 --insecure -m "$m" -p "Once upon a time" -n 100 \
  --temp 0 --json --ranges 0-4,4-8,8-12 --link-latency 10 --token-log "$tmp/tokens" > "$tmp/out.json" 2> "$tmp/err" &
pid=$!; pids+=($pid)
ep=""
for ((t = 0; t < 500; t++)); do
  ep=$(sed -n 's/^coordinator: listening on \([^,]*\),.*/\1/p' "$tmp/err"); [ -n "$ep" ] && break; sleep 0.01
done
for i in 0 1; do
  "$lingua" worker --coordinator "$ep" --listen "tcp://10.77.$net.1:*" -m "$m" --name "w$i" --insecure --link-latency 10 2> /dev/null &
  pids+=($!)
done
ip netns exec "$ns" "$lingua" worker --coordinator "$ep" --listen "tcp://10.77.$net.2:*" -m "$m" --name w2 --insecure \
  --link-latency 10 2> "$tmp/w2.err" &
pids+=($!)
for ((t = 0; t < 3000; t++)); do
  [ -s "$tmp/tokens" ] && [ "$(wc -l < "$tmp/tokens")" -ge 20 ] && break
  sleep 0.01
done
# The cut: netem's 100% loss where the kernel has sch_netem, else the namespace's end of the link taken down
# (same effect on TCP: every segment either way is lost; the addresses and connections stay).
if ip netns exec "$ns" tc qdisc add dev "$vb" root netem loss 100% 2> /dev/null; then
  how="tc netem loss 100%"; sleep 2; ip netns exec "$ns" tc qdisc del dev "$vb" root
else
  how="link down"; ip netns exec "$ns" ip link set "$vb" down; sleep 2; ip netns exec "$ns" ip link set "$vb" up
fi
if wait "$pid"; then
  got=$(ids < "$tmp/out.json")
  losses=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["losses"])' "$tmp/out.json")
  gap=$(awk 'NR > 1 && $2 - p > g { g = $2 - p } { p = $2 } END { printf "%.0f", g }' "$tmp/tokens")
  echo "  link cut 2 s ($how): $losses loss(es) declared, longest gap between tokens $gap ms"
  if [ "$got" = "$want" ]; then echo "cli_linkloss: 1 passed, 0 failed"; exit 0; fi
  echo "FAIL: tokens differ after the link cut" >&2
else
  echo "FAIL: the run did not complete: $(grep -v 'older epochs' "$tmp/err" | tail -c 400)" >&2
fi
echo "cli_linkloss: 0 passed, 1 failed"
exit 1
