"""``POST /api/v1/analyze/``: real pictures and clips analysed by the real detector, bad input refused with a
reason and nothing kept, the timeout answered 504 and the result polled, who may ask and read.

Requests go through the real API; probing runs in its real child process; the task runs eagerly in this
process (the test settings), except where a test sends it to the real file-system broker and serves it as
a worker would (``on_demand.serve_waiting``). Transactions commit for real (``transaction=True``): the task
is sent after the request's row commits, as in production.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from analysis import on_demand
from backend.analyze.models import AnalysisRequest
from backend.clips.models import Clip
from backend.eventlog.models import Event
from search.models import Sighting
from tests.analyze.conftest import generated_clip
from tests.brokers import publishing_to
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.security.corpus import _png

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_media")]

URL = "/api/v1/analyze/"


def analyze(client, content: bytes, name: str = "street.jpg", *, timeout: str | float | None = None):
    url = URL + (f"?timeout={timeout}" if timeout is not None else "")
    return client.post(url, {"file": SimpleUploadedFile(name, content, content_type="application/octet-stream")},
                       format="multipart")


def stored_files() -> list[Path]:
    """Every file of the media folder (the test's own)."""
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def analysis_files() -> list[Path]:
    return [p for p in stored_files() if p.relative_to(settings.MEDIA_ROOT).parts[0] == on_demand.MEDIA_FOLDER]


@pytest.fixture
def operator(personas):
    return client_for(personas["colleague"])


def _messages_for(queue_dir: Path, request_id: str) -> int:
    return sum(request_id in p.read_text(errors="ignore") for p in queue_dir.glob("*.msg"))


# -- what it finds --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_a_picture_is_answered_with_the_people_in_it(operator, vtest_images, fmt):
    """GIVEN a real CCTV frame (pedestrians) as a JPEG, PNG or WebP, WHEN it is posted, THEN the answer holds
    its detections in source pixels, the file is gone, and nothing became footage (no event, clip, sighting)."""
    events = Event.objects.count()
    response = analyze(operator, vtest_images[fmt], f"street.{fmt}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["kind"], body["frames_expected"], body["frames_analysed"]) == ("done", "image", 1, 1)
    result = body["result"]
    assert (result["kind"], result["width"], result["height"]) == ("image", 768, 576)
    assert result["model"] == "centernet-mnv3@human-3.3.6"
    persons = [d for d in result["detections"] if d["label"] == "person"]
    assert len(persons) >= 3, result["detections"]
    confidences = [d["confidence"] for d in result["detections"]]
    assert confidences == sorted(confidences, reverse=True)
    assert min(confidences) >= settings.SIGHTLINE.DETECTION_MIN_CONFIDENCE
    for detection in result["detections"]:
        box = detection["box"]
        assert 0 <= box["x1"] < box["x2"] <= 768 and 0 <= box["y1"] < box["y2"] <= 576, detection
    # Pixels, not fractions of the frame: a pedestrian here is tens of pixels tall.
    assert max(d["box"]["y2"] - d["box"]["y1"] for d in persons) > 40
    assert analysis_files() == []
    assert Event.objects.count() == events and not Clip.objects.exists() and not Sighting.objects.exists()
    row = AnalysisRequest.objects.get(pk=body["id"])
    assert row.file.name == "" and row.expires_at > row.finished_at
    polled = operator.get(body["poll_url"])
    assert polled.status_code == 200 and polled.json()["result"] == result


@pytest.mark.slow
def test_a_clip_is_answered_with_detections_per_frame_and_the_tracks(operator, vtest_clip):
    """GIVEN 3 s of real footage, THEN every frame analysed at ANALYZE_FPS (5/s) has its detections, and the
    tracks agree with them: first and last moment, best detection, count, one label each."""
    response = analyze(operator, vtest_clip.read_bytes(), "street.mp4")
    assert response.status_code == 200, response.content
    body = response.json()
    result = body["result"]
    assert (body["kind"], result["kind"], result["width"], result["height"]) == ("clip", "clip", 768, 576)
    assert [f["offset_ms"] for f in result["frames"]] == list(range(0, 3000, 200))
    assert body["frames_expected"] == body["frames_analysed"] == 15 and result["fps"] == 5.0
    assert result["warning"] is None and body["error"] == ""
    tracks = {t["track"]: t for t in result["tracks"]}
    seen: dict[int, list[tuple[int, dict]]] = defaultdict(list)
    for frame in result["frames"]:
        for detection in frame["detections"]:
            seen[detection["track"]].append((frame["offset_ms"], detection))
    assert set(seen) == set(tracks) and tracks
    for track_id, moments in seen.items():
        track = tracks[track_id]
        assert {d["label"] for _, d in moments} == {track["label"]}
        assert track["detections"] == len(moments)
        assert (track["first_offset_ms"], track["last_offset_ms"]) == (moments[0][0], moments[-1][0])
        best = max(d["confidence"] for _, d in moments)
        assert track["best_confidence"] == best >= settings.SIGHTLINE.DETECTION_MIN_CONFIDENCE
        assert (track["best_offset_ms"], track["best_box"]) in [(ms, d["box"]) for ms, d in moments
                                                                if d["confidence"] == best]
    # People walking through are followed across the clip, not one track per frame.
    walkers = [t for t in tracks.values() if t["label"] == "person" and t["detections"] >= 10]
    assert len(walkers) >= 2, result["tracks"]
    assert len(tracks) < sum(len(f["detections"]) for f in result["frames"]) / 3
    assert analysis_files() == [] and not Clip.objects.exists() and not Sighting.objects.exists()


# -- bad input ------------------------------------------------------------------------------------------------


def _bad_inputs(victim: Path, vtest_images: dict[str, bytes]) -> dict[str, tuple[bytes, str, str]]:
    """what it is → (content, the client's file name, what the refusal says)."""
    return {
        "not an image": (b"%PDF-1.7 a document, not a picture\n" * 200, "x.pdf", "not a readable image"),
        "a playlist naming a server file": (
            f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{victim}\n#EXT-X-ENDLIST\n".encode(), "x.m3u8",
            "not a readable image"),
        "a concat list naming a server file": (f"ffconcat version 1.0\nfile '{victim}'\n".encode(), "x.jpg",
                                               "not an image"),
        "an image sequence pattern": (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "img%03d.png", "not an image"),
        "a clip too long": (generated_clip(12), "long.mp4", "longer than accepted"),
        "too many pixels (a side)": (_png(9000, 64), "wide.png", "9000×64: larger than accepted"),
        "a pixel bomb": (_png(16000, 16000), "bomb.png", "larger than accepted"),
        "empty": (b"", "x.jpg", "empty"),
        "a path traversal name and no picture": (b"\0garbage" * 500, "../../../../etc/cron.d/evil.jpg",
                                                 "not a readable image"),
        "a JPEG cut after its header": (vtest_images["jpeg"][:600], "cut.jpg", "picture size"),
    }


def test_bad_input_is_refused_with_a_reason_and_nothing_is_kept(operator, vtest_images):
    victim = Path(settings.MEDIA_ROOT) / "victim.jpg"
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_bytes(vtest_images["jpeg"])
    for what, (content, name, reason) in _bad_inputs(victim, vtest_images).items():
        response = analyze(operator, content, name)
        assert response.status_code == 400, (what, response.status_code, response.content[:300])
        body = response.json()
        assert list(body) == ["file"] and len(body["file"]) == 1, (what, body)
        assert reason in body["file"][0] and "Traceback" not in body["file"][0], (what, body)
        assert not AnalysisRequest.objects.exists(), what
        assert stored_files() == [victim], what


def test_size_and_picture_limits(operator, vtest_images, settings):
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"ANALYZE_MAX_BYTES": 4096})
    response = analyze(operator, vtest_images["jpeg"])
    assert response.status_code == 400
    assert response.json() == {"file": ["the file is larger than the limit of 4096 bytes"]}
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"ANALYZE_MAX_BYTES": 50 * 1024**2,
                                                               "MAX_VIDEO_PIXELS": 640 * 480})
    response = analyze(operator, vtest_images["png"], "street.png")
    assert response.status_code == 400 and "768×576: larger than accepted" in response.json()["file"][0]
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"MAX_VIDEO_PIXELS": 7680 * 4320,
                                                               "ANALYZE_MAX_DURATION_S": 1.0})
    response = analyze(operator, generated_clip(2), "two-seconds.mp4")
    assert response.status_code == 400 and "longer than accepted" in response.json()["file"][0]
    assert not AnalysisRequest.objects.exists() and stored_files() == []


