"""Retention: every artefact of a clip past its camera's retention goes, as an event; the disk floor too.

The disk-floor test fills a real size-limited file system (a tmpfs mounted for the test: needs root, which
the test machines and CI have).
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

import search
from backend.clips.models import Clip
from backend.clips.retention import apply_retention, expire_by_age
from backend.eventlog import projections
from backend.eventlog.log import EventLog
from backend.eventlog.models import Event, EventType
from backend.eventlog.schema import thumbnail_folder
from search.backends.base import SearchQuery
from search.models import Sighting
from search.projection import SightingProjection
from tests.factories import CameraFactory, detection

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
_tracks = iter(range(1000, 10_000))
pytestmark = pytest.mark.usefixtures("own_media")


def footage(camera, days_old: float, *, source: str = Clip.Source.RECORDING, status: str = Clip.Status.DONE,
            size: int = 10, track: int | None = None, confidence: float = 0.8) -> Clip:  # type: ignore[no-untyped-def]
    """A stored clip with two thumbnails and two detections of one track, as an analysis leaves it."""
    started = NOW - timedelta(days=days_old)
    name = default_storage.save(f"clips/{camera.pk}/footage.mp4", ContentFile(b"x" * size))
    clip = Clip.objects.create(camera=camera, file=name, source=source, size_bytes=size, started_at=started,
                               status=status, duration_s=60.0)
    track = next(_tracks) if track is None else track
    for offset in (1000, 2000):
        default_storage.save(f"{thumbnail_folder(clip.pk)}/{offset:09d}-000.jpg", ContentFile(b"jpeg"))
    EventLog.append([detection(clip.pk, camera.pk, track, offset, confidence, start=started)
                     for offset in (1000, 2000)])
    return clip


def artefacts(clip: Clip) -> dict[str, object]:
    clip.refresh_from_db()
    return {
        "file": bool(clip.file) and default_storage.exists(clip.file.name),
        "thumbnails": default_storage.exists(thumbnail_folder(clip.pk)),
        "detections": Event.objects.filter(clip_id=clip.pk, type=EventType.OBJECT_DETECTED).count(),
        "sightings": Sighting.objects.filter(best_clip_id=clip.pk).count(),
        "expired": clip.expired_at is not None,
    }


KEPT = {"file": True, "thumbnails": True, "detections": 2, "sightings": 1, "expired": False}
GONE = {"file": False, "thumbnails": False, "detections": 0, "sightings": 0, "expired": True}


def test_footage_past_retention_goes_with_everything_derived_from_it(db):
    camera = CameraFactory(retention_days=7)
    old, upload = footage(camera, 8), footage(camera, 9, source=Clip.Source.UPLOAD)
    fresh, running = footage(camera, 1), footage(camera, 10, status=Clip.Status.ANALYSING)
    # A sighting whose best moment is in an old clip but which goes on inside the window pins that clip.
    pinned = footage(camera, 10, track=77, confidence=0.95)
    EventLog.append([detection(fresh.pk, camera.pk, 77, 5000, 0.5, start=fresh.started_at, ordinal=1)])
    other = CameraFactory(retention_days=30)
    elsewhere = footage(other, 8)

    report = expire_by_age(NOW)

    assert report.expired == 2 and report.detections == 4 and report.bytes_freed == 2 * (10 + 2 * len(b"jpeg"))
    assert artefacts(old) == GONE and artefacts(upload) == GONE
    assert artefacts(fresh) == {**KEPT, "detections": 3}
    for kept in (running, elsewhere):
        assert artefacts(kept) == KEPT
    assert artefacts(pinned)["file"] and Sighting.objects.filter(pk=77, best_clip_id=pinned.pk).exists()
    # Each deletion is an event, saying why and what went; the rows stay for the events that name them.
    expiries = Event.objects.filter(type=EventType.CLIP_EXPIRED).order_by("clip_id")
    assert [(e.clip_id, e.data["reason"], e.data["detections"], e.data["thumbnails"]) for e in expiries] == [
        (old.pk, "retention", 2, 2), (upload.pk, "retention", 2, 2)]
    assert Clip.objects.count() == 6
    # Search no longer finds them, and a rebuild from the log cannot bring them back.
    found = {hit.best_clip_id for hit in search.get_backend().search(SearchQuery(page_size=50)).results}
    assert found == {fresh.pk, running.pk, pinned.pk, elsewhere.pk}
    projections.rebuild(SightingProjection())
    assert set(Sighting.objects.values_list("best_clip_id", flat=True)) == found
    # A second run finds nothing more to do; once the pinning sighting has expired too, its clip goes.
    assert expire_by_age(NOW).expired == 0
    assert expire_by_age(NOW + timedelta(days=7)).expired >= 1
    assert artefacts(pinned) == GONE


def test_uploads_can_be_kept_beyond_retention(db, settings):
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"RETENTION_COVERS_UPLOADS": False})
    camera = CameraFactory(retention_days=7)
    recording, upload = footage(camera, 8), footage(camera, 8, source=Clip.Source.UPLOAD)
    assert expire_by_age(NOW).expired == 1
    assert artefacts(recording) == GONE and artefacts(upload) == KEPT


def test_the_same_footage_can_be_uploaded_again_after_it_expired(db, footage_h264):
    from backend.clips.services import AlreadyUploaded, register_stored, store_upload

    camera = CameraFactory(retention_days=7)

    def upload() -> Clip:
        with footage_h264.open("rb") as f:
            stored = store_upload(f, camera, original_name="cam.mp4")
        return register_stored(stored, camera=camera, started_at=NOW - timedelta(days=8), queue=False)[0]

    first = upload()
    with pytest.raises(AlreadyUploaded):
        upload()
    Clip.objects.filter(pk=first.pk).update(status=Clip.Status.DONE)
    assert expire_by_age(NOW).expired == 1
    second = upload()
    assert second.pk != first.pk and default_storage.exists(second.file.name)


@pytest.fixture
def small_disk(tmp_path, settings):
    """MEDIA_ROOT on a real 4 MiB file system."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    settings.MEDIA_ROOT = str(mount)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_below_the_disk_floor_the_oldest_footage_goes_first(db, settings, small_disk):
    lobby, vault = CameraFactory(retention_days=365), CameraFactory(retention_days=365)
    kib = 1024
    clips = [footage(camera, days, size=512 * kib) for camera, days in
             [(lobby, 6), (vault, 5), (lobby, 4), (vault, 3), (lobby, 2), (vault, 1)]]
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"DISK_FREE_FLOOR_BYTES": 2 * 1024 * kib})
    import shutil

    assert shutil.disk_usage(small_disk).free < 2 * 1024 * kib, "the clips fill the small disk"

    report = apply_retention(NOW)

    assert shutil.disk_usage(small_disk).free >= 2 * 1024 * kib
    gone = [c.pk for c in clips if artefacts(c)["expired"]]
    assert gone == [c.pk for c in clips[:len(gone)]] and 1 <= len(gone) < len(clips), "oldest first, no more"
    assert report.for_disk == len(gone)
    assert set(Event.objects.filter(type=EventType.CLIP_EXPIRED).values_list("data__reason", flat=True)) == {"disk"}
    for clip in clips[len(gone):]:
        assert artefacts(clip) == KEPT


def test_a_disk_that_retention_cannot_free_is_reported(db, settings, small_disk):
    from backend.sightline.health import check

    camera = CameraFactory()
    clip = footage(camera, 1, size=3 * 1024 * 1024)
    # A floor above the disk's size: everything expirable goes, and the health check says it is not enough.
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"DISK_FREE_FLOOR_BYTES": 8 * 1024 * 1024})
    assert apply_retention(NOW).for_disk == 1 and artefacts(clip) == GONE
    report = check()
    assert not report.healthy
    assert any("below the floor" in problem for problem in report.problems)
