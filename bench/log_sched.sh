#!/usr/bin/env bash
# bench/log_sched.sh LABEL SWITCHYARD NICE SECONDS: per-thread CPU and context switches of one
# gateway (workers 1, log on, SQLite) pinned to core 1 with all its threads, mock upstream and
# loadgen on core 0, 1,000 non-stream req/s for SECONDS. NICE: a log.writer_nice value, "-" (no
# log section: for binaries without the key) or "off" (log.enabled false). Prints, per thread
# that ran, its nice, CPU ticks (10 ms) and voluntary / involuntary context switches
# (/proc/PID/task/TID/status). The writer is the lower thread id (started before the worker).
# Needs the bench tools: cmake -S bench -B build/bench-tools && cmake --build build/bench-tools
# (docs/PERFORMANCE.md, scenario g, "The mechanism, measured per thread").
set -u
LABEL=$1 SY=$2 NICE=$3 DUR=$4
T=${BENCH_TOOLS:-$(cd "$(dirname "$0")/.." && pwd)/build/bench-tools}
W=$(mktemp -d)
taskset -c 0 $T/mock_upstream --port 0 >$W/mock.log 2>&1 &
MP=$!
sleep 0.5
MPORT=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' $W/mock.log | head -1)
PORT=$($T/loadgen --free-port)
{
echo "server: {listen: 127.0.0.1:$PORT, workers: 1}"
echo "data_dir: $W/data"
echo "auth: {mode: local}"
if [ "$NICE" = off ]; then echo "log: {enabled: false}"; elif [ "$NICE" != - ]; then echo "log: {writer_nice: $NICE}"; fi
echo "models:"
echo "  - {name: bench, provider: openai, model: bench, base_url: http://127.0.0.1:$MPORT/v1}"
} >$W/sy.yaml
taskset -c 1 $SY serve --config $W/sy.yaml >$W/sy.log 2>&1 &
SP=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null 2>&1 && break; sleep 0.1; done
taskset -c 0 $T/loadgen --url http://127.0.0.1:$PORT/v1/chat/completions --rate 1000 --duration 1 >/dev/null 2>&1
snap() { for t in /proc/$SP/task/*; do
  s=$(cat $t/stat); set -- ${s##*) }; echo "$(basename $t) nice=${17} utime=${12} stime=${13} vol=$(awk '/^voluntary/{print $2}' $t/status) nonvol=$(awk '/^nonvoluntary/{print $2}' $t/status)"; done; }
snap >$W/a
taskset -c 0 $T/loadgen --url http://127.0.0.1:$PORT/v1/chat/completions --rate 1000 --duration $DUR --spin-us 200 --label $LABEL 2>&1 | tail -1 >$W/lg
snap >$W/b
echo "== $LABEL: $(grep -o '"ok":[0-9]*\|"lat_p50":[0-9.]*\|"lat_p99":[0-9.]*' $W/lg | tr '\n' ' ')"
join <(sort $W/a) <(sort $W/b) | awk '{ for (i = 2; i <= 11; i++) { split($i, kv, "="); v[i] = kv[2] }
  cpu = v[8] + v[9] - v[3] - v[4]; vol = v[10] - v[5]; nv = v[11] - v[6];
  if (cpu > 0 || vol > 0) printf "  tid %s %s cpu_ticks %d vol %d nonvol %d\n", $1, $2, cpu, vol, nv }'
kill $SP; wait $SP 2>/dev/null
kill $MP; wait $MP 2>/dev/null
rm -rf $W
