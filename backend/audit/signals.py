"""What is audited without a view asking: sign-ins (and failures), sign-outs, and changes people make to
cameras (their tracked objects too), users and roles (who may see what) through the API or the admin.
Changed fields are named, their values never (passwords, addresses). Changes made outside a request are not
attributable and not audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from backend.cameras.models import Camera, TrackedObject

from .chain import record
from .context import actor_for, current_actor

#: Fields whose change is not worth an entry (written by the system all the time).
_NOISE = {"last_login", "state", "last_seen_at", "last_error", "lease_owner", "lease_expires_at"}


def _logged_in(sender: Any, request: Any, user: Any, **_: Any) -> None:
    record("login", actor_for(request, user))


def _logged_out(sender: Any, request: Any, user: Any, **_: Any) -> None:
    if user is not None:
        record("logout", actor_for(request, user))


def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any) -> None:
    # ``credentials`` holds the password too (masked by Django): only the user name is kept.
    actor = actor_for(request)
    record("login.failed", actor, target=str(credentials.get("username", ""))[:150])


def _remember_old(sender: Any, instance: Any, **_: Any) -> None:
    if current_actor() is not None:
        instance._audit_old = (type(instance).objects.filter(pk=instance.pk).values().first()
                               if instance.pk else None)


def _saved(sender: Any, instance: Any, created: bool, raw: bool = False, **_: Any) -> None:
    if raw:
        return  # fixtures
    kind = sender._meta.model_name
    old = getattr(instance, "_audit_old", None)
    changed = sorted(f.attname for f in sender._meta.concrete_fields
                     if old is not None and old.get(f.attname) != getattr(instance, f.attname))
    changed = [name for name in changed if name not in _NOISE]
    actor = current_actor()
    if actor is None or (not created and not changed):
        return
    # Secret fields are named as "password" at most, never with a value.
    changed = ["password" if "password" in name else name for name in changed]
    record(f"{kind}.{'create' if created else 'change'}", actor, target=f"{kind}:{instance.pk}",
           details={} if created else {"fields": changed})


def _deleted(sender: Any, instance: Any, **_: Any) -> None:
    actor = current_actor()
    if actor is not None:
        kind = sender._meta.model_name
        record(f"{kind}.delete", actor, target=f"{kind}:{instance.pk}")


def _memberships(sender: Any, instance: Any, action: str, pk_set: set[int] | None, model: Any, **_: Any) -> None:
    actor = current_actor()
    if actor is None or action not in ("post_add", "post_remove", "post_clear"):
        return
    kind = instance._meta.model_name
    relation = sender._meta.model_name.split("_", 1)[-1]
    record(f"{kind}.{relation}.{action.removeprefix('post_')}", actor, target=f"{kind}:{instance.pk}",
           details={model._meta.model_name: sorted(pk_set or [])})


def connect() -> None:
    user_logged_in.connect(_logged_in, dispatch_uid="audit-login")
    user_logged_out.connect(_logged_out, dispatch_uid="audit-logout")
    user_login_failed.connect(_login_failed, dispatch_uid="audit-login-failed")
    for model in (Camera, TrackedObject, get_user_model(), Group):
        uid = model._meta.label_lower
        pre_save.connect(_remember_old, sender=model, dispatch_uid=f"audit-old-{uid}")
        post_save.connect(_saved, sender=model, dispatch_uid=f"audit-save-{uid}")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"audit-delete-{uid}")
    for through in (get_user_model().groups.through, Camera.granted_users.through, Camera.granted_groups.through):
        m2m_changed.connect(_memberships, sender=through, dispatch_uid=f"audit-m2m-{through._meta.label_lower}")
