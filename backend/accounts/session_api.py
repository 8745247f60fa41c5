"""``POST /api/v1/auth/session/``: turn an API token into a Django session (and ``DELETE`` to end it).

The web UI authenticates its API calls with ``Authorization: Token …``, but ``<img>`` and ``<video>``
elements cannot send that header, and a clip must stream (Range requests) rather than be fetched whole as a
blob. So after obtaining its token the UI calls this endpoint once; the session cookie then authenticates
thumbnails and video. Only token authentication is accepted here: a cross-site page cannot set the header,
so no CSRF token is needed to open a session, and a stale session cookie can never be "upgraded" to another
user. Unsafe requests that later ride on the session still need the CSRF token (the UI sends it).

The session also signs in the UI's other tabs: a tab with no token of its own (a card opened in a new tab) asks
``GET /api/v1/me/`` with the cookie alone and, answered, works on the session (SessionAuthentication). So
``DELETE`` without a token still ends the session: that is such a tab signing out.
"""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.middleware.csrf import get_token
from drf_spectacular.utils import extend_schema, inline_serializer
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class SessionView(APIView):
    authentication_classes = [TokenAuthentication]

    def get_permissions(self):  # type: ignore[no-untyped-def]
        return [AllowAny()] if self.request.method == "DELETE" else [IsAuthenticated()]

    @extend_schema(request=None, responses=inline_serializer("Session", {
        "username": serializers.CharField(), "csrf_token": serializers.CharField()}))
    def post(self, request: Request) -> Response:
        """Open a session for the token's user (sets the session and CSRF cookies)."""
        login(request._request, request.user, backend="django.contrib.auth.backends.ModelBackend")
        return Response({"username": request.user.get_username(), "csrf_token": get_token(request._request)})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        """Sign out of the web UI: end the session and revoke the token presented with the request."""
        if isinstance(request.auth, AuthToken):
            request.auth.delete()
        logout(request._request)
        return Response(status=204)
