# SPDX-License-Identifier: Apache-2.0
# beacon developer entry points. Everything builds into build/ (executables in build/bin/).
#   make          install missing Debian packages, configure (Release) and build everything
#   make test     ... and run the whole test suite with ctest
#   make bench    ... and run the benchmark suite (short mode; BENCH_ARGS= for a full run)
#   make test-clang  build the CPU suite with clang++ in build-clang/ and run it (CI runs it beside g++; the examples and
#                 the command are built by g++ and under ASan)
#   make sanitize build and run the CPU tests and the beacon command's tests under ASan + UBSan in build-asan/
#   make tsan     build the thread-safety tests (a const adaptor forward from several threads) under ThreadSanitizer in build-tsan/
#   make compare-decode  the adaptor's decode step beside the same module in PyTorch, interleaved (build/compare/decode.md)
#   make fuzz     build the libFuzzer harnesses (clang) in build-fuzz/ and run each for FUZZ_SECONDS (default 300)
#   make compile-cost  compile time and peak memory of every translation unit (docs/benchmarks.md)
#   make demo     build the `beacon` command and run the lifelong-editing benchmark + a schedule
#   make pictures render the command's pictures shown in the docs into docs/img (SVG + PNG)
#   make clean    remove build/, build-asan/, build-clang/, build-tsan/ and build-fuzz/

BUILD      ?= build
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
BENCH_ARGS ?= --benchmark_min_time=0.05
FUZZ_SECONDS ?= 300

.PHONY: compare-decode all deps configure test test-clang bench sanitize tsan fuzz demo pictures clean compile-cost

all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

test: all
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

bench: all
	@for b in $(BUILD)/bin/bench_*; do echo "== $$b"; $$b $(BENCH_ARGS) || exit 1; done

test-clang: deps
	cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ -DBEACON_ENABLE_CUDA=OFF -DBEACON_TORCH_EXAMPLE=OFF \
	  -DBEACON_BUILD_BENCH=OFF -DBEACON_BUILD_EXAMPLES=OFF -DBEACON_BUILD_CLI=OFF $(CMAKE_ARGS)
	cmake --build build-clang -j $(JOBS)
	ctest --test-dir build-clang --output-on-failure -j $(JOBS)

sanitize: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DBEACON_SANITIZE=ON -DBEACON_ENABLE_CUDA=OFF \
	  -DBEACON_BUILD_BENCH=OFF -DBEACON_BUILD_EXAMPLES=OFF -DBEACON_BUILD_CLI=ON -DBEACON_HEADER_TESTS=OFF $(CMAKE_ARGS)
	cmake --build build-asan -j $(JOBS)
	ctest --test-dir build-asan --output-on-failure -j $(JOBS) -L 'unit|cli'

tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBEACON_TSAN=ON -DBEACON_ENABLE_CUDA=OFF \
	  -DBEACON_BUILD_BENCH=OFF -DBEACON_BUILD_EXAMPLES=OFF -DBEACON_BUILD_CLI=OFF $(CMAKE_ARGS)
	cmake --build build-tsan -j $(JOBS)
	ctest --test-dir build-tsan --output-on-failure -L tsan

fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DBEACON_FUZZ=ON -DBEACON_ENABLE_CUDA=OFF \
	  -DBEACON_BUILD_TESTS=OFF -DBEACON_BUILD_EXAMPLES=OFF -DBEACON_BUILD_CLI=OFF -DBEACON_BUILD_BENCH=OFF $(CMAKE_ARGS)
	cmake --build build-fuzz -j $(JOBS)
	scripts/run_fuzzers.sh build-fuzz $(FUZZ_SECONDS)

compare-decode: all
	python3 bench/compare_decode.py --bench $(BUILD)/bin/bench_moe --out $(BUILD)/compare

compile-cost: all
	python3 scripts/measure_compile.py $(BUILD) --probe

demo: configure
	cmake --build $(BUILD) -j $(JOBS) --target beacon_cli
	$(BUILD)/bin/beacon edit-bench --orders 3 --json $(BUILD)/edit-bench.json --svg $(BUILD)/edit-bench.svg
	$(BUILD)/bin/beacon schedule --kind info --steps 2000 \
	  --sentence "what university did the geologist attend" --format svg --out $(BUILD)/schedule.svg
	@echo "pictures: $(BUILD)/edit-bench.svg (scores with error bars over 3 orders, training budget, routing)"
	@echo "          $(BUILD)/schedule.svg (per-token alpha_bar); results: $(BUILD)/edit-bench.json"

pictures: configure
	cmake --build $(BUILD) -j $(JOBS) --target beacon_cli
	scripts/render_pictures.sh $(BUILD)/bin/beacon docs/img

clean:
	rm -rf $(BUILD) build-asan build-clang build-tsan build-fuzz
