"""The recorder against a real RTSP server (digest auth): segments, failures, leases, and the path to search.

These tests run recorder threads that open their own database connections, so they use a transactional
database (``transactional_db``): rows are committed and visible across threads.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.core.files.storage import default_storage

from analysis.decode import probe
from backend.cameras.models import Camera
from backend.clips.models import Clip
from backend.eventlog.models import Event, EventType
from backend.recorder import leases
from backend.recorder.probe import check_stream
from backend.recorder.supervisor import Supervisor
from tests.conftest import client_for
from tests.factories import UserFactory

from .conftest import FAST, MARKER, make_camera, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SECRETS = (MARKER, quote(MARKER, safe=""))


def recordings(camera: Camera) -> list[Clip]:
    return list(Clip.objects.filter(camera=camera, source=Clip.Source.RECORDING).order_by("started_at"))


def assert_no_secret_anywhere(caplog: pytest.LogCaptureFixture, *api_bodies: str) -> None:
    """The marker password is in no log line, event, clip, camera field (but the cipher) or API response."""
    texts = {"logs": caplog.text}
    texts["events"] = json.dumps([[e.key, e.data] for e in Event.objects.all()])
    texts["clips"] = json.dumps([[c.file.name, c.original_name, c.error, c.codec] for c in Clip.objects.all()])
    texts["cameras"] = json.dumps([[c.name, c.stream_address, c.username, c.last_error, c.lease_owner]
                                   for c in Camera.objects.all()])
    texts["api"] = "\n".join(api_bodies)
    for where, text in texts.items():
        for secret in SECRETS:
            assert secret not in text, f"the camera password leaked into {where}"


def superuser():  # type: ignore[no-untyped-def]
    # Not the "admin" group: a transactional test flushes the groups the data migration created.
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def caplog_info(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def test_right_password_records_segments_cut_at_key_frames(rtsp_server, caplog_info):
    camera = make_camera(rtsp_server, "Gate")
    supervisor = Supervisor(owner="rec-a", settings=FAST).start()
    try:
        wait_for(lambda: len(recordings(camera)) >= 3, message="three recorded segments")
        camera.refresh_from_db()
        assert camera.state == Camera.State.RECORDING and camera.lease_owner == "rec-a"
        assert camera.last_seen_at is not None
    finally:
        supervisor.stop()

    clips = recordings(camera)
    for clip in clips:
        info = probe(default_storage.path(clip.file.name))
        assert (info.codec, info.width, info.height) == ("h264", 768, 576)
    # Key frames come every second: a 2 s segment is cut at the first key frame past 2 s. The last one was
    # closed early by the stop (it is kept, however short).
    assert all(1.5 <= clip.duration_s <= 3.5 for clip in clips[:-1]), [c.duration_s for c in clips]
    for earlier, later in itertools.pairwise(clips):
        assert earlier.started_at + timedelta(seconds=earlier.duration_s - 0.3) <= later.started_at
    assert Event.objects.filter(camera_id=camera.pk, type=EventType.CAMERA_ONLINE).count() == 1
    camera.refresh_from_db()
    assert camera.lease_owner == "" and camera.state == Camera.State.OFFLINE, "released on stop"
    assert_no_secret_anywhere(caplog_info)


def test_wrong_password_is_a_clear_redacted_error(rtsp_server, caplog_info):
    camera = make_camera(rtsp_server, "Back door", password=MARKER + "-wrong")
    secrets = (*SECRETS, MARKER + "-wrong")
    supervisor = Supervisor(owner="rec-a", settings=FAST).start()
    try:
        wait_for(lambda: Camera.objects.get(pk=camera.pk).last_error != "", message="a connection error")
    finally:
        supervisor.stop()
    camera.refresh_from_db()
    assert camera.state == Camera.State.OFFLINE
    assert "user name or password" in camera.last_error and "401" in camera.last_error
    assert not recordings(camera)
    offline = Event.objects.get(camera_id=camera.pk, type=EventType.CAMERA_OFFLINE)
    assert "401" in offline.data["reason"]

    admin = client_for(superuser())
    tested = admin.post(f"/api/v1/cameras/{camera.pk}/test/")
    assert tested.status_code == 200 and tested.json()["ok"] is False
    assert "401" in tested.json()["message"]
    listing = admin.get("/api/v1/cameras/").content.decode()
    assert "user name or password" in listing
    for text in (caplog_info.text, tested.content.decode(), listing, camera.last_error,
                 json.dumps(offline.data)):
        for secret in secrets:
            assert secret not in text


def test_connection_test_reports_codec_size_and_rate(rtsp_server):
    camera = make_camera(rtsp_server, "Lobby")
    result = check_stream(camera)
    assert result.ok, result.message
    assert (result.codec, result.width, result.height, result.fps) == ("h264", 768, 576, 10.0)

    camera.stream_address = "rtsp://no-such-camera.invalid/stream"
    result = check_stream(camera)
    assert not result.ok and "does not resolve" in result.message


def test_server_restart_reconnects_and_logs_a_gap(rtsp_server, caplog_info):
    camera = make_camera(rtsp_server, "Yard")
    supervisor = Supervisor(owner="rec-a", settings=FAST).start()
    try:
        wait_for(lambda: len(recordings(camera)) >= 1, message="a first segment")
        rtsp_server.kill()
        wait_for(lambda: Camera.objects.get(pk=camera.pk).state == Camera.State.RECONNECTING,
                 message="the camera to be seen reconnecting")
        rtsp_server.restart()
        wait_for(lambda: Event.objects.filter(camera_id=camera.pk, type=EventType.RECORDING_GAP).exists(),
                 message="a gap event after reconnection")
        before = len(recordings(camera))
        wait_for(lambda: len(recordings(camera)) > before, message="recording to resume")
    finally:
        supervisor.stop()

    gap = Event.objects.get(camera_id=camera.pk, type=EventType.RECORDING_GAP)
    assert gap.data["start"] < gap.data["end"] and gap.data["seconds"] > 0
    types = list(Event.objects.filter(camera_id=camera.pk).exclude(type=EventType.CLIP_REGISTERED)
                 .order_by("seq").values_list("type", flat=True))
    assert types == [EventType.CAMERA_ONLINE, EventType.CAMERA_OFFLINE, EventType.CAMERA_ONLINE,
                     EventType.RECORDING_GAP] or types == [EventType.CAMERA_ONLINE, EventType.CAMERA_OFFLINE,
                                                           EventType.RECORDING_GAP, EventType.CAMERA_ONLINE]

    viewer = client_for(superuser())
    gaps = viewer.get(f"/api/v1/cameras/{camera.pk}/gaps/")
    assert gaps.status_code == 200 and len(gaps.json()) == 1
    assert gaps.json()[0]["seconds"] == gap.data["seconds"]
    assert_no_secret_anywhere(caplog_info, gaps.content.decode())


def test_stalled_stream_is_restarted_after_the_read_timeout(stalling_server, caplog_info):
    camera = make_camera(stalling_server, "Stairs")
    settings = dataclasses.replace(FAST, read_timeout_s=2.0)
    supervisor = Supervisor(owner="rec-a", settings=settings).start()
    try:
        wait_for(lambda: camera.pk in supervisor.workers and supervisor.workers[camera.pk].connections >= 2,
                 message="a second connection after the stall")
        assert "did not answer in time" in caplog_info.text
    finally:
        supervisor.stop()
    assert recordings(camera), "the video before the stall was kept"
    assert Event.objects.filter(camera_id=camera.pk, type=EventType.RECORDING_GAP).exists()
    assert_no_secret_anywhere(caplog_info)


def test_two_recorders_share_cameras_and_never_record_one_twice(rtsp_server, caplog_info):
    cameras = [make_camera(rtsp_server, "North"), make_camera(rtsp_server, "South")]
    one_each = dataclasses.replace(FAST, max_cameras=1)
    a = Supervisor(owner="rec-a", settings=one_each).start()
    b = Supervisor(owner="rec-b", settings=one_each).start()
    try:
        wait_for(lambda: all(len(recordings(c)) >= 2 for c in cameras), message="both cameras recorded")
        assert not set(a.history) & set(b.history)
        assert set(a.history) | set(b.history) == {c.pk for c in cameras}
        owners = set(Camera.objects.values_list("lease_owner", flat=True))
        assert owners == {"rec-a", "rec-b"}

        # rec-a dies without releasing: rec-b (now allowed two) takes its camera once the lease expires.
        a.abandon()
        b.settings = dataclasses.replace(FAST, max_cameras=2)
        wait_for(lambda: set(b.workers) == {c.pk for c in cameras}, message="rec-b to take over")
        assert set(Camera.objects.values_list("lease_owner", flat=True)) == {"rec-b"}
    finally:
        a.stop()
        b.stop()
    for camera in cameras:
        clips = recordings(camera)
        for earlier, later in itertools.pairwise(clips):
            assert earlier.started_at + timedelta(seconds=earlier.duration_s - 0.3) <= later.started_at, (
                "overlapping segments: the camera was recorded twice")
    assert_no_secret_anywhere(caplog_info)


def test_leases_are_exclusive_until_they_expire():
    camera = Camera.objects.create(name="Dock", stream_address="rtsp://127.0.0.1:9/x")
    ttl = timedelta(seconds=30)
    assert leases.claim(camera.pk, "a", ttl)
    assert not leases.claim(camera.pk, "b", ttl)
    assert leases.renew("b", [camera.pk], ttl) == set()
    assert leases.renew("a", [camera.pk], ttl) == {camera.pk}
    Camera.objects.filter(pk=camera.pk).update(lease_expires_at=camera.created_at - ttl)
    assert leases.claim(camera.pk, "b", ttl), "an expired lease is taken over"
    assert leases.release("b") == 1 and leases.claim(camera.pk, "a", ttl)
    Camera.objects.filter(pk=camera.pk).update(enabled=False)
    assert leases.renew("a", [camera.pk], ttl) == set(), "a disabled camera is not renewed"


@pytest.mark.slow
def test_stream_to_segments_to_analysis_to_search(rtsp_server, caplog_info):
    camera = make_camera(rtsp_server, "Street")
    settings = dataclasses.replace(FAST, segment_seconds=4.0, queue_analysis=True)
    supervisor = Supervisor(owner="rec-a", settings=settings).start()
    try:
        # Celery runs eagerly in tests: the registrar thread analyses each segment with the real detector.
        wait_for(lambda: Clip.objects.filter(camera=camera, status=Clip.Status.DONE).exists(), timeout=120,
                 message="an analysed segment")
    finally:
        supervisor.stop()
    admin = client_for(superuser())
    found = admin.get("/api/v1/search/", {"camera": camera.pk, "tag": "person"})
    assert found.status_code == 200
    results = found.json()["results"]
    assert results, "people walking through vtest.avi are found in the recorded segments"
    done = Clip.objects.filter(camera=camera, status=Clip.Status.DONE)
    assert {r["camera"] if isinstance(r["camera"], int) else r["camera"]["id"] for r in results} == {camera.pk}
    first = min(c.started_at for c in done)
    assert all(r["start"] >= first.isoformat()[:19] for r in results if isinstance(r.get("start"), str))
    assert_no_secret_anywhere(caplog_info, found.content.decode(), admin.get("/api/v1/cameras/").content.decode(),
                              admin.get(f"/api/v1/clips/{done.first().pk}/").content.decode())
