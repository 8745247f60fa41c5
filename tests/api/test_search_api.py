from __future__ import annotations

import pytest

from backend.eventlog.log import EventLog
from tests.conftest import client_for
from tests.factories import detection
from tests.search.contract import dataset, unit


@pytest.fixture
def admin(personas, cameras):
    lobby, vault = cameras
    EventLog.append(dataset(lobby.pk, vault.pk))
    return client_for(personas["admin"])


def test_results_are_sightings_with_everything_a_viewer_needs(admin, cameras):
    body = admin.get("/api/v1/search/", {"tag": "person"}).json()
    assert [r["id"] for r in body["results"]] == [5, 1, 6, 2]
    first = body["results"][1]
    assert first["tag"] == "person" and first["confidence"] == 0.9
    assert first["camera"] == {"id": cameras[0].pk, "name": "Lobby"}
    assert first["start"] == "2026-11-02T08:00:00Z" and first["end"] == "2026-11-02T08:02:00Z"
    assert first["best_time"] == "2026-11-02T08:01:00Z"
    assert first["box"] == [0.1, 0.2, 0.3, 0.6]
    assert first["thumbnail_url"] == "/api/v1/sightings/1/thumbnail/"
    assert first["clip_url"] == "/api/v1/clips/1/video/#t=60.0"
    assert body["facets"]["tags"] == {"person": 4, "car": 1, "bicycle": 1}
    assert {c["name"]: c["count"] for c in body["facets"]["cameras"]} == {"Lobby": 2, "Vault": 2}
    assert sum(b["count"] for b in body["facets"]["histogram"]["buckets"]) == 4


def test_repeatable_filters_and_cursor(admin, cameras):
    _lobby, vault = cameras
    body = admin.get("/api/v1/search/", {"camera": [vault.pk], "page_size": 1}).json()
    assert [r["id"] for r in body["results"]] == [5]
    body = admin.get("/api/v1/search/", {"camera": [vault.pk], "page_size": 1, "cursor": body["next_cursor"]}).json()
    assert [r["id"] for r in body["results"]] == [6] and body["next_cursor"] is None
    body = admin.get("/api/v1/search/", {"tag": ["car", "bicycle"], "sort": "time"}).json()
    assert [r["id"] for r in body["results"]] == [3, 4]
    body = admin.get("/api/v1/search/", {"start": "2026-11-02T08:39:00Z", "end": "2026-11-02T09:00:00Z",
                                         "min_confidence": "0.7"}).json()
    assert [r["id"] for r in body["results"]] == [5]


@pytest.mark.parametrize(("params", "field"), [
    ({"sort": "confidence"}, "sort"),
    ({"min_confidence": "high"}, "min_confidence"),
    ({"min_confidence": "1.5"}, "min_confidence"),
    ({"min_confidence": "nan"}, "min_confidence"),
    ({"start": "yesterday"}, "start"),
    ({"start": "2026-11-02T09:00:00Z", "end": "2026-11-02T08:00:00Z"}, "end"),
    ({"camera": "lobby"}, "camera"),
    ({"page_size": "0"}, "page_size"),
    ({"page_size": "100000"}, "page_size"),
    ({"cursor": "garbage"}, "cursor"),
    ({"tag": "Person; DROP TABLE"}, "tag"),
    ({"upper_color": "crimson"}, "upper_color"),
    ({"lower_color": ["blue"] * 13}, "lower_color"),
    ({"color": "RED"}, "color"),
])
def test_bad_parameters_get_a_clear_400(admin, params, field):
    response = admin.get("/api/v1/search/", params)
    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_colour_filters_and_facets(admin, cameras):
    lobby, _ = cameras
    EventLog.append([
        detection(3, lobby.pk, 21, 0, 0.8, colors={"upper_color": "red", "lower_color": "blue"}),
        detection(3, lobby.pk, 22, 0, 0.7, ordinal=1, colors={"upper_color": "white", "lower_color": "blue"}),
    ])
    body = admin.get("/api/v1/search/", {"upper_color": ["red", "white"], "lower_color": "blue"}).json()
    assert [r["id"] for r in body["results"]] == [21, 22]
    assert body["results"][0]["colors"] == {"upper_color": "red", "lower_color": "blue"}
    assert body["facets"]["colors"]["upper_color"] == {"red": 1, "white": 1}
    # A sighting without colours says so with an empty object.
    plain = admin.get("/api/v1/search/", {"tag": "car"}).json()["results"][0]
    assert plain["colors"] == {}


