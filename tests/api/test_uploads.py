"""Uploading footage: bad input is refused clearly; good input is analysed for real and becomes searchable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import av
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from analysis.decode import recorded_at
from backend.clips.models import Clip
from backend.eventlog.models import Event, EventType
from tests.conftest import client_for


def upload(client, camera_id, content: bytes, name="clip.mp4", **extra):
    data = {"file": SimpleUploadedFile(name, content, content_type="video/mp4"), "camera": camera_id, **extra}
    return client.post("/api/v1/clips/", data, format="multipart")


@pytest.fixture
def colleague(personas):
    return client_for(personas["colleague"])


def test_empty_file(colleague, cameras):
    response = upload(colleague, cameras[0].pk, b"")
    assert response.status_code == 400 and "empty" in str(response.json()["file"])


def test_not_a_video(colleague, cameras):
    response = upload(colleague, cameras[0].pk, b"%PDF-1.7 this is a document, not footage\n" * 200, "x.pdf")
    assert response.status_code == 400
    assert "not a readable video" in response.json()["file"][0]
    assert not Clip.objects.exists()


def stored_clip_files() -> list[Path]:
    from django.conf import settings

    return [p for p in (Path(settings.MEDIA_ROOT) / "clips").rglob("*") if p.is_file()]


def test_larger_than_the_limit_is_refused_and_not_kept(colleague, cameras, footage_h264, settings):
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"MAX_UPLOAD_BYTES": 4096})
    before = stored_clip_files()
    response = upload(colleague, cameras[0].pk, footage_h264.read_bytes())
    assert response.status_code == 400
    assert response.json()["file"] == ["the file is larger than the limit of 4096 bytes"]
    assert not Clip.objects.exists() and stored_clip_files() == before


def test_unreadable_upload_is_not_kept(colleague, cameras):
    before = stored_clip_files()
    response = upload(colleague, cameras[0].pk, b"\x00\x01 not footage " * 300, "x.mp4")
    assert response.status_code == 400
    assert stored_clip_files() == before


def test_truncated_header(colleague, cameras, footage_h264):
    response = upload(colleague, cameras[0].pk, footage_h264.read_bytes()[:1500])
    assert response.status_code == 400 and "video" in response.json()["file"][0]


@pytest.mark.parametrize("camera", ["999999", "lobby"])
def test_unknown_camera(colleague, cameras, footage_h264, camera):
    response = upload(colleague, camera, footage_h264.read_bytes())
    assert response.status_code == 400 and "camera" in response.json()


def test_camera_not_granted_reads_as_unknown(colleague, cameras, footage_h264):
    _, vault = cameras
    response = upload(colleague, vault.pk, footage_h264.read_bytes())
    assert response.status_code == 400
    assert response.json()["camera"] == [f"unknown camera {vault.pk}"]


def test_start_time_in_a_wrong_format(colleague, cameras, footage_h264):
    response = upload(colleague, cameras[0].pk, footage_h264.read_bytes(), started_at="26/11/2026 8am")
    assert response.status_code == 400
    assert "ISO 8601" in response.json()["started_at"][0]


def test_missing_file(colleague, cameras):
    response = colleague.post("/api/v1/clips/", {"camera": cameras[0].pk}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()


@pytest.mark.slow
def test_upload_is_analysed_and_searchable(colleague, cameras, footage_h264, django_capture_on_commit_callbacks):
    """GIVEN real footage, WHEN uploaded, THEN 202 queued at once; the job runs, reports progress, finishes,
    and its people are found by search with a JPEG thumbnail and a playable clip."""
    lobby, _ = cameras
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(colleague, lobby.pk, footage_h264.read_bytes(), "vtest.mp4",
                          started_at="2026-11-26T08:00:00Z")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["job"]["id"] and body["duration_s"] == pytest.approx(8, abs=0.2)
    clip_id = body["id"]
    assert Clip.objects.get(pk=clip_id).status == "queued"

    for callback in callbacks:  # the live-feed notification, then the queued task (eager in tests)
        callback()

    clip = colleague.get(f"/api/v1/clips/{clip_id}/").json()
    assert clip["status"] == "done" and clip["progress"] == 1.0, clip
    assert clip["job"]["frames_analysed"] == 16
    kinds = list(Event.objects.filter(clip_id=clip_id).exclude(type=EventType.OBJECT_DETECTED)
                 .order_by("seq").values_list("type", "data"))
    assert [k for k, _ in kinds][:2] == [EventType.CLIP_REGISTERED, EventType.ANALYSIS_STARTED]
    assert kinds[-1][0] == EventType.ANALYSIS_COMPLETED
    progress = [d["progress"] for k, d in kinds if k == EventType.ANALYSIS_PROGRESS]
    assert progress == sorted(progress) and len(progress) >= 3

    results = colleague.get("/api/v1/search/", {"tag": "person"}).json()["results"]
    assert len(results) >= 3
    confidences = [r["confidence"] for r in results]
    assert confidences == sorted(confidences, reverse=True)
    best = results[0]
    assert best["start"] >= "2026-11-26T08:00:00" and best["end"] <= "2026-11-26T08:00:08.1"
    # People get their clothing colours named at analysis, from the palette (most in this footage wear black).
    named = [r["colors"] for r in results if r["colors"]]
    assert named and all(set(c) <= {"upper_color", "lower_color"} for c in named), named
    assert any(c.get("upper_color") == "black" for c in named), named
    thumb = colleague.get(best["thumbnail_url"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert b"".join(thumb.streaming_content)[:3] == b"\xff\xd8\xff"
    video_url = best["clip_url"].split("#")[0]
    assert video_url == f"/api/v1/clips/{clip_id}/video/"
    # The camera masks faces: the first request starts its masked rendition (202), which then plays.
    with django_capture_on_commit_callbacks(execute=True):
        preparing = colleague.get(video_url, HTTP_RANGE="bytes=0-99")
    assert preparing.status_code == 202 and preparing["Retry-After"]
    ranged = colleague.get(video_url, HTTP_RANGE="bytes=0-99")
    assert ranged.status_code == 206 and ranged["Content-Range"].startswith("bytes 0-99/")
    assert len(b"".join(ranged.streaming_content)) == 100


@pytest.mark.slow
def test_worker_survives_a_clip_that_turns_bad(colleague, cameras, footage_h264,
                                               django_capture_on_commit_callbacks):
    """GIVEN two uploads whose first file is corrupted before analysis, THEN it fails with its reason and the
    second is analysed normally."""
    lobby, _ = cameras
    with django_capture_on_commit_callbacks() as callbacks:
        # Two files (the same footage uploaded twice would be one clip): one trailing byte tells them apart.
        bad = upload(colleague, lobby.pk, footage_h264.read_bytes() + b"\0").json()
        good = upload(colleague, lobby.pk, footage_h264.read_bytes()).json()
    Path(Clip.objects.get(pk=bad["id"]).file.path).write_bytes(b"\x00garbage" * 1000)
    for callback in callbacks:
        callback()
    bad_clip = colleague.get(f"/api/v1/clips/{bad['id']}/").json()
    assert bad_clip["status"] == "failed"
    assert "not a readable video" in bad_clip["error"]
    assert Event.objects.filter(clip_id=bad["id"], type=EventType.ANALYSIS_FAILED).count() == 1
    assert colleague.get(f"/api/v1/clips/{good['id']}/").json()["status"] == "done"


@pytest.mark.slow
def test_truncated_body_is_analysed_in_part_with_a_warning(colleague, cameras, footage_h264,
                                                           django_capture_on_commit_callbacks):
    content = footage_h264.read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(colleague, cameras[0].pk, content[: len(content) // 2])
    assert response.status_code == 202
    clip = colleague.get(f"/api/v1/clips/{response.json()['id']}/").json()
    assert clip["status"] == "done"
    assert "truncated" in clip["error"] or "decoding stopped" in clip["error"], clip["error"]
    assert 0 < clip["job"]["frames_analysed"] < 16


def with_creation_time(src: Path, dst: Path, creation_time: str) -> Path:
    """``src`` remuxed with a container creation time (what a camera's or phone's export carries)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        out.metadata["creation_time"] = creation_time
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dst


