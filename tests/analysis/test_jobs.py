"""Analysis jobs finish exactly once: claims, attempts, the outbox and the sweep, on the real brokers.

The brokers here are real: the embedded default's file-system queue (messages land as files in the data
directory) and, for "the broker is down", a Redis URL where nothing listens (a refused connection). A
worker killed for real is in ``tests/test_faults.py``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from backend.clips import jobs
from backend.clips.models import Clip
from backend.eventlog.models import Event, EventType
from tests.brokers import publishing_to
from tests.conftest import client_for


@pytest.fixture
def queued_clip(cameras, footage_h264):
    from django.db import transaction

    from analysis.decode import probe
    from backend.clips.services import register_clip, storage_name_for

    lobby, _ = cameras
    name = storage_name_for(lobby, ".mp4")
    target = Path(django_settings.MEDIA_ROOT) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(footage_h264.read_bytes())
    with transaction.atomic():
        return register_clip(camera=lobby, stored_name=name, info=probe(target), queue=False,
                             started_at=timezone.now())


def _age(clip: Clip, seconds: float) -> None:
    Clip.objects.filter(pk=clip.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=seconds))


def test_a_job_is_claimed_once_and_a_finished_one_never_again(queued_clip):
    assert jobs.claim(queued_clip.pk) is jobs.Claim.CLAIMED
    # A redelivered message while the worker beats: nothing to claim.
    assert jobs.claim(queued_clip.pk) is jobs.Claim.BUSY
    clip = Clip.objects.get(pk=queued_clip.pk)
    assert (clip.status, clip.attempts) == (Clip.Status.ANALYSING, 1) and clip.heartbeat_at is not None
    for final in (Clip.Status.DONE, Clip.Status.FAILED):
        Clip.objects.filter(pk=clip.pk).update(status=final)
        _age(clip, 10_000)
        assert jobs.claim(clip.pk) is jobs.Claim.FINISHED
        assert Clip.objects.get(pk=clip.pk).status == final
    assert jobs.claim(987654) is jobs.Claim.MISSING


def test_a_dead_workers_job_is_taken_over_and_ends_failed_after_its_attempts(queued_clip, settings):
    limit = settings.SIGHTLINE.ANALYSIS_MAX_ATTEMPTS
    timeout = settings.SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S
    for attempt in range(1, limit + 1):
        assert jobs.claim(queued_clip.pk) is jobs.Claim.CLAIMED
        assert Clip.objects.get(pk=queued_clip.pk).attempts == attempt
        _age(queued_clip, timeout / 2)  # still beating recently enough
        assert jobs.claim(queued_clip.pk) is jobs.Claim.BUSY
        _age(queued_clip, timeout + 1)  # the worker died
    assert jobs.claim(queued_clip.pk) is jobs.Claim.EXHAUSTED
    clip = Clip.objects.get(pk=queued_clip.pk)
    assert clip.status == Clip.Status.FAILED and f"after {limit} attempts" in clip.error
    failed = Event.objects.get(clip_id=clip.pk, type=EventType.ANALYSIS_FAILED)
    assert failed.data["attempts"] == limit
    assert jobs.claim(clip.pk) is jobs.Claim.FINISHED


def test_progress_is_a_heartbeat(queued_clip):
    assert jobs.claim(queued_clip.pk) is jobs.Claim.CLAIMED
    _age(queued_clip, 500)
    jobs.beat(queued_clip.pk, progress=0.5, frames_analysed=8, detections=3)
    clip = Clip.objects.get(pk=queued_clip.pk)
    assert (timezone.now() - clip.heartbeat_at).total_seconds() < 5
    assert (clip.progress, clip.frames_analysed, clip.detections) == (0.5, 8, 3)


@pytest.fixture
def queue_dir():
    """The embedded broker's queue folder, emptied of earlier tests' messages."""
    folder = Path(django_settings.CELERY_BROKER_DIR) / "queue"
    for message in folder.glob("*.msg"):
        message.unlink()
    return folder


@pytest.fixture
def real_broker(queue_dir):
    """Publish for real (not eagerly) to the broker the settings name: the file-system queue."""
    with publishing_to():
        yield queue_dir


def _messages(queue_dir: Path, clip_id: int) -> int:
    return sum(f"[{clip_id}]" in p.read_text(errors="ignore") for p in queue_dir.glob("*.msg"))


def test_the_sweep_resends_lost_and_dead_jobs(queued_clip, real_broker, settings):
    # GIVEN a queued job whose task was never sent (the outbox has not dispatched it)
    assert Clip.objects.get(pk=queued_clip.pk).dispatched_at is None
    report = jobs.sweep()
    assert report.dispatched == 1 and _messages(real_broker, queued_clip.pk) == 1
    assert Clip.objects.get(pk=queued_clip.pk).dispatched_at is not None
    # A second sweep soon after sends nothing: the message is in the queue.
    assert jobs.sweep().dispatched == 0
    # WHEN a worker claims it and dies (its heartbeat goes stale), THEN the sweep hands it out again
    assert jobs.claim(queued_clip.pk) is jobs.Claim.CLAIMED
    _age(queued_clip, settings.SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S + 1)
    assert jobs.sweep().dispatched == 1 and _messages(real_broker, queued_clip.pk) == 2
    # AND one that used up its attempts is failed by the sweep, not sent again
    Clip.objects.filter(pk=queued_clip.pk).update(attempts=settings.SIGHTLINE.ANALYSIS_MAX_ATTEMPTS)
    assert jobs.sweep().failed == 1
    assert Clip.objects.get(pk=queued_clip.pk).status == Clip.Status.FAILED


def test_broker_down_at_upload_leaves_a_queued_job_never_a_500(personas, cameras, footage_h264, queue_dir,
                                                               django_capture_on_commit_callbacks):
    """GIVEN a broker where nothing listens, WHEN footage is uploaded, THEN 202 and a queued, undispatched
    job; a retried upload of the same footage returns that clip; once the broker is back the sweep sends it."""
    client = client_for(personas["colleague"])
    lobby, _ = cameras
    with publishing_to("redis://127.0.0.1:9/0"):
        def post():
            with django_capture_on_commit_callbacks(execute=True):
                return client.post("/api/v1/clips/", {"camera": lobby.pk, "file": SimpleUploadedFile(
                    "gate.mp4", footage_h264.read_bytes(), content_type="video/mp4")}, format="multipart")

        first = post()
        assert first.status_code == 202, first.content
        clip = Clip.objects.get(pk=first.json()["id"])
        assert clip.status == Clip.Status.QUEUED and clip.dispatched_at is None
        retry = post()
        assert retry.status_code == 200 and retry.json()["id"] == clip.pk
        assert Clip.objects.count() == 1
        assert Event.objects.filter(type=EventType.CLIP_REGISTERED).count() == 1
        assert jobs.sweep().undeliverable == 1
    # The broker is back (here: the embedded one): the next sweep sends the job, once.
    with publishing_to():
        assert jobs.sweep().dispatched == 1 and _messages(queue_dir, clip.pk) == 1


def test_the_same_footage_uploaded_again_is_the_same_clip(personas, cameras, footage_h264,
                                                        django_capture_on_commit_callbacks):
    client = client_for(personas["colleague"])
    lobby, _ = cameras
    content = footage_h264.read_bytes()

    def post(data: bytes, camera: int):
        with django_capture_on_commit_callbacks() as callbacks:
            response = client.post("/api/v1/clips/", {"camera": camera, "file": SimpleUploadedFile(
                "gate.mp4", data, content_type="video/mp4")}, format="multipart")
        return response, callbacks

    first, queued = post(content, lobby.pk)
    again, queued_again = post(content, lobby.pk)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"] and queued and not queued_again
    other, _ = post(content + b"\0", lobby.pk)  # other bytes: another clip
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    assert Clip.objects.count() == 2


def test_a_released_job_is_claimed_again_at_once_without_losing_an_attempt(queued_clip):
    """After a transient database error the task gives its job back and retries: no wait for the heartbeat
    timeout, and the hiccup does not count as a dead worker."""
    assert jobs.claim(queued_clip.pk) is jobs.Claim.CLAIMED
    jobs.release(queued_clip.pk)
    clip = Clip.objects.get(pk=queued_clip.pk)
    assert (clip.status, clip.attempts) == (Clip.Status.QUEUED, 0)
    assert jobs.claim(queued_clip.pk) is jobs.Claim.CLAIMED
    assert Clip.objects.get(pk=queued_clip.pk).attempts == 1
