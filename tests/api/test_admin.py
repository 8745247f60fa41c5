"""The Django admin: cameras with a write-only password, clip uploads queued like API uploads, a read-only log."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from backend.cameras.models import Camera
from backend.clips.models import Clip
from backend.eventlog.log import EventLog
from backend.eventlog.models import Event, EventType
from tests.factories import detection

MARKER = "Admin-Marker-Pw-42"
#: The camera page's inline formset of tracked objects, empty (the site defaults).
NO_TRACKED_OBJECTS = {"tracked_objects-TOTAL_FORMS": "0", "tracked_objects-INITIAL_FORMS": "0"}


@pytest.fixture
def admin_client(client, personas):
    client.force_login(personas["admin"])
    return client


def test_camera_password_is_write_only_in_the_admin(admin_client):
    response = admin_client.post("/admin/cameras/camera/add/", {
        "name": "Dock", "site": "East", "stream_address": "rtsp://127.0.0.1:8554/dock", "username": "op",
        "password": MARKER, "enabled": "on", "analysis_fps": "2", "retention_days": "30", "privacy_mask": "faces",
        **NO_TRACKED_OBJECTS,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    camera = Camera.objects.get(name="Dock")
    assert camera.has_password and MARKER not in camera.password_encrypted
    page = admin_client.get(f"/admin/cameras/camera/{camera.pk}/change/").content.decode()
    assert MARKER not in page
    assert admin_client.get("/admin/cameras/camera/").status_code == 200


def test_clip_upload_in_the_admin_is_probed_and_queued(admin_client, cameras, footage_h264,
                                                       django_capture_on_commit_callbacks):
    lobby, _ = cameras
    bad = admin_client.post("/admin/clips/clip/add/", {
        "camera": lobby.pk, "file": SimpleUploadedFile("notes.mp4", b"not a video at all" * 50)})
    assert bad.status_code == 200 and "not a readable video" in bad.content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post("/admin/clips/clip/add/", {
            "camera": lobby.pk, "file": SimpleUploadedFile("gate.mp4", footage_h264.read_bytes()),
            "started_at": "2026-11-26 08:00:00"})
    assert response.status_code == 302, response.content.decode()[:3000]
    clip = Clip.objects.get()
    assert clip.status == Clip.Status.QUEUED and clip.duration_s == pytest.approx(8, abs=0.2)
    assert clip.started_at.isoformat().startswith("2026-11-26T08:00:00")
    assert Event.objects.filter(clip_id=clip.pk, type=EventType.CLIP_REGISTERED).count() == 1
    assert callbacks, "the analysis is queued once the clip is committed"
    assert admin_client.get(f"/admin/clips/clip/{clip.pk}/change/").status_code == 200


def test_clip_upload_in_the_admin_has_the_api_size_limit(admin_client, cameras, footage_h264, settings):
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"MAX_UPLOAD_BYTES": 4096})
    response = admin_client.post("/admin/clips/clip/add/", {
        "camera": cameras[0].pk, "file": SimpleUploadedFile("gate.mp4", footage_h264.read_bytes())})
    assert response.status_code == 200
    assert "the file is larger than the limit of 4096 bytes" in response.content.decode()
    assert not Clip.objects.exists()


def test_events_are_read_only_in_the_admin(admin_client, cameras):
    EventLog.append([detection(1, cameras[0].pk, 3, 0, 0.7)])
    event = Event.objects.exclude(type=EventType.AUDIT).get()  # the admin client's sign-in is audited too
    assert admin_client.get("/admin/eventlog/event/").status_code == 200
    page = admin_client.get(f"/admin/eventlog/event/{event.pk}/change/")
    assert page.status_code == 200 and 'type="submit"' not in page.content.decode().split("<form")[-1]
    assert admin_client.get("/admin/eventlog/event/add/").status_code == 403
    assert admin_client.post(f"/admin/eventlog/event/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Event.objects.filter(pk=event.pk).exists()


def test_the_camera_admin_hides_the_recorders_lease(admin_client, cameras):
    """The lease (which recorder process holds the camera, until when) is the recorder's bookkeeping: not shown."""
    from django.utils import timezone

    lobby, _ = cameras
    Camera.objects.filter(pk=lobby.pk).update(lease_owner="recorder-host:4242:abc123", lease_expires_at=timezone.now(),
                                              last_error="[Errno 5] Input/output error")
    page = admin_client.get(f"/admin/cameras/camera/{lobby.pk}/change/").content.decode()
    assert "Input/output error" in page, "the recorder's last error stays, read-only"
    assert "recorder-host:4242" not in page and "Lease" not in page
