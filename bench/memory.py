#!/usr/bin/env python3
"""bench/memory.py — peak resident memory (ru_maxrss from wait4, the kernel's VmHWM at exit) of a
coordinator and K workers started as separate `lingua` processes on loopback, against what their
stages need: the stage's weights + its overlap replicas' weights (the R units either side that the
coordinator keeps warm for the balancer's boundary moves, coord/replicas.c: 2 by default, never the
embedding) + its KV cache + its scratch (from `lingua segment --json`), and for the coordinator the
tokenizer + metadata.  A process's fixed cost (code, libraries, libzmq's
threads), measured as the peak RSS of `lingua worker` started against no coordinator, is counted in
scratch.  usage: memory.py LINGUA MODEL K [--ctx C] [--chunk T] [--replicas R] [--shipped CACHE_DIR]"""
import json, os, re, subprocess, sys, time, argparse

ap = argparse.ArgumentParser()
ap.add_argument("lingua"); ap.add_argument("model"); ap.add_argument("k", type=int)
ap.add_argument("--ctx", type=int, default=256)
ap.add_argument("--chunk", type=int, default=64)
ap.add_argument("--replicas", type=int, default=2, help="the coordinator's replica units per side (its default: 2)")
ap.add_argument("--shipped", metavar="CACHE_DIR", help="workers get no model file: weights shipped into this cache")
a = ap.parse_args()

def peak_kb(pid):
    _, status, ru = os.wait4(pid, 0)
    return ru.ru_maxrss, status

seg = json.loads(subprocess.check_output([a.lingua, "segment", "-m", a.model, "--json"]))
units = seg["units"]
n = len(units)
# the even split the coordinator deploys with --ranges: contiguous, as equal in weight bytes as units allow
total = sum(u["weight_bytes"] for u in units)
ranges, at = [], 0
for i in range(a.k):
    target = total * (i + 1) / a.k
    end = at + 1
    acc = sum(u["weight_bytes"] for u in units[:end])
    while end < n - (a.k - 1 - i) and acc + units[end]["weight_bytes"] / 2 <= target:
        acc += units[end]["weight_bytes"]; end += 1
    if i == a.k - 1: end = n
    ranges.append((at, end)); at = end
rs = ",".join("%d-%d" % r for r in ranges)

# the fixed cost of a worker process: one started against an absent coordinator, with the model metadata loaded
p = subprocess.Popen([a.lingua, "worker", "--coordinator", "tcp://127.0.0.1:9", "-m", a.model, "--name", "idle"],
                     stderr=subprocess.DEVNULL)
time.sleep(1.5); p.terminate(); base_kb, _ = peak_kb(p.pid)

co = subprocess.Popen([a.lingua, "coordinator", "--bind", "tcp://127.0.0.1:*", "--workers", str(a.k), "-m", a.model,
                       "-p", "Once upon a time", "-n", "64", "--temp", "0", "-c", str(a.ctx), "--seq", "1",
                       "--chunk", str(a.chunk), "--ranges", rs, "--json"], stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)
ep = None
for line in co.stderr:
    m = re.search(r"listening on (tcp://\S+?)[ ,]", line)
    if m: ep = m.group(1); break
src = lambda i: ["--cache", "%s/w%d" % (a.shipped, i)] if a.shipped else ["-m", a.model]
ws = [subprocess.Popen([a.lingua, "worker", "--coordinator", ep, *src(i), "--name", "w%d" % i, "--chunk",
                        str(a.chunk)], stderr=subprocess.DEVNULL) for i in range(a.k)]
out = co.stdout.read(); co.stderr.read()
ckb, cst = peak_kb(co.pid)
wkb = [peak_kb(w.pid)[0] for w in ws]
res = json.loads(out)
rows = []
for i, (b, e) in enumerate(ranges):
    wb = sum(u["weight_bytes"] for u in units[b:e])
    R = a.replicas   # the warm range of coord_warm_ranges (no memory limit offered here)
    left = (b - 1 if b > 1 else 0) if b - R < 1 else R
    right = min(R, n - e)
    rep = sum(u["weight_bytes"] for u in units[b - left:b]) + sum(u["weight_bytes"] for u in units[e:e + right])
    kv = sum(u["kv_bytes_per_token"] for u in units[b:e]) * a.ctx
    scratch = max(u["scratch_bytes_per_token"] for u in units[b:e]) * a.chunk + base_kb * 1024
    need = wb + rep + kv + scratch
    rows.append(dict(worker=i, units="%d-%d" % (b, e), weights=wb, replicas=rep, kv=kv, scratch=scratch, need=need,
                     peak=wkb[i] * 1024, ratio=wkb[i] * 1024 / need))
info = subprocess.check_output([a.lingua, "info", "-m", a.model], text=True)
n_vocab = int(re.search(r"vocabulary:\s+(\d+)", info).group(1))
coord_buffers = 1 * (a.ctx * 4 + n_vocab * 4)   # its one sequence slot: prompt ids and logits
print(json.dumps(dict(k=a.k, ranges=rs, base=base_kb * 1024, coord_buffers=coord_buffers,
                      coordinator_peak=ckb * 1024, workers=rows,
                      gen_ids=res.get("gen_ids"))))
