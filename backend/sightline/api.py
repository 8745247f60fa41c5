"""API-wide pieces: the exception handler that turns errors into clear, secret-free JSON (and a refused
deletion of a row others still need into a 409 that says why)."""

from __future__ import annotations

from typing import Any

from django.db.models import ProtectedError, RestrictedError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .redaction import redact


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ProtectedError | RestrictedError):
        # Deleting what other rows still need (a camera with clips): say so, never a 500.
        objects = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        kinds = sorted({str(obj._meta.verbose_name_plural) for obj in objects})
        return Response({"detail": f"it cannot be deleted while {', '.join(kinds)} refer to it; "
                                   "disable it instead"}, status=status.HTTP_409_CONFLICT)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data["detail"] = redact(str(response.data["detail"]))
    return response
