#!/usr/bin/env bash
# cli_serve_page.sh — the live page of `lingua serve` (GET /) in real headless
# Chromium: after its script has run, the DOM shows every device of a 3-worker
# ring with its unit range (as /v1/cluster reports them), a bar per device and
# the counters; a screenshot is kept in the build tree
# (test-artifacts/serve-page.png) for people to look at.
# usage: cli_serve_page.sh LINGUA SHARED_DIR
set -u
lingua=$1
shared=$2
model="$shared/models/stories260K.gguf"
if [ ! -f "$model" ]; then echo "SKIP: $model absent"; exit 0; fi
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then echo "SKIP: chromium absent (tools/deps.sh test installs it)"; exit 0; fi
art="$(cd "$(dirname "$lingua")" && pwd)/test-artifacts"
mkdir -p "$art"
tmp=$(mktemp -d)
spid=""
trap '[ -n "$spid" ] && kill -9 "$spid" 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
. "$(dirname "$0")/serve_lib.sh"

browse() {  # browse ARGS...: headless Chromium, isolated profile, no network beyond loopback
  timeout 90 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage \
    --user-data-dir="$(mktemp -d -p "$tmp")" --window-size=1100,800 --virtual-time-budget=4000 "$@" 2>>"$tmp/chromium.log"
}

start_server page -m "$model" --local 3 --plan even --balance off || exit 1
for _ in 1 2 3; do   # some traffic, so the counters and the sparkline have something to show
  curl -s --max-time 30 "http://127.0.0.1:$port/v1/completions" -d '{"prompt":"Once upon a time","max_tokens":32}' >/dev/null
done
curl -s "http://127.0.0.1:$port/v1/cluster" >"$tmp/cluster.json"
curl -s "http://127.0.0.1:$port/" >"$tmp/page.html"
grep -q '<script>' "$tmp/page.html" && ! grep -Eq '(src|href)="(https?:)?//' "$tmp/page.html" && ok || bad "the page is not self-contained"
browse --dump-dom "http://127.0.0.1:$port/" >"$tmp/dom.html"
python3 - "$tmp/cluster.json" "$tmp/dom.html" <<'PY' && ok || bad "DOM does not show the cluster (see above)"
import json, re, sys
c = json.load(open(sys.argv[1]))
dom = open(sys.argv[2], encoding="utf-8").read()
bad = []
for d in c["devices"]:
    row = re.search(r'<div class="device" data-name="%s">(.*?)</div></div>' % re.escape(d["name"]), dom, re.S)
    if not row:
        bad.append("no row for " + d["name"]); continue
    if '<span class="range">units %d-%d</span>' % (d["unit_begin"], d["unit_end"]) not in row.group(0):
        bad.append("%s: range %d-%d not shown" % (d["name"], d["unit_begin"], d["unit_end"]))
    if 'class="fill"' not in row.group(0):
        bad.append(d["name"] + ": no bar")
if len(c["devices"]) != 3:
    bad.append("cluster has %d devices" % len(c["devices"]))
if not re.search(r'id="slots">\d+ / %d<' % c["slots"]["total"], dom):
    bad.append("slots counter not filled in")
if "stories260K" not in dom:
    bad.append("model name missing")
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
rm -f "$art/serve-page.png"
(cd "$tmp" && browse --screenshot="$art/serve-page.png" "http://127.0.0.1:$port/" >/dev/null)
[ -s "$art/serve-page.png" ] && ok || bad "no screenshot: $(tail -5 "$tmp/chromium.log")"
echo "  screenshot: $art/serve-page.png"
stop_server page
echo "cli_serve_page: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
