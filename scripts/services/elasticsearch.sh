#!/usr/bin/env bash
# A throw-away, single-node Elasticsearch for development, tests and benchmarks.
#
#   scripts/services/elasticsearch.sh install|start|wait|stop|kill|url|status
#   scripts/services/elasticsearch.sh cluster-start|cluster-stop|cluster-url|cluster-status
#   scripts/services/elasticsearch.sh node <i> start|wait|stop|kill|url|status
#
# Everything lives under .services/elasticsearch/ (gitignored). Port: ES_PORT (default 9201), 127.0.0.1 only.
# Heap: ES_HEAP (default 512m).
#
# Cluster mode (the scale-out tests): ES_CLUSTER_NODES nodes (default 3) of one cluster, node i (1-based) on
# HTTP port ES_CLUSTER_PORT + i - 1 (default 9301...) and transport port ES_CLUSTER_PORT + 100 + i - 1, each
# with its own data, logs and pid file (by HTTP port, as a single node's); every node is master-eligible and
# seeds from the others. `cluster-start` starts them all and returns once the cluster is green with every
# node; `node <i> kill` (SIGKILL) and `node <i> start` crash and bring back one node on its data;
# `cluster-url` prints the nodes' URLs, comma-separated. The single node (`start`, ES_PORT) is untouched.
#
# ES_FLAVOUR=maven (default): Elasticsearch 9.x assembled from Maven Central artifacts, because Maven Central
#   has no 9.x distribution archive. scripts/services/elasticsearch9/pom.xml resolves the server jar's runtime
#   dependencies (lib/), the entitlement bridge and the transport-netty4 module (HTTP + transport); mvn runs
#   with --strict-checksums, and every jar in the local repository is checked against Maven Central's .sha1.
#   Small stand-ins for the pieces Central lacks are compiled from scripts/services/elasticsearch9/src/: the
#   entitlement agent, the ANSI console loader, the server-cli's ServerArgs hand-off (WriteServerArgs) and the
#   rest-root module (GET /). No x-pack, painless, reindex, analysis-common nor aggregations modules; no native
#   library (libvec): ES logs "native access is not available" and runs without seccomp/mlock, fine on loopback.
#   Version: the newest on Central matching the Python client's major.minor, else its major (ES_VERSION=x.y.z).
# ES_FLAVOUR=integ-test-zip: the old path, the small Apache-2.0 "integ-test-zip" distribution, which Maven
#   Central stopped publishing after 8.19.x (the client then speaks compatible-with=8, see
#   search/backends/elasticsearch/client.py). Version: newest matching the client's major, else newest 8.19.x.
#
# It must never: run Elasticsearch as root, listen on anything but loopback, or touch data outside .services/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BASE="$ROOT/.services/elasticsearch"
PORT="${ES_PORT:-9201}"
ES_USER="sightline-es"
JAVA_HOME_DEFAULT="/usr/lib/jvm/temurin-25-jdk-amd64"
MAVEN="https://repo1.maven.org/maven2/org/elasticsearch/distribution/integ-test-zip/elasticsearch"
MAVEN_SERVER="https://repo1.maven.org/maven2/org/elasticsearch/elasticsearch"
FLAVOUR="${ES_FLAVOUR:-maven}"
HEAP="${ES_HEAP:-512m}"
CLUSTER_NODES="${ES_CLUSTER_NODES:-3}"
CLUSTER_PORT="${ES_CLUSTER_PORT:-9301}"
# `node <i> ...`: one node of the cluster; ES_NODE is passed on to the node's own launcher (see maven_start).
if [[ "${1:-}" == node ]]; then
  [[ "${2:-}" =~ ^[0-9]+$ ]] && ((${2} >= 1 && ${2} <= CLUSTER_NODES)) || {
    echo "usage: $0 node <1..$CLUSTER_NODES> start|wait|stop|kill|url|status" >&2; exit 2; }
  export ES_NODE="$2"
  shift 2
fi
NODE="${ES_NODE:-}"
if [[ -n "$NODE" ]]; then
  PORT=$((CLUSTER_PORT + NODE - 1))
