"""Live view with faces masked, from the recorder's own connection (backend/recorder/live.py, live_api.py).

The camera is the real RTSP server (digest auth) streaming footage with real faces (``analysis.eval.faces``),
recorded by a real supervisor; viewers fetch the live playlist and segments through the real API, the way a
player does, and what they get is decoded and searched for faces with the site's own face detector at the
analysis settings (``FACE_INPUT_SIDE``, ``FACE_MIN_CONFIDENCE``), which finds the faces on every frame of
the source and of the unmasked live view (checked too, so that "no face found" means masked, not missed).

The endpoint's rules without a camera (variants, 409s, staleness, path traversal, the playlist's rewriting,
audit once a viewing) are tested on live folders written by the test; the tap's dropping of whole GOPs on
packets handed to it directly.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import logging
import os
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from analysis.faces import get_face_detector
from backend.cameras.models import Camera
from backend.eventlog.models import Event, EventType
from backend.recorder import live
from backend.recorder.live import PLAYLIST, ClearTap, Item, LiveSettings, MaskedTap, live_dir, mask_boxes
from backend.recorder.models import LiveViewer
from backend.recorder.supervisor import Supervisor
from tests.factories import CameraFactory, UserFactory

from .conftest import FAST, SYSTEM_PYTHON, RtspServer, _unavailable, make_camera, wait_for
from .test_recorder import assert_no_secret_anywhere, recordings

FPS = 10
SIZE = (640, 360)


def with_key_frames(src: Path, dst: Path, every: int) -> Path:
    """``src`` re-encoded (libx264, B-frames kept) with a key frame every ``every`` frames, as cameras send."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        in_stream = inp.streams.video[0]
        rate = int(in_stream.average_rate or FPS)
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = in_stream.width, in_stream.height, "yuv420p"
        stream.time_base = Fraction(1, rate)
        stream.codec_context.gop_size = every
        stream.options = {"crf": "18", "preset": "veryfast"}
        for n, frame in enumerate(inp.decode(in_stream)):
            copy = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
            copy.pts, copy.time_base = n, Fraction(1, rate)
            out.mux(stream.encode(copy))
        out.mux(stream.encode(None))
    return dst


def face_footage(folder: Path, *, seconds: float = 8.0, size: tuple[int, int] = SIZE, fps: int = FPS) -> Path:
    from analysis.eval.faces import make_face_clip

    raw = folder / "faces-raw.mp4"
    make_face_clip(raw, seconds=seconds, fps=fps, size=size)
    return with_key_frames(raw, folder / "faces-gop.mp4", fps)


