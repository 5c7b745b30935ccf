#!/usr/bin/env bash
# cli_serve_openai.sh — `lingua serve` against a client nobody here wrote: the
# official `openai` npm package (version pinned in tests/openai/package.json),
# installed with npm into the build tree (never vendored).  On one device and
# on a 3-worker ring: greedy completions whole and streamed equal `lingua
# generate`'s text, chat whole and streamed agree, usage, model list, and the
# client's typed errors for a wrong key (401), a wrong type (400) and an
# unknown model (404).  See tests/openai/client.mjs.
# usage: cli_serve_openai.sh LINGUA SHARED_DIR
set -u
lingua=$1
shared=$2
model="$shared/models/stories260K.gguf"
if [ ! -f "$model" ]; then echo "SKIP: $model absent"; exit 0; fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then echo "SKIP: node/npm absent"; exit 0; fi
here=$(cd "$(dirname "$0")" && pwd)
client="$(cd "$(dirname "$lingua")" && pwd)/openai-client"
tmp=$(mktemp -d)
spid=""
trap '[ -n "$spid" ] && kill -9 "$spid" 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
. "$here/serve_lib.sh"

# The client, into the build tree (once; again when the pinned version changes).
mkdir -p "$client"
if ! cmp -s "$here/openai/package.json" "$client/package.json" || [ ! -d "$client/node_modules/openai" ]; then
  cp "$here/openai/package.json" "$client/package.json"
  (cd "$client" && timeout 300 npm install --no-audit --no-fund --loglevel=error) || { echo "FAIL: npm install of the openai client failed" >&2; exit 1; }
fi
cp "$here/openai/client.mjs" "$client/client.mjs"

prompt="Once upon a time"
n=24
"$lingua" generate -m "$model" -p "$prompt" -n $n --temp 0 --json >"$tmp/ref.json" 2>/dev/null || bad "generate"
ref=$(jget "$tmp/ref.json" 'j["text"]')
for cfg in "local1:--local 1" "local3:--local 3 --plan even --balance off"; do
  name=${cfg%%:*}
  # shellcheck disable=SC2086
  start_server "$name" -m "$model" --api-key test-key ${cfg#*:} || continue
  if (cd "$client" && timeout 120 node client.mjs "http://127.0.0.1:$port/v1" test-key stories260K "$prompt" $n "$ref") >"$tmp/node.txt" 2>&1; then
    ok
  else
    bad "$name: openai client: $(grep -v '^ok' "$tmp/node.txt" | head -20)"
  fi
  sed "s/^/  $name: /" "$tmp/node.txt"
  stop_server "$name"
done
echo "cli_serve_openai: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
