"""The recorder's durable spool: footage survives a recorder SIGKILLed mid-segment and a failing registration.

The recorder that is killed is a real ``manage.py run_recorder`` process recording the real RTSP server; the
one that takes over is a supervisor in this process. Frames are counted by decoding every one with PyAV.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import av
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection

from backend.cameras.models import Camera
from backend.clips.models import Clip
from backend.recorder.segmenter import segment_start, spool_dir
from backend.recorder.supervisor import Supervisor
from tests.services import control, service_unavailable

from .conftest import FAST, make_camera, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]


def frames_in(path: Path) -> int:
    """Every frame decoded, start to end (raises on a file that does not play)."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


def _recorder_process(log: Path) -> subprocess.Popen:
    db = connection.settings_dict
    url = (f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}" if connection.vendor == "postgresql"
           else f"sqlite:///{db['NAME']}")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.sightline.settings", "DATABASE_URL": url,
           "SIGHTLINE_SECRET_KEY": settings.SECRET_KEY, "SIGHTLINE_DATA_DIR": str(settings.DATA_DIR)}
    with log.open("a") as out:
        return subprocess.Popen([sys.executable, "manage.py", "run_recorder", "--owner", "doomed",
                                 "--segment-seconds", "60", "--lease-ttl", "3", "--poll", "0.5"],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_a_recorder_sigkilled_mid_segment_loses_nothing(rtsp_server):
    """GIVEN a recorder process writing a long segment, WHEN it is SIGKILLed, THEN the partial segment in the
    spool plays (every frame decodes), and the recorder that claims the camera next registers it as a clip."""
    camera = make_camera(rtsp_server, "Loading bay")
    spool = Path(settings.DATA_DIR) / "spool"
    folder = spool_dir(spool, camera.pk)
    log = Path(settings.DATA_DIR) / "doomed-recorder.log"
    recorder = _recorder_process(log)
    try:
        wait_for(lambda: Camera.objects.get(pk=camera.pk).state == Camera.State.RECORDING, timeout=60,
                 message=f"the recorder process to record ({log.read_text()[-2000:] if log.exists() else ''})")
        time.sleep(4)  # a few seconds (several key frames) into its 60 s segment
    finally:
        recorder.send_signal(signal.SIGKILL)
        recorder.wait(10)
    (partial,) = list(folder.glob("*.mp4"))
    started_at = segment_start(partial)
    # What the next recorder does first with a crash's leftover: cut its torn last fragment off.
    from backend.recorder.mp4 import complete_length

    kept = complete_length(partial)
    assert 0 < kept <= partial.stat().st_size
    copy = Path(settings.DATA_DIR) / "partial-check.mp4"
    copy.write_bytes(partial.read_bytes()[:kept])
    frames = frames_in(copy)
    assert frames >= 20, "10 fps for about 4 s, up to the last complete fragment"
    assert not Clip.objects.filter(camera=camera).exists()

    takeover = Supervisor(owner="rec-b", settings=FAST).start()
    try:
        wait_for(lambda: Clip.objects.filter(camera=camera, started_at=started_at).exists(), timeout=40,
                 message="the partial segment to be registered by the next recorder")
    finally:
        takeover.stop()
    clip = Clip.objects.get(camera=camera, started_at=started_at)
    assert clip.source == Clip.Source.RECORDING and clip.duration_s == pytest.approx(frames / 10, abs=0.6)
    assert frames_in(Path(default_storage.path(clip.file.name))) == frames
    assert not partial.exists(), "out of the spool once registered"


def test_a_failing_registration_keeps_the_segment_and_retries(rtsp_server):
    """GIVEN registrations that fail (media storage cannot take the file: a plain file stands where the
    camera's folder must go), THEN the segments wait in the spool, retried with backoff, and are registered
    once storage works again; none is deleted."""
    camera = make_camera(rtsp_server, "Yard")
    blocker = Path(settings.MEDIA_ROOT) / "clips" / str(camera.pk)
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    supervisor = Supervisor(owner="rec-a", settings=FAST).start()
    try:
        wait_for(lambda: len(list(spool_dir(supervisor.work_dir, camera.pk).glob("*.mp4"))) >= 3, timeout=40,
                 message="segments waiting in the spool")
        assert not Clip.objects.filter(camera=camera).exists()
        blocker.unlink()
        wait_for(lambda: Clip.objects.filter(camera=camera).count() >= 3, timeout=40,
                 message="the waiting segments to be registered")
    finally:
        supervisor.stop()
    clips = Clip.objects.filter(camera=camera)
    assert all(frames_in(Path(default_storage.path(c.file.name))) > 0 for c in clips)
    assert not list(spool_dir(supervisor.work_dir, camera.pk).glob("*.mp4")), "every segment registered"


@pytest.mark.server
def test_postgresql_stopped_during_registration_registers_the_segments_after(rtsp_server):
    """GIVEN a recorder registering segments on PostgreSQL, WHEN the PostgreSQL server is stopped, THEN the
    segments recorded meanwhile wait in the spool, and once it is back each of them becomes a clip."""
    if connection.vendor != "postgresql":
        service_unavailable("this test stops the PostgreSQL server: it needs DATABASE_URL (server mode)")
    camera = make_camera(rtsp_server, "Dock")
    supervisor = Supervisor(owner="rec-pg", settings=FAST).start()
    folder = spool_dir(supervisor.work_dir, camera.pk)
    try:
        wait_for(lambda: Clip.objects.filter(camera=camera).exists(), timeout=40, message="a first clip")
        control("postgres", "stop")
        try:
            # Finished segments (the one being written is the newest file).
            wait_for(lambda: len(list(folder.glob("*.mp4"))) >= 4, timeout=60,
                     message="segments spooled while the database is down")
            waiting = sorted(folder.glob("*.mp4"))[:-1]
            assert not Path(settings.MEDIA_ROOT, "clips", str(camera.pk), waiting[0].name).exists()
        finally:
            control("postgres", "resume")
        connection.close()  # the test's own connection died with the server
        wait_for(lambda: not any(p.exists() for p in waiting), timeout=60,
                 message="the segments recorded during the outage to leave the spool")
    finally:
        supervisor.stop()
    # Each became a clip (spool names carry the start in milliseconds).
    for path in waiting:
        start = segment_start(path)
        assert start is not None
        (clip,) = Clip.objects.filter(camera=camera, started_at__gte=start,
                                      started_at__lt=start + timedelta(milliseconds=1))
        assert frames_in(Path(default_storage.path(clip.file.name))) > 0
