"""Retention of exports: an export is kept while it belongs to an open case; otherwise it expires when the
footage it holds is older than its camera's ``retention_days``, as the footage itself does. Expiring deletes
the file and keeps the row (its manifest and the ``export.completed`` event say what it was)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.files.storage import default_storage
from django.db.models import Q
from django.utils import timezone

from backend.cameras.models import Camera

from .models import Export

log = logging.getLogger(__name__)


def expire_exports(now: datetime | None = None, *, batch: int = 200) -> int:
    """Expire the exports past their camera's retention that no open case keeps; how many expired."""
    now = now or timezone.now()
    expired = 0
    for camera in Camera.objects.only("pk", "retention_days"):
        cutoff = now - timedelta(days=camera.retention_days)
        due = (Export.objects.filter(camera=camera, expired_at__isnull=True, end__lt=cutoff,
                                     status__in=(Export.Status.DONE, Export.Status.FAILED))
               .filter(Q(case__isnull=True) | Q(case__closed_at__isnull=False)).order_by("end")[:batch])
        for export in due:
            name = export.file.name if export.file else ""
            try:
                if name and default_storage.exists(name):
                    default_storage.delete(name)
            except OSError as exc:
                log.warning("retention: cannot delete export %s: %s", export.pk, exc.strerror or exc)
                continue
            expired += Export.objects.filter(pk=export.pk, expired_at__isnull=True).update(expired_at=now, file="")
    if expired:
        log.info("retention: %d exports expired", expired)
    return expired