fi
ES9_SRC="$ROOT/scripts/services/elasticsearch9"
M2="$BASE/m2"
TMPD="$BASE/tmp-$PORT"
PIDFILE="$BASE/es-$PORT.pid"
DATA="$BASE/data-$PORT"
LOGS="$BASE/logs-$PORT"

log() { echo "elasticsearch.sh: $*" >&2; }

# The settings that make this node a single-node cluster, or node $NODE of the cluster (key=value lines).
node_settings() {
  if [[ -z "$NODE" ]]; then
    printf '%s\n' "cluster.name=sightline-dev-$PORT" node.name=sightline-dev transport.port=0 discovery.type=single-node
    return
  fi
  local i seeds="" masters=""
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    seeds+="${seeds:+,}127.0.0.1:$((CLUSTER_PORT + 100 + i - 1))"
    masters+="${masters:+,}node-$i"
  done
  printf '%s\n' "cluster.name=sightline-cluster-$CLUSTER_PORT" "node.name=node-$NODE" \
    "transport.port=$((CLUSTER_PORT + 100 + NODE - 1))" "discovery.seed_hosts=$seeds" \
    "cluster.initial_master_nodes=$masters"
}

client_version() {
  local py="$ROOT/.venv/bin/python"
  [[ -x "$py" ]] || py=python3
  "$py" -c 'import elasticsearch; print(elasticsearch.__versionstr__)' 2>/dev/null || echo 9.5.0
}

client_major() { client_version | cut -d. -f1; }

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

# ---------------------------------------------------------------- ES_FLAVOUR=maven (9.x from Maven Central)

maven_home() {
  local d
  for d in $(ls -d "$BASE"/maven-elasticsearch-*/ 2>/dev/null | sed 's:/$::' | sort -V -r); do
    if [[ -n "${ES_VERSION:-}" && "$d" != "$BASE/maven-elasticsearch-$ES_VERSION" ]]; then continue; fi
    [[ -f "$d/.complete" ]] && { echo "$d"; return; }
  done
}

