"""The real detector on real footage, through the whole analysis path."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.core.files.storage import default_storage

from analysis.decode import probe
from analysis.tasks import analyse
from backend.clips.models import Clip
from backend.clips.services import register_clip, storage_name_for
from backend.eventlog.models import Event, EventType
from search.models import Sighting

pytestmark = pytest.mark.slow


@pytest.fixture
def clip(cameras, footage_h264):
    lobby, _ = cameras
    name = storage_name_for(lobby, "vtest.mp4")
    target = default_storage.path(name)
    import os

    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy(footage_h264, target)
    return register_clip(camera=lobby, stored_name=name, info=probe(target), queue=False,
                         started_at=datetime(2026, 11, 26, 8, 0, tzinfo=UTC))


def test_people_are_found_and_linked_into_sightings(clip):
    assert analyse(clip.pk) == Clip.Status.DONE

    detections = Event.objects.filter(clip_id=clip.pk, type=EventType.OBJECT_DETECTED)
    persons = detections.filter(label="person")
    assert persons.count() >= 30, "vtest.avi shows several pedestrians in every frame"
    assert max(persons.values_list("confidence", flat=True)) >= 0.5
    assert all(0 <= v <= 1 for row in persons.values_list("x1", "y1", "x2", "y2") for v in row)

    sightings = Sighting.objects.filter(label="person")
    assert 2 <= sightings.count() <= persons.count() / 3, "a sighting groups a person's detections"
    for s in sightings:
        assert default_storage.exists(s.thumbnail), s.thumbnail
        assert s.start_ms <= s.best_ms <= s.end_ms
    # Only each track's best thumbnail is kept.
    assert len(default_storage.listdir(f"thumbnails/{clip.pk}")[1]) == Sighting.objects.count()
    clip.refresh_from_db()
    assert clip.frames_analysed == 16 and clip.detections == detections.count()


def test_running_the_task_again_appends_nothing(clip):
    analyse(clip.pk)
    before = list(Event.objects.order_by("seq").values_list("key", "seq"))
    sightings = sorted(Sighting.objects.values_list("id", "confidence", "detections"))

    assert analyse(clip.pk) == Clip.Status.DONE

    assert list(Event.objects.order_by("seq").values_list("key", "seq")) == before
    assert sorted(Sighting.objects.values_list("id", "confidence", "detections")) == sightings


def test_a_deleted_clip_is_tolerated(db):
    assert analyse(987654) == "missing"


def test_the_model_runs_where_settings_say(clip):
    from analysis.detectors.registry import get_detector

    detector = get_detector(settings.SIGHTLINE["DETECTOR"])
    analyse(clip.pk)
    assert set(Event.objects.filter(type=EventType.OBJECT_DETECTED).values_list("model", flat=True)) == {
        detector.model_id}
