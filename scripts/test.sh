#!/usr/bin/env bash
# Builds packinfer and runs the whole test suite. --sanitize builds with ASan+UBSan instead.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
build=build
flags=(-DCMAKE_BUILD_TYPE=Release)
exclude=()
if [ "${1:-}" = "--sanitize" ]; then
  build=build-asan
  # -g1: line tables are all the sanitizers' reports need, and full debug info of the
  # template-heavy sources (JSON, HTTP, gtest) is much of the compile time. -O1 (the level ASan
  # recommends) compiles a third faster than -O2 under ASan; CMakeLists.txt keeps the kernels and
  # the forward pass at -O2, where the tests spend their time.
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"
         -DPACKINFER_SANITIZE=ON -DPACKINFER_BENCH=OFF)
  # The 135M-parameter golden models take minutes per case under ASan; the Release run covers
  # them, and the sanitizers see the same code paths on the small models.
  exclude=(-E "smollm2_135m")
fi
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" "${exclude[@]}"