def test_events_endpoint_pages_by_sequence(admin, cameras):
    first = admin.get("/api/v1/events/", {"limit": 4}).json()
    assert len(first["results"]) == 4
    rest = admin.get("/api/v1/events/", {"after": first["next_after"], "limit": 1000}).json()
    seqs = [e["seq"] for e in first["results"] + rest["results"]]
    assert seqs == sorted(seqs) and len(seqs) == 9
    det = first["results"][0]
    assert det["type"] == "object.detected" and det["detection"]["label"] == "person"
    assert admin.get("/api/v1/events/", {"after": "x"}).status_code == 400
    assert admin.get("/api/v1/events/", {"type": "nope"}).status_code == 400
    only = admin.get("/api/v1/events/", {"type": "clip.registered"}).json()
    assert only["results"] == []
    EventLog.append([detection(9, cameras[0].pk, 99, 0, 0.5)])
    assert admin.get("/api/v1/events/", {"after": rest["next_after"]}).json()["results"][0]["detection"]["track"] == 99


def test_schema_is_openapi3(admin):
    response = admin.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/search/", "/api/v1/clips/", "/api/v1/events/", "/api/v1/auth/token/"} <= set(schema["paths"])


def test_find_similar_answers_only_from_cameras_the_user_may_see(admin, personas, cameras):
    lobby, vault = cameras
    EventLog.append([
        detection(3, lobby.pk, 61, 0, 0.8, colors={"embedding": unit(1.0)}),
        detection(3, lobby.pk, 62, 1000, 0.7, ordinal=1, colors={"embedding": unit(0.6, 1)}),
        detection(4, vault.pk, 63, 2000, 0.7, colors={"embedding": unit(0.9, 2)}),  # the closest, in the vault
    ])
    body = admin.get("/api/v1/sightings/61/similar/").json()
    assert body["of"] == 61
    assert [(r["id"], r["similarity"]) for r in body["results"]] == [(63, 0.9), (62, 0.6)]
    assert body["results"][0]["camera"]["name"] == "Vault"
    # The colleague sees the lobby only: the vault's look-alike is not there, not even counted.
    colleague = client_for(personas["colleague"])
    body = colleague.get("/api/v1/sightings/61/similar/").json()
    assert [r["id"] for r in body["results"]] == [62]
    assert "Vault" not in str(body)
    # Asking about a sighting one may not see: 404, as for the sighting itself.
    assert colleague.get("/api/v1/sightings/63/similar/").status_code == 404
    assert client_for(personas["outsider"]).get("/api/v1/sightings/61/similar/").status_code == 404
    assert admin.get("/api/v1/sightings/61/similar/", {"camera": vault.pk, "limit": 1}).json()["results"][0]["id"] == 63


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "51"}, "limit"), ({"camera": "vault"}, "camera"),
    ({"start": "2026-11-02T09:00:00Z", "end": "2026-11-02T08:00:00Z"}, "end"),
])
def test_find_similar_bad_parameters_get_a_clear_400(admin, params, field):
    EventLog.append([detection(3, 1, 61, 0, 0.8, colors={"embedding": unit(1.0)})])
    response = admin.get("/api/v1/sightings/1/similar/", params)
    assert response.status_code == 400 and field in response.json(), response.json()
