#!/usr/bin/env bash
# cli_ring.sh — the distributed ring against the single-device engine, with real
# worker processes on loopback (`lingua run --local N`):
#  - for 1 to 4 workers and many unit ranges (even split, random contiguous
#    splits with one-unit stages and empty devices), the greedy tokens and the
#    final logits are bit-identical to `lingua generate` with the same threads
#    (F32, F16, Q8_0 and K-quant models);
#  - 8 concurrent sequences through a 3-worker ring all give their single-device output;
#  - continuous batching: 12 prompts of different lengths, at most 5 in flight (so
#    they start at different times) and small prompt chunks (prefill mixed with
#    decode rows in one step), on rings of 1-3 workers in several layouts: every
#    sequence's tokens and final logits are byte-identical to its own `generate`;
#  - a long prompt goes through in chunks; --ranges errors are clear.
# Models: llama (stories260K, synth-15Mshape), qwen2 (synth-qwen2b: biases, NEOX
# rope, tied output) and bloom (synth-bloomb: layer norms, ALiBi, GELU).
# usage: cli_ring.sh LINGUA SHARED_DIR
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
RANDOM=4242

# random_ranges N_UNITS N_WORKERS: contiguous ranges, some possibly empty, the first non-empty.
random_ranges() {
  local n=$1 k=$2 at=0 out="" i len
  for ((i = 0; i < k; i++)); do
    if ((i == k - 1)); then len=$((n - at)); else len=$((RANDOM % (n - at + 1) / 2)); fi
    ((i == 0 && len == 0)) && len=1
    ((at + len > n)) && len=$((n - at))
    out="$out${out:+,}$at-$((at + len))"; at=$((at + len))
  done
  echo "$out"
}

check_model() {  # check_model MODEL N_UNITS THREADS N_TOKENS MEM_LIMIT_MB (small enough to need 3 devices)
  local model=$1 units=$2 t=$3 n=$4 m="$shared/models/$1.gguf"
  "$lingua" generate -m "$m" -p "Once upon a time" -n "$n" --temp 0 -t "$t" --json --dump-logits "$tmp/ref.f32" > "$tmp/ref.json" || { bad "$model generate"; return; }
  local ref; ref=$(ids < "$tmp/ref.json")
  # k:ranges, or k:@options for planned layouts (a memory cap forces the planner to split the model)
  local configs=("1:" "2:@--plan even" "3:@--plan even" "4:" "3:@--mem-limit $5" "4:@--mem-limit $5 --objective throughput"
                 "3:0-1,1-$((units - 1)),$((units - 1))-$units" "4:0-2,2-2,2-$((units - 1)),$((units - 1))-$units")
  for k in 2 3 4; do configs+=("$k:$(random_ranges "$units" "$k")"); done
  for c in "${configs[@]}"; do
    local k=${c%%:*} r=${c#*:} extra=()
    if [ "${r:0:1}" = "@" ]; then read -r -a extra <<< "${r:1}"; r="${r:1}"
    elif [ -n "$r" ]; then extra=(--ranges "$r"); fi
    if ! "$lingua" run -m "$m" --local "$k" "${extra[@]}" -p "Once upon a time" -n "$n" --temp 0 -t "$t" --json \
         --dump-logits "$tmp/got.f32" > "$tmp/got.json" 2> "$tmp/err"; then
      bad "$model --local $k ${r:-even}: exit $(head -c 300 "$tmp/err")"; continue
    fi
    [ "$(ids < "$tmp/got.json")" = "$ref" ] && ok || bad "$model --local $k ${r:-even}: tokens differ"
    cmp -s "$tmp/ref.f32" "$tmp/got.f32" && ok || bad "$model --local $k ${r:-even}: final logits differ"
  done
  echo "  $model: ${#configs[@]} ring layouts checked"
}

check_model stories260K 12 1 40 5
check_model stories260K-Q8_0-mixed 12 2 40 5
check_model synth-15Mshape-Q8_0 14 1 16 20
check_model synth-15Mshape-F16 14 2 8 30
check_model synth-kq-Q4_K_M 10 2 8 14  # K-quants (Q4_K, Q6_K) through the ring
check_model synth-qwen2b-Q8_0 8 2 16 4
check_model synth-bloomb-Q8_0 8 1 16 5

# Eight concurrent sequences through a three-worker ring.
m="$shared/models/stories260K.gguf"
printf '%s\n' "Once upon a time" "The little dog" "Lily wanted to" "One day, a boy" "The sun was" \
  "Tom and his mom" "A big red ball" "In the park there" > "$tmp/prompts.txt"
if "$lingua" run -m "$m" --local 3 --prompts "$tmp/prompts.txt" -n 24 --temp 0 --json --seq 8 > "$tmp/many.json" 2> "$tmp/err"; then
  i=0
  while IFS= read -r p; do
    want=$("$lingua" generate -m "$m" -p "$p" -n 24 --temp 0 --json | ids)
    got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["gen_ids"])' "$tmp/many.json" "$i")
    [ "$got" = "$want" ] && ok || bad "concurrent sequence $i ('$p') differs"
    i=$((i + 1))
  done < "$tmp/prompts.txt"
