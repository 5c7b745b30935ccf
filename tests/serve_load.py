#!/usr/bin/env python3
# serve_load.py — concurrent streaming clients against `lingua serve` (used by
# bench/serve.sh and tests/cli_serve.sh).  Every client sends one greedy
# streaming completion at the same moment (a barrier), prompt k % len(prompts);
# each must finish with [DONE], finish_reason "length", usage of TOKENS tokens,
# and text equal to $TMP/ref{p}.json's "text" (lingua generate's output for
# prompt p).  Prints one Markdown row: clients, tokens, how many passed, time to
# first token p50/p99 (request sent to first text chunk), tokens, wall time,
# aggregate tokens/s.  Exits 1 if any client failed.  Each client is bounded by
# a 180 s socket timeout.
# usage: serve_load.py PORT CLIENTS TOKENS TMP PROMPT...
import http.client, json, statistics, sys, threading, time
port, clients, tokens, tmp = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
prompts = sys.argv[5:]
n_prompts = len(prompts)
refs = [json.load(open(f"{tmp}/ref{i}.json"))["text"] for i in range(n_prompts)]
results = [None] * clients
start = threading.Barrier(clients)

def client(k):
    p = k % n_prompts
    body = json.dumps({"prompt": prompts[p], "max_tokens": tokens, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}})
    start.wait()
    t0 = time.monotonic()
    ttft, text, finish, usage, done = None, [], None, None, False
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=180)
        c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        while True:
            line = r.readline()
            if not line:
                break
            line = line.decode().rstrip("\n")
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = True
                break
            ch = json.loads(line[6:])
            for choice in ch.get("choices", []):
                if choice.get("text"):
                    if ttft is None:
                        ttft = time.monotonic() - t0
                    text.append(choice["text"])
                finish = choice.get("finish_reason") or finish
            if ch.get("usage") and not ch.get("choices"):
                usage = ch["usage"]
        c.close()
    except Exception as e:
        results[k] = {"error": repr(e)}
        return
    results[k] = {"t0": t0, "t1": time.monotonic(), "ttft": ttft, "text": "".join(text), "finish": finish,
                  "usage": usage, "done": done, "ref": refs[p]}

threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
for t in threads: t.start()
for t in threads: t.join(200)
bad = []
for k, r in enumerate(results):
    if r is None or "error" in r:
        bad.append(f"client {k}: {r and r.get('error') or 'no result'}")
    elif not r["done"] or r["finish"] != "length" or not r["usage"] or r["usage"]["completion_tokens"] != tokens:
        bad.append(f"client {k}: incomplete (done {r['done']}, finish {r['finish']}, usage {r['usage']}); "
                   f"text {r['text']!r}, generate {r['ref']!r}")
    elif r["text"] != r["ref"]:
        bad.append(f"client {k}: text differs from lingua generate")
ok = [r for r in results if r and "error" not in r and r["ttft"] is not None]
if ok:
    ttft = sorted(r["ttft"] for r in ok)
    p50 = statistics.median(ttft)
    p99 = ttft[min(len(ttft) - 1, int(round(0.99 * (len(ttft) - 1))))]
    wall = max(r["t1"] for r in ok) - min(r["t0"] for r in ok)
    total = sum(r["usage"]["completion_tokens"] for r in ok if r["usage"])
    print(f"| {clients} | {tokens} | {clients - len(bad)}/{clients} | {p50 * 1000:.0f} ms | {p99 * 1000:.0f} ms | "
          f"{total} | {wall:.2f} s | {total / wall:.0f} |")
for b in bad[:10]:
    print("FAIL:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
