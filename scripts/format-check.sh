#!/usr/bin/env bash
# Fails if any C file differs from .clang-format (run `make format` to fix).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c' 'bench/*.h' 2>/dev/null || true)
[ -z "$files" ] && exit 0
if ! clang-format --dry-run -Werror $files 2>/tmp/sy-format.$$; then
  head -40 /tmp/sy-format.$$ >&2
  rm -f /tmp/sy-format.$$
  echo "format-check: run 'make format'" >&2
  exit 1
fi
rm -f /tmp/sy-format.$$
echo "format-check: ok"
