from __future__ import annotations

import json

from backend.cameras.models import Camera
from backend.eventlog.models import Event
from tests.conftest import client_for

MARKER = "Marker-Pa55word-7f3c"


def test_password_is_write_only_and_encrypted_at_rest(personas):
    admin = client_for(personas["admin"])
    created = admin.post("/api/v1/cameras/", {"name": "Gate", "stream_address": "rtsp://10.1.2.3:554/main",
                                              "username": "viewer", "password": MARKER}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert "password" not in body and body["has_password"] is True
    assert MARKER not in created.content.decode()

    camera = Camera.objects.get(name="Gate")
    assert MARKER not in camera.password_encrypted
    assert camera.stream_url() == f"rtsp://viewer:{MARKER}@10.1.2.3:554/main"
    listing = admin.get("/api/v1/cameras/").content.decode()
    assert MARKER not in listing

    # Leaving the password out keeps it; an empty one clears it.
    admin.patch(f"/api/v1/cameras/{camera.pk}/", {"site": "North"}, format="json")
    camera.refresh_from_db()
    assert camera.stream_url().endswith(f":{MARKER}@10.1.2.3:554/main")
    admin.patch(f"/api/v1/cameras/{camera.pk}/", {"password": ""}, format="json")
    camera.refresh_from_db()
    assert not camera.has_password
    assert all(MARKER not in json.dumps(e.data) for e in Event.objects.all())


def test_stream_address_is_validated(personas):
    admin = client_for(personas["admin"])
    for address, message in [("http://cam/stream", "rtsp://"), ("rtsp://", "no host"),
                             ("rtsp://user:pw@cam/stream", "own fields"), ("rtsp://cam:99999/x", "port")]:
        response = admin.post("/api/v1/cameras/", {"name": f"C {address}", "stream_address": address},
                              format="json")
        assert response.status_code == 400, address
        assert message in json.dumps(response.json()["stream_address"]), (address, response.json())
        assert "pw@" not in response.content.decode()


def test_analysis_rate_is_bounded(personas):
    response = client_for(personas["admin"]).post("/api/v1/cameras/", {"name": "Fast", "analysis_fps": 500},
                                                  format="json")
    assert response.status_code == 400 and "analysis_fps" in response.json()


def test_deleting_a_camera_that_has_clips_says_why_with_a_409(personas, cameras):
    from django.utils import timezone

    from backend.clips.models import Clip

    lobby, _ = cameras
    Clip.objects.create(camera=lobby, file="clips/x.mp4", started_at=timezone.now())
    response = client_for(personas["admin"]).delete(f"/api/v1/cameras/{lobby.pk}/")
    assert response.status_code == 409
    assert "clips refer to it" in response.json()["detail"]
    assert type(lobby).objects.filter(pk=lobby.pk).exists()
