"""Roles and camera visibility: the one place that decides who may see and do what.

Roles are Django groups named ``viewer``, ``operator`` and ``admin`` (superusers are admins), so an admin
manages them in the Django admin without a custom screen. Viewers and operators see only the cameras granted
to them or to one of their groups; admins see every camera. Anything that filters by camera asks
:func:`visible_camera_ids` (or :func:`restrict_to_visible` for a queryset) and never re-implements the rule.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Model, Q, QuerySet

from .visibility import requested_and_visible

__all__ = ["ROLE_GROUPS", "Role", "can_see_camera", "requested_and_visible", "restrict_to_visible", "role_of",
           "visible_camera_ids"]

M = TypeVar("M", bound=Model)


class Role(IntEnum):
    NONE = 0
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3


ROLE_GROUPS = {"viewer": Role.VIEWER, "operator": Role.OPERATOR, "admin": Role.ADMIN}


def role_of(user: AbstractBaseUser | AnonymousUser) -> Role:
    if not user.is_authenticated or not user.is_active:
        return Role.NONE
    if user.is_superuser:  # type: ignore[union-attr]
        return Role.ADMIN
    cached = getattr(user, "_sightline_role", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    names = set(user.groups.values_list("name", flat=True))  # type: ignore[union-attr]
    role = max((ROLE_GROUPS[n] for n in names if n in ROLE_GROUPS), default=Role.VIEWER)
    user._sightline_role = role  # type: ignore[union-attr]
    return role


def visible_camera_ids(user: AbstractBaseUser | AnonymousUser) -> frozenset[int] | None:
    """Camera ids ``user`` may see, or ``None`` meaning every camera (admins)."""
    role = role_of(user)
    if role is Role.ADMIN:
        return None
    if role is Role.NONE:
        return frozenset()
    cached = getattr(user, "_sightline_cameras", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    from backend.cameras.models import Camera

    ids = frozenset(
        Camera.objects.filter(Q(granted_users=user) | Q(granted_groups__user=user)).values_list("id", flat=True)
    )
    user._sightline_cameras = ids  # type: ignore[union-attr]
    return ids


def restrict_to_visible(queryset: QuerySet[M], user: AbstractBaseUser | AnonymousUser, *,
                        field: str = "camera_id") -> QuerySet[M]:
    """``queryset`` narrowed to rows whose ``field`` is a camera ``user`` may see."""
    ids = visible_camera_ids(user)
    return queryset if ids is None else queryset.filter(**{f"{field}__in": ids})


def can_see_camera(user: AbstractBaseUser | AnonymousUser, camera_id: int) -> bool:
    ids = visible_camera_ids(user)
    return ids is None or camera_id in ids
