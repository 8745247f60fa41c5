"""A real client's view: schemathesis generates requests from the OpenAPI schema for every operation and
persona (anonymous, viewer, operator, admin) and checks that none gets a server error (5xx).

The application is the real Django WSGI stack on the test database; each request carries a fresh API token
of its persona (so an operation that revokes tokens does not blind the next ones).
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error

from tests.factories import CameraFactory, UserFactory

PERSONAS = ("anonymous", "viewer", "operator", "admin")
EXAMPLES = 20

schema = schemathesis.openapi.from_dict(json.loads(json.dumps(
    SchemaGenerator().get_schema(request=None, public=True), default=str)))
schema.app = get_wsgi_application()
CALLS: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def _count_requests():
    yield
    print(f"\nschemathesis: {sum(CALLS.values())} generated requests, by persona {CALLS}")


@pytest.fixture
def users(db):
    """The personas; and, as Django's test client does, the database connection kept open between requests
    (the real handler closes it when a request starts and finishes, which would end the test's transaction)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield _personas()
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


def _personas() -> dict:
    lobby = CameraFactory(name="Lobby")
    CameraFactory(name="Vault")
    people = {"viewer": UserFactory(username="s-viewer", role="viewer"),
              "operator": UserFactory(username="s-operator", role="operator"),
              "admin": UserFactory(username="s-admin", role="admin", is_staff=True)}
    lobby.granted_users.add(people["viewer"], people["operator"])
    return people


@pytest.fixture
def quick_analyze():
    """The synchronous analyse API waits for a worker, which never comes here (the test's transaction never
    commits, so nothing is dispatched): its documented 504 comes after 0.2 s instead of 10."""
    from django.conf import settings as django_settings

    saved = django_settings.SIGHTLINE
    django_settings.SIGHTLINE = saved.model_copy(update={"ANALYZE_TIMEOUT_S": 0.2})
    yield
    django_settings.SIGHTLINE = saved


@pytest.mark.parametrize("persona", PERSONAS)
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_generated_request_gets_a_server_error(case, persona, users, quick_analyze):
    headers = {}
    if persona != "anonymous":
        headers["Authorization"] = f"Token {AuthToken.objects.create(users[persona])[1]}"
    response = case.call(headers=headers)
    CALLS[persona] = CALLS.get(persona, 0) + 1
    if _designed_unavailable(case, response):
        return
    case.validate_response(response, checks=[not_a_server_error])


def _designed_unavailable(case, response) -> bool:
    """A 503 or 504 the operation documents, with the body it documents (why, and what to do): an answer the
    API is designed to give (analysis full, a timeout with a job to poll), not a crash."""
    documented = case.operation.definition.raw.get("responses", {})
    if response.status_code not in (503, 504) or str(response.status_code) not in documented:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and bool(body.get("detail")) and (response.status_code == 503 or "id" in body)
