"""Hostile uploads get nowhere: a corpus of over 100 bad files, playlists that read server files, pixel bombs,
stored XSS through a file name, and bodies refused before they are read.

Uploads go through the real API (and, for the gate, the real ASGI application); probing runs in its real
child process; accepted files are analysed for real (tasks run eagerly, in this process).
"""

from __future__ import annotations

import json
import resource
from pathlib import Path

import pytest
from django.conf import settings

from backend.cameras.models import Masking
from backend.clips.models import Clip
from tests.api.test_uploads import stored_clip_files, upload
from tests.conftest import client_for
from tests.security.corpus import _png, corpus

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_media")]


@pytest.fixture(scope="module")
def short_clip(vtest_path, tmp_path_factory) -> Path:
    from analysis.transcode import transcode_to_h264

    return transcode_to_h264(vtest_path, tmp_path_factory.mktemp("corpus") / "clip-2s.mp4", max_seconds=2)


def test_the_bad_upload_corpus_gets_a_reason_each_and_never_a_server_error(personas, cameras, short_clip):
    client = client_for(personas["colleague"])
    lobby, _ = cameras
    victim = Path(settings.MEDIA_ROOT) / "victim.mp4"
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_bytes(short_clip.read_bytes())
    outcomes: dict[str, list[str]] = {"refused": [], "accepted": []}
    cases = list(corpus(short_clip, victim))
    assert len(cases) >= 100
    for what, name, content in cases:
        Clip.objects.filter(camera=lobby).delete()
        response = upload(client, lobby.pk, content, name)
        assert response.status_code in (200, 202, 400), (what, response.status_code, response.content[:300])
        if response.status_code == 400:
            reason = response.json()["file"][0]
            assert reason and "Traceback" not in reason, what
            outcomes["refused"].append(f"{what}: {reason}")
        else:
            clip = Clip.objects.get(pk=response.json()["id"])
            # Analysed (eagerly, in this process): it ends, done or failed with a reason; never stuck.
            assert clip.status in (Clip.Status.DONE, Clip.Status.FAILED), (what, clip.status)
            assert clip.status == Clip.Status.DONE or clip.error, what
            assert Path(clip.file.name).suffix in {".mp4", ".mkv", ".webm", ".avi", ".ts"}, (what, clip.file.name)
            outcomes["accepted"].append(what)
    print(json.dumps({k: len(v) for k, v in outcomes.items()}), *outcomes["refused"], sep="\n")
    refused = "\n".join(outcomes["refused"])
    for must_refuse in ("playlist", "ffconcat", "pixel bomb", "GIF", "HTML page", "SVG", "audio only",
                        "no samples", "huge dimensions"):
        assert must_refuse in refused, f"{must_refuse} was accepted"
    assert "real clip as MKV" in outcomes["accepted"] and "real clip named .html" in outcomes["accepted"]


def test_a_playlist_cannot_read_a_file_of_the_server(personas, cameras, short_clip, tmp_path):
    """An .m3u8 naming another clip's file on the server used to be accepted and read."""
    client = client_for(personas["colleague"])
    secret = tmp_path / "other-camera.mp4"
    secret.write_bytes(short_clip.read_bytes())
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{secret}\n#EXT-X-ENDLIST\n".encode()
    response = upload(client, cameras[0].pk, playlist, "innocent.m3u8")
    assert response.status_code == 400
    assert not Clip.objects.exists() and not stored_clip_files()


def test_a_pixel_bomb_never_grows_the_web_process(personas, cameras):
    client = client_for(personas["colleague"])
    bomb = _png(16000, 16000)
    assert len(bomb) < 1024 * 1024, "a small file that would decode to 256 MB (grey) or 768 MB (RGB)"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    response = upload(client, cameras[0].pk, bomb, "bomb.mp4")
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert response.status_code == 400
    assert grown_kib < 64 * 1024, f"the web process grew by {grown_kib // 1024} MiB"


def test_picture_and_duration_caps_come_from_the_headers(personas, cameras, short_clip, settings):
    client = client_for(personas["colleague"])
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"MAX_VIDEO_PIXELS": 640 * 480})
    response = upload(client, cameras[0].pk, short_clip.read_bytes())
    assert response.status_code == 400 and "768×576: larger than accepted" in response.json()["file"][0]
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"MAX_VIDEO_PIXELS": 7680 * 4320,
                                                               "MAX_VIDEO_DURATION_S": 1.0})
    response = upload(client, cameras[0].pk, short_clip.read_bytes())
    assert response.status_code == 400 and "longer than accepted" in response.json()["file"][0]


def test_a_probe_that_needs_too_much_memory_is_stopped_in_its_child(short_clip, settings):
    from analysis.decode import UnreadableVideo, VideoLimits
    from analysis.probe_sandbox import SandboxLimits, probe_isolated

    with pytest.raises(UnreadableVideo, match="memory"):
        probe_isolated(short_clip, VideoLimits(), SandboxLimits(memory_bytes=48 * 1024**2))
    assert probe_isolated(short_clip, VideoLimits()).info.width == 768


