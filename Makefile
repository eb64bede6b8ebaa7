# The two commands in the README. Both install missing system packages first.
SWIFT ?= swift
CONFIG ?= release
BUILD_FLAGS = -c $(CONFIG) -Xswiftc -enable-testing
BIN = $(shell $(SWIFT) build $(BUILD_FLAGS) --show-bin-path 2>/dev/null)/hindcast

.PHONY: quickstart test build format lint

build:
	@scripts/bootstrap.sh
	$(SWIFT) build $(BUILD_FLAGS) --product hindcast

## Runs the main job: the quickstart pipeline on the embedded model.
quickstart: build
	scripts/quickstart.sh "$(BIN)"

## Builds and runs every test (unit, gradient checks, crash/resume, CLI end to end).
test:
	@scripts/bootstrap.sh --test
	# One build for the binary and the tests: a plain `swift test` would rebuild every module with
	# other settings than `swift build` (measured: a second full release build, ~3 min on 2 cores).
	$(SWIFT) build $(BUILD_FLAGS) --build-tests
	SWIFT=$(SWIFT) scripts/check-imports.sh
	# Swift Testing runs tests on several threads of one process, and this OpenBLAS (pthreads,
	# no USE_LOCKING) can deadlock when two threads call a multi-threaded sgemm at once.
	OPENBLAS_NUM_THREADS=1 $(SWIFT) test $(BUILD_FLAGS) --skip-build --parallel --num-workers 2
	# Fuzz smoke: builds Fuzz/ with -sanitize=fuzzer,address and runs each harness for 10 s
	# (Fuzz/README.md). FUZZ=0 skips it.
	@if [ "$${FUZZ:-1}" != 0 ]; then SWIFT=$(SWIFT) FUZZ_SECONDS=10 Fuzz/run.sh; fi

format:
	$(SWIFT) format --in-place --recursive Package.swift Sources Tests

lint:
	$(SWIFT) format lint --strict --recursive Package.swift Sources Tests
