#!/usr/bin/env bash
# Installs the Debian packages a target needs. Usage: scripts/deps.sh build|test|bench
# As root: apt-get installs what is missing. Otherwise: prints the exact command and fails.
set -euo pipefail
build=(cmake make gcc pkg-config libuv1-dev node-llhttp libcurl4-openssl-dev libjansson-dev libyaml-dev
       libsqlite3-dev libpq-dev libpcre2-dev libsodium-dev libhiredis-dev)
test=("${build[@]}" libcmocka-dev curl nodejs npm clang-format prometheus postgresql
      clickhouse-server clickhouse-client sqlite3 redis-server json-schema-test-suite chromium)
bench=("${build[@]}" curl nginx-light valgrind util-linux postgresql clickhouse-server)
case "${1:-build}" in
  build) want=("${build[@]}") ;;
  test) want=("${test[@]}") ;;
  bench) want=("${bench[@]}") ;;
  *) echo "deps.sh: unknown set '$1' (build|test|bench)" >&2; exit 2 ;;
esac
missing=()
for p in "${want[@]}"; do
  # nodejs/npm may come from outside Debian (e.g. NodeSource); a working binary is enough.
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "switchyard: missing Debian packages; run:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "switchyard: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
