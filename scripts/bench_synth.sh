#!/usr/bin/env bash
# Builds kt (CPU only), writes a synthetic model with a real model's shapes and random weights
# (kt synth), and times it with `kt bench -m` per thread count, with the executor's per-op
# profile (KT_PROFILE). Logs go to $OUT (default ./device-out). For the shared GPU box; not CI.
# Usage: scripts/bench_synth.sh [SHAPE] [TYPE] [VOCAB] [THREADS...]
#   e.g. scripts/bench_synth.sh deepseek-v2-lite q4_k_m .testdata/vocab/ggml-vocab-deepseek-llm.gguf 16 8
set -uo pipefail
OUT=${OUT:-./device-out}
mkdir -p "$OUT"
shape=${1:-deepseek-v2-lite}
type=${2:-q4_k_m}
vocab=${3:-.testdata/vocab/ggml-vocab-deepseek-llm.gguf}
shift $(($# < 3 ? $# : 3))
threads=("$@")
[ ${#threads[@]} -eq 0 ] && threads=("$(nproc)")
P=${P:-512}
N=${N:-128}
REPS=${REPS:-3}

lscpu | grep -E 'Model name|^CPU\(s\)|Thread|Core|Socket|L3' > "$OUT/machine.txt" 2>&1
extra=()
# Header/library prefix carried from a developer machine (CLI11, nlohmann-json, Oniguruma).
[ -d .devdeps/usr ] && extra+=("-DCMAKE_PREFIX_PATH=$PWD/.devdeps/usr")
SECONDS=0
cmake -S . -B build-bench -G Ninja -DKT_BUILD_TESTS=OFF -DKT_CUDA=OFF "${extra[@]}" \
  > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build build-bench -j "$(nproc)" --target kt > "$OUT/build.log" 2>&1 ||
  { grep -E 'error|Error' "$OUT/build.log" | head -30; exit 1; }
echo "build: ${SECONDS}s"

model=${MODEL_DIR:-/tmp}/synth-$shape-$type.gguf
if [ ! -f "$model" ]; then
  SECONDS=0
  ./build-bench/kt synth --shape "$shape" --type "$type" --vocab "$vocab" -o "$model" \
    > "$OUT/synth.log" 2>&1 || { tail -5 "$OUT/synth.log"; exit 1; }
  tail -1 "$OUT/synth.log"
  echo "synth: ${SECONDS}s"
fi
for t in "${threads[@]}"; do
  KT_PROFILE=1 ./build-bench/kt bench -m "$model" -p "$P" -n "$N" -t "$t" -r "$REPS" \
    > "$OUT/bench_t$t.txt" 2> "$OUT/bench_t$t.err"
  cat "$OUT/bench_t$t.txt"
done
