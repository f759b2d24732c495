#!/usr/bin/env bash
# KL divergence and top-token agreement of every KV cache format, with and without the Hadamard
# rotation, against the exact path (f32 KV), on one model and text. The exact path's
# log-probabilities are computed once (--save-base) and every format is compared with them.
#   bench/kld_formats.sh [MODEL.gguf] [TEXT] [threads]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-../shared/models/stories260K/stories260K-f32.gguf}
text=${2:-tests/data/kld_story.txt}
threads=${3:-2}
bin=${PACKINFER:-./build/packinfer}
base=$(mktemp /tmp/kld_base.XXXXXX)
trap 'rm -f "$base"' EXIT
echo "# kld of every KV format: $(basename "$model"), $(basename "$text")"
"$bin" info --system | grep -m1 -i "cpu" || true
"$bin" kld -m "$model" -f "$text" -t "$threads" --save-base "$base" >/dev/null
echo "| KV format | rotate | positions | KL mean | KL median | KL p99 | PPL diff | top-1 agree |"
echo "|---|---|---|---|---|---|---|---|"
for t in f16 bf16 q8_0 q4_0 kivi4 kivi2; do
  for rot in "" "--kv-rotate"; do
    j=$("$bin" kld -m "$model" -f "$text" -t "$threads" --base "$base" --kv-type "$t" $rot --json)
    python3 - "$t" "${rot:+yes}" "$j" <<'PY'
import json, sys
t, rot, j = sys.argv[1], sys.argv[2] or "no", json.loads(sys.argv[3])
a = j["overall"]
print(f"| {t} | {rot} | {a['positions']} | {a['kl_mean']:.6f} | {a['kl_median']:.6f} | "
      f"{a['kl_p99']:.6f} | {a['ppl_diff']:+.4f} | {100 * a['top1_agreement']:.2f}% |")
PY
  done
done
