"""``GET /api/v1/sightings/{id}/track/``: a sighting's detections in time order, bounded, visible or 404."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
from rest_framework.test import APIClient

from backend.eventlog.log import EventLog
from search import track_api
from search.track_api import MAX_POINTS, thin_indices
from tests.conftest import client_for
from tests.factories import T0, detection

SECOND = 1000


def moving(clip: int, camera: int, track: int, offsets: list[int], *, start=T0, ordinal: int = 0):
    """Detections of one object walking right: x moves 0.01 per second of clip time."""
    return [detection(clip, camera, track, ms, 0.5 + (i % 5) / 10, ordinal=ordinal, start=start,
                      box=(0.1 + ms / 100_000, 0.2, 0.3 + ms / 100_000, 0.6))
            for i, ms in enumerate(offsets)]


@pytest.fixture
def walk(cameras):
    """Track 7 in the lobby over two consecutive clips, appended out of time order; track 8 in the vault."""
    lobby, vault = cameras
    second_clip = moving(2, lobby.pk, 7, [0, 500, 1000], start=T0 + timedelta(seconds=10))
    first_clip = moving(1, lobby.pk, 7, [9000, 0, 4500])  # out of order within the clip too
    EventLog.append(second_clip)
    EventLog.append(first_clip)
    EventLog.append(moving(3, vault.pk, 8, [0, 500]))
    return {"lobby": 7, "vault": 8}


def test_points_are_the_tracks_detections_in_time_order(personas, walk, cameras):
    body = client_for(personas["colleague"]).get("/api/v1/sightings/7/track/").json()
    assert body["sighting"] == 7 and body["truncated"] is False
    points = body["points"]
    assert [(p["clip"], p["offset_ms"]) for p in points] == [(1, 0), (1, 4500), (1, 9000), (2, 0), (2, 500),
                                                             (2, 1000)]
    assert points[0]["time"] == "2026-11-02T08:00:00Z"
    assert points[3]["time"] == "2026-11-02T08:00:10Z"
    assert points[1]["x1"] == pytest.approx(0.145) and points[1]["x2"] == pytest.approx(0.345)
    assert (points[1]["y1"], points[1]["y2"]) == (0.2, 0.6)
    assert set(points[0]) == {"clip", "offset_ms", "time", "x1", "y1", "x2", "y2", "confidence"}
    assert all(0 < p["confidence"] <= 1 for p in points)


def test_a_sighting_of_a_camera_the_user_may_not_see_is_404(personas, walk):
    colleague = client_for(personas["colleague"])
    assert colleague.get(f"/api/v1/sightings/{walk['vault']}/track/").status_code == 404
    assert client_for(personas["outsider"]).get(f"/api/v1/sightings/{walk['lobby']}/track/").status_code == 404
    admin = client_for(personas["admin"]).get(f"/api/v1/sightings/{walk['vault']}/track/")
    assert admin.status_code == 200 and len(admin.json()["points"]) == 2


def test_an_unknown_sighting_is_404(personas, walk):
    assert client_for(personas["admin"]).get("/api/v1/sightings/999999/track/").status_code == 404


def test_it_needs_a_login(walk):
    assert APIClient().get(f"/api/v1/sightings/{walk['lobby']}/track/").status_code in (401, 403)


def test_a_track_longer_than_the_bound_is_thinned_evenly_keeping_first_and_last(personas, cameras):
    lobby, _ = cameras
    n = MAX_POINTS + 501
    EventLog.append(moving(1, lobby.pk, 9, [i * 100 for i in range(n)]))
    body = client_for(personas["admin"]).get("/api/v1/sightings/9/track/").json()
    offsets = [p["offset_ms"] for p in body["points"]]
    assert body["truncated"] is True
    assert len(offsets) == MAX_POINTS
    assert offsets[0] == 0 and offsets[-1] == (n - 1) * 100
    assert offsets == sorted(set(offsets))
    steps = {b - a for a, b in pairwise(offsets)}
    assert steps <= {100, 200}, steps  # evenly: 2501 → 2000 skips one in four or so, never more


def test_exactly_the_bound_is_not_truncated(personas, cameras, monkeypatch):
    lobby, _ = cameras
    monkeypatch.setattr(track_api, "MAX_POINTS", 5)
    EventLog.append(moving(1, lobby.pk, 10, [0, 100, 200, 300, 400]))
    admin = client_for(personas["admin"])
    body = admin.get("/api/v1/sightings/10/track/").json()
    assert (len(body["points"]), body["truncated"]) == (5, False)
    EventLog.append(moving(1, lobby.pk, 10, [500], ordinal=1))
    body = admin.get("/api/v1/sightings/10/track/").json()
    assert body["truncated"] is True
    assert [p["offset_ms"] for p in body["points"]] == [0, 100, 200, 400, 500]  # first and last kept


@pytest.mark.parametrize(("n", "limit"), [(0, 5), (3, 5), (5, 5), (6, 5), (2001, 2000), (10_000, 2000), (7, 2)])
def test_thin_indices(n, limit):
    picked = thin_indices(n, limit)
    assert len(picked) == min(n, limit)
    assert picked == sorted(set(picked))
    if n:
        assert picked[0] == 0 and picked[-1] == n - 1


def test_the_endpoint_is_in_the_schema(personas):
    schema = client_for(personas["admin"]).get("/api/v1/schema/", {"format": "json"}).json()
    assert "/api/v1/sightings/{sighting_id}/track/" in schema["paths"]
    assert {"sighting", "points", "truncated"} <= set(schema["components"]["schemas"]["Track"]["properties"])
