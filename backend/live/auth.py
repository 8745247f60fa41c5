"""WebSocket authentication: ``?token=<API token>`` (browsers cannot set headers on a WebSocket) and the
origin check for cookie sessions.

A ``token`` parameter always decides who the user is: a bad token means anonymous, never a fall-back to the
session cookie. The origin check exists against cross-site WebSocket hijacking, which rides on the
browser's cookies; a client that sends no ``Origin`` (not a browser: every browser sends one) and
authenticates by token carries no cookie risk, so it is let through. Nothing here may log the token: it is
a password.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

Scope = dict[str, Any]


def token_from_scope(scope: Scope) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[-1] if values else None


def user_for_token(key: str) -> Any:
    """The active user an API token (django-rest-knox) belongs to, else ``AnonymousUser``."""
    try:
        user, _token = TokenAuthentication().authenticate_credentials(key.strip()[:200].encode())
    except AuthenticationFailed:
        return AnonymousUser()
    return user if user.is_active else AnonymousUser()


_user_for_token = database_sync_to_async(user_for_token)


class QueryTokenAuthMiddleware(BaseMiddleware):  # type: ignore[misc]
    """Sets ``scope["user"]`` from ``?token=``, overriding the session user (runs inside the session one)."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        key = token_from_scope(scope)
        if key is not None:
            scope = {**scope, "user": await _user_for_token(key)}
        return await super().__call__(scope, receive, send)


class OriginOrTokenValidator:
    """``AllowedHostsOriginValidator``, except that a token-authenticated client with no ``Origin`` passes."""

    def __init__(self, application: Any) -> None:
        self.application = application
        self.validated = AllowedHostsOriginValidator(application)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        has_origin = any(name == b"origin" for name, _ in scope.get("headers", ()))
        if not has_origin and token_from_scope(scope) is not None:
            return await self.application(scope, receive, send)
        return await self.validated(scope, receive, send)


def websocket_auth(application: Any) -> Any:
    """The full stack: origin check → cookie session → ``?token=`` → ``application``."""
    return OriginOrTokenValidator(AuthMiddlewareStack(QueryTokenAuthMiddleware(application)))
