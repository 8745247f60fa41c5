"""Retention of recordings: delete each camera's recorded segments older than its ``retention_days``.

Oldest first. A segment that holds the best (thumbnail) detection of a sighting is kept while that sighting
is itself inside the retention window, so a search result never points at a deleted clip; it goes once the
sighting has expired too. The file is deleted and the clip row marked (empty ``file``, ``size_bytes`` 0):
the row stays because the event log refers to it. Uploads are never deleted here.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.files.storage import default_storage
from django.utils import timezone

from backend.cameras.models import Camera
from backend.clips.models import Clip
from search.models import Sighting

log = logging.getLogger(__name__)


def apply_retention(now: datetime | None = None, *, batch: int = 500) -> int:
    """Delete expired recordings of every camera; returns how many files were removed."""
    now = now or timezone.now()
    removed = 0
    for camera in Camera.objects.only("pk", "retention_days"):
        cutoff = now - timedelta(days=camera.retention_days)
        cutoff_ms = int(cutoff.timestamp() * 1000)
        # Clips that still show a live (unexpired) sighting's best moment.
        pinned = Sighting.objects.filter(camera_id=camera.pk, end_ms__gte=cutoff_ms).values("best_clip_id")
        expired = (Clip.objects.filter(camera=camera, source=Clip.Source.RECORDING, started_at__lt=cutoff)
                   .exclude(file="").exclude(pk__in=pinned).order_by("started_at", "pk"))
        for clip in expired[:batch]:
            name = clip.file.name
            try:
                default_storage.delete(name)
            except OSError as exc:
                log.warning("retention: cannot delete %s: %s", name, exc)
                continue
            Clip.objects.filter(pk=clip.pk).update(file="", size_bytes=0)
            removed += 1
    return removed
