# serve_lib.sh — helpers the tests/cli_serve*.sh scripts share (sourced, not a test):
# starting `lingua serve` on an ephemeral loopback port, reading JSON, metrics,
# and stopping the server cleanly.  Needs $lingua, $tmp, ok() and bad().

# start_server NAME ARGS...: sets $port and $spid; the log is $tmp/NAME.log.
start_server() {
  local name=$1; shift
  "$lingua" serve --port 0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.log" &
  spid=$!
  port=""
  for _ in $(seq 1 600); do   # up to 60 s for the ring to come up
    port=$(grep -o 'on http://127.0.0.1:[0-9]*' "$tmp/$name.log" 2>/dev/null | head -1 | sed 's/.*://')
    [ -n "$port" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then bad "$name: server did not start: $(tail -3 "$tmp/$name.log")"; return 1; fi
  workers=$(ps -o pid= --ppid "$spid" | tr '\n' ' ')
  return 0
}

# stop_server NAME: SIGTERM, a clean exit within 30 s, and no worker left behind.
stop_server() {
  local name=$1 rc
  kill -TERM "$spid" 2>/dev/null
  for _ in $(seq 1 300); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$spid" 2>/dev/null; then bad "$name: server still running 30 s after SIGTERM"; kill -9 "$spid"; fi
  wait "$spid"; rc=$?
  [ "$rc" -eq 0 ] && grep -q "serve: stopped" "$tmp/$name.log" && ok || bad "$name: exit status $rc after SIGTERM: $(tail -3 "$tmp/$name.log")"
  local left=""
  for w in $workers; do kill -0 "$w" 2>/dev/null && left="$left $w"; done
  [ -z "$left" ] && ok || bad "$name: workers still alive after shutdown:$left"
}

# jget FILE PYTHON_EXPR: evaluates the expression on the parsed JSON j.
jget() { python3 -c 'import json,re,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# metric NAME: its value from /metrics.
metric() { curl -s --max-time 5 "http://127.0.0.1:$port/metrics" | awk -v n="$1" '$1 == n {print $2}'; }

# sse_text FILE FIELD: the concatenated choices[0] text ("text" or "delta.content") of an SSE stream.
sse_text() {
  python3 - "$1" "$2" <<'PY'
import json, sys
out, done = [], False
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.rstrip("\n")
    if not line.startswith("data: "):
        continue
    if line == "data: [DONE]":
        done = True
        continue
    c = json.loads(line[6:])
    for ch in c.get("choices", []):
        v = ch.get("text") if sys.argv[2] == "text" else ch.get("delta", {}).get("content")
        if v:
            out.append(v)
sys.stdout.write("".join(out) if done else "<no [DONE]>")
PY
}
