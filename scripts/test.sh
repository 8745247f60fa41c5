#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, starts the services the tests use
# (PostgreSQL, Redis, Elasticsearch; the RTSP test server is started by its tests), runs the checks and
# the tests twice: on the embedded default (SQLite) and in server mode (PostgreSQL + Redis), then stops
# the services. Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
export DJANGO_SETTINGS_MODULE=backend.sightline.settings_test

echo "== front-end unit tests (Vitest)"
(cd frontend && npm test --silent)

echo "== static checks"
.venv/bin/ruff check .
.venv/bin/python manage.py makemigrations --check --dry-run -v 0
.venv/bin/mypy
.venv/bin/lint-imports  # the layering in the README's "How it works"

echo "== starting services"
stop_services() {
  for s in scripts/services/*.sh; do "$s" stop >/dev/null 2>&1 || true; done
}
trap stop_services EXIT
scripts/services/postgres.sh start
scripts/services/redis.sh start
scripts/services/elasticsearch.sh install
scripts/services/elasticsearch.sh start
scripts/services/elasticsearch.sh wait
export SIGHTLINE_TEST_ELASTICSEARCH_URL
SIGHTLINE_TEST_ELASTICSEARCH_URL=$(scripts/services/elasticsearch.sh url)

echo "== tests on the embedded default (SQLite, in-process broker)"
.venv/bin/python -m pytest -m "not server" "$@"

echo "== tests in server mode (PostgreSQL, Redis broker, a real Celery worker)"
DATABASE_URL=$(scripts/services/postgres.sh url) SIGHTLINE_TEST_REDIS_URL=$(scripts/services/redis.sh url) \
  .venv/bin/python -m pytest -m "server or not slow" -p no:cacheprovider "$@"
