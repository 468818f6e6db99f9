#!/usr/bin/env bash
# Instructions per request of the whole gateway (loop + log writer thread) under callgrind, log
# on vs off: the deterministic part of bench/run.sh scenario (g), on its own (~2 minutes).
#   bench/log_ir.sh [BUILD_DIR (build)] [N non-stream requests (1000)]
# Needs a build with -DSY_BENCH=ON (mock_upstream, loadgen). After 200 warm-up requests the
# counters are zeroed (callgrind_control -z), N sequential non-stream requests are sent and the
# counters dumped (-d), each after a 3 s pause so that the log writer has written the rows of
# the phase before / of this phase; then N/4 20-frame streams. Prints Ir per request for both configs.
set -euo pipefail
B=${1:-build}
N=${2:-1000}
W=$(mktemp -d /tmp/sy-logir.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
"$B/bench/mock_upstream" --port 0 --frames 20 >"$W/mock.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$W/mock.log" && break; sleep 0.1; done
MOCK_PORT=$(sed -n 's|.*127.0.0.1:\([0-9]*\).*|\1|p' "$W/mock.log" | head -1)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
run() { # NAME LOG(true|false)
    local name=$1 port cfg=$W/$1.yaml
    port=$(free_port)
    cat >"$cfg" <<YAML
server: {listen: 127.0.0.1:$port, workers: 1}
limits: {keepalive_timeout_ms: 300000}
data_dir: $W/data-$name
auth: {mode: local}
log: {enabled: $2}
models:
  - {name: bench, provider: openai, model: bench, base_url: http://127.0.0.1:$MOCK_PORT/v1}
YAML
    valgrind --tool=callgrind --callgrind-out-file="$W/cg-$name.out" "$B/switchyard" serve \
        --config "$cfg" --workers 1 --listen "127.0.0.1:$port" >"$W/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 600); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
    local url=http://127.0.0.1:$port/v1/chat/completions
    "$B/bench/loadgen" --url "$url" --model bench --sequential 200 --timeout-ms 30000 >/dev/null 2>&1
    local k=0
    for mode in nonstream stream; do
        local n=$N extra=()
        [ $mode = stream ] && n=$((N / 4)) extra=(--stream --frames 20)
        sleep 3 # the writer flushes the rows of the previous phase (log.batch_ms) first
        callgrind_control -z "$pid" >/dev/null
        "$B/bench/loadgen" --url "$url" --model bench --sequential "$n" --timeout-ms 30000 \
            "${extra[@]}" >"$W/$name-$mode.txt" 2>&1
        sleep 3 # and this phase's rows are written before the dump
        callgrind_control -d "$pid" >/dev/null
        k=$((k + 1))
        local ir
        ir=$(awk '/^totals:/ { print $2 }' "$W/cg-$name.out.$k")
        cp "$W/cg-$name.out.$k" "$W/../sy-logir-$name-$mode.out" 2>/dev/null || true
        echo "$name $mode: $((ir / n)) Ir/request ($n requests)"
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}
run on true
run off false
echo "dumps: /tmp/sy-logir-{on,off}-{nonstream,stream}.out"
rm -rf "$W"
