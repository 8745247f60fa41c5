#!/usr/bin/env bash
# A throw-away, single-node Elasticsearch for development, tests and benchmarks.
#
#   scripts/services/elasticsearch.sh install|start|wait|stop|url|status
#
# Everything lives under .services/elasticsearch/ (gitignored). It downloads the small Apache-2.0
# "integ-test-zip" distribution from Maven Central (no x-pack, no painless, no reindex module: Sightline's code
# paths never use scripts nor *-by-query APIs) and verifies it against Maven Central's .sha1.
# The version is the newest one whose major matches the installed Python client's; Maven Central stopped
# publishing this artifact after 8.19.x, so when no such version exists it falls back to the newest 8.19.x
# (the client is told to speak the server's major, see search/backends/elasticsearch/client.py).
# Override with ES_VERSION=x.y.z. Port: ES_PORT (default 9201), bound to 127.0.0.1 only.
#
# It must never: run Elasticsearch as root, listen on anything but loopback, or touch data outside .services/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BASE="$ROOT/.services/elasticsearch"
PORT="${ES_PORT:-9201}"
ES_USER="sightline-es"
JAVA_HOME_DEFAULT="/usr/lib/jvm/temurin-25-jdk-amd64"
MAVEN="https://repo1.maven.org/maven2/org/elasticsearch/distribution/integ-test-zip/elasticsearch"
PIDFILE="$BASE/es-$PORT.pid"
DATA="$BASE/data-$PORT"
LOGS="$BASE/logs-$PORT"

log() { echo "elasticsearch.sh: $*" >&2; }

client_major() {
  local py="$ROOT/.venv/bin/python"
  [[ -x "$py" ]] || py=python3
  "$py" -c 'import elasticsearch; print(elasticsearch.__versionstr__.split(".")[0])' 2>/dev/null || echo 9
}

pick_version() {
  if [[ -n "${ES_VERSION:-}" ]]; then echo "$ES_VERSION"; return; fi
  local meta major v
  meta="$(curl -fsSL --retry 3 "$MAVEN/maven-metadata.xml")"
  major="$(client_major)"
  v="$(grep -o "<version>${major}\.[0-9]*\.[0-9]*</version>" <<<"$meta" | sed 's/<[^>]*>//g' | sort -V | tail -1)"
  if [[ -z "$v" ]]; then
    v="$(grep -o '<version>8\.19\.[0-9]*</version>' <<<"$meta" | sed 's/<[^>]*>//g' | sort -V | tail -1)"
    log "no ${major}.x integ-test-zip on Maven Central; using $v (client speaks 8.x compatibility)"
  fi
  echo "$v"
}

home() { ls -d "$BASE"/elasticsearch-*/ 2>/dev/null | sort -V | tail -1 | sed 's:/$::'; }

cmd_install() {
  mkdir -p "$BASE"
  if [[ -n "$(home)" && -x "$(home)/bin/elasticsearch" ]]; then log "installed: $(home)"; return; fi
  local v zip sha
  v="$(pick_version)"
  zip="$BASE/elasticsearch-$v.zip"
  if [[ ! -f "$zip" ]]; then
    log "downloading $v"
    curl -fsSL --retry 3 -o "$zip.part" "$MAVEN/$v/elasticsearch-$v.zip"
    mv "$zip.part" "$zip"
  fi
  sha="$(curl -fsSL --retry 3 "$MAVEN/$v/elasticsearch-$v.zip.sha1" | awk '{print $1}')"
  if [[ "$(sha1sum "$zip" | awk '{print $1}')" != "$sha" ]]; then
    rm -f "$zip"; log "checksum mismatch for $zip (removed)"; exit 1
  fi
  unzip -q -o "$zip" -d "$BASE"
  rm -f "$zip"
  log "installed: $(home)"
}

running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

ensure_user() {
  if ! id "$ES_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
  fi
}

as_es() {
  if [[ "$(id -u)" == 0 ]]; then
    if command -v runuser >/dev/null; then runuser -u "$ES_USER" -- "$@"; else su -s /bin/sh "$ES_USER" -c "$*"; fi
  else
    "$@"  # already unprivileged
  fi
}

cmd_start() {
  cmd_install
  if running_pid >/dev/null; then log "already running on $PORT (pid $(running_pid))"; return; fi
  local es_home; es_home="$(home)"
  mkdir -p "$DATA" "$LOGS"
  if [[ "$(id -u)" == 0 ]]; then
    ensure_user
    chown -R "$ES_USER" "$BASE"
    # The user must be able to reach .services/ from the repository root.
    chmod o+x "$ROOT" "$ROOT/.services" 2>/dev/null || true
  fi
  # ES writes its own pid file; -d daemonises once the node has started its HTTP layer.
  as_es env ES_JAVA_HOME="${ES_JAVA_HOME:-$JAVA_HOME_DEFAULT}" ES_JAVA_OPTS="-Xms512m -Xmx512m ${ES_EXTRA_JAVA_OPTS:-}" \
    "$es_home/bin/elasticsearch" -d -p "$PIDFILE" \
    -E cluster.name="sightline-dev-$PORT" \
    -E node.name="sightline-dev" \
    -E network.host=127.0.0.1 \
    -E http.port="$PORT" \
    -E transport.port=0 \
    -E discovery.type=single-node \
    -E path.data="$DATA" \
    -E path.logs="$LOGS" \
    -E cluster.routing.allocation.disk.threshold_enabled=false \
    -E action.destructive_requires_name=true \
    -E xpack.security.enabled=false \
    >"$LOGS/stdout.log" 2>&1 || { tail -n 50 "$LOGS/stdout.log" >&2; exit 1; }
  log "started on $PORT (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'))"
}

cmd_wait() {
  local deadline=$((SECONDS + ${ES_WAIT_TIMEOUT:-120}))
  while ((SECONDS < deadline)); do
    if curl -fs "http://127.0.0.1:$PORT/_cluster/health?wait_for_status=yellow&timeout=2s" 2>/dev/null \
        | grep -qE '"status":"(yellow|green)"'; then
      log "ready at $(cmd_url)"; return 0
    fi
    sleep 1
  done
  log "not ready after ${ES_WAIT_TIMEOUT:-120}s; log tail:"
  tail -n 60 "$LOGS"/*.log >&2 2>/dev/null || true
  return 1
}

cmd_stop() {
  local pid
  if pid="$(running_pid)"; then
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    log "stopped (pid $pid)"
  else
    log "not running on $PORT"
  fi
  rm -f "$PIDFILE"
}

cmd_url() { echo "http://127.0.0.1:$PORT"; }

cmd_status() { if pid="$(running_pid)"; then echo "running pid $pid $(cmd_url)"; else echo "stopped"; return 1; fi; }

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  wait) cmd_wait ;;
  stop) cmd_stop ;;
  url) cmd_url ;;
  status) cmd_status ;;
  *) echo "usage: $0 install|start|wait|stop|url|status" >&2; exit 2 ;;
esac
