# Thin wrapper around CMake. See README.md.
BUILD ?= build
CONFIG ?= config/switchyard.example.yaml
JOBS ?= $(shell nproc)

.PHONY: all build run test unit e2e asan bench format format-check clean deps

all: build

deps:
	@scripts/deps.sh build

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	$(BUILD)/switchyard serve --config $(CONFIG)

test:
	@scripts/deps.sh test
	@scripts/test.sh

asan:
	@scripts/deps.sh test
	@SY_SANITIZE=1 scripts/test.sh

bench:
	@scripts/deps.sh bench
	@bench/run.sh

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c' 'bench/*.h')

format-check:
	@scripts/format-check.sh

clean:
	rm -rf $(BUILD) build-asan
