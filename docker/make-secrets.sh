#!/usr/bin/env bash
# Creates the deployment's secret files (compose.yaml's top-level `secrets:`) that do not exist yet; never
# overwrites one. Needs openssl. Usage: docker/make-secrets.sh [HOSTNAME [DIR]]
#   HOSTNAME  the name the site is reached by (default: SITE_HOSTNAME from docker/.env), for the self-signed
#             TLS certificate made when docker/secrets/tls.crt is missing: replace tls.crt (full chain) and
#             tls.key by your CA's to get rid of the browser's warning
#   DIR       where to write (default: docker/secrets)
# Passwords are hex, so they need no quoting in URLs, JSON or configuration files.
# The files are readable by the containers' users (compose bind-mounts them as they are), the folder by its
# owner only; the TLS key is read by the proxy's master process (root) only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
host=${1:-}
if [ -z "$host" ] && [ -f "$here/.env" ]; then
  host=$(sed -n 's/^SITE_HOSTNAME=//p' "$here/.env" | tail -n 1)
fi
dir=${2:-$here/secrets}
mkdir -p "$dir"
chmod 0700 "$dir"
umask 022

put() {  # put NAME VALUE: writes the file unless it exists
  if [ ! -s "$dir/$1" ]; then
    printf '%s' "$2" > "$dir/$1"
    echo "created $dir/$1"
  fi
}
value() { cat "$dir/$1"; }

put postgres_password "$(openssl rand -hex 32)"
put database_url "postgres://sightline:$(value postgres_password)@postgres:5432/sightline"
put redis_password "$(openssl rand -hex 32)"
put redis_url "redis://:$(value redis_password)@redis:6379/0"
put secret_key "$(openssl rand -hex 50)"
# A Fernet key: 32 random bytes, urlsafe base64.
put camera_key "$(openssl rand -base64 32 | tr '+/' '-_')"
put elastic_password "$(openssl rand -hex 32)"
put sightline_es_password "$(openssl rand -hex 32)"

if [ ! -s "$dir/tls.crt" ] || [ ! -s "$dir/tls.key" ]; then
  if [ -z "$host" ]; then
    echo "no host name for the TLS certificate: give it (docker/make-secrets.sh HOSTNAME) or set SITE_HOSTNAME" \
         "in docker/.env" >&2
    exit 1
  fi
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 -subj "/CN=$host" \
    -addext "subjectAltName=DNS:$host" -addext "extendedKeyUsage=serverAuth" \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
  chmod 0600 "$dir/tls.key"
  echo "created $dir/tls.crt and tls.key: a self-signed certificate for $host"
fi
