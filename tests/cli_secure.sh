#!/usr/bin/env bash
# cli_secure.sh — the security commands and defaults of the CLI:
#  - `lingua keygen` writes lingua.key (mode 0600) and lingua.pub (one Z85 line,
#    also printed), and never overwrites an existing key pair;
#  - `run --local 3 --secure` (ephemeral keys, CURVE on every link) gives the
#    greedy tokens and final logits of `lingua generate` bit for bit, and leaves
#    no key files behind; plain `run --local 3` is unchanged;
#  - a coordinator or worker binding a non-loopback address turns CURVE on and
#    says which keys it lacks; --insecure opts out with a warning; a bad
#    allow-list or coordinator key is named.
# usage: cli_secure.sh LINGUA SHARED_DIR
set -u
lingua=$1
shared=$2
if [ ! -d "$shared" ]; then echo "SKIP: ../shared absent"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
ids() { python3 -c 'import json,sys; print(json.load(sys.stdin)["gen_ids"])'; }
m="$shared/models/stories260K.gguf"

# keygen
pub=$("$lingua" keygen --keys "$tmp/k" 2> "$tmp/err") || bad "keygen: $(cat "$tmp/err")"
[ "$(stat -c %a "$tmp/k/lingua.key")" = 600 ] && ok || bad "secret key mode $(stat -c %a "$tmp/k/lingua.key")"
[ "$(grep -v '^#' "$tmp/k/lingua.pub")" = "$pub" ] && [ ${#pub} -eq 40 ] && ok || bad "public key file vs printed '$pub'"
if "$lingua" keygen --keys "$tmp/k" 2> "$tmp/err"; then bad "keygen overwrote a key pair"
else grep -q "already exists" "$tmp/err" && ok || bad "keygen twice: $(cat "$tmp/err")"; fi
HOME=$tmp/home "$lingua" keygen > /dev/null 2>&1 && [ -f "$tmp/home/.config/lingua/lingua.key" ] && ok || bad "keygen default dir"

# secure local ring = one device, bit for bit
"$lingua" generate -m "$m" -p "Once upon a time" -n 24 --temp 0 --json --dump-logits "$tmp/ref.f32" > "$tmp/ref.json"
ref=$(ids < "$tmp/ref.json")
for extra in "--secure" ""; do
  if "$lingua" run -m "$m" --local 3 $extra -p "Once upon a time" -n 24 --temp 0 --json \
       --dump-logits "$tmp/got.f32" > "$tmp/got.json" 2> "$tmp/err"; then
    [ "$(ids < "$tmp/got.json")" = "$ref" ] && ok || bad "run --local 3 $extra: tokens differ"
    cmp -s "$tmp/ref.f32" "$tmp/got.f32" && ok || bad "run --local 3 $extra: logits differ"
  else bad "run --local 3 $extra: $(head -c 300 "$tmp/err")"; fi
done
[ -z "$(ls -d "$tmp"/lingua-keys-* 2>/dev/null)" ] && ok || bad "ephemeral keys left behind"

# defaults and errors (nothing here listens on anything but loopback: the non-loopback
# binds fail before any socket is made)
expect_fail() {  # expect_fail TEXT CMD...
  local text=$1; shift
  if "$@" > /dev/null 2> "$tmp/err"; then bad "'$*' succeeded"
  else grep -q -- "$text" "$tmp/err" && ok || bad "'$*': want '$text', got: $(head -c 300 "$tmp/err")"; fi
}
HOME=$tmp/nohome expect_fail "lingua keygen" "$lingua" coordinator -m "$m" --bind tcp://0.0.0.0:0 --workers 1 -p x
expect_fail "needs --allow" "$lingua" coordinator -m "$m" --bind tcp://0.0.0.0:0 --workers 1 -p x --keys "$tmp/k"
expect_fail "contradict" "$lingua" coordinator -m "$m" --bind tcp://127.0.0.1:0 --workers 1 -p x --secure --insecure
echo "not-a-key local-0" > "$tmp/allow"
expect_fail "allow:1" "$lingua" coordinator -m "$m" --bind tcp://127.0.0.1:0 --workers 1 -p x --secure --keys "$tmp/k" --allow "$tmp/allow"
expect_fail "coordinator-key" "$lingua" worker --coordinator tcp://127.0.0.1:1 -m "$m" --listen tcp://0.0.0.0:0 --keys "$tmp/k"
expect_fail "neither 40 Z85" "$lingua" worker --coordinator tcp://127.0.0.1:1 -m "$m" --secure --keys "$tmp/k" --coordinator-key nope
# --insecure on an exposed bind warns (192.0.2.1 is TEST-NET-1, not on this host: the bind then fails, nothing is sent)
timeout 5 "$lingua" worker --coordinator tcp://127.0.0.1:1 -m "$m" --listen tcp://192.0.2.1:0 --insecure 2> "$tmp/err" > /dev/null
grep -q "warning: --insecure" "$tmp/err" && ok || bad "--insecure warning: $(head -c 300 "$tmp/err")"

echo "cli_secure: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
