#!/usr/bin/env bash
# Issue #2 benchmark: prefill (pp512) and decode (tg128) of the synthetic SmolLM2-135M model in
# F16, Q8_0 and F32, 2 threads, like llama-bench. Models are generated into build/models.
# Usage: bench/core_bench.sh [repetitions]
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-5}"
mkdir -p build/models
for dtype in f16 q8_0 f32; do
  m="build/models/smollm2-135m-$dtype.gguf"
  [ -f "$m" ] || python3 ../shared/tools/synth_gguf.py -q --preset smollm2-135m --dtype "$dtype" -o "$m"
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%FT%TZ)"
for dtype in f16 q8_0 f32; do
  ./build/packinfer bench -m "build/models/smollm2-135m-$dtype.gguf" -p 512 -n 128 -t 2 -r "$reps"
done
