#!/usr/bin/env bash
# bench/serve.sh — load on `lingua serve` over loopback: CLIENTS concurrent
# streaming clients (default 64), each asking for TOKENS tokens (default 64,
# greedy) on a 3-worker local ring (--plan even, so every worker holds a
# stage), all at once.  Checks that every client completes with TOKENS tokens
# and finish_reason "length" and that each text equals `lingua generate`'s
# for its prompt (8 distinct prompts); reports time to first token p50/p99
# (client side: request sent to the first text chunk) and aggregate tokens/s
# (all tokens over the wall time from the first request to the last token).
# Bounded: every client has a 180 s timeout, the server a 600 s one.  With an
# ASan build (BUILD=build-asan) the server's log is also checked for
# sanitizer and leak reports after a clean SIGTERM.
# Prints Markdown. usage: bench/serve.sh [CLIENTS] [TOKENS]   (env BUILD=build)
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-64}
tokens=${2:-64}
build=${BUILD:-build}
if [ "$build" = build ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j2 --target lingua >/dev/null
fi
lingua=$build/lingua
model=../shared/models/stories260K.gguf
[ -f "$model" ] || { echo "bench/serve.sh: $model absent" >&2; exit 1; }
tmp=$(mktemp -d)
spid=""
trap '[ -n "$spid" ] && kill -9 "$spid" 2>/dev/null; rm -rf "$tmp"' EXIT

prompts=("Once upon a time" "The little dog" "Lily wanted to" "One day, a bird" "Tom and his mom"
         "The sun was" "There was a big" "A girl named Sue")
for i in "${!prompts[@]}"; do
  "$lingua" generate -m "$model" -p "${prompts[$i]}" -n "$tokens" --temp 0 --json 2>/dev/null >"$tmp/ref$i.json"
done

timeout 600 "$lingua" serve -m "$model" --local 3 --plan even --balance off --port 0 --parallel "$clients" --queue "$clients" \
  -c 512 2>"$tmp/serve.log" &
spid=$!
port=""
for _ in $(seq 1 600); do
  port=$(grep -o 'on http://127.0.0.1:[0-9]*' "$tmp/serve.log" | head -1 | sed 's/.*://') || true
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "server did not start: $(tail -3 "$tmp/serve.log")" >&2; exit 1; }

rc=0
python3 tests/serve_load.py "$port" "$clients" "$tokens" "$tmp" "${prompts[@]}" || rc=$?
kill -TERM "$spid"
for _ in $(seq 1 300); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
wait "$spid" || { echo "server exit status $? after SIGTERM" >&2; rc=1; }
spid=""
if grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$tmp/serve.log" >&2; then
  echo "sanitizer reports in the server log" >&2; rc=1
fi
exit $rc
