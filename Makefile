# Front door to the CMake build. `make` builds, `make test` builds and runs the tests
# (plus the parser tests under AddressSanitizer), `make run` runs the main job.
BUILD     ?= build
ASAN      ?= build-asan
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
SHARED    ?= ../shared

.PHONY: all build test test-fast test-asan run bench format clean

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

test: test-fast test-asan

run: build
	$(BUILD)/kt gguf $(SHARED)/testdata/vocab/ggml-vocab-deepseek-llm.gguf

bench: build
	$(BUILD)/kt bench ops

format:
	git ls-files '*.h' '*.cpp' '*.cu' '*.cuh' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN)