else
  bad "8 concurrent sequences: $(head -c 300 "$tmp/err")"
fi

# Continuous batching: sequences batched in every stage's steps, admitted as slots free.
m="$shared/models/stories260K-Q8_0-mixed.gguf"
printf '%s\n' "Once" "The little dog ran to the park" "Lily wanted to play with her friend Tom and" "One day" \
  "The sun was shining and the birds were singing in the tall green trees of the" "Tom" "A big red ball" \
  "In the park there was a bench" "She" "He found a box under the bed" "Mom said no" "The cat sat on" \
  > "$tmp/batch.txt"
: > "$tmp/batch-ref.f32"
refs=()
while IFS= read -r p; do
  refs+=("$("$lingua" generate -m "$m" -p "$p" -n 12 --temp 0 -t 2 --json --dump-logits "$tmp/one.f32" | ids)")
  cat "$tmp/one.f32" >> "$tmp/batch-ref.f32"
done < "$tmp/batch.txt"
for layout in "1:" "2:--plan even" "3:--ranges 0-4,4-9,9-12" "3:--ranges 0-1,1-11,11-12" \
              "3:--objective throughput -v"; do
  k=${layout%%:*}; read -r -a extra <<< "${layout#*:}"
  if timeout 120 "$lingua" run -m "$m" --local "$k" "${extra[@]}" --prompts "$tmp/batch.txt" --seq 5 --chunk 4 -n 12 --temp 0 \
       -t 2 --json --dump-logits "$tmp/batch-got.f32" > "$tmp/batch.json" 2> "$tmp/err"; then
    for ((i = 0; i < ${#refs[@]}; i++)); do
      got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["gen_ids"])' "$tmp/batch.json" "$i")
      [ "$got" = "${refs[$i]}" ] && ok || bad "batched ring $layout: sequence $i tokens differ"
    done
    if [ "$layout" = "3:--objective throughput -v" ]; then   # planned per stage count, at its rows per step
      grep -q "profiled unit times at 5, 3, 2, 1 rows per step" "$tmp/err" && ok ||
        bad "batched ring $layout: no profile at 5, 3, 2, 1 rows: $(grep -a profiled "$tmp/err")"
    fi
    cmp -s "$tmp/batch-ref.f32" "$tmp/batch-got.f32" && ok || bad "batched ring $layout: final logits differ"
  else
    bad "batched ring $layout: $(head -c 300 "$tmp/err")"
  fi
done
m="$shared/models/stories260K.gguf"

# A long prompt in small chunks (pipelined through the ring).
long=$(python3 -c 'print(" ".join(["Once upon a time there was a little girl."] * 12))')
want=$("$lingua" generate -m "$m" -p "$long" -n 16 --temp 0 --json | ids)
got=$("$lingua" run -m "$m" --local 3 --chunk 7 -p "$long" -n 16 --temp 0 --json | ids)
[ "$got" = "$want" ] && ok || bad "chunked long prompt differs"

# Clear errors for bad ranges.
"$lingua" run -m "$m" --local 2 --ranges 0-5,6-12 -p hi -n 2 > /dev/null 2> "$tmp/err"; st=$?
[ $st -ne 0 ] && grep -q "must start at 5" "$tmp/err" && ok || bad "bad --ranges: status $st, $(cat "$tmp/err")"

echo "cli_ring: $pass passed, $fail failed"
[ $fail -eq 0 ]
