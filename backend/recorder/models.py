"""Demand for live views: who watches which camera live, in which variant, until when.

The recorder holds each camera's only connection, so a live view is made there (:mod:`backend.recorder.live`)
and only while someone watches. The web endpoint (:mod:`backend.recorder.live_api`) says so with one row per
viewer, camera and variant: every fetch of the live playlist (a player fetches it about once a segment)
moves the row's ``wanted_until`` to ``now + LIVE_IDLE_S``. The recorder that records the camera runs a tap
for each variant with a row still wanted, and stops it once none is (``LIVE_IDLE_S`` after the last fetch).

A row whose ``wanted_until`` has passed is a viewing that ended: the next fetch starts a new viewing (its
``since`` is reset and it is audited once, see the endpoint); rows are reused, never piled up (at most one per
user, camera and variant).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from backend.cameras.models import Camera


class LiveVariant(models.TextChoices):
    """What a live tap makes: the camera's picture masked as one of the maskings says, or as it is."""

    FACES = "faces", "faces masked"
    FACES_PLATES = "faces_plates", "faces and plates masked"
    PERSONS = "persons", "persons masked"
    CLEAR = "clear", "unmasked"


class LiveViewer(models.Model):
    Variant = LiveVariant

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    variant = models.CharField(max_length=16, choices=LiveVariant.choices)
    #: When this viewing started (the first playlist fetch after the last one expired).
    since = models.DateTimeField()
    wanted_until = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["camera", "user", "variant"], name="live_viewer_once")]
        indexes = [models.Index(fields=["camera", "wanted_until"], name="live_viewer_wanted")]

    def __str__(self) -> str:
        return f"{self.user_id} watches camera {self.camera_id} ({self.variant}) until {self.wanted_until}"


def want(camera: Camera, user: Any, variant: str, idle_s: float, now: datetime | None = None) -> bool:
    """Record that ``user`` watches ``camera`` in ``variant`` for ``idle_s`` more seconds; True when this
    starts a new viewing (no row yet, or the last one had expired)."""
    now = now or timezone.now()
    until = now + timedelta(seconds=idle_s)
    # One UPDATE for the common case (a viewing going on); two concurrent first fetches may both count as new.
    if LiveViewer.objects.filter(camera=camera, user=user, variant=variant, wanted_until__gte=now).update(
            wanted_until=until):
        return False
    LiveViewer.objects.update_or_create(camera=camera, user=user, variant=variant,
                                        defaults={"since": now, "wanted_until": until})
    return True


def wanted_variants(camera_id: int, now: datetime | None = None) -> set[str]:
    """The variants of ``camera_id`` someone watches now."""
    now = now or timezone.now()
    return set(LiveViewer.objects.filter(camera_id=camera_id, wanted_until__gte=now)
               .values_list("variant", flat=True).distinct())
