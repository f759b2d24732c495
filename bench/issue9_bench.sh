#!/usr/bin/env bash
# Issue #9 benchmark: packinfer against llama.cpp's llama-bench in the same run, alternating the
# two engines model by model (the machine is shared: alternating spreads other people's load over
# both), 2 threads, pp512 and tg128; then the STREAM-like bandwidth benchmark.
# Usage: bench/issue9_bench.sh [repetitions] [models...]
#   LLAMA_BENCH=/path/to/llama-bench  (default /work/peers/llama.cpp/build/bin/llama-bench)
#   MODELS_DIR=/path/to/models        (default /work/peers/models)
#   BUILD=build                       (packinfer build directory)
# Neither llama.cpp nor the model files belong in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-3}"
shift || true
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(smollm2-135m-q8_0 smollm2-135m-q4_k_m smollm2-135m-f16
                                   qwen2.5-0.5b-q8_0 qwen2.5-0.5b-q4_k_m qwen2.5-0.5b-f16)
llama_bench="${LLAMA_BENCH:-/work/peers/llama.cpp/build/bin/llama-bench}"
models_dir="${MODELS_DIR:-/work/peers/models}"
build="${BUILD:-build}"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%FT%TZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for m in "${models[@]}"; do
  f="$models_dir/$m.gguf"
  echo "== $m"
  echo "\$ $build/packinfer bench -m $f -p 512 -n 128 -t 2 -r $reps"
  "$build/packinfer" bench -m "$f" -p 512 -n 128 -t 2 -r "$reps"
  echo "\$ llama-bench -m $f -t 2 -p 512 -n 128 -r $reps"
  "$llama_bench" -m "$f" -t 2 -p 512 -n 128 -r "$reps" 2>/dev/null | grep -E '^\| (model|llama|qwen)|pp512|tg128'
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
done
if [ -x "$build/bench_stream" ]; then
  "$build/bench_stream" --mib 256 --reps 10
fi
