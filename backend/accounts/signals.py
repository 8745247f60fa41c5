"""Keeps Django's own permission system in line with Sightline's roles.

The ``admin`` role manages cameras, clips, users and roles in the Django admin: after every migration its
group receives every permission of those models (read-only ones for the event log and sightings, which the
admin never changes), and a user added to it gets staff status so they can sign in to the admin.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

#: app label -> actions the admin group may take on that app's models.
ADMIN_PERMISSIONS = {
    "cameras": ("add", "change", "delete", "view"),
    "clips": ("add", "change", "delete", "view"),
    "eventlog": ("view",),
    "search": ("view",),
    "auth": ("add", "change", "delete", "view"),
    "knox": ("delete", "view"),
    "audit": ("view",),
    "analyze": ("view",),
}


def grant_admin_permissions(**_: Any) -> None:
    group, _created = Group.objects.get_or_create(name="admin")
    wanted = [
        p for p in Permission.objects.select_related("content_type").filter(
            content_type__app_label__in=list(ADMIN_PERMISSIONS))
        if p.codename.split("_", 1)[0] in ADMIN_PERMISSIONS[p.content_type.app_label]
    ]
    group.permissions.add(*wanted)


def admins_are_staff(sender: Any, instance: Any, action: str, pk_set: set[int] | None, **_: Any) -> None:
    if action != "post_add" or not pk_set or not hasattr(instance, "is_staff"):
        return
    if not instance.is_staff and Group.objects.filter(pk__in=pk_set, name="admin").exists():
        instance.is_staff = True
        instance.save(update_fields=["is_staff"])
