"""The real detector on real footage, through the whole analysis path."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

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
    name = storage_name_for(lobby, ".mp4")
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


def test_at_the_production_defaults_only_confirmed_people_become_sightings(clip, settings):
    """The tracker and the confirmation rule through the real pipeline: 8 s of vtest.avi, about one sighting
    per person who is there (the committed annotation says who), no sighting of a label nobody could see,
    and what was not confirmed still in the log."""
    from analysis.eval.formats import GROUND_TRUTH, read_mot
    from tests.search.confirmation import strict_defaults

    strict_defaults(settings)
    assert analyse(clip.pk) == Clip.Status.DONE
    people = {pid for frame, pid, _ in read_mot(GROUND_TRUTH / "vtest.gt.txt", size=(768, 576)) if frame < 80}
    sightings = Sighting.objects.all()
    assert set(sightings.values_list("label", flat=True)) <= set(settings.SIGHTLINE.TRACKED_LABELS)
    persons = sightings.filter(label="person").count()
    assert 0.7 * len(people) <= persons <= 1.3 * len(people), (persons, len(people))

    detections = Event.objects.filter(clip_id=clip.pk, type=EventType.OBJECT_DETECTED)
    logged = set(detections.values_list("label", flat=True))
    assert logged - set(settings.SIGHTLINE.TRACKED_LABELS), "unconfirmed tracks stay in the event log"
    # Detections under DETECTION_MIN_CONFIDENCE only continue tracks that a confident one started.
    floor = settings.SIGHTLINE.DETECTION_MIN_CONFIDENCE
    low_tracks = set(detections.filter(confidence__lt=floor).values_list("track", flat=True))
    assert low_tracks, "the low-score round keeps some tracks going"
    started = set(detections.filter(confidence__gte=floor).values_list("track", flat=True))
    assert low_tracks <= started


def test_running_the_task_again_appends_nothing(clip, settings):
    analyse(clip.pk)
    before = list(Event.objects.order_by("seq").values_list("key", "seq"))
    sightings = sorted(Sighting.objects.values_list("id", "confidence", "detections"))

    # A redelivered message for a finished clip: not analysed again.
    assert analyse(clip.pk) == "finished"
    assert list(Event.objects.order_by("seq").values_list("key", "seq")) == before
    # A worker that died after appending everything, before marking the clip done: the next worker
    # analyses the whole clip again, and the log's natural keys make it append nothing twice.
    stale = timezone.now() - timedelta(seconds=settings.SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S + 1)
    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.ANALYSING, heartbeat_at=stale)
    assert analyse(clip.pk) == Clip.Status.DONE

    assert list(Event.objects.order_by("seq").values_list("key", "seq")) == before
    assert sorted(Sighting.objects.values_list("id", "confidence", "detections")) == sightings


def test_a_deleted_clip_is_tolerated(db):
    assert analyse(987654) == "missing"


def test_the_model_runs_where_settings_say(clip):
    from analysis.detectors.registry import get_detector

    detector = get_detector(settings.SIGHTLINE.DETECTOR)
    analyse(clip.pk)
    assert set(Event.objects.filter(type=EventType.OBJECT_DETECTED).values_list("model", flat=True)) == {
        detector.model_id}


def test_tracks_continue_across_a_cameras_consecutive_segments(cameras, vtest_path, tmp_path):
    """GIVEN two consecutive 4-second recorded segments of one camera, THEN people walking across the cut
    keep their sighting: some tracks of the second segment started in the first."""
    from datetime import timedelta

    from analysis.pipeline import TRACK_ID_BITS
    from analysis.transcode import transcode_to_h264

    lobby, _ = cameras
    start = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    clips = []
    for n in range(2):
        name = storage_name_for(lobby, ".mp4")
        target = default_storage.path(name)
        import os

        os.makedirs(os.path.dirname(target), exist_ok=True)
        transcode_to_h264(vtest_path, target, start_seconds=4 * n, max_seconds=4)
        clips.append(register_clip(camera=lobby, stored_name=name, info=probe(target), queue=False,
                                   source=Clip.Source.RECORDING, started_at=start + timedelta(seconds=4 * n)))
    assert clips[1].previous_segment() == clips[0]
    assert analyse(clips[0].pk) == Clip.Status.DONE
    # The worker goes on with the camera's next segment at once (it resumes the first one's tracks); the
    # second segment's own message then finds it done.
    assert Clip.objects.get(pk=clips[1].pk).status == Clip.Status.DONE
    assert analyse(clips[1].pk) == "finished"

    second = set(Event.objects.filter(clip_id=clips[1].pk, type=EventType.OBJECT_DETECTED)
                 .values_list("track", flat=True))
    carried = {t for t in second if t >> TRACK_ID_BITS == clips[0].pk}
    assert carried, "people visible across the cut keep the track they had in the first segment"
    for track in carried:
        sighting = Sighting.objects.get(id=track)
        assert sighting.start_ms < int(clips[1].started_at.timestamp() * 1000) <= sighting.end_ms
    # Only the latest segment keeps a tracker state (the next one resumes it): one per camera, not per segment.
    states = dict(Clip.objects.filter(pk__in=[c.pk for c in clips]).values_list("pk", "tracker_state"))
    assert states[clips[0].pk] is None and states[clips[1].pk]["tracks"]