def test_a_missing_file(operator):
    response = operator.post(URL, {}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()


@pytest.mark.parametrize("timeout", ["0", "-1", "abc", "nan", "inf", "10.5", ""])
def test_a_bad_timeout_is_refused_before_the_file_is_kept(operator, vtest_images, timeout):
    response = analyze(operator, vtest_images["jpeg"], timeout=timeout)
    assert response.status_code == 400, response.content
    assert response.json() == {"timeout": ["timeout must be a number of seconds above 0 and at most 10"]}
    assert not AnalysisRequest.objects.exists() and stored_files() == []


def test_the_stored_name_is_the_servers_and_never_the_clients(operator, vtest_images, queue_dir):
    """A file name with a path in it decides nothing: the file is stored as ``analyze/<request id>.jpg``
    (the extension from its probed format), and nothing is written where the name points."""
    with publishing_to():  # sent to the real broker, where no worker reads: the row keeps its file
        response = analyze(operator, vtest_images["jpeg"], "../../../../../tmp/sightline-evil.html", timeout=0.05)
    assert response.status_code == 504, response.content
    row = AnalysisRequest.objects.get(pk=response.json()["id"])
    assert row.file.name == f"analyze/{row.pk.hex}.jpg" and row.kind == "image"
    assert [p.name for p in stored_files()] == [f"{row.pk.hex}.jpg"]
    assert not Path("/tmp/sightline-evil.html").exists()
    assert not any(p.name.startswith("sightline-evil") for p in Path(settings.MEDIA_ROOT).parent.rglob("*"))


# -- the timeout, the broker ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_past_the_timeout_the_answer_is_504_and_the_poll_gets_the_result(operator, vtest_images, queue_dir):
    """GIVEN no worker runs the task in time (it waits in the real broker), WHEN the timeout passes, THEN 504
    with the request's id and poll URL; the poll says 202 while it waits; once a worker serves the waiting
    requests, the poll gets the result; the message still in the broker finds nothing to claim."""
    with publishing_to():
        response = analyze(operator, vtest_images["jpeg"], timeout=0.3)
    assert response.status_code == 504, response.content
    body = response.json()
    request_id = body["id"]
    assert body["status"] == "queued" and body["poll_url"] == f"/api/v1/analyze/{request_id}/"
    assert response["Location"] == body["poll_url"] and request_id in body["detail"]
    assert _messages_for(queue_dir, request_id) == 1
    waiting = operator.get(body["poll_url"])
    assert waiting.status_code == 202 and waiting["Retry-After"]
    assert (waiting.json()["status"], waiting.json()["result"]) == ("queued", None)
    assert on_demand.waiting() == [(uuid.UUID(request_id), 1)]

    assert on_demand.serve_waiting() == 1  # what a worker does between the batches of a long analysis

    done = operator.get(body["poll_url"])
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert len([d for d in done.json()["result"]["detections"] if d["label"] == "person"]) >= 3
    assert on_demand.analyse_request.apply(args=[request_id]).get() == "not claimed"
    assert AnalysisRequest.objects.get(pk=request_id).attempts == 1 and analysis_files() == []


def test_a_broker_that_cannot_be_reached_is_503_and_nothing_is_kept(operator, vtest_images):
    with publishing_to("redis://127.0.0.1:9/0"):  # nothing listens there
        response = analyze(operator, vtest_images["jpeg"])
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "30" and "cannot be reached" in response.json()["detail"]
    assert not AnalysisRequest.objects.exists() and stored_files() == []


def test_a_body_declaring_more_than_the_analysis_limit_is_refused_before_it_is_read(personas, cameras, settings):
    """The ASGI gate holds the analyse API to ``ANALYZE_MAX_BYTES`` (uploads keep their own, larger limit)."""
    from asgiref.sync import async_to_sync
    from knox.models import AuthToken

    from tests.security.test_hostile_uploads import _multipart, _post

    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"ANALYZE_MAX_BYTES": 1024 * 1024})
    token = AuthToken.objects.create(personas["colleague"])[1]
    body, content_type = _multipart(b"\0" * (2 * 1024 * 1024), cameras[0].pk)
    headers = [(b"host", b"localhost"), (b"content-type", content_type),
               (b"authorization", f"Token {token}".encode()), (b"content-length", str(len(body)).encode())]
    status, answer = async_to_sync(_post)(URL, body, headers)
    assert status == 413 and b"upload limit of 1048576 bytes" in answer
    status, answer = async_to_sync(_post)("/api/v1/clips/", body, headers, chunks=4)
    assert status != 413, answer  # let in, and answered for what it is (not footage), not for its size
    assert not AnalysisRequest.objects.exists()


