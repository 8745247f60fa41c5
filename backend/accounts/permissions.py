"""DRF permission classes built on :mod:`backend.accounts.roles`."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .roles import Role, role_of


class ReadAnyWriteAdmin(BasePermission):
    """Signed-in users read (their visible objects); only admins write."""

    message = "only admins may change this"

    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        role = role_of(request.user)
        if request.method in SAFE_METHODS:
            return role >= Role.VIEWER
        return role >= Role.ADMIN


class ReadAnyWriteOperator(BasePermission):
    """Signed-in users read; operators and admins upload."""

    message = "only operators and admins may upload footage"

    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        role = role_of(request.user)
        if request.method in SAFE_METHODS:
            return role >= Role.VIEWER
        return role >= Role.OPERATOR


class OperatorsOnly(BasePermission):
    """Operators and admins only, reading included (exports and cases: evidence work)."""

    message = "only operators and admins may export footage and manage cases"

    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        return role_of(request.user) >= Role.OPERATOR


class MayAnalyse(OperatorsOnly):
    """Operators and admins only, reading included: the synchronous analyse API (``backend.analyze``)."""

    message = "only operators and admins may analyse files"
