#!/usr/bin/env bash
# Fuzzes the parsers of untrusted bytes with libFuzzer + ASan + UBSan, SECONDS (default 60) per
# target: the GGUF reader (model files), the OpenAI request parser (HTTP bodies, batch lines) and
# the structured-output compilers (GBNF grammars, JSON schemas) with their matcher.
# Builds build-fuzz with clang, runs each on a temporary copy of fuzz/corpus/<name> (the committed
# seeds stay small), and moves every crash/timeout/oom input into fuzz/regressions/<name>/, which
# the tests replay. Exits non-zero if any were found.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
build=build-fuzz
targets=(gguf openai_request grammar tokenizer)

CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -gline-tables-only -DNDEBUG" \
  -DPACKINFER_FUZZ=ON -DPACKINFER_TESTS=OFF -DPACKINFER_BENCH=OFF >/dev/null
cmake --build "$build" -j2 --target "${targets[@]/#/fuzz_}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
for name in "${targets[@]}"; do
  mkdir -p "$work/$name/corpus" "$work/$name/artifacts" "fuzz/regressions/$name"
  cp "fuzz/corpus/$name"/* "$work/$name/corpus/"
  status=0
  "$build/fuzz_$name" "$work/$name/corpus" "fuzz/corpus/$name" "fuzz/regressions/$name" \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$work/$name/artifacts/" -print_final_stats=1 2>&1 | tail -n 20 || status=$?
  # libFuzzer only reads the extra corpus dirs; new inputs go to the first (temporary) one.
  for f in "$work/$name"/artifacts/*; do
    [ -e "$f" ] || continue
    cp "$f" "fuzz/regressions/$name/"
    echo "fuzz.sh: saved $(basename "$f") to fuzz/regressions/$name/"
    status=1
  done
  if [ "$status" -ne 0 ]; then
    echo "fuzz.sh: fuzz_$name found problems (exit $status)" >&2
    failed=1
  else
    echo "fuzz.sh: fuzz_$name: no crashes in ${seconds}s"
  fi
done
exit "$failed"
