#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks, on loopback, in a directory of its own.
#
#   tests/pg_server.sh start DIR [WATCH_PID]   initdb DIR/data, start on 127.0.0.1:<free port>,
#                                              print PG_URL=, PG_PORT=, PG_PID= lines on stdout
#   tests/pg_server.sh stop DIR                stop the server by its PID, remove DIR
#   tests/pg_server.sh halt DIR                fast shutdown (pg_ctl stop -m fast), keep DIR:
#                                              a store outage for tests
#   tests/pg_server.sh restart DIR             start the halted server again on the same data
#                                              dir and port; prints PG_PID= (the new PID)
#
# - Uses the newest /usr/lib/postgresql/*/bin (Debian package `postgresql`).
# - PostgreSQL refuses to run as root: as root, the server runs as the `postgres` system user
#   (created by the Debian package) via runuser; DIR is chowned to it. Otherwise as the caller.
# - Superuser `switchyard`, trust authentication on loopback only, UTF8, C locale.
# - PG_DURABLE=1: keep fsync/synchronous_commit/full_page_writes on (benchmarks). Default off:
#   tests do not need crash safety and CREATE DATABASE per test case is then much faster.
# - WATCH_PID: a watchdog stops the server (whatever PID DIR/data/postmaster.pid names then, so
#   it follows a `restart`) and removes DIR when that process dies, so a crashed test leaves
#   nothing running. `stop` ends the watchdog first.
# Any failure prints the reason (and the server log) on stderr and exits non-zero: callers must
# fail, never skip.
set -euo pipefail

die() {
  echo "pg_server: $*" >&2
  exit 1
}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$bindir" ] && [ -x "$bindir/initdb" ] ||
  die "initdb not found under /usr/lib/postgresql/*/bin (install the Debian package postgresql: scripts/deps.sh test)"

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

cmd=${1:-}
dir=${2:-}
[ -n "$dir" ] || die "usage: $0 start DIR [WATCH_PID] | stop DIR | halt DIR | restart DIR"

case "$cmd" in
start)
  watch=${3:-}
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root and there is no 'postgres' user to run the server as"
    chown postgres: "$dir"
  fi
  chmod 700 "$dir"
  if ! as_pg "$bindir/initdb" -D "$dir/data" -U switchyard --auth=trust -E UTF8 --locale=C \
    --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    die "initdb failed in $dir"
  fi
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$dir'"
    echo "max_connections = 100"
    echo "log_min_messages = warning"
    if [ "${PG_DURABLE:-0}" != 1 ]; then
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
  started=
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 40000))
    # something listening there already: pick another
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
    if as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "-p $port" \
      start >/dev/null 2>&1; then
      started=1
      break
    fi
    # lost a race for the port: try another; any other failure is fatal
    grep -q "could not bind\|Address already in use" "$dir/server.log" 2>/dev/null || break
  done
  if [ -z "$started" ]; then
    tail -n 30 "$dir/server.log" >&2 2>/dev/null || true
    die "could not start postgres in $dir (log above)"
  fi
  echo "$port" >"$dir/port"
  pid=$(head -n 1 "$dir/data/postmaster.pid")
  if [ -n "$watch" ]; then
    # setsid + closed fds: the watchdog must not hold the caller's pipe open
    # The PID is read from postmaster.pid when the watched process is gone (the file exists
    # only while a postmaster runs on DIR/data, and a `restart` changes the PID).
    setsid bash -c '
      while kill -0 "$1" 2>/dev/null; do sleep 1; done
      if [ -f "$2/data/postmaster.pid" ]; then
        p=$(head -n 1 "$2/data/postmaster.pid")
        kill -INT "$p" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      fi
      rm -rf "$2"' _ "$watch" "$dir" </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/watchdog.pid"
  fi
  echo "PG_URL=postgresql://switchyard@127.0.0.1:$port/postgres"
  echo "PG_PORT=$port"
  echo "PG_PID=$pid"
  echo "PG_DIR=$dir"
  ;;
stop)
  [ -d "$dir" ] || exit 0
  if [ -f "$dir/watchdog.pid" ]; then kill "$(cat "$dir/watchdog.pid")" 2>/dev/null || true; fi
  if [ -f "$dir/data/postmaster.pid" ]; then
    pid=$(head -n 1 "$dir/data/postmaster.pid")
    kill -INT "$pid" 2>/dev/null || true # fast shutdown
    for _ in $(seq 1 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -QUIT "$pid" 2>/dev/null || true
      sleep 1
    fi
  fi
  rm -rf "$dir"
  ;;
halt)
  [ -f "$dir/data/postmaster.pid" ] || die "no server running in $dir"
  as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null ||
    die "pg_ctl stop failed in $dir"
  ;;
restart)
  [ -f "$dir/port" ] || die "no server was started in $dir"
  port=$(cat "$dir/port")
  if ! as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "-p $port" \
    start >/dev/null 2>&1; then
    tail -n 30 "$dir/server.log" >&2 2>/dev/null || true
    die "could not restart postgres in $dir on port $port (log above)"
  fi
  echo "PG_PID=$(head -n 1 "$dir/data/postmaster.pid")"
  ;;
*)
  die "usage: $0 start DIR [WATCH_PID] | stop DIR | halt DIR | restart DIR"
  ;;
esac
