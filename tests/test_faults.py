"""Faults caused for real: a Celery worker SIGKILLed mid-clip (embedded broker and Redis), Redis stopped.

The worker is a real ``celery worker`` process on the same database as the test (the SQLite test database,
or PostgreSQL in server mode); it is killed with SIGKILL while it analyses, a new worker is started, and
the clip must complete with exactly the detections a clean run gives: nothing lost, nothing doubled,
nothing stuck.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from backend.clips.models import Clip
from backend.eventlog.models import Event, EventType
from tests.api.test_uploads import upload
from tests.brokers import publishing_to
from tests.conftest import client_for
from tests.services import control, service_unavailable

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
#: Short enough for a test: a killed worker's job is handed out again after this many seconds.
HEARTBEAT_TIMEOUT_S = 4


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def start_worker(redis_url: str | None, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.sightline.settings",
        "DATABASE_URL": _database_url(),
        "SIGHTLINE_SECRET_KEY": settings.SECRET_KEY,
        "SIGHTLINE_DATA_DIR": str(settings.DATA_DIR),
        "SIGHTLINE_CELERY_ALWAYS_EAGER": "0",
        "SIGHTLINE_ANALYSIS_HEARTBEAT_TIMEOUT_S": str(HEARTBEAT_TIMEOUT_S),
        "SIGHTLINE_JOB_SWEEP_EVERY_S": "1",
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "backend.sightline", "worker", "-Q", "analysis", "-c", "1",
             "--pool=solo", "--loglevel=INFO"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def detections_of(clip_id: int) -> list[tuple]:
    rows = Event.objects.filter(clip_id=clip_id, type=EventType.OBJECT_DETECTED).order_by("offset_ms", "key")
    return [(e.offset_ms, e.label, e.confidence, e.x1, e.y1, e.x2, e.y2) for e in rows]


def _sigkill_mid_clip(redis_url: str | None, personas, cameras, footage_h264) -> None:
    client = client_for(personas["colleague"])
    lobby, vault = cameras
    vault.granted_users.add(personas["colleague"])
    log = Path(settings.DATA_DIR) / f"fault-worker-{os.getpid()}.log"
    with publishing_to(redis_url):
        worker = start_worker(redis_url, log)
        try:
            response = upload(client, lobby.pk, footage_h264.read_bytes())
            assert response.status_code == 202, response.content
            clip_id = response.json()["id"]
            # WHEN the worker is killed while it analyses (some progress written, not finished)
            wait_until(lambda: Clip.objects.filter(pk=clip_id, status="analysing", frames_analysed__gt=0).exists(),
                       240, "the worker to start analysing")
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
            killed_at = time.monotonic()
            assert Clip.objects.get(pk=clip_id).status == Clip.Status.ANALYSING
            # THEN a new worker takes the job over and completes it
            worker = start_worker(redis_url, log)
            wait_until(lambda: Clip.objects.filter(pk=clip_id, status__in=["done", "failed"]).exists(), 240,
                       "the clip to finish after the restart")
            recovered_s = time.monotonic() - killed_at
        finally:
            stop(worker)
    clip = Clip.objects.get(pk=clip_id)
    assert clip.status == Clip.Status.DONE, (clip.error, log.read_text()[-3000:])
    assert clip.attempts == 2 and clip.progress == 1.0
    assert Event.objects.filter(clip_id=clip_id, type=EventType.ANALYSIS_COMPLETED).count() == 1
    # AND its detections are exactly a clean run's (the same footage for another camera, analysed once, in
    # this process: tasks run eagerly again here)
    clean = upload(client, vault.pk, footage_h264.read_bytes())
    assert clean.status_code == 202
    assert Clip.objects.get(pk=clean.json()["id"]).status == Clip.Status.DONE
    assert detections_of(clip_id) == detections_of(clean.json()["id"])
    assert len(detections_of(clip_id)) > 0
    print(f"recovered {recovered_s:.1f} s after the SIGKILL (heartbeat timeout {HEARTBEAT_TIMEOUT_S} s)")


def test_worker_sigkilled_mid_clip_on_the_embedded_broker(transactional_db, personas, cameras, footage_h264):
    if connection.vendor != "sqlite":
        pytest.skip("the embedded broker goes with the embedded database; server mode runs the Redis case")
    _sigkill_mid_clip(None, personas, cameras, footage_h264)


@pytest.mark.server
def test_worker_sigkilled_mid_clip_on_redis(transactional_db, personas, cameras, footage_h264):
    url = os.environ.get("SIGHTLINE_TEST_REDIS_URL")
    if connection.vendor != "postgresql" or not url:
        service_unavailable("this test needs DATABASE_URL (PostgreSQL) and SIGHTLINE_TEST_REDIS_URL")
    _sigkill_mid_clip(url, personas, cameras, footage_h264)


@pytest.mark.server
def test_redis_stopped_during_upload_queues_the_job_and_analyses_it_once(transactional_db, personas, cameras,
                                                                          footage_h264):
    """GIVEN a real worker on Redis, WHEN the Redis server is stopped and footage is uploaded (twice: the
    client retries), THEN 202 with a queued job and 200 with the same clip, never a 500; and once Redis is
    back the worker's sweep sends the job and the footage is analysed exactly once."""
    url = os.environ.get("SIGHTLINE_TEST_REDIS_URL")
    if connection.vendor != "postgresql" or not url:
        service_unavailable("this test needs DATABASE_URL (PostgreSQL) and SIGHTLINE_TEST_REDIS_URL")
    client = client_for(personas["colleague"])
    lobby, _vault = cameras
    log = Path(settings.DATA_DIR) / f"redis-outage-worker-{os.getpid()}.log"
    with publishing_to(url):
        worker = start_worker(url, log)
        try:
            control("redis", "stop")
            try:
                first = upload(client, lobby.pk, footage_h264.read_bytes())
                retry = upload(client, lobby.pk, footage_h264.read_bytes())
            finally:
                control("redis", "start")
            assert first.status_code == 202, first.content
            assert first.json()["status"] == Clip.Status.QUEUED
            assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"]
            clip_id = first.json()["id"]
            wait_until(lambda: Clip.objects.filter(pk=clip_id, status__in=["done", "failed"]).exists(), 240,
                       "the job to be sent and analysed once Redis is back")
        finally:
            stop(worker)
    clip = Clip.objects.get(pk=clip_id)
    assert clip.status == Clip.Status.DONE, (clip.error, log.read_text()[-3000:])
    assert clip.attempts == 1
    assert Event.objects.filter(clip_id=clip_id, type=EventType.ANALYSIS_STARTED).count() == 1
    assert Clip.objects.filter(camera=lobby).count() == 1
