"""Retention of recordings: oldest first, uploads untouched, a sighting's best clip kept until it expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from backend.clips.models import Clip
from backend.recorder.retention import apply_retention
from search.models import Sighting
from tests.factories import CameraFactory

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _clip(camera, days_old: float, source: str = Clip.Source.RECORDING) -> Clip:  # type: ignore[no-untyped-def]
    name = default_storage.save(f"clips/{camera.pk}/retention-test.mp4", ContentFile(b"x" * 10))
    return Clip.objects.create(camera=camera, file=name, source=source, size_bytes=10,
                               started_at=NOW - timedelta(days=days_old))


def _sighting(clip: Clip, end: datetime, sighting_id: int) -> None:
    ms = int(end.timestamp() * 1000)
    Sighting.objects.create(id=sighting_id, camera_id=clip.camera_id, label="person", confidence=0.9,
                            start_ms=ms - 1000, end_ms=ms, best_ms=ms, best_seq=1, best_clip_id=clip.pk,
                            best_offset_ms=0, x1=0, y1=0, x2=1, y2=1, model="m")


def test_old_recordings_go_except_uploads_and_live_sightings(db):
    camera = CameraFactory(retention_days=7)
    old, older, fresh = _clip(camera, 8), _clip(camera, 9), _clip(camera, 1)
    upload = _clip(camera, 30, source=Clip.Source.UPLOAD)
    pinned = _clip(camera, 10)
    # A sighting that starts in the pinned clip and ends inside the window keeps its best clip.
    _sighting(pinned, NOW - timedelta(days=6), 1)
    files = {c.pk: c.file.name for c in (old, older, fresh, upload, pinned)}

    assert apply_retention(NOW) == 2
    gone = {c.pk for c in Clip.objects.filter(file="")}
    assert gone == {old.pk, older.pk}
    assert not default_storage.exists(files[old.pk]) and not default_storage.exists(files[older.pk])
    for kept in (fresh, upload, pinned):
        assert default_storage.exists(files[kept.pk])
    assert Clip.objects.count() == 5, "rows stay: the event log refers to them"

    # Once the sighting has expired too, its clip goes; a second run removes nothing else.
    assert apply_retention(NOW + timedelta(days=2)) == 1
    assert not default_storage.exists(files[pinned.pk])
    assert apply_retention(NOW + timedelta(days=2)) == 0
