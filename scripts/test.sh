#!/usr/bin/env bash
# Builds with -Werror and runs every test: unit (cmocka under ctest) and end-to-end (node --test
# with the official openai SDK and curl against the real binary).
# SY_SANITIZE=1: the same suite on an ASan+UBSan build (build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SY_SANITIZE:-0}" = 1 ]; then
  build=build-asan
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DSY_SANITIZE=ON >/dev/null
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  build=build
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  scripts/format-check.sh
  # The committed web app bundle (web/) is what a fresh build of webapp/ writes: esbuild's
  # output is deterministic for the same sources and pinned versions.
  echo "== web bundle (webapp/ → web/) up to date"
  (cd webapp && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
  if [ -n "$(git status --porcelain -- web)" ]; then
    git status --short -- web >&2
    echo "web/ is stale: run 'cd webapp && npm run build' and commit web/" >&2
    exit 1
  fi
fi
cmake --build "$build" -j"$(nproc)"
echo "== unit tests ($build)"
ctest --test-dir "$build" --output-on-failure
echo "== end-to-end tests ($build)"
SWITCHYARD_BIN="$PWD/$build/switchyard" tests/e2e/run.sh
