#!/usr/bin/env bash
# cli_discovery.sh — LAN discovery in two network namespaces joined by a veth
# pair that this test creates (and removes): nothing is sent outside them.
#  - two workers started without --coordinator find the coordinator
#    (`coordinator --discover`) by its UDP beacon and form a secure ring (the
#    LAN binds turn CURVE on; the coordinator admits only its allow-list) whose
#    greedy tokens equal `lingua generate`'s;
#  - a garbage datagram and a beacon from another coordinator key, sent first,
#    are ignored with a log line by both workers.
# Needs root and `ip netns`; skips with a message otherwise.
# usage: cli_discovery.sh LINGUA SHARED_DIR
set -u
lingua=$1
shared=$2
if [ ! -d "$shared" ]; then echo "SKIP: ../shared absent"; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: not root (network namespaces need it)"; exit 0; fi
tag=$$
C=lldisc-c-$tag W=lldisc-w-$tag
if ! ip netns add "$C" 2>/dev/null; then echo "SKIP: 'ip netns' unavailable"; exit 0; fi
tmp=$(mktemp -d)
cleanup() {
  for p in $(jobs -p); do kill "$p" 2>/dev/null; done
  ip netns del "$C" 2>/dev/null; ip netns del "$W" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
ids() { python3 -c 'import json,sys; print(json.load(sys.stdin)["gen_ids"])'; }

net=10.231.$((tag % 250))
ip netns add "$W" || { bad "netns add"; exit 1; }
ip link add "vc$tag" type veth peer name "vw$tag" || { bad "veth"; exit 1; }
ip link set "vc$tag" netns "$C" && ip link set "vw$tag" netns "$W"
ip -n "$C" addr add "$net.1/24" brd + dev "vc$tag" && ip -n "$C" link set "vc$tag" up && ip -n "$C" link set lo up
ip -n "$W" addr add "$net.2/24" brd + dev "vw$tag" && ip -n "$W" link set "vw$tag" up && ip -n "$W" link set lo up

m="$shared/models/stories260K.gguf"
for k in coord w0 w1 other; do "$lingua" keygen --keys "$tmp/$k" > "$tmp/$k.z85" 2>/dev/null || bad "keygen $k"; done
printf '%s w0\n%s w1\n' "$(cat "$tmp/w0.z85")" "$(cat "$tmp/w1.z85")" > "$tmp/allow"
"$lingua" generate -m "$m" -p "Once upon a time" -n 16 --temp 0 --json > "$tmp/ref.json"

for i in 0 1; do   # workers first: they must hear the bad beacons before the real one
  ip netns exec "$W" "$lingua" worker --keys "$tmp/w$i" --coordinator-key "$tmp/coord/lingua.pub" --name "w$i" \
    -m "$m" --beacon-port 5670 2> "$tmp/w$i.log" &
done
sleep 1
send() { ip netns exec "$C" python3 -c 'import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.sendto(sys.argv[1].encode().replace(b"\\n", b"\n"), (sys.argv[2], 5670))' "$1" "$net.255"; }
send "garbage\n"
send "LLNK-BEACON 1 5555 $(cat "$tmp/other.z85")\n"
sleep 0.5
if ip netns exec "$C" timeout 60 "$lingua" coordinator --bind "tcp://$net.1:5555" --discover --beacon-port 5670 \
     --workers 2 --keys "$tmp/coord" --allow "$tmp/allow" -m "$m" -p "Once upon a time" -n 16 --temp 0 --json \
     --plan even > "$tmp/got.json" 2> "$tmp/coord.log"; then
  [ "$(ids < "$tmp/got.json")" = "$(ids < "$tmp/ref.json")" ] && ok || bad "discovered ring: tokens differ"
else
  bad "coordinator: $(tail -5 "$tmp/coord.log")"
fi
grep -q "announcing itself" "$tmp/coord.log" && grep -q "CURVE" "$tmp/coord.log" && ok || bad "coordinator log: $(head -3 "$tmp/coord.log")"
wait
for i in 0 1; do
  grep -q "found the coordinator at tcp://$net.1:5555; data endpoint tcp://$net.2:" "$tmp/w$i.log" && ok ||
    bad "w$i did not find the coordinator: $(head -5 "$tmp/w$i.log")"
  grep -q "ignored a datagram from $net.1: not a beacon" "$tmp/w$i.log" && ok || bad "w$i: garbage not logged"
  grep -q "is not the pinned one" "$tmp/w$i.log" && ok || bad "w$i: foreign beacon not logged"
done
echo "cli_discovery: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
