#!/usr/bin/env bash
# The GPU machine's run for the Python package: `pip install .` with the CUDA backend into a
# virtual environment (no network there: the build runs without isolation, on the machine's own
# scikit-build-core, pybind11 and numpy), then the package's pytest suite, which on a machine
# with a GPU loads every model with the shipped one-GPU rules. The build folder (build-wheel)
# then also links `kt` from the same objects. Logs in $OUT (default ./device-out). Not CI.
set -uo pipefail
OUT=${OUT:-./device-out}
mkdir -p "$OUT"
ROOT=$PWD
. scripts/devdeps-env.sh
SECONDS=0
VENV=/tmp/kt-venv
python3 -m venv --system-site-packages "$VENV"
CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$VENV/bin/pip" install --no-build-isolation --no-deps \
  --disable-pip-version-check -Cbuild-dir=build-wheel \
  -Ccmake.define.pybind11_DIR="$(python3 -m pybind11 --cmakedir)" . > "$OUT/wheel.log" 2>&1 ||
  { grep -E 'error|Error' "$OUT/wheel.log" | head -30; exit 1; }
echo "wheel built and installed: ${SECONDS}s"
(cd /tmp && "$VENV/bin/python" -c 'import ktransformers as k; print("cuda_built", k.cuda_built, "gpus", k.cuda_device_count())')
(cd "$VENV" && KT_PYTHON_INSTALLED=1 KT_TESTDATA_DIR=$ROOT/.testdata PYTHONUNBUFFERED=1 \
  bin/python -m pytest -q -p no:cacheprovider --rootdir="$ROOT/tests/python" "$ROOT/tests/python" \
  > "$OUT/pytest.log" 2>&1)
echo "pytest rc $?: ${SECONDS}s"
tail -3 "$OUT/pytest.log"
grep -E '^(FAILED|ERROR)' "$OUT/pytest.log" | head -20
