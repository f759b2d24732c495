#!/usr/bin/env bash
# Fuzzes the GGUF reader for SECONDS (default 60) with libFuzzer + ASan + UBSan.
# Builds build-fuzz with clang, runs on a temporary copy of fuzz/corpus/gguf (the committed seeds
# stay small), and moves every crash/timeout/oom input into fuzz/regressions/gguf/, where
# tests/test_gguf.cpp replays it. Exits non-zero if any were found.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
build=build-fuzz

CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPACKINFER_FUZZ=ON -DPACKINFER_TESTS=OFF -DPACKINFER_BENCH=OFF >/dev/null
cmake --build "$build" -j2 --target fuzz_gguf

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts" fuzz/regressions/gguf
cp fuzz/corpus/gguf/* "$work/corpus/"

status=0
"$build/fuzz_gguf" "$work/corpus" fuzz/corpus/gguf fuzz/regressions/gguf \
  -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 2>&1 | tail -n 40 || status=$?

# libFuzzer only reads the extra corpus dirs; new inputs go to the first (temporary) one.
found=0
for f in "$work"/artifacts/*; do
  [ -e "$f" ] || continue
  cp "$f" fuzz/regressions/gguf/
  echo "fuzz.sh: saved $(basename "$f") to fuzz/regressions/gguf/"
  found=1
done
if [ "$found" -ne 0 ] || [ "$status" -ne 0 ]; then
  echo "fuzz.sh: fuzzer found problems (exit $status)" >&2
  exit 1
fi
echo "fuzz.sh: no crashes in ${seconds}s"
