#!/usr/bin/env bash
# A temporary local PostgreSQL, started the way the tests start theirs
# (tests/common/servers.rs): initdb into a temp dir as an unprivileged user
# (`nobody` when run as root), trust auth, TCP on 127.0.0.1 only, fsync off.
# Nothing is installed as a service and nothing is left behind: the cluster
# is stopped and its directory removed when this script exits.
#
#   scripts/local-postgres.sh [-p PORT] [-d DB] [-- COMMAND ARGS...]
#
# With a COMMAND: runs it with DATABASE_URL (pgsql://postgres@127.0.0.1:PORT/DB)
# and PGHOST/PGPORT/PGUSER/PGDATABASE in its environment, then stops the
# server when it exits. Without one: prints the DSN and waits for Ctrl-C.
# PORT defaults to a free port, DB to `notes`.
set -euo pipefail

port=""
db=notes
while [ $# -gt 0 ]; do
  case "$1" in
    -p) port="$2"; shift 2 ;;
    -d) db="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "local-postgres: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

bin=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$d/initdb" ]; then bin="$d"; break; fi
done
if [ -z "$bin" ]; then
  echo "local-postgres: PostgreSQL is not installed: apt-get install postgresql postgresql-client" >&2
  echo "  (the packaged service is not needed; make test-deps installs it without starting it)" >&2
  exit 1
fi

if [ -z "$port" ]; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/rr-local-pg.XXXXXX")
# PostgreSQL refuses to run as root: as root, run it as nobody.
if [ "$(id -u)" = 0 ]; then
  chown nobody:nogroup "$dir"
  as_user() { setpriv --reuid nobody --regid nogroup --clear-groups -- "$@"; }
else
  as_user() { "$@"; }
fi

sleeper=""
stop() {
  if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null || true; fi
  as_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

as_user "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
  -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c fsync=off -c max_connections=100" \
  start >/dev/null || { cat "$dir/postgres.log" >&2; exit 1; }
"$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"

export DATABASE_URL="pgsql://postgres@127.0.0.1:$port/$db"
export PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres PGDATABASE="$db"
echo "local-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir, removed on exit)" >&2
echo "local-postgres: DATABASE_URL=$DATABASE_URL" >&2
echo "local-postgres: PDO DSN: pgsql:host=127.0.0.1;port=$port;dbname=$db (user postgres, no password)" >&2

if [ $# -gt 0 ]; then
  # Not exec: the trap stops the server when the command ends.
  "$@" &
  child=$!
  trap 'kill -TERM $child 2>/dev/null; wait $child; exit 130' INT TERM
  wait $child
else
  echo "local-postgres: Ctrl-C stops it" >&2
  while :; do sleep 3600 & sleeper=$!; wait $sleeper; done
fi
