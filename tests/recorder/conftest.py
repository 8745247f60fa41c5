"""Fixtures for the recorder: a real RTSP server (digest auth) run by the system Python, and cameras on it.

The server needs PyGObject and gst-rtsp-server, which live in the system Python, not the venv. Outside CI a
missing server skips these tests; with ``CI=true`` it fails them (a test that needs a service never skips).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from backend.cameras.models import Camera
from backend.recorder.segmenter import RecorderSettings
from tests.services import service_unavailable

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / "scripts" / "services" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
USER = "recorder"
#: The camera password; no log line, row or API response may ever contain it.
MARKER = "Rec0rder-Marker-9d2e"

FAST = RecorderSettings(segment_seconds=2.0, open_timeout_s=5.0, read_timeout_s=3.0, backoff_initial_s=0.2,
                        backoff_cap_s=1.0, lease_ttl_s=3.0, poll_s=0.5, queue_analysis=False)


def _unavailable(message: str) -> None:
    service_unavailable(f"RTSP server unavailable: {message}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RtspServer:
    footage: Path
    port: int = field(default_factory=free_port)
    stall_after: float | None = None
    mount: str = "/stream"
    password: str = MARKER
    proc: subprocess.Popen[str] | None = None

    @property
    def address(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.mount}"

    def start(self) -> RtspServer:
        args = [SYSTEM_PYTHON, str(SERVER), "--port", str(self.port), "--mount", self.mount, "--user", USER,
                "--password", self.password, "--file", str(self.footage)]
        if self.stall_after is not None:
            args += ["--stall-after", str(self.stall_after)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until READY or exit
        if line.strip() != "READY":
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            _unavailable(f"{SERVER.name} did not start: {(line + err).strip()[-800:]}")
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        self.kill()
        # The port is reused at once (gst-rtsp-server binds with SO_REUSEADDR); retry briefly anyway.
        deadline = time.monotonic() + 10
        while True:
            try:
                self.start()
                return
            except pytest.fail.Exception:
                if time.monotonic() > deadline:
                    raise


@pytest.fixture(scope="session")
def stream_footage(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of vtest.avi as H.264 with a key frame every second (10 fps), as a camera would send."""
    if not Path(SYSTEM_PYTHON).exists():
        _unavailable(f"{SYSTEM_PYTHON} is missing")
    check = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                            "from gi.repository import GstRtspServer"], capture_output=True, text=True)
    if check.returncode:
        _unavailable("the system Python lacks gst-rtsp-server bindings (apt-get install python3-gi "
                     f"gir1.2-gst-rtsp-server-1.0): {check.stderr.strip()[-400:]}")
    from analysis.transcode import transcode_to_h264

    return transcode_to_h264(vtest_path, tmp_path_factory.mktemp("rtsp") / "vtest-gop10.mp4", max_seconds=8,
                             gop=10)


@pytest.fixture
def rtsp_server(stream_footage: Path) -> Iterator[RtspServer]:
    server = RtspServer(stream_footage).start()
    yield server
    server.kill()


@pytest.fixture
def stalling_server(stream_footage: Path) -> Iterator[RtspServer]:
    server = RtspServer(stream_footage, stall_after=3.0).start()
    yield server
    server.kill()


def make_camera(server: RtspServer, name: str, password: str = MARKER) -> Camera:
    camera = Camera(name=name, stream_address=server.address, username=USER, retention_days=30)
    camera.set_password(password)
    camera.save()
    return camera


def wait_for(condition, timeout: float = 40.0, interval: float = 0.2, message: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message or condition}")