def test_a_file_name_never_decides_how_media_is_served(personas, cameras, short_clip):
    """Stored XSS: footage uploaded as ``evil.html`` is stored and served as video, sandboxed, never as a
    page; a stored file of any other type goes out as a download."""
    client = client_for(personas["colleague"])
    cameras[0].privacy_mask = Masking.NONE  # the stored file itself is served, not a masked rendition
    cameras[0].save(update_fields=["privacy_mask"])
    response = upload(client, cameras[0].pk, short_clip.read_bytes(), "evil.html")
    assert response.status_code == 202
    clip = Clip.objects.get(pk=response.json()["id"])
    assert clip.file.name.endswith(".mp4") and clip.original_name == "evil.html"
    video = client.get(f"/api/v1/clips/{clip.pk}/video/")
    assert video["Content-Type"] == "video/mp4"
    assert video["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in video["Content-Security-Policy"]
    # A file stored under a name of another time (an upload from before this check) is only a download.
    legacy = Path(clip.file.path).with_suffix(".html")
    Path(clip.file.path).rename(legacy)
    Clip.objects.filter(pk=clip.pk).update(file=str(Path(clip.file.name).with_suffix(".html")))
    served = client.get(f"/api/v1/clips/{clip.pk}/video/")
    assert served["Content-Type"] == "application/octet-stream"
    assert served["Content-Disposition"] == "attachment" and "sandbox" in served["Content-Security-Policy"]


async def _post(path: str, body: bytes, headers: list[tuple[bytes, bytes]], *, chunks: int = 1):
    """POST to the real ASGI application, streaming ``body`` in ``chunks`` as a client would."""
    from asgiref.testing import ApplicationCommunicator

    from backend.sightline.asgi import application

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 40000), "server": ("localhost", 80)}
    communicator = ApplicationCommunicator(application, scope)
    size = max(1, -(-len(body) // chunks))
    parts = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
    for n, part in enumerate(parts):
        await communicator.send_input({"type": "http.request", "body": part, "more_body": n < len(parts) - 1})
    start = await communicator.receive_output(60)
    chunks_out = []
    while True:
        message = await communicator.receive_output(60)
        chunks_out.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    await communicator.wait(10)
    return start["status"], b"".join(chunks_out)


def _multipart(content: bytes, camera: int) -> tuple[bytes, bytes]:
    boundary = b"sightlineboundary"
    body = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="camera"\r\n\r\n' + str(camera).encode()
            + b"\r\n--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="x.mp4"\r\n'
            b"Content-Type: video/mp4\r\n\r\n" + content + b"\r\n--" + boundary + b"--\r\n")
    return body, b"multipart/form-data; boundary=" + boundary


def test_large_bodies_are_refused_before_they_are_read(personas, cameras, settings):
    from asgiref.sync import async_to_sync
    from knox.models import AuthToken

    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"MAX_UPLOAD_BYTES": 3 * 1024 * 1024})
    token = AuthToken.objects.create(personas["colleague"])[1]
    async_to_sync(_gate_scenario)(token, cameras[0].pk)


async def _gate_scenario(token: str, camera: int) -> None:
    big, content_type = _multipart(b"\0" * (2 * 1024 * 1024), camera)
    host = [(b"host", b"localhost")]

    def headers(*extra: tuple[bytes, bytes], length: int | None = None) -> list[tuple[bytes, bytes]]:
        out = [*host, (b"content-type", content_type), *extra]
        return out + ([(b"content-length", str(length).encode())] if length is not None else [])

    # Not signed in: 401, whatever the body.
    status, body = await _post("/api/v1/clips/", big, headers(length=len(big)))
    assert status == 401 and b"sign in" in body
    # Declares more than the limit: 413 at once.
    auth = (b"authorization", f"Token {token}".encode())
    status, body = await _post("/api/v1/clips/", b"", headers(auth, length=10 * 1024**3))
    assert status == 413 and b"upload limit" in body
    # Streams more than the limit without declaring a length: cut off, 413.
    huge, _ = _multipart(b"\0" * (4 * 1024 * 1024), camera)
    status, body = await _post("/api/v1/clips/", huge, headers(auth), chunks=16)
    assert status == 413
    # Signed in and within the limit: Django gets it (and refuses it for what it is, not for its size).
    status, body = await _post("/api/v1/clips/", big, headers(auth, length=len(big)), chunks=4)
    assert status == 400 and b"not a readable video" in body


def test_real_cctv_footage_in_its_own_container_and_codec_is_accepted(personas, cameras, vtest_path):
    """The allow-lists must not refuse what cameras really produce: MS-MPEG4 in AVI (vtest.avi)."""
    client = client_for(personas["colleague"])
    with vtest_path.open("rb") as f:
        from django.core.files.uploadedfile import SimpleUploadedFile

        response = client.post("/api/v1/clips/", {"camera": cameras[0].pk,
                                                  "file": SimpleUploadedFile("vtest.avi", f.read())},
                               format="multipart")
    assert response.status_code == 202, response.content
    clip = Clip.objects.get(pk=response.json()["id"])
    assert clip.file.name.endswith(".avi") and clip.codec == "msmpeg4"
