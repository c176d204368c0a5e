#!/usr/bin/env bash
# Runs a command against a private, throw-away PostgreSQL server.
#
#   scripts/pg-test.sh [--keep-log] -- COMMAND [ARGS...]
#
# Starts a PostgreSQL cluster in a fresh temp dir (listening on 127.0.0.1 only, on a free port,
# with its unix socket inside the temp dir), creates the database `tickgraph_test`, runs COMMAND
# with TICKGRAPH_TEST_PG_URL and TICKGRAPH_BENCH_PG_URL set to it, then stops that server and
# deletes the temp dir, whatever happens (normal exit, failure, Ctrl-C, SIGTERM; a detached
# watchdog cleans up even after SIGKILL). Exits with COMMAND's status.
#
# As root the server runs as the `postgres` user (initdb refuses root). PGBIN selects the
# PostgreSQL binaries (default: the newest /usr/lib/postgresql/*/bin). Only the server started
# here is ever stopped, by its data directory.
set -euo pipefail

keep_log=0
while [ $# -gt 0 ]; do
  case "$1" in
    --keep-log) keep_log=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "pg-test.sh: unexpected argument '$1' (usage: pg-test.sh -- COMMAND [ARGS...])" >&2
       exit 2 ;;
  esac
done
if [ $# -eq 0 ]; then
  echo "pg-test.sh: no command given (usage: pg-test.sh -- COMMAND [ARGS...])" >&2
  exit 2
fi

if [ -z "${PGBIN:-}" ]; then
  PGBIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [ -z "$PGBIN" ] && command -v initdb >/dev/null; then PGBIN=$(dirname "$(command -v initdb)"); fi
fi
if [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
  echo "pg-test.sh: PostgreSQL server binaries not found (set PGBIN; tried '${PGBIN:-}')" >&2
  exit 2
fi

# The server's user: ourselves, or `postgres` when we are root.
as_server() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "pg-test.sh: running as root needs a 'postgres' user to run the server" >&2
    exit 2
  fi
  as_server() { runuser -u postgres -- "$@"; }
fi

# Short path: the unix socket path (…/run/.s.PGSQL.PORT) must fit in 107 bytes.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tickgraph-pg.XXXXXX")
data="$tmp/data"
run="$tmp/run"
log="$run/postgres.log"
started=0
child=

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  if [ "$started" -eq 1 ]; then
    as_server "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as_server "$PGBIN/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  if [ "$keep_log" -eq 1 ] && [ -f "$log" ]; then
    cp "$log" "./pg-test-$(basename "$tmp").log" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

chmod 755 "$tmp"
if [ "$(id -u)" -eq 0 ]; then
  install -d -o postgres -g postgres -m 700 "$data" "$run"
else
  install -d -m 700 "$data" "$run"
fi

if ! as_server "$PGBIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale --no-sync \
  >"$tmp/initdb.log" 2>&1; then
  echo "pg-test.sh: initdb failed:" >&2
  cat "$tmp/initdb.log" >&2
  exit 1
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Another process may take the port between our probe and the server's bind: retry a few times.
port=
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  if as_server "$PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $run" start >/dev/null 2>&1; then
    started=1
    break
  fi
  # A failed start may still leave a server coming up: make sure it is down before retrying.
  as_server "$PGBIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  echo "pg-test.sh: server did not start on port $port (attempt $attempt)" >&2
done
if [ "$started" -ne 1 ]; then
  echo "pg-test.sh: could not start PostgreSQL; server log:" >&2
  tail -n 30 "$log" >&2 || true
  exit 1
fi

# Watchdog: if this script dies without running its trap (SIGKILL, e.g. a test-runner timeout),
# stop the server and remove the temp dir. Detached (setsid, own session) so that killing this
# script's process tree does not kill it; it exits quietly once the temp dir is gone.
script_pid=$$
# shellcheck disable=SC2016  # the inner script expands its own arguments
setsid bash -c '
  while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 2; done
  if [ -d "$2" ]; then
    if [ "$(id -u)" -eq 0 ]; then
      runuser -u postgres -- "$3/pg_ctl" -D "$2/data" -m immediate -w stop
    else
      "$3/pg_ctl" -D "$2/data" -m immediate -w stop
    fi
    rm -rf "$2"
  fi' pg-test-watchdog "$script_pid" "$tmp" "$PGBIN" </dev/null >/dev/null 2>&1 &

db=tickgraph_test
if ! "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -c "CREATE DATABASE $db" >"$tmp/createdb.log" 2>&1; then
  echo "pg-test.sh: could not create database $db:" >&2
  cat "$tmp/createdb.log" >&2
  exit 1
fi

export TICKGRAPH_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/$db"
export TICKGRAPH_BENCH_PG_URL="$TICKGRAPH_TEST_PG_URL"

# The command runs in the background so that a signal to this script is handled at once: the
# traps exit, and cleanup() stops the command, then the server.
set +e
"$@" &
child=$!
wait "$child"
status=$?
child=
set -e
if [ "$status" -ne 0 ]; then
  echo "pg-test.sh: command exited with status $status; last lines of the server log:" >&2
  tail -n 20 "$log" >&2 || true
fi
exit "$status"
