"""Admission control on uploads (503 when analysis is full, 429 over a user's quota, both with Retry-After), and
the queue view that shows why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from backend.clips.models import AnalysisWorker, Clip
from tests.api.test_uploads import stored_clip_files, upload
from tests.conftest import client_for
from tests.factories import CameraFactory


def waiting_upload(camera, footage: Path, *, duration_s: float, user=None) -> Clip:
    """A clip registered and left waiting for analysis (its message never sent), as long as ``duration_s``."""
    from dataclasses import replace

    from analysis.decode import probe
    from backend.clips.services import register_clip, storage_name_for

    name = storage_name_for(camera, ".mp4")
    target = Path(django_settings.MEDIA_ROOT) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(footage, target)
    with transaction.atomic():
        return register_clip(camera=camera, stored_name=name, info=replace(probe(target), duration_s=duration_s),
                             queue=False, started_at=timezone.now(), uploaded_by=user)


def worker(fps: float, name: str = "host-a:1") -> AnalysisWorker:
    return AnalysisWorker.objects.create(name=name, seen_at=timezone.now(), frames_per_s=fps)


@pytest.fixture
def colleague(personas):
    return client_for(personas["colleague"])


def limits(settings, **values):
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update=values)


def test_an_upload_is_refused_with_503_and_retry_after_while_analysis_is_full(personas, colleague, cameras,
                                                                             footage_h264, settings):
    lobby, vault = cameras
    limits(settings, ANALYSIS_MAX_DELAY_S=60.0, UPLOAD_QUOTA_S=0.0)
    worker(10.0)
    # 400 s of footage at 2 frames/s: 800 frames, 80 s for a worker at 10 frames/s, 20 s above the limit.
    waiting_upload(vault, footage_h264, duration_s=400.0)
    before = stored_clip_files()
    response = upload(colleague, lobby.pk, footage_h264.read_bytes())
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["reason"] == "backlog" and body["retry_after_s"] == 20 and response["Retry-After"] == "20"
    assert "analysis is full" in body["detail"]
    # Nothing of it is kept.
    assert Clip.objects.filter(camera=lobby).count() == 0 and stored_clip_files() == before

    # A second worker halves the wait: accepted (and, with eager tasks, analysed at once).
    worker(10.0, name="host-b:1")
    response = upload(colleague, lobby.pk, footage_h264.read_bytes())
    assert response.status_code == 202, response.content
    assert Clip.objects.filter(camera=lobby).count() == 1


def test_live_cameras_that_need_all_the_capacity_refuse_uploads(colleague, cameras, footage_h264, settings):
    limits(settings, ANALYSIS_MAX_DELAY_S=3600.0)
    worker(6.0)
    CameraFactory(name="Gate", stream_address="rtsp://gate.example/s", analysis_fps=3.0)
    CameraFactory(name="Door", stream_address="rtsp://door.example/s", analysis_fps=3.0)
    response = upload(colleague, cameras[0].pk, footage_h264.read_bytes())
    assert response.status_code == 503 and response.json()["reason"] == "live_saturated"
    assert int(response["Retry-After"]) > 0


def test_a_users_quota_refuses_with_429_but_not_another_user_nor_a_first_long_file(personas, colleague, cameras,
                                                                                  footage_h264, settings):
    lobby, _ = cameras
    limits(settings, UPLOAD_QUOTA_S=10.0, ANALYSIS_MAX_DELAY_S=0.0)
    worker(10.0)
    # The colleague's first file (8 s) alone: accepted even if it were longer than the quota.
    mine = waiting_upload(lobby, footage_h264, duration_s=6.0, user=personas["colleague"])
    response = upload(colleague, lobby.pk, footage_h264.read_bytes())
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["reason"] == "quota" and "your footage" in body["detail"]
    # 6 s waiting + 8 s new - 10 s quota = 4 s of footage too much: 8 frames at 10 frames/s.
    assert body["retry_after_s"] == 1 and response["Retry-After"] == "1"
    # Another user is not held back by it.
    admin = client_for(personas["admin"])
    assert upload(admin, cameras[1].pk, footage_h264.read_bytes()).status_code == 202
    # With the colleague's waiting clip analysed, a file longer than the whole quota is accepted.
    Clip.objects.filter(pk=mine.pk).update(status=Clip.Status.DONE)
    limits(settings, UPLOAD_QUOTA_S=5.0, ANALYSIS_MAX_DELAY_S=0.0)
    assert upload(colleague, lobby.pk, footage_h264.read_bytes()).status_code == 202


def test_the_queue_view_shows_depth_wait_and_workers(personas, cameras, footage_h264, settings):
    vault = cameras[1]
    limits(settings, ANALYSIS_MAX_DELAY_S=60.0)
    worker(10.0)
    worker(0.0, name="host-b:1")  # not measured yet: counts for ANALYSIS_ASSUMED_FPS
    gate = CameraFactory(name="Gate", stream_address="rtsp://gate.example/s", analysis_fps=2.0)
    waiting_upload(vault, footage_h264, duration_s=600.0)
    live = waiting_upload(gate, footage_h264, duration_s=10.0)
    Clip.objects.filter(pk=live.pk).update(priority=Clip.Priority.LIVE, source=Clip.Source.RECORDING)

    body = client_for(personas["colleague"]).get("/api/v1/analysis/queue/").json()
    by = {p["priority"]: p for p in body["priorities"]}
    assert [p["priority"] for p in body["priorities"]] == ["live", "synchronous", "upload", "re-analysis"]
    assert body["capacity_frames_per_s"] == 20.0 and body["capacity_measured"] is False
    assert body["live_frames_per_s"] == 2.0
    assert (by["live"]["jobs"], by["live"]["frames"], by["live"]["expected_wait_s"]) == (1, 20.0, 1.0)
    # Uploads wait behind live, on what the live camera leaves: (20 + 1200) / (20 - 2) s.
    assert (by["upload"]["jobs"], by["upload"]["frames"]) == (1, 1200.0)
    assert by["upload"]["expected_wait_s"] == pytest.approx(1220 / 18, abs=0.1)
    assert body["admission"]["accepting_uploads"] is False and body["admission"]["reason"] == "backlog"
    assert body["admission"]["retry_after_s"] == 8
    assert body["renders"] == {"exports": 0, "renditions": 0, "rendering": 0}
    # Worker names are for admins only.
    assert {w["name"] for w in body["workers"]} == {None}
    admin_body = client_for(personas["admin"]).get("/api/v1/analysis/queue/").json()
    assert {w["name"] for w in admin_body["workers"]} == {"host-a:1", "host-b:1"}
    # A worker that stopped beating no longer counts.
    AnalysisWorker.objects.filter(name="host-a:1").update(seen_at=timezone.now() - timezone.timedelta(hours=1))
    assert client_for(personas["admin"]).get("/api/v1/analysis/queue/").json()["capacity_frames_per_s"] == 10.0


def test_the_queue_view_needs_a_login(db):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/analysis/queue/").status_code in (401, 403)


def test_the_queue_view_counts_the_render_jobs_served_before_uploads(personas, cameras):
    from backend.exports.models import Export, Masking, RenderJob

    now = timezone.now()
    for status in (RenderJob.Status.QUEUED, RenderJob.Status.RENDERING, RenderJob.Status.DONE):
        Export.objects.create(camera=cameras[0], start=now, end=now + timezone.timedelta(seconds=5),
                              masking=Masking.FACES, status=status)
    body = client_for(personas["colleague"]).get("/api/v1/analysis/queue/").json()
    assert body["renders"] == {"exports": 2, "renditions": 0, "rendering": 1}
