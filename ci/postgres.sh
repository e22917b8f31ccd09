# shellcheck shell=bash
# Source this file, then call `tasker_pg_start [fast]`: starts a private PostgreSQL 15 cluster (its own
# socket directory, a random port, no TCP listener), creates database `tasker`, exports
# TASKER_DATABASE_URL, and registers an EXIT trap that stops the cluster and removes its files.
# Durable settings by default; `fast` turns fsync off (tests only — benchmarks never pass it).
#   tasker_pg_restart   restarts the cluster (fast shutdown) keeping its data.
#   tasker_pg_stop      stops and removes it (the trap does this too).

tasker_pg_start() {
  local mode=${1:-durable}
  TASKER_PG_BIN=$(pg_config --bindir)
  [ -x "$TASKER_PG_BIN/initdb" ] || TASKER_PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  TASKER_PG_BASE=$(mktemp -d /tmp/tasker-pg.XXXXXX)
  TASKER_PG_PORT=$(( 20000 + RANDOM % 40000 ))
  TASKER_PG_AS=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$TASKER_PG_BASE"
    TASKER_PG_AS=(runuser -u postgres --)
  fi
  TASKER_PG_OPTS="-p $TASKER_PG_PORT -k $TASKER_PG_BASE -c listen_addresses='' -c max_connections=200 -c timezone=UTC"
  if [ "$mode" = fast ]; then
    TASKER_PG_OPTS="$TASKER_PG_OPTS -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  "${TASKER_PG_AS[@]}" "$TASKER_PG_BIN/initdb" -D "$TASKER_PG_BASE/data" -U postgres -A trust -E UTF8 \
      --no-locale --no-sync >"$TASKER_PG_BASE/initdb.log" 2>&1 \
    || { cat "$TASKER_PG_BASE/initdb.log" >&2; return 1; }
  trap tasker_pg_stop EXIT
  _tasker_pg_ctl_start || return 1
  "$TASKER_PG_BIN/createdb" -h "$TASKER_PG_BASE" -p "$TASKER_PG_PORT" -U postgres tasker
  export TASKER_DATABASE_URL="postgresql://postgres@/tasker?host=$TASKER_PG_BASE&port=$TASKER_PG_PORT"
  export TASKER_PG_BASE TASKER_PG_PORT TASKER_PG_BIN
}

_tasker_pg_ctl_start() {
  "${TASKER_PG_AS[@]}" "$TASKER_PG_BIN/pg_ctl" -D "$TASKER_PG_BASE/data" -l "$TASKER_PG_BASE/server.log" \
      -w -t 60 -o "$TASKER_PG_OPTS" start >/dev/null \
    || { cat "$TASKER_PG_BASE/server.log" >&2; return 1; }
}

tasker_pg_restart() {
  "${TASKER_PG_AS[@]}" "$TASKER_PG_BIN/pg_ctl" -D "$TASKER_PG_BASE/data" -m fast -w stop >/dev/null
  _tasker_pg_ctl_start
}

tasker_pg_stop() {
  [ -n "${TASKER_PG_BASE:-}" ] && [ -d "$TASKER_PG_BASE" ] || return 0
  "${TASKER_PG_AS[@]}" "$TASKER_PG_BIN/pg_ctl" -D "$TASKER_PG_BASE/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$TASKER_PG_BASE"
  TASKER_PG_BASE=
}
