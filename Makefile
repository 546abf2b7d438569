# Georep: the two commands of the README's quick start, and a few helpers.
#   make demo   install what is missing, build, run a primary + secondary here
#   make test   install what is missing, build, run every test
#   make package  the Debian package (build/georep_VERSION_ARCH.deb)
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
DEMO_DIR   ?= var/demo
GEOREP     := $(BUILD)/georep

.PHONY: all deps build test test-unit demo demo-down package bench bench-quick asan tsan fuzz layers thread-safety format format-check clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD)

test: build format-check layers thread-safety
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -j2

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

demo: build
	$(GEOREP) demo up --dir $(DEMO_DIR)
	@sleep 2  # let the secondary catch up before showing status
	@for c in $(DEMO_DIR)/*/georep.toml; do echo; $(GEOREP) status --config $$c; done

demo-down:
	$(GEOREP) demo down --dir $(DEMO_DIR)

# The Debian package, into $(BUILD)/georep_VERSION_ARCH.deb (CPack).
package: build
	cd $(BUILD) && cpack -G DEB

# Benchmarks against the tools an operator would use instead (bench/run.sh).
bench: build
	@scripts/install-bench-deps
	bench/run.sh

bench-quick: build
	@scripts/install-bench-deps
	bench/run.sh --quick --out $(BUILD)/bench-quick.md

# Debug build with AddressSanitizer and UndefinedBehaviorSanitizer.
asan: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGEOREP_SANITIZE=ON
	cmake --build build-asan
	cd build-asan && ctest --output-on-failure -j2 -L 'unit|pg'

# The dependency diagram of src/ (scripts/check-layers has the table).
layers:
	scripts/check-layers

# Clang's -Wthread-safety over src/: the lock annotations are checked.
thread-safety: build
	scripts/check-thread-safety $(BUILD)

# ThreadSanitizer build; runs the unit and pg tests (the e2e tests run
# daemons, which are exercised by the e2e suites themselves). Debian's
# abseil is not TSan-built, so this build's locks are std::mutex
# (util/mutex.h).
tsan: deps
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGEOREP_TSAN=ON
	cmake --build build-tsan
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --output-on-failure -j2 -L 'unit|pg'

# libFuzzer over every target in tests/fuzz (clang, ASan, UBSan), each for
# FUZZ_SECONDS, from its seed corpus; prints the executions per target.
FUZZ_SECONDS ?= 60
fuzz: deps
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER=clang++ -DGEOREP_FUZZ=ON
	cmake --build build-fuzz --target fuzz_all
	scripts/run-fuzz build-fuzz $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
