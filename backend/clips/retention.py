"""Retention: what a camera saw is kept for the camera's ``retention_days``, then deleted, whatever it became.

The unit is the clip. A clip *expires* once it started more than ``retention_days`` ago (or earlier, when the
disk falls below ``SIGHTLINE.DISK_FREE_FLOOR_BYTES``). Expiring a clip deletes, in this order:

1. its video file and its thumbnails (crops of people) from media storage: files first, so a crash in between
   leaves a clip that the next run expires again (deleting a missing file is harmless);
2. in one transaction: its detection events from the event log, its tracker state, its content hash (the
   same footage may be uploaded again), the row's ``file`` (emptied) and ``expired_at``; and a
   ``clip.expired`` event saying why, how many bytes and detections went. The row stays: other events refer
   to it and the API can say the clip expired.

Every projection follows the ``clip.expired`` event and deletes what it derived from the clip: the
database's sightings whose best moment was in that clip, and in Elasticsearch those sightings and the clip's
detection documents. A rebuild from the log brings back no detection of an expired clip: they are gone from it.

Policy decisions:

- A recording that holds the best moment of a sighting still inside the window is kept until that sighting
  expires too, so a search result never points at deleted video. A sighting goes with its best clip.
- Uploads follow their camera's retention when ``SIGHTLINE.RETENTION_COVERS_UPLOADS`` (the default: an
  upload is footage of people as much as a recording is); otherwise they are kept until deleted by hand.
- Only clips whose analysis has ended (``done`` or ``failed``) expire: a running analysis would write
  detections after the deletion.
- Under the disk floor the oldest clips of every camera go first, pinned or not, until the floor is met.
- Footage still in a recorder's spool (not yet registered) is never deleted here.
- Masked renditions of a clip (``backend.exports``) go with it; under the disk floor they go first. Exports
  are evidence: kept while a case that holds them is open, otherwise expired by their camera's retention
  like the footage they came from (``backend.exports.retention``); the disk floor never deletes them.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from backend.cameras.models import Camera
from backend.eventlog.log import EventLog, NewEvent
from backend.eventlog.models import Event, EventType
from backend.eventlog.schema import epoch_ms, thumbnail_folder
from search.models import Sighting

from .models import Clip

log = logging.getLogger(__name__)

RETENTION = "retention"
DISK = "disk"
_ENDED = (Clip.Status.DONE, Clip.Status.FAILED)


@dataclass(frozen=True, slots=True)
class RetentionReport:
    expired: int = 0
    bytes_freed: int = 0
    detections: int = 0
    #: Clips expired because the disk was below the floor (included in ``expired``).
    for_disk: int = 0

    def __add__(self, other: RetentionReport | None) -> RetentionReport:
        if other is None:  # a clip that was not this call's to expire
            return self
        return RetentionReport(self.expired + other.expired, self.bytes_freed + other.bytes_freed,
                               self.detections + other.detections, self.for_disk + other.for_disk)


def _sources() -> tuple[str, ...]:
    if settings.SIGHTLINE.RETENTION_COVERS_UPLOADS:
        return (Clip.Source.RECORDING, Clip.Source.UPLOAD)
    return (Clip.Source.RECORDING,)


def _expirable() -> QuerySet[Clip]:
    return Clip.objects.filter(expired_at__isnull=True, status__in=_ENDED, source__in=_sources())


def _delete_files(clip: Clip) -> tuple[int, int]:
    """Delete the clip's video and thumbnails; (bytes freed, thumbnails deleted). Raises OSError."""
    freed = thumbnails = 0
    if clip.file:
        name = clip.file.name
        if default_storage.exists(name):
            freed += default_storage.size(name)
            default_storage.delete(name)
    folder = thumbnail_folder(clip.pk)
    if default_storage.exists(folder):
        _dirs, files = default_storage.listdir(folder)
        for name in files:
            path = f"{folder}/{name}"
            freed += default_storage.size(path)
            default_storage.delete(path)
            thumbnails += 1
        # FileSystemStorage leaves the empty folder behind.
        local = Path(default_storage.path(folder))
        if local.is_dir() and not any(local.iterdir()):
            local.rmdir()
    return freed, thumbnails


