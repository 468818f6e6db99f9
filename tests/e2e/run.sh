#!/usr/bin/env bash
# Run the Switchyard end-to-end suite: the real binary (build/switchyard, or $SWITCHYARD_BIN)
# against mock upstreams, driven by the official openai and @anthropic-ai/sdk SDKs and curl.
# Usage: tests/e2e/run.sh [extra node --test args]   (from anywhere)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${SWITCHYARD_BIN:-$repo/build/switchyard}"
if [ ! -x "$bin" ]; then
  echo "e2e: gateway binary not found at $bin (build it: cmake -S . -B build && cmake --build build)" >&2
  exit 1
fi
command -v curl >/dev/null || { echo "e2e: curl is required" >&2; exit 1; }
# the browser tests (browser_*.test.mjs) drive Debian's chromium; they fail without it
[ -x "${SY_CHROMIUM:-/usr/bin/chromium}" ] || { echo "e2e: chromium is required (scripts/deps.sh test)" >&2; exit 1; }
if [ ! -d "$here/node_modules/openai" ] || [ ! -d "$here/node_modules/@anthropic-ai/sdk" ] ||
   [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi
cd "$repo"
# Twice: upstream calls through the native HTTP/1.1 client (the default for http:// numeric hosts)
# and through libcurl (every other upstream), so both clients meet the same contract.
echo "e2e: upstream_client=auto (native HTTP/1.1)"
E2E_UPSTREAM_CLIENT=auto node --test --test-concurrency=1 "$@" tests/e2e/
# the browser tests talk to mock-provider models only (no upstream client): once is enough
echo "e2e: upstream_client=curl"
mapfile -t files < <(ls tests/e2e/*.test.mjs | grep -v '/browser_')
E2E_UPSTREAM_CLIENT=curl node --test --test-concurrency=1 "$@" "${files[@]}"
