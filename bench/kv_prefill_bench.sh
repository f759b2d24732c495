#!/usr/bin/env bash
# Prefill of one LEN-token prompt per KV format with one or more packinfer binaries, interleaved
# (format by format, binary by binary) so a before/after comparison shares the machine's state.
# usage: bench/kv_prefill_bench.sh MODEL LEN "BIN..." "FORMAT..." [REPS]
#   e.g. bench/kv_prefill_bench.sh qwen2.5-0.5b-q8_0.gguf 4096 "/tmp/before build/packinfer" \
#        "f32 f16 q8_0 kivi4" 1
set -euo pipefail
model=$1 len=$2 bins=$3 formats=$4 reps=${5:-1}
for f in $formats; do
  for b in $bins; do
    out=$("$b" bench -m "$model" -p "$len" -n 0 -r "$reps" -t 2 -c "$len" --kv-type "$f" --json)
    tps=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["tokens_per_s_median"])')
    printf '%s\t%s\tpp%s\t%s tok/s\t%.1f s\n' "$f" "$b" "$len" "$tps" "$(python3 -c "print($len/$tps)")"
  done
done