maven_pick_version() {
  if [[ -n "${ES_VERSION:-}" ]]; then echo "$ES_VERSION"; return; fi
  local meta cv mm v
  meta="$(curl -fsSL --retry 3 "$MAVEN_SERVER/maven-metadata.xml")"
  cv="$(client_version)"; mm="$(cut -d. -f1,2 <<<"$cv")"
  v="$(grep -o "<version>${mm//./\\.}\.[0-9]*</version>" <<<"$meta" | sed 's/<[^>]*>//g' | sort -V | tail -1)"
  [[ -n "$v" ]] || v="$(grep -o "<version>${cv%%.*}\.[0-9]*\.[0-9]*</version>" <<<"$meta" | sed 's/<[^>]*>//g' | sort -V | tail -1)"
  [[ -n "$v" ]] || { log "no Elasticsearch ${cv%%.*}.x server jar on Maven Central"; exit 1; }
  echo "$v"
}

java_home() { echo "${ES_JAVA_HOME:-$JAVA_HOME_DEFAULT}"; }

# Every artifact mvn fetched into the local repository must match Maven Central's .sha1 next to it.
verify_m2() {
  local f want got n=0
  while IFS= read -r f; do
    [[ -f "$f.sha1" ]] || { log "no .sha1 for $f"; exit 1; }
    want="$(awk '{print $1; exit}' "$f.sha1")"; got="$(sha1sum "$f" | awk '{print $1}')"
    [[ "$want" == "$got" ]] || { rm -f "$f"; log "checksum mismatch for $f (removed)"; exit 1; }
    n=$((n + 1))
  done < <(find "$M2" \( -name '*.jar' -o -name '*.pom' \) -type f)
  log "verified $n artifacts against Maven Central .sha1"
}

maven_install() {
  mkdir -p "$BASE"
  local h; h="$(maven_home)"
  if [[ -n "$h" ]]; then log "installed: $h"; return; fi
  command -v mvn >/dev/null || { log "mvn is required (apt-get install maven)"; exit 1; }
  local v jh work home mvnq
  v="$(maven_pick_version)"; jh="$(java_home)"
  home="$BASE/maven-elasticsearch-$v"; work="$home.part"
  rm -rf "$work"; mkdir -p "$work/lib" "$work/modules/transport-netty4" "$work/config" "$work/plugins" \
    "$work/lib/entitlement-agent" "$work/lib/entitlement-bridge" "$work/lib/tools/ansi-console" "$work/lib/tools/sightline"
  log "resolving Elasticsearch $v from Maven Central"
  mvnq=(mvn -B -q -C -Dstyle.color=never -f "$ES9_SRC/pom.xml" -Dmaven.repo.local="$M2" -Des.version="$v" -DincludeScope=runtime)
  "${mvnq[@]}" -P server dependency:copy-dependencies -DoutputDirectory="$work/lib" >&2
  "${mvnq[@]}" -P '!server,bridge' dependency:copy-dependencies -DoutputDirectory="$work/lib/entitlement-bridge" >&2
  "${mvnq[@]}" -P '!server,netty' dependency:copy-dependencies -DoutputDirectory="$work/modules/transport-netty4" >&2
  verify_m2
  # The module's descriptor and entitlement policy ship inside its jar.
  (cd "$work/modules/transport-netty4" && unzip -q -o -j "transport-netty4-$v.jar" 'META-INF/es-plugins/transport-netty4/*' -d .)
  [[ -f "$work/modules/transport-netty4/plugin-descriptor.properties" ]] || { log "transport-netty4 has no descriptor"; exit 1; }
  # Stand-ins for what Central does not publish.
  local classes="$work/.classes" javac=("$jh/bin/javac" --release 21 -proc:none -nowarn -cp "$work/lib/*")
  rm -rf "$classes"; mkdir -p "$classes"/{agent,ansi,args,root}
  "${javac[@]}" -d "$classes/agent" "$ES9_SRC/src/EntitlementAgent.java"
  "${javac[@]}" -d "$classes/ansi" "$ES9_SRC/src/AnsiConsoleLoader.java"
  "${javac[@]}" -d "$classes/args" "$ES9_SRC/src/WriteServerArgs.java"
  "${javac[@]}" -d "$classes/root" "$ES9_SRC/src/rest-root/RestRootPlugin.java"
  printf 'Agent-Class: org.elasticsearch.entitlement.agent.EntitlementAgent\nCan-Redefine-Classes: true\nCan-Retransform-Classes: true\n' >"$classes/agent.mf"
  "$jh/bin/jar" cfm "$work/lib/entitlement-agent/sightline-entitlement-agent.jar" "$classes/agent.mf" -C "$classes/agent" .
  "$jh/bin/jar" cf "$work/lib/tools/ansi-console/sightline-ansi-console.jar" -C "$classes/ansi" .
  "$jh/bin/jar" cf "$work/lib/tools/sightline/sightline-server-args.jar" -C "$classes/args" .
  mkdir -p "$work/modules/sightline-rest-root"
  "$jh/bin/jar" cf "$work/modules/sightline-rest-root/sightline-rest-root.jar" -C "$classes/root" .
  printf '%s\n' 'name=sightline-rest-root' 'description=GET / (stand-in for the rest-root module)' "version=$v" \
    'classname=sightline.es.RestRootPlugin' 'java.version=21' "elasticsearch.version=$v" \
    >"$work/modules/sightline-rest-root/plugin-descriptor.properties"
  rm -rf "$classes"
  cp "$ES9_SRC"/config/* "$work/config/"
  touch "$work/.complete"
  rm -rf "$home"; mv "$work" "$home"
  log "installed: $home"
}

# Runs as $ES_USER in its own session: plays the server-cli, i.e. starts the server JVM and writes the
# serialized ServerArgs to its stdin, then keeps stdin open (EOF there makes the server exit) until it exits.
maven_run() {
  local es_home="$1" jh; jh="$(java_home)"
  local fifo="$TMPD/cli-$$.fifo" v
  v="$(basename "$es_home")"; v="${v#maven-elasticsearch-}"
  rm -f "$fifo"; mkfifo -m 600 "$fifo"
  cd "$es_home"
  LIBFFI_TMPDIR="$TMPD" "$jh/bin/java" -Xms"$HEAP" -Xmx"$HEAP" ${ES_EXTRA_JAVA_OPTS:-} \
    -Xss1m -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
    -Djava.locale.providers=CLDR -Djna.nosys=true -Djava.io.tmpdir="$TMPD" \
    -Des.networkaddress.cache.ttl=60 -Des.networkaddress.cache.negative.ttl=10 \
    -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true -Dio.netty.recycler.maxCapacityPerThread=0 \
    -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true -Dlog4j2.formatMsgNoLookups=true \
    -Des.path.home="$es_home" -Des.path.conf="$es_home/config" -Des.distribution.type=tar \
    -Djdk.attach.allowAttachSelf=true -XX:+EnableDynamicAgentLoading \
    --patch-module=java.base="$es_home/lib/entitlement-bridge/elasticsearch-entitlement-bridge-$v.jar" \
    --add-exports=java.base/org.elasticsearch.entitlement.bridge=org.elasticsearch.entitlement,java.logging,java.net.http,java.naming,jdk.net \
    --enable-native-access=org.elasticsearch.nativeaccess,org.apache.lucene.core \
    --module-path "$es_home/lib" --add-modules=jdk.net --add-modules=jdk.incubator.vector --add-modules=ALL-MODULE-PATH \
    -m org.elasticsearch.server/org.elasticsearch.bootstrap.Elasticsearch <"$fifo" &
  local es=$!
  exec 3>"$fifo"
  rm -f "$fifo"
  local node; mapfile -t node < <(node_settings)
  "$jh/bin/java" -cp "$es_home/lib/*:$es_home/lib/tools/sightline/*" WriteServerArgs \
    "$es_home/config" "$LOGS" "$PIDFILE" \
    path.home="$es_home" path.data="$DATA" path.logs="$LOGS" "${node[@]}" \
    network.host=127.0.0.1 http.port="$PORT" cluster.routing.allocation.disk.threshold_enabled=false \
    action.destructive_requires_name=true >&3 || { kill "$es" 2>/dev/null; exit 1; }
  wait "$es"
}

maven_start() {
  maven_install
  if running_pid >/dev/null; then log "already running on $PORT (pid $(running_pid))"; return; fi
  local es_home; es_home="$(maven_home)"
  mkdir -p "$DATA" "$LOGS" "$TMPD"
  rm -f "$PIDFILE"
  if [[ "$(id -u)" == 0 ]]; then
    ensure_user
    chown -R "$ES_USER" "$BASE"
    chmod o+x "$ROOT" "$ROOT/.services" 2>/dev/null || true
  fi
  as_es env ES_PORT="$PORT" ES_JAVA_HOME="$(java_home)" ES_EXTRA_JAVA_OPTS="${ES_EXTRA_JAVA_OPTS:-}" \
    ES_HEAP="$HEAP" ES_NODE="$NODE" ES_CLUSTER_NODES="$CLUSTER_NODES" ES_CLUSTER_PORT="$CLUSTER_PORT" \
    setsid "$ROOT/scripts/services/elasticsearch.sh" _run "$es_home" </dev/null >"$LOGS/stdout.log" 2>&1 &
  local launcher=$! deadline=$((SECONDS + ${ES_START_TIMEOUT:-120}))
  # Like `elasticsearch -d`: return once the node answers HTTP (or fail with its log).
  while ((SECONDS < deadline)); do
    if curl -fs -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null && running_pid >/dev/null; then
      log "started on $PORT (pid $(running_pid))"; return 0
    fi
    if ! kill -0 "$launcher" 2>/dev/null; then break; fi
    sleep 0.5
  done
  log "failed to start on $PORT; log tail:"
  tail -n 30 "$LOGS/stdout.log" "$LOGS"/sightline-*.log >&2 2>/dev/null || true
  exit 1
}

# ---------------------------------------------------------------- ES_FLAVOUR=integ-test-zip (8.19.x)

home() { ls -d "$BASE"/elasticsearch-*/ 2>/dev/null | sort -V | tail -1 | sed 's:/$::'; }

zip_install() {
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

zip_start() {
  zip_install
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
  local node=() setting
  while IFS= read -r setting; do node+=(-E "$setting"); done < <(node_settings)
  as_es env ES_JAVA_HOME="${ES_JAVA_HOME:-$JAVA_HOME_DEFAULT}" ES_JAVA_OPTS="-Xms$HEAP -Xmx$HEAP ${ES_EXTRA_JAVA_OPTS:-}" \
    "$es_home/bin/elasticsearch" -d -p "$PIDFILE" "${node[@]}" \
    -E network.host=127.0.0.1 \
    -E http.port="$PORT" \
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

# A crash, for fault tests: SIGKILL the JVM (no shutdown hooks, no flush); `start` brings it back on its data.
cmd_kill() {
  local pid
  if pid="$(running_pid)"; then
    kill -9 "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    log "killed (pid $pid)"
  fi
  rm -f "$PIDFILE"
}

cmd_url() { echo "http://127.0.0.1:$PORT"; }

cmd_status() { if pid="$(running_pid)"; then echo "running pid $pid $(cmd_url)"; else echo "stopped"; return 1; fi; }

cluster_ports() { local i; for ((i = 1; i <= CLUSTER_NODES; i++)); do echo $((CLUSTER_PORT + i - 1)); done; }

cmd_cluster_url() { local urls=() p; for p in $(cluster_ports); do urls+=("http://127.0.0.1:$p"); done; (IFS=,; echo "${urls[*]}"); }

# Every node in parallel (none can elect a master alone), then wait for the whole cluster to be green.
cmd_cluster_start() {
  cmd_install
  local i pids=() failed=0
  for ((i = 1; i <= CLUSTER_NODES; i++)); do "$0" node "$i" start & pids+=($!); done
  for i in "${pids[@]}"; do wait "$i" || failed=1; done
  ((failed == 0)) || { log "a node of the cluster did not start"; exit 1; }
  local deadline=$((SECONDS + ${ES_WAIT_TIMEOUT:-180}))
  while ((SECONDS < deadline)); do
    if curl -fs "http://127.0.0.1:$CLUSTER_PORT/_cluster/health?wait_for_nodes=$CLUSTER_NODES&wait_for_status=green&timeout=2s" \
        2>/dev/null | grep -q '"status":"green"'; then
      log "cluster of $CLUSTER_NODES nodes ready at $(cmd_cluster_url)"; return 0
    fi
    sleep 1
  done
  log "cluster not green with $CLUSTER_NODES nodes after ${ES_WAIT_TIMEOUT:-180}s"
  return 1
}

cmd_cluster_stop() {
  local i pids=()
  for ((i = 1; i <= CLUSTER_NODES; i++)); do "$0" node "$i" stop & pids+=($!); done
  for i in "${pids[@]}"; do wait "$i" || true; done
}

cmd_cluster_status() {
  local i rc=0
  for ((i = 1; i <= CLUSTER_NODES; i++)); do echo "node $i: $("$0" node "$i" status || true)"; "$0" node "$i" status >/dev/null || rc=1; done
  return "$rc"
}

cmd_install() {
  case "$FLAVOUR" in
    maven) maven_install ;;
    integ-test-zip) zip_install ;;
    *) log "unknown ES_FLAVOUR=$FLAVOUR (maven|integ-test-zip)"; exit 2 ;;
  esac
}

cmd_start() {
  case "$FLAVOUR" in
    maven) maven_start ;;
    integ-test-zip) zip_start ;;
    *) log "unknown ES_FLAVOUR=$FLAVOUR (maven|integ-test-zip)"; exit 2 ;;
  esac
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  _run) maven_run "$2" ;;  # internal: see maven_start
  wait) cmd_wait ;;
  stop) cmd_stop ;;
  kill) cmd_kill ;;
  url) cmd_url ;;
  status) cmd_status ;;
  cluster-start) cmd_cluster_start ;;
  cluster-stop) cmd_cluster_stop ;;
  cluster-url) cmd_cluster_url ;;
  cluster-status) cmd_cluster_status ;;
  *) echo "usage: $0 install|start|wait|stop|kill|url|status|cluster-start|cluster-stop|cluster-url|cluster-status" \
       "| node <i> start|wait|stop|kill|url|status" >&2; exit 2 ;;
esac
