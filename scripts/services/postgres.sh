#!/usr/bin/env bash
# A throw-away PostgreSQL server for the test suite: start | stop | resume | url. Runs as the Debian 'postgres' user
# on 127.0.0.1:${PG_PORT:-54329} with its data under .services/postgres (recreated by start; resume starts
# the stopped server again on its data, as after an outage).
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${PG_PORT:-54329}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
data=$PWD/.services/postgres
opts="-h 127.0.0.1 -p $port -k $data -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
run() { runuser -u postgres -- "$@"; }
case "${1:-}" in
  start)
    "$0" stop >/dev/null 2>&1 || true
    rm -rf "$data" && mkdir -p "$data" && chown postgres: "$data"
    run "$bin/initdb" -D "$data/db" -U postgres -A trust --no-sync >/dev/null
    run "$bin/pg_ctl" -D "$data/db" -l "$data/log" -w -t 60 \
      -o "$opts" start >/dev/null
    run "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE sightline" >/dev/null
    echo "postgres on 127.0.0.1:$port" ;;
  resume)
    run "$bin/pg_ctl" -D "$data/db" -l "$data/log" -w -t 60 \
      -o "$opts" start >/dev/null
    echo "postgres on 127.0.0.1:$port" ;;
  stop)
    [ -d "$data/db" ] && run "$bin/pg_ctl" -D "$data/db" -m fast -w stop >/dev/null 2>&1 || true ;;
  url)
    echo "postgres://postgres@127.0.0.1:$port/sightline" ;;
  *) echo "usage: $0 start|stop|resume|url" >&2; exit 2 ;;
esac
