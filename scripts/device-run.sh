#!/usr/bin/env bash
# Builds kt on the GPU machine with all cores, runs every test (CUDA included) and the kernel
# benchmark, and leaves logs and JSON in $OUT (default ./device-out). Used by developers on the
# shared GPU box; not part of CI.
set -uo pipefail
OUT=${OUT:-./device-out}
mkdir -p "$OUT"
JOBS=$(nproc)
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  lscpu | grep -E 'Model name|^CPU\(s\)|Thread|Core|Socket|L3|Flags' | cut -c1-300
  free -g
} > "$OUT/machine.txt"
# Debian's packages may be missing here; build with what the box has.
extra=()
# Header/library prefix carried from a developer machine (GoogleTest, CLI11, nlohmann-json).
[ -d .devdeps/usr ] && extra+=("-DCMAKE_PREFIX_PATH=$PWD/.devdeps/usr")
[ -d .testdata ] && extra+=("-DKT_TESTDATA_DIR=$PWD/.testdata")
cmake -S . -B build-dev -G Ninja -DCMAKE_BUILD_TYPE=Release "${extra[@]}" > "$OUT/configure.log" 2>&1 || {
  cat "$OUT/configure.log"; exit 1; }
cmake --build build-dev -j "$JOBS" > "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
(cd build-dev && ctest --output-on-failure -j "$JOBS") > "$OUT/ctest.log" 2>&1
tail -5 "$OUT/ctest.log"
grep -E 'Failed|FAILED' "$OUT/ctest.log" | head -20
for arg in "$@"; do
  case "$arg" in
    bench) ./build-dev/kt bench ops --json > "$OUT/bench_ops.json" 2> "$OUT/bench_ops.err"
           ./build-dev/kt bench ops --threads 16 --isa all --types q4_K,q8_0 > "$OUT/bench_ops_isa.txt" 2>&1 ;;
    tok) ./build-dev/kt bench tokenizer --testdata .testdata > "$OUT/bench_tok.txt" 2>&1 ;;
  esac
done