# -- who may ask, who may read --------------------------------------------------------------------------------


def _finished_request(user) -> AnalysisRequest:
    return AnalysisRequest.objects.create(requested_by=user, kind="image", status="done", frames_analysed=1,
                                          result={"kind": "image", "model": "m", "width": 1, "height": 1,
                                                  "detections": []})


def test_viewers_may_not_analyse_or_read(personas, vtest_images):
    viewer = client_for(personas["outsider"])
    response = analyze(viewer, vtest_images["jpeg"])
    assert response.status_code == 403 and "operators and admins" in response.json()["detail"]
    assert not AnalysisRequest.objects.exists() and stored_files() == []
    own = _finished_request(personas["outsider"])
    assert viewer.get(f"{URL}{own.pk}/").status_code == 403
    from rest_framework.test import APIClient

    assert APIClient().get(f"{URL}{own.pk}/").status_code == 403
    assert analyze(APIClient(), vtest_images["jpeg"]).status_code == 403


def test_a_request_is_read_by_who_made_it_and_by_admins_only(personas):
    colleague, admin = personas["colleague"], personas["admin"]
    other = UserFactory(username="other-operator", role="operator")
    mine = _finished_request(colleague)
    assert client_for(colleague).get(f"{URL}{mine.pk}/").status_code == 200
    assert client_for(admin).get(f"{URL}{mine.pk}/").json()["id"] == str(mine.pk)
    theirs = client_for(other).get(f"{URL}{mine.pk}/")
    assert theirs.status_code == 404
    assert client_for(colleague).get(f"{URL}{uuid.uuid4()}/").status_code == 404
    assert client_for(colleague).get(f"{URL}not-a-uuid/").status_code == 404


def test_a_failed_request_reads_as_failed_with_its_reason(personas):
    row = AnalysisRequest.objects.create(requested_by=personas["colleague"], kind="clip", status="failed",
                                         error="not a readable video: invalid data found when processing input")
    response = client_for(personas["colleague"]).get(f"{URL}{row.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["result"]) == ("failed", None) and "not a readable video" in body["error"]


def test_an_expired_request_is_gone(personas):
    from datetime import timedelta

    from django.utils import timezone

    row = _finished_request(personas["colleague"])
    AnalysisRequest.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client_for(personas["colleague"]).get(f"{URL}{row.pk}/").status_code == 404
