#!/usr/bin/env bash
# The GPU machine's serving benchmark: builds kt, makes a synthetic model (kt synth), starts
# `kt serve` on it and runs `kt bench serve` at several concurrencies (vLLM's metrics: TTFT,
# TPOT, ITL, E2EL, throughput). JSON and tables in $OUT (default ./device-out). Not CI.
# Usage: scripts/bench_serve.sh [SHAPE]   env: C="1 4 16" IN=256 OUTLEN=64 T=14 PLACEMENTS="hybrid gpu"
set -uo pipefail
OUT=${OUT:-./device-out}
mkdir -p "$OUT"
shape=${1:-deepseek-v2-lite}
T=${T:-14}
IN=${IN:-256}
OUTLEN=${OUTLEN:-64}
vocab=${VOCAB:-.testdata/vocab/ggml-vocab-deepseek-llm.gguf}
extra=()
[ -d .devdeps/usr ] && extra+=("-DCMAKE_PREFIX_PATH=$PWD/.devdeps/usr")
SECONDS=0
if [ ! -x build-dev/kt ] || [ "${REBUILD:-1}" = 1 ]; then
  cmake -S . -B build-dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DKT_BUILD_TESTS=OFF "${extra[@]}" \
    > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
  cmake --build build-dev -j "$(nproc)" --target kt > "$OUT/build.log" 2>&1 ||
    { grep -E 'error' "$OUT/build.log" | head -30; exit 1; }
  echo "build: ${SECONDS}s"
fi
model=/tmp/synth-$shape-q4_k_m.gguf
[ -f "$model" ] || ./build-dev/kt synth --shape "$shape" --type q4_k_m --vocab "$vocab" -o "$model" \
  > "$OUT/synth-$shape.log" 2>&1 || { tail -5 "$OUT/synth-$shape.log"; exit 1; }
echo "synth $shape: ${SECONDS}s"
cat > /tmp/all-gpu.yaml <<'YAML'
- match:
    name: ".*"
  replace:
    class: default
    kwargs:
      generate_device: "cuda:0"
      prefill_device: "cuda:0"
YAML
fetch() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }
port=10002
for placement in ${PLACEMENTS:-hybrid gpu}; do
  rules=()
  [ "$placement" = gpu ] && rules=(--optimize_rule_path /tmp/all-gpu.yaml)
  ./build-dev/kt serve -m "$model" -t "$T" --cache_lens 8192 --port $port "${rules[@]}" \
    > "$OUT/serve-$shape-$placement.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    fetch "http://127.0.0.1:$port/health" > /dev/null 2>&1 && break
    kill -0 $pid 2> /dev/null || break
    sleep 0.5
  done
  echo "serve $shape $placement up: ${SECONDS}s"
  for c in ${C:-1 4 16}; do
    n=$((c * 2)); [ $n -lt 8 ] && n=8
    f="$OUT/serve-$shape-$placement-c$c.json"
    ./build-dev/kt bench serve --url "http://127.0.0.1:$port" -c "$c" -n "$n" --input_len "$IN" \
      --output_len "$OUTLEN" --json > "$f" 2> "${f%.json}.err"
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("c=%d n=%d ok=%d fail=%d out %.1f tok/s req %.2f/s | TTFT ms %.0f/%.0f/%.0f | TPOT ms %.1f/%.1f/%.1f | ITL ms %.1f/%.1f/%.1f" % (j["concurrency"], j["num_prompts"], j["completed"], j["failed"], j["output_throughput"], j["request_throughput"], *[j[k][q] for k in ("ttft_ms","tpot_ms","itl_ms") for q in ("mean","p50","p99")]))' "$f" || tail -3 "${f%.json}.err"
    echo "bench serve c=$c: ${SECONDS}s"
  done
  fetch "http://127.0.0.1:$port/metrics" > "$OUT/metrics-$shape-$placement.txt"
  kill $pid; wait $pid 2> /dev/null
  port=$((port + 1))
done