@pytest.fixture(scope="session")
def faces_footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of moving real faces over a brick wall, 640×360 at 10 fps, a key frame every second."""
    if not Path(SYSTEM_PYTHON).exists():
        _unavailable(f"{SYSTEM_PYTHON} is missing")
    check = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                            "from gi.repository import GstRtspServer"], capture_output=True, text=True)
    if check.returncode:
        _unavailable(f"the system Python lacks gst-rtsp-server bindings: {check.stderr.strip()[-400:]}")
    return face_footage(tmp_path_factory.mktemp("live"))


@pytest.fixture
def faces_server(faces_footage: Path):  # type: ignore[no-untyped-def]
    server = RtspServer(faces_footage).start()
    yield server
    server.kill()


@pytest.fixture
def live_settings(settings):  # type: ignore[no-untyped-def]
    """Short demand (4 s after the last fetch) and a quick poll, so the test sees a tap stop."""
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"LIVE_IDLE_S": 4.0, "LIVE_POLL_S": 0.3})
    return settings.SIGHTLINE


def playlist_url(camera: Camera, unmask: bool = False) -> str:
    return f"/api/v1/cameras/{camera.pk}/live/{PLAYLIST}" + ("?unmask=1" if unmask else "")


def listed(body: str) -> list[str]:
    return [line for line in body.splitlines() if line and not line.startswith("#")]


def number(name: str) -> int:
    return int(name[1:-3])


Segments = list[tuple[str, bytes]]


def watch(camera: Camera, viewers: list[tuple[object, bool, int]], timeout: float = 90.0) -> list[Segments]:
    """Play like players do, for each (client, unmask, segments wanted) at once: fetch the playlist every half
    second, download each new segment it lists, until each has its segments; (name, bytes) in order."""
    got: list[dict[str, bytes]] = [{} for _ in viewers]
    deadline = time.monotonic() + timeout
    while any(len(g) < wanted for g, (_, _, wanted) in zip(got, viewers, strict=True)):
        assert time.monotonic() < deadline, f"only {[len(g) for g in got]} live segments in {timeout} s"
        for g, (client, unmask, _) in zip(got, viewers, strict=True):
            response = client.get(playlist_url(camera, unmask))  # type: ignore[attr-defined]
            assert response["Cache-Control"] == "no-store"
            if response.status_code == 202:
                assert int(response["Retry-After"]) >= 1
                continue
            assert response.status_code == 200, response.content[:300]
            assert response["Content-Type"] == "application/vnd.apple.mpegurl"
            for uri in listed(response.content.decode()):
                assert uri.endswith("?unmask=1") == unmask, uri
                name = uri.split("?")[0]
                if name in g or (g and number(name) < max(map(number, g))):
                    continue
                segment = client.get(f"/api/v1/cameras/{camera.pk}/live/{uri}")  # type: ignore[attr-defined]
                if segment.status_code == 404:
                    continue  # it slid out of the window meanwhile
                assert segment.status_code == 200
                assert segment["Content-Type"] == "video/mp2t" and segment["Cache-Control"] == "no-store"
                g[name] = b"".join(segment.streaming_content) if segment.streaming else segment.content
        time.sleep(0.5)
    return [sorted(g.items(), key=lambda kv: number(kv[0])) for g in got]


def decode_segments(segments: Segments) -> list[av.VideoFrame]:
    """Every frame of each segment (decoded on its own, as a player that joins there would): every packet
    gives a frame and timestamps only go forward, within and across segments."""
    frames: list[av.VideoFrame] = []
    last = None
    for name, data in segments:
        with av.open(io.BytesIO(data), format="mpegts") as container:
            stream = container.streams.video[0]
            packets = decoded = 0
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                packets += 1
                for frame in packet.decode():
                    decoded += 1
                    assert last is None or frame.pts > last, f"{name}: timestamps go back"
                    last = frame.pts
                    frames.append(frame)
            for frame in stream.codec_context.decode(None):
                decoded += 1
                frames.append(frame)
            assert packets > 0 and decoded == packets, f"{name}: {decoded} of {packets} frames decode"
    return frames


def faces_on(frames, detector, threshold: float) -> list[float]:  # type: ignore[no-untyped-def]
    """The best face score on each frame (0 where none is found)."""
    scores = []
    for frame in frames:
        found = detector.detect(frame.to_ndarray(format="rgb24"), min_confidence=threshold)
        scores.append(max((d.confidence for d in found), default=0.0))
    return scores


def audit_actions(action: str) -> list[dict]:
    return [e.data for e in Event.objects.filter(type=EventType.AUDIT).order_by("seq") if e.data["action"] == action]


@pytest.mark.django_db(transaction=True)
def test_live_view_masks_every_face_while_the_recording_goes_on(faces_server, faces_footage, live_settings,
                                                                 caplog):
    caplog.set_level(logging.DEBUG)
    camera = make_camera(faces_server, "Entrance")
    assert camera.privacy_mask == Camera.Masking.FACES
    viewer = UserFactory(username="watcher", role="viewer")
    camera.granted_users.add(viewer)
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    session = Client()  # a browser's HLS player: the session cookie
    session.force_login(viewer)
    token = APIClient()  # another client: an API token in the Authorization header
    token.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(root)[1]}")

    first = session.get(playlist_url(camera))
    assert first.status_code == 202 and first["Retry-After"] == "1", "nothing is made before someone asks"
    assert not live_dir(camera.pk, "faces").exists() or not any(live_dir(camera.pk, "faces").glob("*.ts"))

    supervisor = Supervisor(owner="rec-live", settings=dataclasses.replace(FAST, segment_seconds=3.0)).start()
    try:
        # A viewer (masked) and an admin asking for the unmasked view, at the same time.
        masked, clear = watch(camera, [(session, False, 5), (token, True, 3)])
        # A viewer may not ask for the unmasked view, neither its playlist nor a segment of it.
        assert session.get(playlist_url(camera, unmask=True)).status_code == 403
        assert session.get(f"/api/v1/cameras/{camera.pk}/live/{clear[-1][0]}?unmask=1").status_code == 403
        worker = supervisor.workers[camera.pk]
        assert set(worker.live.taps) == {"faces", "clear"}
        assert worker.connections == 1, "the live view used the recorder's connection, not a second one"
        wait_for(lambda: len(recordings(camera)) >= 2, timeout=60, message="recorded segments")
        # Nobody fetches the playlist any more: the taps stop LIVE_IDLE_S later and remove their folders.
        wait_for(lambda: not worker.live.taps and not any(t.is_alive() for t in worker.live.history),
                 timeout=30, message="the live taps to stop")
        assert not live_dir(camera.pk, "faces").exists() and not live_dir(camera.pk, "clear").exists()
        assert not LiveViewer.objects.filter(camera=camera, wanted_until__gte=timezone.now()).exists()
        assert worker.is_alive() and worker.connections == 1, "recording went on, on the same connection"
        stats = {tap.variant: tap.stats for tap in worker.live.history}
    finally:
        supervisor.stop()

    detector = get_face_detector()
    threshold = live_settings.FACE_MIN_CONFIDENCE
    # The source has faces the detector finds on every frame; so has the unmasked live view.
    with av.open(str(faces_footage)) as source:
        source_scores = faces_on(list(source.decode(video=0)), detector, threshold)
    assert min(source_scores) >= threshold, "the test footage shows a detectable face on every frame"
    clear_scores = faces_on(decode_segments(clear), detector, threshold)
    assert min(clear_scores) >= threshold, "the unmasked live view shows the faces"

    frames = decode_segments(masked)
    assert len(frames) >= 4 * FPS
    masked_scores = faces_on(frames, detector, threshold)
    leaked = [(i, s) for i, s in enumerate(masked_scores) if s >= threshold]
    assert not leaked, f"faces found on masked live frames: {leaked[:10]}"
    assert all(f.to_ndarray(format="gray").std() > 10 for f in frames), "masked frames still show the scene"

    # The recording is the camera's own picture (not masked, not disturbed) and registered as clips.
    clips = recordings(camera)
    assert len(clips) >= 2
    with av.open(default_storage.path(clips[0].file.name)) as recorded:
        picture = next(recorded.decode(video=0))
        assert (picture.width, picture.height) == SIZE
        assert faces_on([picture], detector, threshold)[0] >= threshold

    # Audited once a viewing, not once a fetch or segment.
    lives = audit_actions("camera.live")
    assert [(e["username"], e["details"]["masking"]) for e in lives] == [("watcher", "faces"), ("root", "none")]
    assert [e["details"]["what"] for e in audit_actions("footage.unmask")] == ["live"]
    assert_no_secret_anywhere(caplog)

    for variant, s in stats.items():
        delays = sorted(s.segment_delays)
        print(f"\nlive {variant}: {s.frames_out} frames at {s.fps:.1f} fps (camera {FPS}), "
              f"{s.detections} detections ({1000 * s.detect_s / max(1, s.detections):.0f} ms each), "
              f"{s.dropped_gops} GOPs dropped; segment listed after its first frame's capture: "
              f"{[round(d, 2) for d in delays]} s; frame to muxer: "
              f"{sorted(s.frame_delays)[len(s.frame_delays) // 2]:.2f} s median")
    print(f"face scores: source min {min(source_scores):.2f}, clear live min {min(clear_scores):.2f}, "
          f"masked live max {max(masked_scores):.2f} over {len(frames)} frames")


def plates_footage(folder: Path) -> Path:
    from analysis.eval.plates import write_clip

    raw = folder / "plates-raw.mp4"
    write_clip(raw, frames=60, size=(960, 540))
    return with_key_frames(raw, folder / "plates-gop.mp4", FPS)


def vtest_footage(folder: Path) -> Path:
    from analysis.transcode import transcode_to_h264

    raw = transcode_to_h264(Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi"), folder / "vtest.mp4",
                            max_seconds=8)
    return with_key_frames(raw, folder / "vtest-gop.mp4", FPS)


def persons_on(frames, detector, threshold: float) -> list[int]:  # type: ignore[no-untyped-def]
    """Persons the object detector finds (from ``threshold``) on each frame."""
    from analysis.decode import fit_to_square

    counts = []
    for frame in frames:
        square, _, _ = fit_to_square(frame, detector.input_size)
        counts.append(sum(d.label == "person" for d in detector.detect(square[None], threshold)[0]))
    return counts


def plates_on(frames, detector) -> list[int]:  # type: ignore[no-untyped-def]
    """Plates the plate finder finds on each frame, in the vehicles the object detector finds there."""
    from analysis.decode import fit_to_square
    from analysis.plates import get_plate_finder

    finder = get_plate_finder()
    counts = []
    for frame in frames:
        square, _, _ = fit_to_square(frame, detector.input_size)
        vehicles = detector.detect(square[None], 0.3)[0]
        counts.append(len(finder.find(frame.to_ndarray(format="rgb24"), vehicles)))
    return counts


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("masking", ["persons", "faces_plates"])
def test_live_view_masks_persons_or_plates_with_the_object_detector(masking, tmp_path, live_settings, caplog):
    """The object detector runs live on cameras that mask persons or plates: vtest.avi's pedestrians, or a
    car with a plate driving towards the camera, streamed by the real RTSP server; what the detectors find on
    the unmasked live view they do not find on the masked one."""
    from analysis.detectors.registry import get_detector

    footage = vtest_footage(tmp_path) if masking == "persons" else plates_footage(tmp_path)
    server = RtspServer(footage).start()
    try:
        camera = make_camera(server, "Street")
        Camera.objects.filter(pk=camera.pk).update(privacy_mask=masking)
        viewer = UserFactory(username="watcher", role="viewer")
        camera.granted_users.add(viewer)
        root = UserFactory(username="root", is_staff=True, is_superuser=True)
        session, boss = client(viewer), client(root)
        supervisor = Supervisor(owner="rec-live", settings=dataclasses.replace(FAST, segment_seconds=3.0)).start()
        try:
            masked, clear = watch(camera, [(session, False, 4), (boss, True, 4)], timeout=150)
            worker = supervisor.workers[camera.pk]
            assert set(worker.live.taps) == {masking, "clear"}
            stats = worker.live.history[0].stats if worker.live.history[0].variant == masking else \
                worker.live.history[1].stats
        finally:
            supervisor.stop()
    finally:
        server.kill()

    detector = get_detector()
    clear_frames, masked_frames = decode_segments(clear), decode_segments(masked)
    assert len(masked_frames) >= 3 * FPS
    if masking == "persons":
        seen, hidden = persons_on(clear_frames, detector, 0.5), persons_on(masked_frames, detector, 0.5)
    else:
        seen, hidden = plates_on(clear_frames, detector), plates_on(masked_frames, detector)
    assert sum(seen) >= len(clear_frames) // 2, f"the unmasked live view shows them: {seen}"
    assert sum(hidden) == 0, f"found on masked live frames: {hidden}"
    assert all(f.to_ndarray(format="gray").std() > 10 for f in masked_frames), "masked frames show the scene"
    assert_no_secret_anywhere(caplog)
    print(f"\nlive {masking}: {stats.frames_out} frames at {stats.fps:.1f} fps (camera {FPS}), "
          f"{stats.detections} detections ({1000 * stats.detect_s / max(1, stats.detections):.0f} ms each), "
          f"{stats.dropped_gops} GOPs dropped; found unmasked {sum(seen)} on {len(clear_frames)} frames, "
          f"masked {sum(hidden)} on {len(masked_frames)}")


# -- the endpoint's rules, on folders written here ----------------------------------------------------------

@pytest.fixture
def live_folders(tmp_path, settings):  # type: ignore[no-untyped-def]
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"DATA_DIR": tmp_path})
    (tmp_path / "secret.txt").write_text("TOPSECRET")
    return tmp_path


def fake_view(camera: Camera, variant: str, content: bytes, numbers: tuple[int, ...] = (100, 101)) -> Path:
    folder = live_dir(camera.pk, variant)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-TARGETDURATION:1", f"#EXT-X-MEDIA-SEQUENCE:{numbers[0]}"]
    for n in numbers:
        (folder / f"s{n}.ts").write_bytes(content)
        lines += ["#EXTINF:1.000000,", f"s{n}.ts"]
    (folder / PLAYLIST).write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def streaming(db):  # type: ignore[no-untyped-def]
    """A camera that streams (no recorder runs: its live folders are written by the tests), a viewer granted
    it, and an admin."""
    camera = CameraFactory(name="Hall", stream_address="rtsp://127.0.0.1:9/stream")
    viewer = UserFactory(username="v", role="viewer")
    camera.granted_users.add(viewer)
    root = UserFactory(username="boss", is_staff=True, is_superuser=True)
    return camera, viewer, root


def client(user) -> Client:  # type: ignore[no-untyped-def]
    c = Client()
    c.force_login(user)
    return c


def test_each_user_gets_only_the_variant_they_may_see(live_folders, streaming):
    camera, viewer, root = streaming
    fake_view(camera, "faces", b"masked picture")
    fake_view(camera, "clear", b"UNMASKED picture")
    you, boss = client(viewer), client(root)

    assert b"UNMASKED" not in b"".join(you.get(f"/api/v1/cameras/{camera.pk}/live/s100.ts").streaming_content)
    assert you.get(f"/api/v1/cameras/{camera.pk}/live/s100.ts?unmask=1").status_code == 403
    assert you.get(playlist_url(camera, unmask=True)).status_code == 403
    plain = you.get(playlist_url(camera))
    assert plain.status_code == 200 and listed(plain.content.decode()) == ["s100.ts", "s101.ts"]
    assert plain["Cache-Control"] == "no-store" and plain["X-Content-Type-Options"] == "nosniff"

    unmasked = boss.get(playlist_url(camera, unmask=True))
    assert listed(unmasked.content.decode()) == ["s100.ts?unmask=1", "s101.ts?unmask=1"]
    segment = boss.get(f"/api/v1/cameras/{camera.pk}/live/s101.ts?unmask=1")
    assert b"".join(segment.streaming_content) == b"UNMASKED picture"
    assert segment["Content-Type"] == "video/mp2t" and segment["Cache-Control"] == "no-store"
    assert b"".join(boss.get(f"/api/v1/cameras/{camera.pk}/live/s101.ts").streaming_content) == b"masked picture"

    # A camera that masks nothing: the one unmasked view for everyone (no 403 for asking).
    Camera.objects.filter(pk=camera.pk).update(privacy_mask=Camera.Masking.NONE)
    assert b"".join(you.get(f"/api/v1/cameras/{camera.pk}/live/s100.ts").streaming_content) == b"UNMASKED picture"
    # Plates and persons: each masking's own view, for the viewer and for the admin who does not unmask.
    for masking in (Camera.Masking.FACES_PLATES, Camera.Masking.PERSONS):
        Camera.objects.filter(pk=camera.pk).update(privacy_mask=masking)
        fake_view(camera, masking, f"{masking} masked".encode())
        for c in (you, boss):
            assert b"".join(c.get(f"/api/v1/cameras/{camera.pk}/live/s100.ts").streaming_content) == \
                f"{masking} masked".encode()
        assert you.get(playlist_url(camera, unmask=True)).status_code == 403
        assert b"".join(boss.get(f"/api/v1/cameras/{camera.pk}/live/s100.ts?unmask=1").streaming_content) == \
            b"UNMASKED picture"


def test_cameras_one_may_not_see_or_that_do_not_stream(live_folders, streaming):
    camera, viewer, _ = streaming
    hidden = CameraFactory(name="Vault", stream_address="rtsp://127.0.0.1:9/vault")
    fake_view(hidden, "faces", b"masked")
    you = client(viewer)
    assert you.get(playlist_url(hidden)).status_code == 404
    assert you.get(f"/api/v1/cameras/{hidden.pk}/live/s100.ts").status_code == 404
    assert Client().get(playlist_url(camera)).status_code == 403, "anonymous"
    uploads_only = CameraFactory(name="Uploads")
    uploads_only.granted_users.add(viewer)
    assert you.get(playlist_url(uploads_only)).status_code == 409
    Camera.objects.filter(pk=camera.pk).update(enabled=False)
    assert you.get(playlist_url(camera)).status_code == 409


def test_a_playlist_not_written_lately_is_not_served(live_folders, streaming):
    camera, viewer, _ = streaming
    folder = fake_view(camera, "faces", b"masked")
    you = client(viewer)
    assert you.get(playlist_url(camera)).status_code == 200
    old = time.time() - 60
    os.utime(folder / PLAYLIST, (old, old))  # its tap died (a crashed recorder) and left it behind
    stale = you.get(playlist_url(camera))
    assert stale.status_code == 202 and stale["Retry-After"] == "1"


@pytest.mark.parametrize("name", [
    "..%2F..%2F..%2Fsecret.txt", "..%2Fclear%2Fs100.ts", "%2e%2e%2f%2e%2e%2fsecret.txt", "..", "%2e%2e",
    "%2Fetc%2Fpasswd", "..%5C..%5Csecret.txt", "s100.ts%00", "s100.ts%2F", "S100.TS", "s100.ts.tmp",
    "index.m3u8.tmp", "s-1.ts", "s100.mp4", "s" + "1" * 21 + ".ts", "%73100.ts%3Funmask%3D1",
])
def test_segment_names_are_checked_before_the_file_system(live_folders, streaming, name):
    camera, viewer, _ = streaming
    fake_view(camera, "faces", b"masked")
    fake_view(camera, "clear", b"UNMASKED")
    (live_dir(camera.pk, "faces") / "s100.ts.tmp").write_bytes(b"half written")
    for path in (f"/api/v1/cameras/{camera.pk}/live/{name}", f"/api/v1/cameras/{camera.pk}/live//{name}",
                 f"/api/v1/cameras/{camera.pk}/live/x/{name}"):
        response = client(viewer).get(path)
        assert response.status_code in (400, 404), (path, response.status_code)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert b"TOPSECRET" not in body and b"UNMASKED" not in body and b"half" not in body


def test_absolute_and_traversing_paths_reach_no_file(live_folders, streaming):
    camera, viewer, _ = streaming
    fake_view(camera, "faces", b"masked")
    you = client(viewer)
    for path in (f"/api/v1/cameras/{camera.pk}/live/../../../secret.txt",
                 f"/api/v1/cameras/{camera.pk}/live/{live_folders}/secret.txt",
                 f"/api/v1/cameras/{camera.pk}/live/%2F{str(live_folders).lstrip('/')}%2Fsecret.txt"):
        response = you.get(path)
        assert response.status_code in (400, 404), (path, response.status_code)
        assert b"TOPSECRET" not in (b"".join(response.streaming_content) if response.streaming
                                    else response.content)
    assert you.get(f"/api/v1/cameras/{camera.pk}/live/s100.ts").status_code == 200, "a real name is served"


def test_a_viewing_is_audited_once_and_keeps_the_view_wanted(live_folders, streaming, settings):
    camera, viewer, _ = streaming
    fake_view(camera, "faces", b"masked")
    you = client(viewer)
    for _ in range(3):
        assert you.get(playlist_url(camera)).status_code == 200
    row = LiveViewer.objects.get(camera=camera, user=viewer)
    assert row.variant == "faces" and row.wanted_until > timezone.now()
    idle = settings.SIGHTLINE.LIVE_IDLE_S
    assert row.wanted_until <= timezone.now() + timezone.timedelta(seconds=idle)
    assert len(audit_actions("camera.live")) == 1
    for _ in range(2):
        you.get(f"/api/v1/cameras/{camera.pk}/live/s100.ts")
    assert len(audit_actions("camera.live")) == 1, "segments are not audited"
    # The viewing ended (nobody fetched for LIVE_IDLE_S): the next fetch is a new viewing.
    LiveViewer.objects.filter(pk=row.pk).update(wanted_until=timezone.now() - timezone.timedelta(seconds=1))
    you.get(playlist_url(camera))
    assert len(audit_actions("camera.live")) == 2
    assert LiveViewer.objects.filter(camera=camera).count() == 1, "one row a viewer, reused"


# -- the tap ---------------------------------------------------------------------------------------------

def items(footage: Path) -> tuple[av.video.stream.VideoStream, av.container.InputContainer, list[Item]]:
    container = av.open(str(footage))
    stream = container.streams.video[0]
    packets = [Item(bytes(p), p.pts, p.dts, p.duration or 0, p.is_keyframe, time.time())
               for p in container.demux(stream) if p.pts is not None]
    return stream, container, packets


def test_a_tap_that_falls_behind_drops_whole_gops_and_never_blocks(faces_footage, settings):
    stream, container, packets = items(faces_footage)
    try:
        conf = dataclasses.replace(LiveSettings.current(), queue_packets=FPS)
        tap = MaskedTap(1, stream, conf)  # not started: nobody empties its queue
        starts = [i for i, p in enumerate(packets) if p.key] + [len(packets)]
        gops = [packets[a:b] for a, b in itertools.pairwise(starts)]
        assert [len(g) for g in gops[:3]] == [FPS] * 3, "a key frame a second"
        tap.offer(gops[0][3])  # before any key frame: nothing could decode it
        assert tap._queue.qsize() == 0
        started = time.monotonic()
        for packet in gops[0] + gops[1]:
            tap.offer(packet)  # the second GOP finds the queue full
        assert time.monotonic() - started < 1.0
        assert tap.stats.full_dropped_gops == 1 and tap.stats.full_dropped_packets == FPS
        queued = [tap._queue.get_nowait() for _ in range(tap._queue.qsize())]
        assert queued == gops[0]
        for packet in gops[2]:
            tap.offer(packet)
        queued = [tap._queue.get_nowait() for _ in range(tap._queue.qsize())]
        assert queued == gops[2], "taken up again at the next key frame, whole"
        assert tap.stats.dropped_gops == 1

        # Packets that waited longer than LIVE_MAX_BEHIND_S: the tap skips their GOP, whole.
        late = dataclasses.replace(conf, queue_packets=100)
        tap = ClearTap(2, stream, late)
        old = [dataclasses.replace(p, arrived=time.time() - 10 * late.max_behind_s) for p in gops[0]]
        for packet in old + gops[1]:
            tap.offer(packet)
        tap._queue.put(live._END)  # what stop() sends (which also ends the loop at once)
        assert list(tap.items()) == gops[1]
        assert tap.stats.late_dropped_gops == 1 and tap.stats.late_dropped_packets == FPS
        tap.close_output()
    finally:
        container.close()


def test_masks_cover_both_detections_and_the_path_between():
    before, after = [(0.10, 0.10, 0.20, 0.30)], [(0.15, 0.12, 0.25, 0.32)]
    far = (0.70, 0.70, 0.80, 0.90)
    boxes = mask_boxes([far], before, after, padding=0.25)
    assert (0.10, 0.10, 0.25, 0.32) in boxes, "the hull of a face that moved"
    assert far in boxes
    assert before[0] not in boxes and after[0] not in boxes, "inside the hull: not masked twice"
    apart = mask_boxes([], [(0.1, 0.1, 0.2, 0.2)], [(0.6, 0.6, 0.7, 0.7)], padding=0.25)
    assert sorted(apart) == [(0.1, 0.1, 0.2, 0.2), (0.6, 0.6, 0.7, 0.7)], "two faces: no hull across the frame"
