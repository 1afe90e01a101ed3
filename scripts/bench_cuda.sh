#!/usr/bin/env bash
# The GPU machine's run for the CUDA backend: builds kt with tests, runs every `cuda` test, then
# times synthetic models (kt synth) in the hybrid (routed experts on the CPU, the rest on the
# GPU), all-GPU and CPU placements with `kt bench -m ... --profile`. Logs in $OUT (default
# ./device-out). For the shared GPU box; not CI.
# Usage: scripts/bench_cuda.sh [tests] [bench] [SHAPE...]   e.g. scripts/bench_cuda.sh tests bench deepseek-v2-lite
set -uo pipefail
OUT=${OUT:-./device-out}
mkdir -p "$OUT"
P=${P:-512}
N=${N:-128}
REPS=${REPS:-3}
T=${T:-16}
vocab=${VOCAB:-.testdata/vocab/ggml-vocab-deepseek-llm.gguf}
extra=()
[ -d .devdeps/usr ] && extra+=("-DCMAKE_PREFIX_PATH=$PWD/.devdeps/usr")
[ -d .testdata ] && extra+=("-DKT_TESTDATA_DIR=$PWD/.testdata")
run_tests=0 run_bench=0 shapes=()
for a in "$@"; do
  case "$a" in tests) run_tests=1 ;; bench) run_bench=1 ;; *) shapes+=("$a") ;; esac
done
[ ${#shapes[@]} -eq 0 ] && shapes=(deepseek-v2-lite)
SECONDS=0
cmake -S . -B build-dev -G Ninja -DCMAKE_BUILD_TYPE=Release "${extra[@]}" > "$OUT/configure.log" 2>&1 ||
  { tail -30 "$OUT/configure.log"; exit 1; }
targets=(kt)
[ $run_tests = 1 ] && targets=(all)
cmake --build build-dev -j "$(nproc)" --target "${targets[@]}" > "$OUT/build.log" 2>&1 ||
  { grep -E 'error' "$OUT/build.log" | head -30; exit 1; }
echo "build: ${SECONDS}s"
if [ $run_tests = 1 ]; then
  (cd build-dev && ctest -L cuda -j 4 --timeout 240 --output-on-failure) > "$OUT/ctest_cuda.log" 2>&1
  grep -E 'tests passed|tests failed' "$OUT/ctest_cuda.log"
  grep -E '^\s+[0-9]+ - .*\(Failed|Timeout|Exception' "$OUT/ctest_cuda.log" | head -30
  echo "tests: ${SECONDS}s"
fi
[ $run_bench = 1 ] || exit 0
# Everything on cuda:0, experts included.
cat > /tmp/all-gpu.yaml <<'YAML'
- match:
    name: ".*"
  replace:
    class: default
    kwargs:
      generate_device: "cuda:0"
      prefill_device: "cuda:0"
YAML
for shape in "${shapes[@]}"; do
  model=/tmp/synth-$shape-q4_k_m.gguf
  [ -f "$model" ] || ./build-dev/kt synth --shape "$shape" --type q4_k_m --vocab "$vocab" -o "$model" \
    > "$OUT/synth-$shape.log" 2>&1 || { tail -5 "$OUT/synth-$shape.log"; exit 1; }
  echo "synth $shape: ${SECONDS}s"
  for placement in ${PLACEMENTS:-hybrid gpu}; do
    rules=()
    [ $placement = gpu ] && rules=(--optimize_rule_path /tmp/all-gpu.yaml)
    ./build-dev/kt bench -m "$model" -p "$P" -n "$N" -t "$T" -r "$REPS" ${PROFILE---profile} "${rules[@]}" \
      > "$OUT/bench-$shape-$placement.txt" 2> "$OUT/bench-$shape-$placement.err"
    grep -E '^\|' "$OUT/bench-$shape-$placement.txt"; grep -E 'profile|rror' "$OUT/bench-$shape-$placement.txt" "$OUT/bench-$shape-$placement.err" | head -5
    echo "bench $shape $placement: ${SECONDS}s"
  done
done
