#!/usr/bin/env bash
# A throw-away Redis server for the test suite: start | stop | url, on 127.0.0.1:${REDIS_PORT:-63790}.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${REDIS_PORT:-63790}
dir=$PWD/.services/redis
case "${1:-}" in
  start)
    "$0" stop >/dev/null 2>&1 || true
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --save "" --appendonly no \
      --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null
    echo "redis on 127.0.0.1:$port" ;;
  stop)
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true ;;
  url)
    echo "redis://127.0.0.1:$port/0" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
