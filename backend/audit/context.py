"""Who is acting: the current request's user and address, for audit entries written far from the view
(model signals). A middleware sets it for each request. Outside a request (management commands, the
recorder, fixtures) there is no person to attribute a change to, and model changes are not audited."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse

from .chain import Actor

_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)
SYSTEM = Actor(username="(system)")


def actor_for(request: Any, user: Any = None) -> Actor:
    """The actor of ``request`` (a Django or DRF request); ``user`` overrides the request's user."""
    if request is None:
        return SYSTEM
    django_request = getattr(request, "_request", request)
    user = user if user is not None else getattr(request, "user", None)
    authenticated = bool(user is not None and getattr(user, "is_authenticated", False))
    meta = getattr(django_request, "META", {})
    return Actor(user_id=user.pk if authenticated else None,
                 username=user.get_username() if authenticated else "",
                 ip=str(meta.get("REMOTE_ADDR", "")), user_agent=str(meta.get("HTTP_USER_AGENT", "")))


def current_actor() -> Actor | None:
    """The actor of the request being served, or ``None`` outside a request (commands, the recorder)."""
    request = _request.get()
    return None if request is None else actor_for(request)


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)
