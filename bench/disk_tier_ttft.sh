#!/usr/bin/env bash
# Disk tier of the prefix cache: TTFT of a long prompt computed, then repeated by a new process
# (a restart: nothing in RAM) that finds its blocks in --kv-disk DIR, against recomputing it
# without the tier; the greedy continuations must be identical.
#   bench/disk_tier_ttft.sh MODEL.gguf [prompt words] [threads] [kv type]
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; words=${2:-3000}; threads=${3:-2}; kv=${4:-f16}
bin=${PACKINFER:-./build/packinfer}
dir=$(mktemp -d /tmp/kvdisk.XXXXXX); prompt=$(mktemp /tmp/prompt.XXXXXX)
trap 'rm -rf "$dir" "$prompt"' EXIT
python3 - "$words" >"$prompt" <<'PY'
import random, sys
rng = random.Random(7)
vocab = "the a of and to in is was it that for on with as by at from this be are or an".split()
vocab += ["w%d" % i for i in range(400)]
print(" ".join(rng.choice(vocab) for _ in range(int(sys.argv[1]))))
PY
run() { "$bin" run -m "$model" -f "$prompt" -n 8 --temp 0 -t "$threads" -c 8192 --kv-type "$kv" --timings "$@" 2>&1; }
echo "# disk tier TTFT: $(basename "$model"), KV $kv, $threads threads"
"$bin" info --system | grep -m1 -i "^cpu" || true
echo "| run | prompt tokens | prompt s | continuation |"
echo "|---|---|---|---|"
continuation() { sed -E 's/prompt: [0-9]+ tokens in .*//' <<<"$1" | grep -v '^generated:' | tr -s '\n'; }
show() {
  local out=$1 what=$2
  local line; line=$(grep -m1 "^prompt:" <<<"$out" || grep -m1 "prompt:" <<<"$out")
  local toks secs
  toks=$(sed -E 's/.*prompt: ([0-9]+) tokens in ([0-9.]+) s.*/\1/' <<<"$line")
  secs=$(sed -E 's/.*prompt: ([0-9]+) tokens in ([0-9.]+) s.*/\2/' <<<"$line")
  local text; text=$(continuation "$out" | head -c 60 | tr '\n|' '  ')
  echo "| $what | $toks | $secs | ${text} |"
}
a=$(run); show "$a" "recompute (no disk tier)"
b=$(run --kv-disk "$dir"); show "$b" "first run with --kv-disk (computes, writes through)"
c=$(run --kv-disk "$dir"); show "$c" "new process, --kv-disk (blocks read from disk)"
echo "disk tier: $(du -sh "$dir" | cut -f1) in $(find "$dir" -name '*.kvb' | wc -l) block files"
[ "$(continuation "$a")" = "$(continuation "$c")" ] \
  && echo "continuations identical" || echo "continuations DIFFER"
