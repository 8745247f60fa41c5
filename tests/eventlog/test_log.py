from __future__ import annotations

import threading

from django.core.management import call_command

from backend.eventlog import projections
from backend.eventlog.log import EventLog
from backend.eventlog.models import Event
from search.models import Sighting
from tests.factories import detection


def test_append_assigns_increasing_sequence_and_is_idempotent(cameras):
    cam = cameras[0]
    events = [detection(1, cam.pk, 7, t, 0.5 + t / 10_000) for t in range(0, 1000, 100)]

    assert EventLog.append(events) == 10
    first = list(Event.objects.values_list("seq", flat=True))
    assert first == sorted(first) and len(set(first)) == 10

    # A redelivered task appends the same events again: nothing is added, nothing changes.
    assert EventLog.append(events) == 0
    assert EventLog.append([*events[:3], detection(1, cam.pk, 7, 5000, 0.9)]) == 1
    assert Event.objects.count() == 11


def test_duplicate_keys_inside_one_batch_are_added_once(cameras):
    event = detection(1, cameras[0].pk, 7, 0, 0.5)
    assert EventLog.append([event, event]) == 1


def test_sighting_projection_keeps_the_best_detection_and_the_span(cameras):
    cam = cameras[0]
    EventLog.append([detection(1, cam.pk, 7, 0, 0.4), detection(1, cam.pk, 7, 500, 0.8, box=(0, 0, 0.5, 0.5)),
                     detection(1, cam.pk, 7, 1000, 0.6)])
    EventLog.append([detection(2, cam.pk, 7, 0, 0.7, start=detection(1, cam.pk, 7, 2000, 0).time)])

    sighting = Sighting.objects.get(id=7)
    assert sighting.detections == 4
    assert sighting.confidence == 0.8
    assert (sighting.x1, sighting.y1, sighting.x2, sighting.y2) == (0, 0, 0.5, 0.5)
    assert sighting.end_ms - sighting.start_ms == 2000
    assert sighting.best_offset_ms == 500
    assert sighting.thumbnail == "thumbnails/1/000000500-000.jpg"


def test_rebuild_from_zero_gives_the_same_sightings(cameras):
    cam = cameras[0]
    for clip in range(1, 4):
        EventLog.append([detection(clip, cam.pk, clip * 10 + t % 3, t * 100, (t * 37 % 100) / 100, ordinal=t % 3)
                         for t in range(30)])
    before = sorted(Sighting.objects.values_list("id", "confidence", "start_ms", "end_ms", "detections"))
    assert len(before) == 9

    call_command("rebuild_projections", "search.sightings")

    after = sorted(Sighting.objects.values_list("id", "confidence", "start_ms", "end_ms", "detections"))
    assert after == before
    assert projections.lag("search.sightings") == 0


def test_projection_resumes_from_its_checkpoint(cameras, settings):
    """GIVEN inline projection off (a projector process), WHEN events arrive, THEN catch-up applies each once."""
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"PROJECT_INLINE": False})
    cam = cameras[0]
    EventLog.append([detection(1, cam.pk, 5, t * 100, 0.5) for t in range(5)])
    assert not Sighting.objects.exists()
    projection = projections.get("search.sightings")

    assert projections.catch_up(projection) == 5
    EventLog.append([detection(1, cam.pk, 5, t * 100, 0.5) for t in range(5, 8)])
    assert projections.lag("search.sightings") == 3
    assert projections.catch_up(projection) == 3
    assert projections.catch_up(projection) == 0
    assert Sighting.objects.get(id=5).detections == 8


def test_commit_sends_log_appended_and_a_failing_receiver_fails_nothing(cameras, django_capture_on_commit_callbacks):
    from backend.eventlog.signals import log_appended

    heads: list[int] = []

    def record(*, head, **_):
        heads.append(head)

    def broken(**_):
        raise RuntimeError("a consumer that breaks")

    log_appended.connect(record)
    log_appended.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert EventLog.append([detection(1, cameras[0].pk, 7, 0, 0.5)]) == 1
        with django_capture_on_commit_callbacks(execute=True):
            assert EventLog.append([detection(1, cameras[0].pk, 7, 0, 0.5)]) == 0  # nothing new: no signal
    finally:
        log_appended.disconnect(record)
        log_appended.disconnect(broken)
    assert heads == [EventLog.head()]


def test_consumers_wire_themselves_to_the_log(monkeypatch):
    """The log knows no consumer: the live feed connects to its signal, search registers its projections."""
    from backend.eventlog.signals import send_log_appended
    from backend.live import notify

    woken: list[int] = []

    async def send(head):
        woken.append(head)

    monkeypatch.setattr(notify, "_send", send)
    # From a plain thread, as an appender commits (the test's own thread may hold an event loop).
    appender = threading.Thread(target=send_log_appended, args=(42,))
    appender.start()
    appender.join(10)
    assert woken == [42]
    assert "search.sightings" in projections.registered()


def test_inline_catch_up_after_a_reset_is_bounded(cameras):
    """GIVEN a log much longer than one batch whose sighting checkpoint was reset, WHEN one event is
    appended, THEN that append replays at most its own events and one batch more, not the whole log."""
    from backend.eventlog.models import ProjectionCheckpoint

    cam = cameras[0]
    total = 3 * projections.INLINE_BACKLOG
    EventLog.append([detection(1, cam.pk, 1 + i // 50, i * 10, 0.5, ordinal=i % 50) for i in range(total)])
    assert projections.lag("search.sightings") == 0
    ProjectionCheckpoint.objects.filter(name="search.sightings").update(position=0)
    Sighting.objects.all().delete()
    EventLog.append([detection(2, cam.pk, 999, 0, 0.9)])
    read = Event.objects.filter(seq__lte=projections.position("search.sightings")).count()
    assert read == 1 + projections.INLINE_BACKLOG
    assert projections.lag("search.sightings") == total + 1 - read
    # The rest is rebuild_projections' (or run_projector's) job, in bounded batches of its own.
    call_command("rebuild_projections", "search.sightings")
    assert projections.lag("search.sightings") == 0
    assert Sighting.objects.count() == total // 50 + 1
