"""Exports through the API: a moment or a range becomes an MP4 that decodes from its first frame to its last,
with a manifest that matches the file; bad requests get a clear 4xx; only operators export, and only as
masked as the camera unless they may unmask; cases keep exports past retention."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from backend.cameras.models import Masking
from backend.clips import retention
from backend.eventlog.models import Event, EventType
from backend.exports.models import Export
from search.models import Sighting
from tests.conftest import client_for
from tests.factories import T0

from .footage import decoded, stored_clip, track

pytestmark = pytest.mark.django_db


@pytest.fixture
def lobby_footage(cameras, footage_h264, own_media):
    """Two consecutive 8-second clips of the lobby (10 fps), a person standing in both, a face on them."""
    lobby = cameras[0]
    first = stored_clip(lobby, footage_h264, T0)
    second = stored_clip(lobby, footage_h264, T0 + timedelta(seconds=8))
    for clip in (first, second):
        track(clip, 1 << 20 | clip.pk, "person", (0.40, 0.20, 0.60, 0.90))
        track(clip, 2 << 20 | clip.pk, "face", (0.45, 0.22, 0.55, 0.35), ordinal=1)
    return first, second


@pytest.fixture
def colleague(personas):
    return client_for(personas["colleague"])


def export(client, django_capture_on_commit_callbacks, **body):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/exports/", body, format="json")
    return response


def test_a_range_over_two_segments_plays_from_first_frame_to_last(colleague, lobby_footage, tmp_path,
                                                                  django_capture_on_commit_callbacks):
    first, second = lobby_footage
    response = export(colleague, django_capture_on_commit_callbacks, camera=first.camera_id,
                      start=T0.isoformat(), end=(T0 + timedelta(seconds=16)).isoformat(), masking="faces")
    assert response.status_code == 202, response.json()
    job = colleague.get(f"/api/v1/exports/{response.json()['id']}/").json()
    assert job["status"] == "done", job["error"]
    assert job["mode"] == "encode"
    video = colleague.get(job["download_url"])
    assert video.status_code == 200 and video["Content-Disposition"].startswith("attachment")
    body = b"".join(video.streaming_content)
    frames = decoded(body, tmp_path)
    assert abs(len(frames) - 160) <= 1
    assert frames[0][1], "the first frame is a key frame"
    times = [t for t, _key in frames]
    assert all(a < b for a, b in pairwise(times))
    manifest = colleague.get(job["manifest_url"]).json()
    assert manifest["file"]["sha256"] == hashlib.sha256(body).hexdigest() == job["sha256"]
    assert [s["clip"] for s in manifest["sources"]] == [first.pk, second.pk]
    assert manifest["made_by"] == "colleague" and manifest["masking"] == "faces"
    completed = Event.objects.get(type=EventType.EXPORT_COMPLETED)
    assert completed.data["file"]["sha256"] == job["sha256"]


def test_unmasked_export_of_h264_is_remuxed(personas, lobby_footage, tmp_path, django_capture_on_commit_callbacks):
    admin = personas["admin"]
    admin.user_permissions.add(Permission.objects.get(codename="unmask"))
    client = client_for(admin)
    response = export(client, django_capture_on_commit_callbacks, camera=lobby_footage[0].camera_id,
                      start=(T0 + timedelta(seconds=2)).isoformat(), end=(T0 + timedelta(seconds=12)).isoformat(),
                      masking="none")
    assert response.status_code == 202, response.json()
    job = Export.objects.get(pk=response.json()["id"])
    assert job.status == Export.Status.DONE and job.mode == "remux", job.error
    frames = decoded(Path(job.file.path), tmp_path)
    assert frames[0][1] and 100 - 1 <= len(frames) <= 100 + 30  # cut on the key frame at or before 2 s


def test_a_sightings_moment_with_margins(colleague, lobby_footage, django_capture_on_commit_callbacks):
    first, _second = lobby_footage
    sighting = Sighting.objects.get(id=1 << 20 | first.pk)
    response = export(colleague, django_capture_on_commit_callbacks, sighting=sighting.id, before_s=2, after_s=3,
                      burn_boxes=True)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["masking"] == "faces"  # the camera's own by default
    job = Export.objects.get(pk=body["id"])
    assert job.status == Export.Status.DONE, job.error
    assert job.manifest["sighting"] == sighting.id and job.manifest["burn_boxes"] is True
    assert job.start == T0 + timedelta(milliseconds=sighting.start_ms - int(T0.timestamp() * 1000) - 2000)


@pytest.mark.parametrize(("body", "code", "says"), [
    ({}, 400, "either a sighting, or a camera"),
    ({"sighting": 999999}, 400, "unknown sighting"),
    ({"camera": "lobby", "start": "2026-11-02T08:00:00Z", "end": "2026-11-02T08:00:05Z"}, 400, "camera id"),
    ({"camera": "LOBBY", "start": "2026-11-02T08:00:05Z", "end": "2026-11-02T08:00:01Z"}, 400, "after start"),
    ({"camera": "LOBBY", "start": "2026-11-02T08:00:00Z"}, 400, "required with camera"),
    ({"camera": "LOBBY", "start": "2026-11-02T08:00:00Z", "end": "2026-11-03T09:00:00Z"}, 400, "at most 3600"),
    ({"camera": "LOBBY", "start": "2026-11-01T08:00:00Z", "end": "2026-11-01T08:10:00Z"}, 400, "no footage"),
    ({"camera": "VAULT", "start": "2026-11-02T08:00:00Z", "end": "2026-11-02T08:00:05Z"}, 400, "unknown camera"),
    ({"camera": "LOBBY", "start": "2026-11-02T08:00:00Z", "end": "2026-11-02T08:00:05Z", "masking": "none"},
     403, "less masking"),
    ({"camera": "LOBBY", "start": "2026-11-02T08:00:00Z", "end": "2026-11-02T08:00:05Z", "masking": "blur"},
     400, "not a valid choice"),
    ({"sighting": "SIGHTING", "before_s": 100000}, 400, "at most 300"),
])
def test_bad_requests_are_refused_clearly(colleague, cameras, lobby_footage, body, code, says):
    ids = {"LOBBY": cameras[0].pk, "VAULT": cameras[1].pk, "SIGHTING": 1 << 20 | lobby_footage[0].pk}
    body = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    response = colleague.post("/api/v1/exports/", body, format="json")
    assert response.status_code == code, response.json()
    assert says in str(response.json())
    assert not Export.objects.exists()


def test_another_cameras_sighting_reads_as_unknown(colleague, cameras, footage_h264, own_media):
    vault_clip = stored_clip(cameras[1], footage_h264, T0)
    track(vault_clip, 1 << 20 | vault_clip.pk, "person", (0.1, 0.1, 0.3, 0.5))
    response = colleague.post("/api/v1/exports/", {"sighting": 1 << 20 | vault_clip.pk}, format="json")
    assert response.status_code == 400 and "unknown sighting" in str(response.json())


def test_viewers_do_not_export(personas, lobby_footage):
    personas["outsider"].cameras.add(lobby_footage[0].camera)
    client = client_for(personas["outsider"])
    response = client.post("/api/v1/exports/", {"sighting": 1 << 20 | lobby_footage[0].pk}, format="json")
    assert response.status_code == 403
    assert client.get("/api/v1/exports/").status_code == 403


def test_an_unmasked_export_is_not_given_to_who_may_not_unmask(personas, lobby_footage,
                                                               django_capture_on_commit_callbacks):
    admin = personas["admin"]
    admin.user_permissions.add(Permission.objects.get(codename="unmask"))
    made = export(client_for(admin), django_capture_on_commit_callbacks, camera=lobby_footage[0].camera_id,
                  start=T0.isoformat(), end=(T0 + timedelta(seconds=4)).isoformat(), masking="none").json()
    colleague = client_for(personas["colleague"])
    assert colleague.get(f"/api/v1/exports/{made['id']}/").status_code == 200
    assert colleague.get(f"/api/v1/exports/{made['id']}/download/").status_code == 403
    assert colleague.get(f"/api/v1/exports/{made['id']}/manifest/").status_code == 403


def test_a_case_keeps_its_exports_past_retention_until_it_is_closed(colleague, lobby_footage,
                                                                   django_capture_on_commit_callbacks):
    case = colleague.post("/api/v1/cases/", {"title": "Bike theft 12 Nov", "note": "east door"}, format="json")
    assert case.status_code == 201
    kept = export(colleague, django_capture_on_commit_callbacks, camera=lobby_footage[0].camera_id,
                  start=T0.isoformat(), end=(T0 + timedelta(seconds=4)).isoformat(), case=case.json()["id"]).json()
    loose = export(colleague, django_capture_on_commit_callbacks, camera=lobby_footage[0].camera_id,
                   start=T0.isoformat(), end=(T0 + timedelta(seconds=4)).isoformat()).json()
    later = T0 + timedelta(days=lobby_footage[0].camera.retention_days + 1)
    retention.apply_retention(later)
    kept_row, loose_row = Export.objects.get(pk=kept["id"]), Export.objects.get(pk=loose["id"])
    assert kept_row.expired_at is None and kept_row.file and Path(kept_row.file.path).is_file()
    assert loose_row.expired_at is not None and not loose_row.file
    closed = colleague.post(f"/api/v1/cases/{case.json()['id']}/close/")
    assert closed.status_code == 200 and closed.json()["is_open"] is False
    again = colleague.post("/api/v1/exports/", {"camera": lobby_footage[0].camera_id, "start": T0.isoformat(),
                                                "end": (T0 + timedelta(seconds=4)).isoformat(),
                                                "case": case.json()["id"]}, format="json")
    assert again.status_code == 400 and "closed" in str(again.json())
    retention.apply_retention(later)
    assert Export.objects.get(pk=kept["id"]).expired_at is not None
    actions = list(Event.objects.filter(type=EventType.AUDIT).values_list("data__action", flat=True))
    assert {"case.create", "export.create", "case.close"} <= set(actions)


def test_a_render_that_does_not_verify_is_retried_then_fails_with_its_reason(colleague, lobby_footage, monkeypatch,
                                                                            django_capture_on_commit_callbacks):
    from backend.exports import render

    calls = []

    def broken(path, **kwargs):
        calls.append(path)
        raise render.BrokenVideo("frame 12 does not decode")

    monkeypatch.setattr(render, "verify", broken)
    response = export(colleague, django_capture_on_commit_callbacks, camera=lobby_footage[0].camera_id,
                      start=T0.isoformat(), end=(T0 + timedelta(seconds=3)).isoformat())
    job = Export.objects.get(pk=response.json()["id"])
    assert job.status == Export.Status.FAILED and job.attempts == 3 == len(calls)
    assert "did not verify: frame 12 does not decode" in job.error
    assert not job.file and not any(p.exists() for p in calls), "no broken file is left behind"
    assert Event.objects.filter(type=EventType.EXPORT_FAILED).count() == 1


def test_a_render_that_verifies_on_its_second_attempt_is_done(colleague, lobby_footage, monkeypatch,
                                                             django_capture_on_commit_callbacks):
    from backend.exports import render

    real = render.verify
    calls = []

    def flaky(path, **kwargs):
        calls.append(path)
        if len(calls) == 1:
            raise render.BrokenVideo("the file ends in the middle of a frame")
        return real(path, **kwargs)

    monkeypatch.setattr(render, "verify", flaky)
    response = export(colleague, django_capture_on_commit_callbacks, camera=lobby_footage[0].camera_id,
                      start=T0.isoformat(), end=(T0 + timedelta(seconds=3)).isoformat())
    job = Export.objects.get(pk=response.json()["id"])
    assert job.status == Export.Status.DONE and job.attempts == 2 and job.error == ""


def test_the_camera_masking_is_the_default_and_none_needs_no_unmask(colleague, lobby_footage,
                                                                   django_capture_on_commit_callbacks):
    camera = lobby_footage[0].camera
    camera.privacy_mask = Masking.NONE
    camera.save()
    response = export(colleague, django_capture_on_commit_callbacks, camera=camera.pk, start=T0.isoformat(),
                      end=(T0 + timedelta(seconds=2)).isoformat())
    assert response.status_code == 202 and response.json()["masking"] == "none"
    assert Export.objects.get().mode == "remux"


def test_exports_wait_for_analysis_to_end_before_masking(colleague, cameras, footage_h264, own_media,
                                                         django_capture_on_commit_callbacks):
    clip = stored_clip(cameras[0], footage_h264, T0, status="analysing")
    response = export(colleague, django_capture_on_commit_callbacks, camera=clip.camera_id, start=T0.isoformat(),
                      end=(T0 + timedelta(seconds=2)).isoformat())
    job = Export.objects.get(pk=response.json()["id"])
    assert job.status == Export.Status.QUEUED and job.attempts == 0
    clip.status = "done"
    clip.save()
    from backend.exports.tasks import render_job

    assert render_job("export", job.pk) == "done"


def test_an_export_of_a_clip_whose_analysis_failed_cannot_be_masked(colleague, cameras, footage_h264, own_media,
                                                                    django_capture_on_commit_callbacks):
    clip = stored_clip(cameras[0], footage_h264, T0, status="failed")
    response = export(colleague, django_capture_on_commit_callbacks, camera=clip.camera_id, start=T0.isoformat(),
                      end=(T0 + timedelta(seconds=2)).isoformat())
    job = Export.objects.get(pk=response.json()["id"])
    assert job.status == Export.Status.FAILED and "what to mask in it is unknown" in job.error
    assert not job.file


def test_burnt_in_boxes_are_the_tracks_own_and_never_faces(cameras, footage_h264, own_media):
    """Burnt-in boxes show where the sighting was (plain interpolation between its detections), not the grown
    box a mask needs to cover where it might have strayed; faces are never burnt in."""
    from backend.eventlog.log import EventLog
    from backend.exports.overlays import burn_boxes, mask_boxes
    from tests.factories import detection

    clip = stored_clip(cameras[0], footage_h264, T0)
    walker = 1 << 20 | clip.pk
    EventLog.append([detection(clip.pk, clip.camera_id, walker, t, 0.9, label="person",
                               box=(0.1 + t / 5000, 0.2, 0.3 + t / 5000, 0.9), start=clip.started_at)
                     for t in (0, 500, 1000, 1500)])
    track(clip, 2 << 20 | clip.pk, "face", (0.45, 0.22, 0.55, 0.35), ordinal=1)
    assert Sighting.objects.filter(id=walker).exists()
    at = int(T0.timestamp() * 1000) + 250
    (burnt,) = burn_boxes([clip]).at(at)
    assert burnt[1] == "person"
    assert burnt[2:] == pytest.approx((0.15, 0.2, 0.35, 0.9))
    masks = mask_boxes([clip], "persons")
    assert masks is not None
    (mask,) = (b for b in masks.at(at) if b[1] == "person")
    assert mask[4] - mask[2] > burnt[4] - burnt[2], "a mask covers the person's possible motion"
