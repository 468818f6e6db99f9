#!/usr/bin/env bash
# How often the loop thread is preempted, per request, with the inference log on: scenario (g)'s
# one-client load (1,000 req/s open loop, non-stream) against gateways pinned with all their
# threads to core 1 (mock and loadgen on core 0), reading each thread's voluntary /
# nonvoluntary context switches from /proc/PID/task/TID/status before and after each lane.
# A nonvoluntary switch of the loop thread = the loop preempted; unlike latency, the counts
# hardly depend on the machine's load (docs/PERFORMANCE.md, "Loop thread and wake-ups").
#   bench/log_preempt.sh [BUILD_DIR (build)] [BASE_BINARY]   (SECS=5 ROUNDS=2 per lane)
# Lanes: base (BASE_BINARY, log on; only when given), nice0 (log.writer_nice 0), nice10 (the
# default), off (log.enabled false). Needs -DSY_BENCH=ON (mock_upstream, loadgen). Threads that
# switched are listed by tid: the loop thread is the one with ~2 voluntary switches per request
# (it sleeps in epoll twice per request), the log writer the other one (its wake-ups).
set -uo pipefail
B=$(realpath "${1:-build}"); BASE=${2:-}; SECS=${SECS:-5}; ROUNDS=${ROUNDS:-2}
W=$(mktemp -d /tmp/sy-logpreempt.XXXXXX)
cd "$W"
taskset -c 0 $B/bench/mock_upstream --port 0 > mock.log 2>&1 & MP=$!
sleep 0.5; MOCK=$(sed -n 's|.*127.0.0.1:\([0-9]*\).*|\1|p' mock.log | head -1)
declare -A PORT GWP
lane() { # name bin logyaml
  local port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > cs-$1.yaml <<YAML
server: {listen: 127.0.0.1:$port, workers: 1}
limits: {keepalive_timeout_ms: 300000}
data_dir: $W/data-$1
auth: {mode: local}
log: $3
models:
  - {name: bench, provider: openai, model: bench, base_url: http://127.0.0.1:$MOCK/v1}
YAML
  taskset -c 1 $2 serve --config cs-$1.yaml > cs-$1.log 2>&1 &
  GWP[$1]=$!; PORT[$1]=$port
  for i in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
}
LANES=(nice0 nice10 off)
[ -n "$BASE" ] && LANES=(base "${LANES[@]}") && lane base "$BASE" "{enabled: true}"
lane nice0 $B/switchyard "{enabled: true, writer_nice: 0}"
lane nice10 $B/switchyard "{enabled: true}"
lane off $B/switchyard "{enabled: false}"
sleep 1
cs() { # pid -> "tid:comm:vol:nonvol ..."
  for t in /proc/$1/task/*; do echo -n "$(basename $t):$(awk '/^voluntary_ctxt/ {v=$2} /^nonvoluntary_ctxt/ {n=$2} END {print v":"n}' $t/status) "; done; }
for ((r = 1; r <= ROUNDS; r++)); do
for n in "${LANES[@]}"; do
  b=$(cs ${GWP[$n]})
  taskset -c 0 $B/bench/loadgen --url http://127.0.0.1:${PORT[$n]}/v1/chat/completions --model bench --rate 1000 --duration $SECS --warmup 0.5 --spin-us 200 > cs-$n-lg.txt 2>&1
  a=$(cs ${GWP[$n]})
  req=$(grep '^{' cs-$n-lg.txt | sed -n 's/.*"ok":\([0-9]*\).*/\1/p')
  p50=$(grep '^{' cs-$n-lg.txt | sed -n 's/.*"lat_p50":\([0-9.]*\).*/\1/p'); p99=$(grep '^{' cs-$n-lg.txt | sed -n 's/.*"lat_p99":\([0-9.]*\).*/\1/p')
  echo "round $r $n: ok=$req p50=$p50 p99=$p99"
  python3 - "$b" "$a" "$req" <<'PY'
import sys
b=dict((x.split(':')[0],x.split(':')[1:]) for x in sys.argv[1].split())
a=dict((x.split(':')[0],x.split(':')[1:]) for x in sys.argv[2].split())
req=int(sys.argv[3] or 1)
for t in sorted(a):
    if t not in b: continue
    dv=int(a[t][0])-int(b[t][0]); dn=int(a[t][1])-int(b[t][1])
    if dv+dn: print(f"   tid {t}: voluntary {dv} ({dv/req:.3f}/req), nonvoluntary {dn} ({dn/req:.3f}/req)")
PY
done; done
for n in "${LANES[@]}"; do kill ${GWP[$n]}; done; kill $MP; wait 2>/dev/null
rm -rf "$W"
