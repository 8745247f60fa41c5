#!/usr/bin/env bash
# The demo on the embedded default (no servers to install): sets everything up, analyses real footage
# with the real detector, then serves the app (web + one analysis worker) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

mkdir -p var
[ -s var/secret_key ] || .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' > var/secret_key
chmod 600 var/secret_key
export SIGHTLINE_SECRET_KEY_FILE=$PWD/var/secret_key
export DJANGO_SETTINGS_MODULE=backend.sightline.settings
port=${PORT:-8000}

.venv/bin/python manage.py migrate --no-input -v 0
.venv/bin/python manage.py collectstatic --no-input -v 0
.venv/bin/python manage.py demo "$@" | tee var/demo-login.txt

.venv/bin/celery -A backend.sightline worker -Q analysis -c 1 --loglevel=WARNING &
worker=$!
# The recorder records every enabled camera with an rtsp:// address (none until an admin adds one).
.venv/bin/python manage.py run_recorder &
recorder=$!
trap 'kill $worker $recorder 2>/dev/null; wait $worker $recorder 2>/dev/null' EXIT INT TERM

login=$(grep '^LOGIN ' var/demo-login.txt | cut -d' ' -f2-)
cat <<MSG

Sightline is running at http://127.0.0.1:$port/
  login:   $login
  search:  http://127.0.0.1:$port/api/v1/search/?tag=person
  admin:   http://127.0.0.1:$port/admin/
Ctrl-C stops it.
MSG
.venv/bin/daphne -b 127.0.0.1 -p "$port" backend.sightline.asgi:application
