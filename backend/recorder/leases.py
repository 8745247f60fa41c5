"""Camera leases: which recorder process records which camera, so that no camera is recorded twice.

A lease is two columns on the camera (``lease_owner``, ``lease_expires_at``). Every change is one conditional
UPDATE, so two processes racing for the same camera cannot both win: the database decides. A process that
dies stops renewing; once its leases expire, another process takes its cameras over.

Written here rather than taken from a library (e.g. a Redis lock): the database is the one service every
deployment has, and the lease must live next to the camera row it protects.

Limits: times are each process's clock (``timezone.now()``), so the TTL must exceed the clock skew between
recorder machines by a wide margin. A process frozen for longer than the TTL may record for a moment after
losing its lease (until its next renewal notices); the supervisor stops the camera then.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from backend.cameras.models import Camera


def recordable() -> Q:
    """Cameras a recorder should record: enabled and with a stream address."""
    return Q(enabled=True) & ~Q(stream_address="")


def _free_or_mine(owner: str) -> Q:
    now = timezone.now()
    return (Q(lease_owner="") | Q(lease_owner=owner) | Q(lease_expires_at__isnull=True)
            | Q(lease_expires_at__lt=now))


def claimable(owner: str) -> list[int]:
    """Ids of recordable cameras whose lease is free, expired or already ``owner``'s, oldest first."""
    return list(Camera.objects.filter(recordable()).filter(_free_or_mine(owner)).order_by("pk")
                .values_list("pk", flat=True))


def claim(camera_id: int, owner: str, ttl: timedelta) -> bool:
    """Take the lease of one camera if nobody else holds a live one; True when ``owner`` holds it now."""
    updated = (Camera.objects.filter(pk=camera_id).filter(recordable()).filter(_free_or_mine(owner))
               .update(lease_owner=owner, lease_expires_at=timezone.now() + ttl))
    return updated == 1


def renew(owner: str, camera_ids: Iterable[int], ttl: timedelta) -> set[int]:
    """Extend ``owner``'s leases; returns the ids still held (a lost or disabled camera is not renewed)."""
    ids = list(camera_ids)
    if not ids:
        return set()
    held = Camera.objects.filter(pk__in=ids, lease_owner=owner).filter(recordable())
    held.update(lease_expires_at=timezone.now() + ttl)
    return set(held.values_list("pk", flat=True))


def release(owner: str, camera_ids: Iterable[int] | None = None) -> int:
    """Give up ``owner``'s leases (all when ``camera_ids`` is None) so another process can claim them."""
    qs = Camera.objects.filter(lease_owner=owner)
    if camera_ids is not None:
        qs = qs.filter(pk__in=list(camera_ids))
    return qs.update(lease_owner="", lease_expires_at=None)
