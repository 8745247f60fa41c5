"""The upload gate: an ASGI middleware in front of Django that refuses a large body before it is read.

Django's ASGI handler reads a request's whole body (spooling it to disk) before any middleware or view runs,
so a size limit or a login check in Django comes after the disk has been filled. This gate looks at the
headers first:

- a declared ``Content-Length`` above ``SIGHTLINE.MAX_UPLOAD_BYTES`` (plus room for the form's other fields)
  is answered 413 at once; under :data:`ANALYZE_PATH` (the synchronous analyse API) the limit is
  ``SIGHTLINE.ANALYZE_MAX_BYTES``;
- a body above :data:`SMALL_BODY` bytes, or of unknown length (chunked), is let in only for a signed-in user
  (a valid session cookie or API token), else 401, unread;
- while the body streams, its bytes are counted: one that outgrows the limit (a chunked upload, which
  declares no length) is cut off and answered 413.

Small bodies (a login form, JSON) pass untouched: the login itself must be reachable. Nothing here logs a
cookie or a token.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

Scope = dict[str, Any]

#: Bodies up to this size pass without a login check (forms and JSON are far smaller).
SMALL_BODY = 1024 * 1024
#: Room for the multipart framing and the other fields of an upload form.
FORM_ALLOWANCE = 64 * 1024
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
#: Bodies sent here are limited to ``SIGHTLINE.ANALYZE_MAX_BYTES`` (if below the upload limit).
ANALYZE_PATH = "/api/v1/analyze/"


def _limit_for(path: str) -> int:
    """The largest file a request to ``path`` may carry."""
    conf = settings.SIGHTLINE
    if path.startswith(ANALYZE_PATH):
        return min(conf.ANALYZE_MAX_BYTES, conf.MAX_UPLOAD_BYTES)
    return conf.MAX_UPLOAD_BYTES


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _signed_in(cookie_header: str | None, authorization: str | None) -> bool:
    """Whether the request carries a valid API token or the session cookie of an active user."""
    from django.contrib.auth import get_user
    from django.utils.module_loading import import_string

    from backend.live.auth import user_for_token

    if authorization:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() == "token" and key:
            return bool(user_for_token(key).is_authenticated)
        return False
    if cookie_header:
        from http.cookies import CookieError, SimpleCookie

        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(cookie_header)
        except CookieError:
            return False
        morsel = cookies.get(settings.SESSION_COOKIE_NAME)
        if morsel is not None and morsel.value:
            store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key=morsel.value)
            user = get_user(SimpleNamespace(session=store))  # type: ignore[arg-type]
            return bool(user.is_authenticated and user.is_active)
    return False


async def _answer(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def _too_large(send: Any, limit: int) -> None:
    await _answer(send, 413, f"the request is larger than the upload limit of {limit} bytes")


class UploadGate:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") not in _WITH_BODY:
            return await self.app(scope, receive, send)
        file_limit = _limit_for(scope.get("path", ""))
        limit = file_limit + FORM_ALLOWANCE
        declared = _header(scope, b"content-length")
        try:
            length = int(declared) if declared is not None else None
        except ValueError:
            return await _answer(send, 400, "the Content-Length header is not a number")
        if length is not None and length > limit:
            return await _too_large(send, file_limit)
        if length is None or length > SMALL_BODY:
            signed_in = await sync_to_async(_signed_in, thread_sensitive=True)(
                _header(scope, b"cookie"), _header(scope, b"authorization"))
            if not signed_in:
                return await _answer(send, 401, "sign in before sending a file")

        counted = 0
        too_large = False
        started = False

        async def counting_receive() -> Any:
            nonlocal counted, too_large
            message = await receive()
            if message["type"] == "http.request":
                counted += len(message.get("body", b""))
                if counted > limit:
                    too_large = True
                    return {"type": "http.disconnect"}  # Django stops reading and answers nothing
            return message

        async def watching_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, watching_send)
        if too_large and not started:
            await _too_large(send, file_limit)