def test_start_time_comes_from_the_file_when_the_upload_gives_none(colleague, cameras, footage_h264, tmp_path):
    recorded = with_creation_time(footage_h264, tmp_path / "phone.mp4", "2026-11-20T07:15:30.000000Z")
    response = upload(colleague, cameras[0].pk, recorded.read_bytes(), "phone.mp4")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["started_at"] == "2026-11-20T07:15:30Z"
    assert body["started_at_source"] == "file"


def test_start_time_given_wins_over_the_files(colleague, cameras, footage_h264, tmp_path):
    recorded = with_creation_time(footage_h264, tmp_path / "phone.mp4", "2026-11-20T07:15:30.000000Z")
    response = upload(colleague, cameras[0].pk, recorded.read_bytes(), "phone.mp4", started_at="2026-11-21T09:00:00Z")
    assert response.status_code == 202, response.content
    assert response.json()["started_at"] == "2026-11-21T09:00:00Z"
    assert response.json()["started_at_source"] == "given"


def test_a_file_that_does_not_say_when_it_was_recorded_is_stamped_as_received(colleague, cameras, footage_h264):
    before = datetime.now(UTC)
    response = upload(colleague, cameras[0].pk, footage_h264.read_bytes(), "clip.mp4")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["started_at_source"] == "received"
    assert datetime.fromisoformat(body["started_at"].replace("Z", "+00:00")) >= before.replace(microsecond=0)


@pytest.mark.parametrize(("tag", "expected"), [
    ("2026-11-20T07:15:30.000000Z", "2026-11-20T07:15:30Z"),
    ("2026-11-20 07:15:30", "2026-11-20T07:15:30Z"),  # no zone: UTC, as MP4 and Matroska store it
    ("2026-11-20T08:15:30+01:00", "2026-11-20T07:15:30Z"),
    ("1904-01-01T00:00:00.000000Z", None),  # a muxer's zero
    ("1970-01-01T00:00:00.000000Z", None),
    ("2999-01-01T00:00:00Z", None),
    ("yesterday", None), ("", None), (None, None),
])
def test_recorded_at_accepts_only_plausible_creation_times(tag, expected):
    assert recorded_at(tag) == expected
