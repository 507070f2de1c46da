#!/usr/bin/env bash
# Finds or starts the PostgreSQL server the tests use, says which on stderr, and prints its URL
# on stdout:   DATABASE_URL="$(scripts/ensure-postgres.sh)"
#
# Order:
#   1. $DATABASE_URL when it is set;
#   2. else a server answering on 127.0.0.1:5432 (user postgres, trust auth);
#   3. else a throwaway cluster under target/pg/, made with initdb/pg_ctl from the system's
#      PostgreSQL (Debian's `postgresql` package is installed when missing and running as root).
# Also drops test databases (crt_<tag>_<pid>_<rand>) whose process is gone.
#
#   scripts/ensure-postgres.sh stop    stops the throwaway cluster, if this script started one.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGROOT="$ROOT/target/pg"
PORT="${CODEX_TEST_PG_PORT:-55432}"
say() { echo "ensure-postgres: $*" >&2; }

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/$1" ] && { echo "$dir/$1"; return 0; }
  done
  command -v "$1" 2>/dev/null
}

run_as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = stop ]; then
  if [ -f "$PGROOT/data/postmaster.pid" ]; then
    run_as_postgres "$(pg_bin pg_ctl)" -D "$PGROOT/data" -m fast -w stop >&2 || true
    say "stopped the throwaway cluster in $PGROOT/data"
  fi
  exit 0
fi

answers() { # URL -> 0 when a query succeeds
  if command -v psql >/dev/null 2>&1; then
    psql "$1" -Atqc 'SELECT 1' >/dev/null 2>&1
  else
    (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
  fi
}

drop_stale() { # URL
  command -v psql >/dev/null 2>&1 || return 0
  local name pid
  while read -r name; do
    [ -n "$name" ] || continue
    pid="$(echo "$name" | awk -F_ '{print $(NF-1)}')"
    if [[ "$pid" =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then
      psql "$1" -Atqc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
  done < <(psql "$1" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'crt\\_%'" 2>/dev/null)
}

if [ -n "${DATABASE_URL:-}" ]; then
  say "using DATABASE_URL (from the environment)"
  drop_stale "$DATABASE_URL"
  echo "$DATABASE_URL"
  exit 0
fi

LOCAL="postgres://postgres@127.0.0.1:5432/postgres"
if answers "$LOCAL"; then
  say "using the server on 127.0.0.1:5432"
  drop_stale "$LOCAL"
  echo "$LOCAL"
  exit 0
fi

THROWAWAY="postgres://postgres@127.0.0.1:$PORT/postgres"
if [ -z "$(pg_bin initdb)" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "no PostgreSQL found: installing Debian's postgresql package"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  else
    say "no server on 127.0.0.1:5432 and no initdb: install PostgreSQL or set DATABASE_URL"
    exit 1
  fi
fi
INITDB="$(pg_bin initdb)"; PG_CTL="$(pg_bin pg_ctl)"
mkdir -p "$PGROOT"
if [ "$(id -u)" = 0 ]; then chown postgres "$PGROOT"; fi
if [ ! -f "$PGROOT/data/PG_VERSION" ]; then
  run_as_postgres "$INITDB" -D "$PGROOT/data" -U postgres --auth=trust >"$PGROOT/initdb.log" 2>&1 \
    || { cat "$PGROOT/initdb.log" >&2; exit 1; }
fi
if ! answers "$THROWAWAY"; then
  run_as_postgres "$PG_CTL" -D "$PGROOT/data" -l "$PGROOT/server.log" -w \
    -o "-h 127.0.0.1 -p $PORT -k $PGROOT -c fsync=on" start >&2 \
    || { cat "$PGROOT/server.log" >&2; exit 1; }
fi
say "using a throwaway cluster on 127.0.0.1:$PORT (data in $PGROOT/data; 'scripts/ensure-postgres.sh stop' stops it)"
drop_stale "$THROWAWAY"
echo "$THROWAWAY"
