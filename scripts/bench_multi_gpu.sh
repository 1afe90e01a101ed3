#!/usr/bin/env bash
# Issue 9 on whatever GPUs the machine has: a synthetic DeepSeek-V3 cut to LAYERS layers
# (kt synth deepseek-v3:LAYERS, Q4_K_M; default 8: 3 dense + 5 MoE layers, ~35 GB), the shipped
# two-GPU rules rewritten for that depth
# (first half of the layers on cuda:0, the rest with the LM head on cuda:1, routed experts in
# CPU memory), then `kt plan` (bytes per device) and `kt bench -m` with the one-GPU rules and
# with the two-GPU rules. With one GPU, DEVICE_MAP=0,0 (the default) runs both halves on GPU 0
# through the same cuts and hand-offs; on a two-GPU machine set DEVICE_MAP=0,1.
# Usage: KT=build-wheel/kt scripts/bench_multi_gpu.sh   Logs in $OUT (default ./device-out).
set -uo pipefail
OUT=${OUT:-./device-out}
mkdir -p "$OUT"
KT=${KT:-build-dev/kt}
LAYERS=${LAYERS:-8}
P=${P:-512} N=${N:-64} REPS=${REPS:-2} T=${T:-14}
DEVICE_MAP=${DEVICE_MAP:-0,0}
vocab=${VOCAB:-.testdata/vocab/ggml-vocab-deepseek-llm.gguf}
model=/tmp/synth-deepseek-v3-$LAYERS-q4_k_m.gguf
rules=$OUT/DeepSeek-V3-$LAYERS-layers-multi-gpu.yaml
half=$((LAYERS / 2))
[ "$LAYERS" -ge 2 ] && [ "$LAYERS" -le 19 ] || { echo "LAYERS must be 2 to 19 (the rewrite of the rules assumes one-digit halves)"; exit 1; }
SECONDS=0
[ -f "$model" ] || "$KT" synth --shape "deepseek-v3:$LAYERS" --type q4_k_m --vocab "$vocab" \
  -o "$model" > "$OUT/synth.log" 2>&1 || { tail -5 "$OUT/synth.log"; exit 1; }
echo "synth deepseek-v3:$LAYERS: ${SECONDS}s, $(du -h "$model" | cut -f1)"
# The shipped file cuts 61 layers at 30; the same rules cut LAYERS layers at LAYERS/2.
sed -e "s/(\[0-9\]|\[12\]\[0-9\])/[0-$((half - 1))]/g" \
    -e "s/(\[3-9\]\[0-9\])/([$half-9]|[1-9][0-9])/g" \
    -e "s/^\( *\)30: \"cuda:1\"/\1$half: \"cuda:1\"/" \
    inject/rules/DeepSeek-V3-Chat-multi-gpu.yaml > "$rules"
"$KT" plan -m "$model" --optimize_rule_path DeepSeek-V3-Chat.yaml --gpus 1 > "$OUT/plan-1gpu.txt" 2>&1
"$KT" plan -m "$model" --optimize_rule_path "$rules" --gpus 2 > "$OUT/plan-2gpu.txt" 2>&1
grep -E -A8 '^(Memory|Bytes|device)' "$OUT/plan-2gpu.txt" | head -20
run() {  # NAME ARGS...
  local name=$1; shift
  "$KT" bench -m "$model" -p "$P" -n "$N" -t "$T" -r "$REPS" "$@" > "$OUT/bench-$name.txt" \
    2> "$OUT/bench-$name.err"
  echo "== $name (${SECONDS}s)"; grep -E '^\|' "$OUT/bench-$name.txt"
  grep -iE 'error' "$OUT/bench-$name.err" | head -3
}
run 1gpu --optimize_rule_path DeepSeek-V3-Chat.yaml
run 2gpu --optimize_rule_path "$rules" --device-map "$DEVICE_MAP"
