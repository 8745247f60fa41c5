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


def test_camera_addresses_cannot_reach_the_server_or_cloud_metadata(personas, settings):
    """SSRF: an admin-supplied address must not make the server connect to itself (Redis, Elasticsearch),
    the cloud metadata endpoint, multicast, or a denied network; a password in the address is refused."""
    from ipaddress import ip_network

    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={
        "CAMERA_ALLOW_LOOPBACK": False, "CAMERA_DENY_NETWORKS": [ip_network("10.99.0.0/16")]})
    admin = client_for(personas["admin"])
    refused = {
        "rtsp://169.254.169.254:80/latest/meta-data": "link-local",
        "rtsp://[fe80::1]/x": "link-local",
        "rtsp://127.0.0.1:6379/": "loopback",
        "rtsp://[::1]:9200/": "loopback",
        "rtsp://localhost:5432/": "loopback",
        "rtsp://[::ffff:169.254.169.254]/": "link-local",
        "rtsp://0.0.0.0/": "unspecified",
        "rtsp://224.0.0.1/": "multicast",
        "rtsp://255.255.255.255/": "reserved",
        "rtsp://10.99.3.4/": "does not allow",
        "rtsp://cam.local/x\r\nSET x 1": "control characters",
        "rtsp://cam/live?password=hunter2": "query string",
        "rtsp://cam/live?user=a&pwd=hunter2": "query string",
        "rtsp://admin@cam/live": "own fields",
        "rtsp://cam /live": "spaces",
    }
    for address, why in refused.items():
        response = admin.post("/api/v1/cameras/", {"name": f"C {address!r}", "stream_address": address},
                              format="json")
        assert response.status_code == 400, address
        assert why in json.dumps(response.json()["stream_address"]), (address, response.json())
        assert "hunter2" not in response.content.decode()
    # Private ranges are where cameras live; a host that does not resolve yet is checked at connect time.
    for n, address in enumerate(["rtsp://192.168.1.64:554/Streaming/101", "rtsp://10.0.0.5/live",
                                 "rtsps://[fd00::5]/live", "rtsp://camera-not-in-dns.invalid/live"]):
        response = admin.post("/api/v1/cameras/", {"name": f"ok {n}", "stream_address": address}, format="json")
        assert response.status_code == 201, (address, response.json())


def test_the_connection_test_refuses_denied_destinations_and_maps_no_ports(personas, settings):
    """Checked again when used (DNS rebinding), and the test's message is the same for a closed port,
    a service that is not RTSP and a timeout: no port scanner."""
    import socket
    import threading

    from backend.recorder.probe import check_stream

    lobby = Camera.objects.create(name="Gate", stream_address="rtsp://192.168.1.64/live")
    # The address was fine when saved; now it (as a rebinding name would) points at loopback.
    Camera.objects.filter(pk=lobby.pk).update(stream_address="rtsp://127.0.0.1:6379/")
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"CAMERA_ALLOW_LOOPBACK": False})
    result = check_stream(Camera.objects.get(pk=lobby.pk), timeout_s=2)
    assert not result.ok and "loopback" in result.message
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"CAMERA_ALLOW_LOOPBACK": True})
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    talker = socket.socket()
    talker.bind(("127.0.0.1", 0))
    talker.listen()

    def answer_like_redis() -> None:
        conn, _ = talker.accept()
        conn.recv(1024)
        conn.sendall(b"-ERR unknown command\r\n")
        conn.close()

    threading.Thread(target=answer_like_redis, daemon=True).start()
    messages = set()
    for port in (closed_port, talker.getsockname()[1]):
        Camera.objects.filter(pk=lobby.pk).update(stream_address=f"rtsp://127.0.0.1:{port}/")
        messages.add(check_stream(Camera.objects.get(pk=lobby.pk), timeout_s=2).message)
    talker.close()
    assert len(messages) == 1 and "no RTSP camera answered" in messages.pop()


def test_only_admins_see_where_a_camera_is_and_how_to_log_in(personas, cameras):
    lobby, _ = cameras
    Camera.objects.filter(pk=lobby.pk).update(
        stream_address="rtsp://192.168.1.64/live", username="operator-cam",
        last_error="rtsp://operator-cam:***@192.168.1.64/live: connection refused")
    admin = client_for(personas["admin"]).get(f"/api/v1/cameras/{lobby.pk}/").json()
    assert admin["stream_address"] == "rtsp://192.168.1.64/live" and admin["username"] == "operator-cam"
    from tests.factories import UserFactory

    viewer = UserFactory(username="lobby-viewer", role="viewer")
    lobby.granted_users.add(viewer)
    for user in (personas["colleague"], viewer):
        seen = client_for(user).get("/api/v1/cameras/").content.decode()
        assert "192.168.1.64" not in seen and "operator-cam" not in seen, user
        assert "connection refused" in seen, "the state and reason are still shown"


def test_everyone_sees_whether_a_camera_can_be_watched_live_but_not_its_address(personas, cameras, settings):
    lobby, vault = cameras
    Camera.objects.filter(pk=lobby.pk).update(stream_address="rtsp://192.168.1.64/live")
    seen = client_for(personas["colleague"]).get(f"/api/v1/cameras/{lobby.pk}/").json()
    assert seen["has_live_view"] is True and "stream_address" not in seen
    admin = client_for(personas["admin"])
    assert admin.get(f"/api/v1/cameras/{vault.pk}/").json()["has_live_view"] is False, "uploaded footage only"
    Camera.objects.filter(pk=lobby.pk).update(enabled=False)
    assert admin.get(f"/api/v1/cameras/{lobby.pk}/").json()["has_live_view"] is False, "disabled"
    Camera.objects.filter(pk=lobby.pk).update(enabled=True)
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"LIVE_VIEW": False})
    assert admin.get(f"/api/v1/cameras/{lobby.pk}/").json()["has_live_view"] is False, "turned off on the site"
