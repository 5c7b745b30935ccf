#!/usr/bin/env bash
# cli_engine.sh — the `lingua` command end to end on the shared models:
#   generate --json (greedy) equals llama.cpp's golden continuation for every
#   stories260K prompt; `logits` rows match the golden logits files; tokenize
#   matches the golden prompt ids; long generations agree across thread counts
#   and kernel sets; malformed model files and bad options fail with a clear
#   message and a non-zero status; synth --arch files generate; info lists the
#   tensor types (counts, bytes) and the memory (weights + KV cache + scratch).
# usage: cli_engine.sh LINGUA SHARED_DIR
set -u
lingua=$1
shared=$2
if [ ! -d "$shared" ]; then echo "SKIP: ../shared absent"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
field() { sed -n "s/^$1: //p" "$2"; }

for model in stories260K stories260K-F16 stories260K-Q8_0-mixed; do
  for g in "$shared/golden/$model"/*.txt; do
    prompt=$(field prompt "$g"); want_prompt=$(field prompt_ids "$g"); want_gen=$(field gen_ids "$g")
    n=$(field n_gen "$g")
    out=$("$lingua" generate -m "$shared/models/$model.gguf" -p "$prompt" -n "$n" --temp 0 --json) || { bad "$model generate exit"; continue; }
    got_prompt=$(python3 -c 'import json,sys; print(" ".join(map(str, json.loads(sys.stdin.read())["prompt_ids"])))' <<<"$out")
    got_gen=$(python3 -c 'import json,sys; print(" ".join(map(str, json.loads(sys.stdin.read())["gen_ids"])))' <<<"$out")
    [ "$got_prompt" = "$want_prompt" ] && ok || bad "$model $(basename "$g"): prompt ids '$got_prompt' != '$want_prompt'"
    [ "$got_gen" = "$want_gen" ] && ok || bad "$model $(basename "$g"): gen ids differ from llama.cpp"
    want_text=$(field text "$g")
    got_text=$(python3 -c 'import json,sys; t=json.loads(sys.stdin.read())["text"]; print(json.dumps(t, ensure_ascii=False))' <<<"$out")
    [ "$got_text" = "$want_text" ] && ok || bad "$model $(basename "$g"): text '$got_text' != '$want_text'"
    tok=$("$lingua" tokenize -m "$shared/models/$model.gguf" -p "$prompt")
    [ "$tok" = "$want_prompt" ] && ok || bad "$model tokenize: '$tok' != '$want_prompt'"
  done
done

# logits: feed prompt + first gen ids, compare the last `logits_steps` rows with the golden file.
for model in stories260K-Q8_0-mixed synth-15Mshape-Q8_0 synth-15Mshape-F16; do
  g="$shared/golden/$model/once-upon-a-time.txt"
  steps=$(field logits_steps "$g")
  ids="$(field prompt_ids "$g") $(field gen_ids "$g" | cut -d' ' -f1-$((steps - 1)))"
  if "$lingua" logits -m "$shared/models/$model.gguf" --tokens "$ids" --last "$steps" -o "$tmp/l.f32"; then
    python3 - "$tmp/l.f32" "$shared/golden/$model/$(field logits_file "$g")" <<'PY' && ok || bad "$model logits differ from golden"
import array, math, sys
a = array.array('f'); a.frombytes(open(sys.argv[1], 'rb').read())
b = array.array('f'); b.frombytes(open(sys.argv[2], 'rb').read())
assert len(a) == len(b), (len(a), len(b))
d = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b))); r = math.sqrt(sum(y * y for y in b))
print(f"  logits vs golden: |d|/|ref| = {d / r:.3g}")
sys.exit(0 if d / r < 2e-2 else 1)
PY
  else bad "$model logits exit"; fi
done

# Long greedy generations: identical whatever the thread count, batch size and kernel set.
m="$shared/models/stories260K.gguf"
ref=$("$lingua" generate -m "$m" -p "The little dog" -n 400 --temp 0 --json -t 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["gen_ids"])')
for opts in "-t 2" "-t 3 -b 2" "--isa scalar"; do
  got=$("$lingua" generate -m "$m" -p "The little dog" -n 400 --temp 0 --json $opts | python3 -c 'import json,sys; print(json.load(sys.stdin)["gen_ids"])')
  [ "$got" = "$ref" ] && ok || bad "long generation with $opts differs"
done
n=$(python3 -c 'import sys; print(len(eval(sys.argv[1])))' "$ref")
[ "$n" -ge 100 ] && ok || bad "long generation stopped after $n tokens"

# Sampling: same seed, same text; the json has the documented keys.
a=$("$lingua" generate -m "$m" -p "Once" -n 40 --temp 0.8 --seed 7 --json)
b=$("$lingua" generate -m "$m" -p "Once" -n 40 --temp 0.8 --seed 7 --json)
[ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["gen_ids"])' "$a")" = \
  "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["gen_ids"])' "$b")" ] && ok || bad "same seed gave different tokens"
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert set(o) == {"prompt_ids","gen_ids","text","prompt_tokens_per_s","gen_tokens_per_s"}, o.keys()' "$a" && ok || bad "json keys"

# Malformed inputs: a clear message, a non-zero status, never a crash (status > 128).
expect_fail() {  # expect_fail WHAT PATTERN CMD...
  local what=$1 pattern=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local st=$?
  if [ $st -ne 0 ] && [ $st -lt 128 ] && grep -q -- "$pattern" "$tmp/err"; then ok; else bad "$what: status $st, stderr: $(head -c 300 "$tmp/err")"; fi
}
head -c 1000 "$m" > "$tmp/trunc.gguf"
expect_fail "truncated model" "trunc.gguf" "$lingua" generate -m "$tmp/trunc.gguf" -p hi -n 1
printf 'GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00' > "$tmp/huge.gguf"
expect_fail "huge tensor count" "tensor" "$lingua" info -m "$tmp/huge.gguf"
echo "not a model" > "$tmp/text.gguf"
expect_fail "not a GGUF" "magic" "$lingua" info -m "$tmp/text.gguf"
expect_fail "missing file" "missing.gguf" "$lingua" info -m "$tmp/missing.gguf"
expect_fail "vocabulary-only file as a model" "missing" "$lingua" generate -m "$shared/vocab/ggml-vocab-llama-spm.gguf" -p hi -n 1
expect_fail "bad thread count" "-t" "$lingua" generate -m "$m" -p hi -t 0
expect_fail "unknown option" "--bogus" "$lingua" generate -m "$m" -p hi --bogus 1
expect_fail "token out of range" "token id" "$lingua" logits -m "$m" --tokens "1 99999" -o "$tmp/x.f32"
expect_fail "unknown command" "unknown command" "$lingua" frobnicate
expect_fail "bad --parallel" "--parallel" "$lingua" bench -m "$m" --parallel 1,x
expect_fail "too many in parallel" "--parallel" "$lingua" bench -m "$m" --parallel 17

# bench --parallel: one JSON entry per sequence count (speeds are not checked here).
out=$("$lingua" bench -m "$m" --parallel 1,3 --prompt 8 --gen 4 --reps 1 --json) &&
  python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); assert [p["sequences"] for p in r["parallel"]] == [1, 3]' <<<"$out" \
  && ok || bad "bench --parallel output"

# synth writes a model that generates.
"$lingua" synth -o "$tmp/s.gguf" --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 --vocab 512 --type q4_0 2>/dev/null \
  && "$lingua" generate -m "$tmp/s.gguf" -p "once upon" -n 8 --temp 0 --json >/dev/null && ok || bad "synth model does not generate"

# synth --arch qwen2|bloom write models that load, generate and cut into 2·layers+2 units.
for arch in qwen2 bloom; do
  "$lingua" synth -o "$tmp/$arch.gguf" --arch "$arch" --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 --vocab 512 \
    --type q8_0 2>/dev/null && "$lingua" generate -m "$tmp/$arch.gguf" -p "once upon" -n 8 --temp 0 --json >/dev/null \
    && ok || bad "synth --arch $arch model does not generate"
  "$lingua" info -m "$tmp/$arch.gguf" > "$tmp/info.txt" 2>&1 || bad "info --arch $arch: exit $?"
  grep -q "^architecture: *$arch\$" "$tmp/info.txt" && grep -q "^units: *6 " "$tmp/info.txt" && ok || bad "info --arch $arch: $(cat "$tmp/info.txt")"
done
grep -q "tied to the embedding" <("$lingua" info -m "$tmp/qwen2.gguf") && ok || bad "info: qwen2 synth output not tied"
grep -q "ALiBi" <("$lingua" info -m "$tmp/bloom.gguf") && ok || bad "info: bloom synth without ALiBi"
expect_fail "synth unknown arch" "--arch" "$lingua" synth -o "$tmp/x.gguf" --arch gemma

# info: tensor types with counts and bytes (from the file's table, PROVENANCE.md 5.3), and the
# memory: weights (the tensor bytes) + KV cache (2 · layers · kv_dim · 2 bytes per token) + scratch = total.
check_info() {  # check_info MODEL CTX "TYPE COUNT" ... : the type table and the memory sums
  local model=$1 ctx=$2; shift 2
  "$lingua" info -m "$shared/models/$model.gguf" -c "$ctx" > "$tmp/info.txt" 2>&1 || { bad "info $model: exit"; return; }
  for tc in "$@"; do
    grep -Eq "^ +${tc% *} +${tc#* } +[0-9]+ " "$tmp/info.txt" && ok || bad "info $model: no line '$tc' in $(cat "$tmp/info.txt")"
  done
  python3 - "$tmp/info.txt" "$shared/models/$model.gguf" "$ctx" <<'PY' && ok || bad "info $model: memory figures"
import re, struct, sys
text = open(sys.argv[1]).read()
size = lambda k: float(re.search(r"^  %s +([0-9.]+) MiB" % k, text, re.M).group(1))
total_bytes = int(re.search(r"^ +total +\d+ +(\d+) ", text, re.M).group(1))
blocks = int(re.search(r"^blocks: +(\d+)", text, re.M).group(1))
m = re.search(r"^heads: +\d+ \(kv (\d+), head size (\d+)", text, re.M)
kv = 2 * blocks * int(m.group(1)) * int(m.group(2)) * 2 * int(sys.argv[3])
assert abs(size("weights") - total_bytes / 2**20) < 0.006, "weights"
assert abs(size("KV cache") - kv / 2**20) < 0.006, "kv"
assert size("scratch") > 0
assert abs(size("total") - (size("weights") + size("KV cache") + size("scratch"))) < 0.02, "total"
PY
}
check_info synth-qwen2b-Q8_0 256 "F32 16" "Q8_0 22"
check_info synth-bloomb-Q8_0 128 "F32 28" "Q8_0 14"
check_info stories260K-Q8_0-mixed 512 "F32 11" "F16 5" "Q8_0 32"

echo "cli_engine: $pass passed, $fail failed"
[ $fail -eq 0 ]
