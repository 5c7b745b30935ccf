#!/usr/bin/env bash
# tools/demo.sh — the main job: builds `lingua` (Release) and generates text on a
# ring of three workers on this machine (`lingua run --local 3`).
# Uses ../shared/models/stories260K.gguf when present, else writes a synthetic
# model with `lingua synth` (its text is gibberish: random weights).
# Extra arguments are passed to `lingua run` (e.g. -n 200 --temp 0.8 --seed 1).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target lingua >/dev/null
model=../shared/models/stories260K.gguf
if [ ! -f "$model" ]; then
  model=build/synth-demo.gguf
  [ -f "$model" ] || build/lingua synth -o "$model" --dim 288 --layers 6 --heads 6 --ffn 768 --vocab 4096 --type q8_0
fi
exec build/lingua run -m "$model" --local 3 -p "Once upon a time" -n 96 --temp 0 "$@"
