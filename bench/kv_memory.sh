#!/usr/bin/env bash
# Peak memory and prefill time of one long prompt per KV cache format, packinfer beside llama.cpp
# at the same KV type (with and without its flash attention), in one run, alternating engines.
#   bench/kv_memory.sh MODEL.gguf LLAMA_BIN_DIR "4000 16000" "f16 q8_0 kivi4" [threads]
# packinfer: `packinfer bench -p N -n 0 -r 1` (a 32-token warm-up, then one N-token prefill);
# llama.cpp: `llama-batched-bench -npp N -ntg 1 -npl 1` (a 16-token warm-up, then the prefill).
# Peak RSS is the process's maximum resident set (GNU time); "beyond weights" subtracts the
# model file, which both engines map. llama.cpp has no KIVI: kivi4 is compared with its q4_0.
# LLAMA_FA_MODES="0 1" (default) runs llama.cpp without and with -fa; "0" or "1" one of them;
# "" none (packinfer alone, e.g. for long prompts where llama.cpp takes many minutes).
# CTX=prompt (default) sizes both engines' context to the prompt, llama.cpp's most frugal setting;
# CTX=model gives both the model's training context (llama.cpp -c 0, packinfer -c N_CTX_TRAIN),
# what a server that accepts any prompt the model can take must configure. llama.cpp allocates
# and clears its whole context at start; packinfer reserves it virtually and commits KV as used.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; llama=$2; lengths=${3:-"4000 16000"}; types=${4:-"f16 q8_0 kivi4"}; threads=${5:-2}
bin=${PACKINFER:-./build/packinfer}
weights_mib=$(( $(stat -c %s "$model") / 1048576 ))
ctx_mode=${CTX:-prompt}
case $ctx_mode in
  prompt) ;;
  model) train_ctx=$("$bin" info "$model" | awk '/\.context_length:/ { print $NF; exit }') ;;
  *) echo "CTX must be prompt or model, not '$ctx_mode'" >&2; exit 2 ;;
esac
echo "# KV memory: $(basename "$model") (${weights_mib} MiB file), $threads threads, context: $ctx_mode${train_ctx:+ ($train_ctx)}"
"$bin" info --system | grep -m1 -i "^cpu" || true
echo "| tokens | engine | KV type | flash attn | prefill s | tok/s | peak RSS MiB | beyond weights MiB |"
echo "|---|---|---|---|---|---|---|---|"
row() {  # tokens engine kv fa seconds peak_kib
  local mib=$(( $6 / 1024 ))
  awk -v n="$1" -v e="$2" -v k="$3" -v f="$4" -v s="$5" -v m="$mib" -v w="$weights_mib" \
    'BEGIN { printf "| %d | %s | %s | %s | %.2f | %.1f | %d | %d |\n", n, e, k, f, s, n / s, m, m - w }'
}
for n in $lengths; do
  for t in $types; do
    out=$(mktemp)
    /usr/bin/time -f "%M" -o "$out.rss" "$bin" bench -m "$model" -p "$n" -n 0 -r 1 -t "$threads" \
      -c "${train_ctx:-$n}" --kv-type "$t" --json >"$out" 2>/dev/null
    tps=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[0]['tokens_per_s_median'])" "$out")
    row "$n" packinfer "$t" "-" "$(python3 -c "print($n / $tps)")" "$(tail -1 "$out.rss")"
    lt=$t; [ "$t" = kivi4 ] && lt=q4_0; [ "$t" = kivi2 ] && lt=q4_0
    for fa in ${LLAMA_FA_MODES-0 1}; do
      # llama.cpp needs flash attention for a quantized V cache.
      if [ "$fa" = 0 ] && [ "$lt" != f16 ] && [ "$lt" != f32 ] && [ "$lt" != bf16 ]; then
        echo "| $n | llama.cpp | $lt | no | (refused: a quantized V cache needs -fa) | | | |"
        continue
      fi
      fa_flag=(); [ "$fa" = 1 ] && fa_flag=(-fa)
      if ! /usr/bin/time -f "%M" -o "$out.rss" "$llama/llama-batched-bench" -m "$model" \
        -c "$([ "$ctx_mode" = model ] && echo 0 || echo $((n + 16)))" -b 2048 -ub 512 -npp "$n" -ntg 1 -npl 1 -t "$threads" -ctk "$lt" -ctv "$lt" \
        "${fa_flag[@]}" --output-format jsonl >"$out" 2>"$out.err"; then
        why=$(grep -m1 -o 'GGML_ASSERT.*\|error.*' "$out.err" | cut -c1-90 || true)
        echo "| $n | llama.cpp | $lt | $([ "$fa" = 1 ] && echo yes || echo no) | (failed: ${why:-exit status}) | | | |"
        continue
      fi
      s=$(python3 -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')][-1]['t_pp'])" "$out")
      row "$n" llama.cpp "$lt" "$([ "$fa" = 1 ] && echo yes || echo no)" "$s" "$(tail -1 "$out.rss")"
    done
    rm -f "$out" "$out.rss" "$out.err"
  done
done
