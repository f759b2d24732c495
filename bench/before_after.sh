#!/usr/bin/env bash
# Two packinfer binaries in one run, alternating: pp512/tg128 per weight type (as core_bench.sh)
# and `bench prefill` of one mixed batch. NEW runs twice: with its defaults, and like-for-like with
# OLD's defaults (f32 KV, AVX2 kernels) to show what the restructuring itself costs.
#   bench/before_after.sh OLD_BIN NEW_BIN [repetitions]
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1; new=$2; reps=${3:-3}
mkdir -p build/models
for dtype in f16 q8_0; do
  m="build/models/smollm2-135m-$dtype.gguf"
  [ -f "$m" ] || python3 ../shared/tools/synth_gguf.py -q --preset smollm2-135m --dtype "$dtype" -o "$m"
done
"$new" info --system | grep -m1 -i "^cpu" || true
echo "$(nproc) cores, $(date -u +%FT%TZ), $reps repetitions"
echo "| binary | weights | pp512 t/s | tg128 t/s |"
echo "|---|---|---|---|"
pp_tg() {  # label, command...
  local label=$1; shift
  local j; j=$("$@" -p 512 -n 128 -t 2 -r "$reps" --json 2>/dev/null)
  python3 -c '
import json, sys
rows = {r["test"]: r["tokens_per_s_median"] for r in json.loads(sys.argv[2])}
print("| %s | %s | %.1f | %.1f |" % (sys.argv[1], sys.argv[3], rows["pp512"], rows["tg128"]))' "$label" "$j" "$dtype"
}
for dtype in f16 q8_0; do
  m="build/models/smollm2-135m-$dtype.gguf"
  pp_tg "before ($old)" "$old" bench -m "$m"
  pp_tg "after, defaults" "$new" bench -m "$m"
  pp_tg "after, f32 KV + avx2" env PACKINFER_ISA=avx2 "$new" bench -m "$m" --kv-type f32
done
echo
echo "bench prefill, ${PREFILL_BATCH:-48} prompts ${PREFILL_DIST:-loguniform:8:1024}, SmolLM2-135M F16 (median batch TTFT, s)"
echo "| binary | packed | padded | single |"
echo "|---|---|---|---|"
prefill() {  # label isa binary [extra flags...]
  local label=$1 isa=$2 bin=$3; shift 3
  local j; j=$(env ${isa:+PACKINFER_ISA=$isa} "$bin" bench prefill -m build/models/smollm2-135m-f16.gguf \
    --dist "${PREFILL_DIST:-loguniform:8:1024}" --batch "${PREFILL_BATCH:-48}" -t 2 -r "$reps" --json "$@" 2>/dev/null) ||
    { echo "| $label | failed (exit $?; an older binary ends the run when a mode exceeds the KV budget) | | |"; return 0; }
  python3 -c '
import json, sys
t = sys.argv[2]  # older binaries print the table before the JSON
rows = {r["mode"]: r for r in json.loads(t[t.index("[\n") if not t.startswith("[") else 0:])}
cell = lambda m: "%.2f" % rows[m]["batch_ttft_s"] if rows[m].get("status", "ok") == "ok" else "OOM"
print("| %s | %s | %s | %s |" % (sys.argv[1], cell("packed"), cell("padded"), cell("single")))' "$label" "$j"
}
prefill "before" "" "$old"
prefill "after, defaults" "" "$new"
prefill "after, f32 KV + avx2" avx2 "$new" --kv-type f32
