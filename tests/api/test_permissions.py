"""Every endpoint with three personas: an admin, a colleague granted one camera, an outsider with none."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from backend.eventlog.log import EventLog
from tests.conftest import client_for
from tests.factories import detection


@pytest.fixture
def sightings(cameras):
    lobby, vault = cameras
    EventLog.append([detection(1, lobby.pk, 11, 0, 0.8), detection(2, vault.pk, 22, 0, 0.9)])
    return {"lobby": 11, "vault": 22}


ENDPOINTS = ["/api/v1/search/", "/api/v1/events/", "/api/v1/cameras/", "/api/v1/clips/", "/api/v1/me/",
             "/api/v1/sightings/11/", "/api/v1/schema/"]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_every_endpoint_needs_a_login(db, url):
    response = APIClient().get(url)
    assert response.status_code in (401, 403)


def test_token_login(personas):
    client = APIClient()
    bad = client.post("/api/v1/auth/token/", {"username": "colleague", "password": "wrong"})
    assert bad.status_code == 400
    good = client.post("/api/v1/auth/token/", {"username": "colleague", "password": "correct horse battery"})
    assert good.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {good.json()['token']}")
    assert client.get("/api/v1/me/").json() == {"username": "colleague", "role": "operator",
                                                "cameras": [personas["colleague"].cameras.get().pk],
                                                "may_unmask": False}


def test_search_shows_only_visible_cameras(personas, sightings):
    def found(user):
        return {r["id"] for r in client_for(personas[user]).get("/api/v1/search/").json()["results"]}

    assert found("admin") == {11, 22}
    assert found("colleague") == {11}
    assert found("outsider") == set()


@pytest.mark.parametrize("path", ["", "thumbnail/"])
def test_sighting_of_an_invisible_camera_is_404(personas, sightings, path):
    colleague = client_for(personas["colleague"])
    assert colleague.get(f"/api/v1/sightings/{sightings['vault']}/{path}").status_code == 404
    assert colleague.get("/api/v1/sightings/999999/").status_code == 404
    assert colleague.get(f"/api/v1/sightings/{sightings['lobby']}/").status_code == 200
    assert client_for(personas["admin"]).get(f"/api/v1/sightings/{sightings['vault']}/").status_code == 200


def test_events_are_filtered_by_camera(personas, sightings, cameras):
    lobby, _ = cameras
    rows = client_for(personas["colleague"]).get("/api/v1/events/").json()["results"]
    assert rows and {r["camera"] for r in rows} == {lobby.pk}
    assert client_for(personas["outsider"]).get("/api/v1/events/").json()["results"] == []
    assert len(client_for(personas["admin"]).get("/api/v1/events/").json()["results"]) == 2


def test_cameras_crud_is_admin_only_and_reads_are_filtered(personas, cameras):
    lobby, vault = cameras
    colleague = client_for(personas["colleague"])
    assert [c["name"] for c in colleague.get("/api/v1/cameras/").json()] == ["Lobby"]
    assert colleague.get(f"/api/v1/cameras/{vault.pk}/").status_code == 404
    assert colleague.post("/api/v1/cameras/", {"name": "New"}).status_code == 403
    assert colleague.patch(f"/api/v1/cameras/{lobby.pk}/", {"name": "X"}).status_code == 403
    admin = client_for(personas["admin"])
    assert admin.post("/api/v1/cameras/", {"name": "New"}).status_code == 201
    assert admin.delete(f"/api/v1/cameras/{vault.pk}/").status_code == 204


def test_viewers_cannot_upload(personas, cameras):
    lobby, _ = cameras
    lobby.granted_users.add(personas["outsider"])
    response = client_for(personas["outsider"]).post("/api/v1/clips/", {"camera": lobby.pk}, format="multipart")
    assert response.status_code == 403
