"""A camera's ``status`` and ``problem`` in the cameras API (``backend.cameras.status``): read from the recorder's
state and the camera's lease, in plain words, never "recording" when nobody records it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backend.cameras.models import Camera
from backend.cameras.status import NO_RECORDER, describe_problem
from tests.conftest import client_for

STREAM = "rtsp://192.168.1.64/live"


def status_of(user, camera: Camera) -> tuple[str, str]:
    body = client_for(user).get(f"/api/v1/cameras/{camera.pk}/").json()
    return body["status"], body["problem"]


def leased(**fields: object) -> dict[str, object]:
    return {"lease_owner": "rec-1", "lease_expires_at": timezone.now() + timedelta(seconds=30), **fields}


def test_status_follows_the_recorder_and_its_lease(personas, cameras):
    lobby, _ = cameras
    admin = personas["admin"]
    assert status_of(admin, lobby) == ("uploads", ""), "no stream: uploaded footage, nothing wrong"
    Camera.objects.filter(pk=lobby.pk).update(stream_address=STREAM)
    assert status_of(admin, lobby) == ("offline", NO_RECORDER), "nobody holds its lease"
    Camera.objects.filter(pk=lobby.pk).update(**leased(state=Camera.State.RECORDING, last_seen_at=timezone.now()))
    assert status_of(admin, lobby) == ("recording", "")
    # A recorder that died leaves state at "recording": its lease runs out, and the API says so.
    Camera.objects.filter(pk=lobby.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert status_of(admin, lobby) == ("offline", NO_RECORDER)
    Camera.objects.filter(pk=lobby.pk).update(**leased(state=Camera.State.RECONNECTING,
                                                       last_error="[Errno 5] Input/output error"))
    assert status_of(admin, lobby) == ("reconnecting", "Camera unreachable (input/output error)")
    Camera.objects.filter(pk=lobby.pk).update(state=Camera.State.OFFLINE, last_error=(
        "the camera refused the user name or password (401 Unauthorized): Server returned 401 Unauthorized"))
    assert status_of(admin, lobby) == ("error", "Sign-in failed: the camera refused the user name or password")
    # Disabled: the old error is history, not a problem (it stays in last_error for admins).
    Camera.objects.filter(pk=lobby.pk).update(enabled=False)
    assert status_of(admin, lobby) == ("disabled", "")
    assert "401" in client_for(admin).get(f"/api/v1/cameras/{lobby.pk}/").json()["last_error"]


def test_everyone_who_sees_the_camera_gets_the_plain_words(personas, cameras):
    lobby, _ = cameras
    Camera.objects.filter(pk=lobby.pk).update(**leased(
        stream_address=STREAM, state=Camera.State.OFFLINE,
        last_error=f"{STREAM}: Connection refused"))
    assert status_of(personas["colleague"], lobby) == ("error", "Camera unreachable (connection refused)")


@pytest.mark.parametrize(("raw", "words"), [
    ("[Errno 5] Input/output error", "Camera unreachable (input/output error)"),
    ("the camera did not answer in time: [Errno 110] Connection timed out", "Camera not answering (timed out)"),
    ("nothing listens at this address and port (connection refused): [Errno 111] Connection refused",
     "Camera unreachable (connection refused)"),
    ("the camera has no stream at this address (404 Not Found): x", "No stream at this address: check its path"),
    ("the camera denied access to this stream (403 Forbidden): x", "Access denied: the camera refused this stream"),
    ("the host 'cam.invalid' does not resolve", "Camera address not found: the host name does not resolve"),
    ("the address points to this server itself (loopback): cameras may not be reached there",
     "Address not allowed: this site does not let cameras be reached there"),
    ("[Errno 113] No route to host", "Camera unreachable (no route to its network)"),
    ("the stream sent no video", "The stream has no video"),
    ("the camera ended the stream", "The camera ended the stream"),
    ("[Errno 1094995529] Invalid data found when processing input",
     "The stream could not be read (not a video stream this recorder understands)"),
    ("something nobody foresaw", "Connection failed"),
    ("", ""),
])
def test_recorder_reasons_in_plain_words(raw, words):
    assert describe_problem(raw) == words
