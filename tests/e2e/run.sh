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
if [ ! -d "$here/node_modules/openai" ] || [ ! -d "$here/node_modules/@anthropic-ai/sdk" ]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi
cd "$repo"
# Twice: upstream calls through the native HTTP/1.1 client (the default for http:// numeric hosts)
# and through libcurl (every other upstream), so both clients meet the same contract.
echo "e2e: upstream_client=auto (native HTTP/1.1)"
E2E_UPSTREAM_CLIENT=auto node --test --test-concurrency=1 "$@" tests/e2e/
echo "e2e: upstream_client=curl"
E2E_UPSTREAM_CLIENT=curl node --test --test-concurrency=1 "$@" tests/e2e/