def expire_clip(clip: Clip, *, reason: str, now: datetime | None = None) -> RetentionReport | None:
    """Expire one clip (see the module docstring); what went, or ``None`` if it was not this call's to expire.

    Safe to run twice and from several processes at once: only one of them marks the row and appends the
    event.
    """
    from backend.exports.renditions import discard_for_clip

    now = now or timezone.now()
    try:
        freed, thumbnails = _delete_files(clip)
        freed += discard_for_clip(clip.pk)
    except OSError as exc:
        log.warning("retention: cannot delete the files of clip %s: %s", clip.pk, exc.strerror or exc)
        return None
    with transaction.atomic():
        claimed = Clip.objects.filter(pk=clip.pk, expired_at__isnull=True).update(
            expired_at=now, file="", size_bytes=0, content_sha256="", tracker_state=None)
        if not claimed:
            return None
        detections, _ = Event.objects.filter(clip_id=clip.pk, type=EventType.OBJECT_DETECTED).delete()
        EventLog.append([NewEvent(
            key=f"clip.expired:{clip.pk}", type=EventType.CLIP_EXPIRED, time=now, camera_id=clip.camera_id,
            clip_id=clip.pk, data={"reason": reason, "source": clip.source, "bytes": freed,
                                   "detections": detections, "thumbnails": thumbnails,
                                   "started_at": clip.started_at.isoformat()},
        )])
    log.info("retention: clip %s of camera %s expired (%s): %d bytes, %d detections", clip.pk, clip.camera_id,
             reason, freed, detections)
    return RetentionReport(expired=1, bytes_freed=freed, detections=detections, for_disk=int(reason == DISK))


def expire_by_age(now: datetime | None = None, *, batch: int = 500) -> RetentionReport:
    """Expire, per camera and oldest first, the clips that started more than ``retention_days`` ago."""
    now = now or timezone.now()
    report = RetentionReport()
    for camera in Camera.objects.only("pk", "retention_days"):
        cutoff = now - timedelta(days=camera.retention_days)
        pinned = Sighting.objects.filter(camera_id=camera.pk, end_ms__gte=epoch_ms(cutoff)).values("best_clip_id")
        expired = (_expirable().filter(camera=camera, started_at__lt=cutoff).exclude(pk__in=pinned)
                   .order_by("started_at", "pk")[:batch])
        for clip in expired:
            report += expire_clip(clip, reason=RETENTION, now=now)
    return report


def free_bytes() -> int:
    return shutil.disk_usage(settings.MEDIA_ROOT).free


def enforce_disk_floor(now: datetime | None = None, *, batch: int = 20) -> RetentionReport:
    """While free space under ``MEDIA_ROOT`` is below the floor, expire the oldest clips of any camera."""
    floor = settings.SIGHTLINE.DISK_FREE_FLOOR_BYTES
    if not floor:
        return RetentionReport()
    from backend.exports.renditions import discard_oldest

    now = now or timezone.now()
    report = RetentionReport()
    while free_bytes() < floor and discard_oldest():
        pass  # masked renditions go first: they are a cache, remade when asked for
    while free_bytes() < floor:
        oldest = list(_expirable().exclude(file="").order_by("started_at", "pk")[:batch])
        if not oldest:
            log.error("disk: %d bytes free under %s, below the floor of %d, and no footage is left to free",
                      free_bytes(), settings.MEDIA_ROOT, floor)
            break
        before = report.expired
        for clip in oldest:
            if free_bytes() >= floor:
                break
            report += expire_clip(clip, reason=DISK, now=now)
        if report.expired == before:
            break  # nothing could be deleted (I/O errors are logged): do not spin
    return report


def apply_retention(now: datetime | None = None) -> RetentionReport:
    """Age-based retention of every camera (footage, then exports not kept by an open case), then the disk
    floor."""
    from backend.exports.retention import expire_exports

    report = expire_by_age(now)
    expire_exports(now)
    return report + enforce_disk_floor(now)
