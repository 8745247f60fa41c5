"""The audit trail: every sign-in (and failure), search, sighting view, clip play and change of cameras,
users and roles is an entry saying who, when, what and from where; entries are hash-chained and
``verify_audit`` finds any edited, removed or reordered one. No entry carries a secret."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from backend.audit.chain import verify
from backend.audit.models import AuditEntry, AuditHead
from backend.cameras.models import Camera
from backend.eventlog.models import Event
from tests.api.test_admin import NO_TRACKED_OBJECTS
from tests.conftest import client_for

CANARY = "canary-Pw-9f3b@x"


def actions() -> list[str]:
    return [e.data["action"] for e in AuditEntry.objects.order_by("seq")]


def all_of(action: str) -> list[dict]:
    return [e.data for e in AuditEntry.objects.filter(data__action=action).order_by("seq")]


def entry(action: str) -> dict:
    return AuditEntry.objects.filter(data__action=action).order_by("-seq").first().data  # type: ignore[union-attr]


@pytest.fixture
def session(personas, cameras):
    """A morning of use: sign-ins, a search, a sighting and its clip, an admin changing a camera and a role."""
    from tests.api.test_uploads import upload

    lobby, _ = cameras
    anonymous = APIClient(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="pytest-agent")
    assert anonymous.post("/api/v1/auth/token/", {"username": "colleague", "password": "nope"}).status_code == 400
    token = anonymous.post("/api/v1/auth/token/", {"username": "colleague",
                                                   "password": "correct horse battery"}).json()["token"]
    colleague = APIClient(REMOTE_ADDR="203.0.113.7")
    colleague.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    searched = colleague.get("/api/v1/search/", {"tag": "person", "camera": lobby.pk, "min_confidence": 0.5})
    assert searched.status_code == 200
    admin = client_for(personas["admin"])
    response = admin.patch(f"/api/v1/cameras/{lobby.pk}/", {"password": CANARY, "analysis_fps": 3,
                                                            "stream_address": "rtsp://192.168.7.7/live"},
                           format="json")
    assert response.status_code == 200
    # In the Django admin: grant the lobby to the outsider, and make the outsider an operator.
    from django.test import Client

    web = Client(REMOTE_ADDR="198.51.100.2")
    web.force_login(personas["admin"])
    lobby.refresh_from_db()
    granted = web.post(f"/admin/cameras/camera/{lobby.pk}/change/", {
        "name": lobby.name, "site": lobby.site, "stream_address": lobby.stream_address, "username": "",
        "password": "", "enabled": "on", "analysis_fps": lobby.analysis_fps,
        "retention_days": lobby.retention_days, "privacy_mask": lobby.privacy_mask, **NO_TRACKED_OBJECTS,
        "granted_users": [u.pk for u in lobby.granted_users.all()] + [personas["outsider"].pk]})
    assert granted.status_code == 302, granted.content.decode()[:3000]
    outsider = personas["outsider"]
    operator = Group.objects.get_or_create(name="operator")[0]
    promoted = web.post(f"/admin/auth/user/{outsider.pk}/change/", {
        "username": outsider.username, "is_active": "on", "groups": [operator.pk],
        "date_joined_0": "2026-12-01", "date_joined_1": "08:00:00"})
    assert promoted.status_code == 302, promoted.content.decode()[:3000]
    return {"lobby": lobby, "colleague": colleague, "admin": admin, "upload": upload}


def test_who_did_what_when_and_from_where(session, personas):
    done = actions()
    for expected in ("login.failed", "login", "search", "camera.change", "user.groups.add",
                     "camera.granted_users.add"):
        assert expected in done, (expected, done)
    failed = next(e for e in all_of("login.failed") if e["target"] == "colleague")
    login = next(e for e in all_of("login") if e["username"] == "colleague")
    search = entry("search")
    assert failed["target"] == "colleague" and failed["ip"] == "203.0.113.7" and failed["user_id"] is None
    assert login["username"] == "colleague" and login["ip"] == "203.0.113.7"
    assert login["user_agent"] == "pytest-agent"
    assert search["username"] == "colleague"
    assert search["details"]["tags"] == ["person"] and search["details"]["min_confidence"] == 0.5
    change = entry("camera.change")
    assert change["username"] == "admin" and set(change["details"]["fields"]) == {
        "analysis_fps", "password", "stream_address"}
    promoted = entry("user.groups.add")
    assert promoted["target"] == f"user:{personas['outsider'].pk}" and promoted["ip"] == "198.51.100.2"
    assert promoted["username"] == "admin" and promoted["details"]["group"]
    assert entry("camera.granted_users.add")["details"]["user"] == [personas["outsider"].pk]
    # No secret anywhere in the trail: not the camera password, not the login password, not the token.
    trail = json.dumps([e.data for e in AuditEntry.objects.all()])
    assert CANARY not in trail and "correct horse" not in trail and "nope" not in trail
    assert "192.168.7.7" not in trail, "changed values are not copied into the trail"


def test_sighting_views_and_clip_plays_are_audited(personas, cameras, footage_h264, transactional_db):
    from tests.api.test_uploads import upload

    colleague = client_for(personas["colleague"])
    clip = upload(colleague, cameras[0].pk, footage_h264.read_bytes()).json()
    sighting = colleague.get("/api/v1/search/").json()["results"][0]
    assert colleague.get(f"/api/v1/sightings/{sighting['id']}/").status_code == 200
    assert colleague.get(f"/api/v1/clips/{clip['id']}/video/", HTTP_RANGE="bytes=0-").status_code == 206
    assert colleague.get(f"/api/v1/clips/{clip['id']}/video/", HTTP_RANGE="bytes=1000-").status_code == 206
    assert entry("sighting.view")["target"] == f"sighting:{sighting['id']}"
    assert [e for e in actions() if e == "clip.play"] == ["clip.play"], "a seek is not another play"


def test_only_admins_read_the_trail(session, personas):
    listed = session["admin"].get("/api/v1/audit/", {"action": "login"})
    assert listed.status_code == 200
    # The colleague's token login, and the admin's sign-in to the Django admin.
    assert {e["username"] for e in listed.json()["results"]} == {"colleague", "admin"}
    assert session["colleague"].get("/api/v1/audit/").status_code == 403
    assert client_for(personas["outsider"]).get("/api/v1/audit/").status_code == 403
    assert session["admin"].get("/api/v1/audit/", {"since": "not a time"}).status_code == 400


def test_tampering_is_detected(session, capsys):
    assert verify().intact
    call_command("verify_audit")
    entries = list(AuditEntry.objects.order_by("seq"))
    assert len(entries) >= 6

    # An edited entry (the search said something else).
    edited = entries[2]
    original = dict(edited.data)
    Event.objects.filter(pk=edited.pk).update(data={**original, "username": "someone-else"})
    problems = verify().problems
    assert any(f"#{edited.seq}" in p and "changed" in p for p in problems), problems
    with pytest.raises(CommandError):
        call_command("verify_audit")
    Event.objects.filter(pk=edited.pk).update(data=original)
    assert verify().intact

    # A removed entry in the middle.
    Event.objects.filter(pk=entries[1].pk).delete()
    problems = verify().problems
    assert any(f"before #{entries[2].seq} was removed" in p for p in problems), problems
    assert AuditHead.objects.get().entries == len(entries)


def test_removing_the_newest_entries_is_detected(session):
    newest = AuditEntry.objects.order_by("-seq").first()
    assert newest is not None
    Event.objects.filter(pk=newest.pk).delete()
    problems = verify().problems
    assert len(problems) == 1 and "newest entries were removed" in problems[0]


def test_changes_outside_a_request_are_not_attributed_to_anyone(db):
    Camera.objects.create(name="Dock")
    assert "camera.create" not in actions()


def test_bad_audit_filters_are_a_clear_400(session):
    """Found by schemathesis on PostgreSQL: a NUL character in a filter was a 500."""
    for params in ({"action": "login\x00"}, {"username": "x\x00y"}, {"since": "yesterday"}):
        response = session["admin"].get("/api/v1/audit/", params)
        assert response.status_code == 400, params
