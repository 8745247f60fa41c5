"""A camera's live view in the web UI: a real browser playing real H.264 HLS through hls.js from a real server.

No RTSP camera runs here, so the test is the recorder: it writes each variant's folder where the recorder's tap
would (``live_dir`` under the server's ``DATA_DIR``) as its HLS muxer does, a sliding playlist of about one-second
MPEG-TS segments (each starting with a key frame; encoded here from vtest.avi), one more each second, the
playlist rewritten all the while (the server refuses a stale one). The variants differ in frame size, so the
picture a user is given tells which variant the server served.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from backend.recorder.live import PLAYLIST, live_dir
from tests.conftest import VTEST

from .conftest import login, screenshot
from .test_exports_ui import axe_violations, token, with_axe

pytestmark = pytest.mark.slow

WATCHER = ("live-watcher", "live-watcher-pass-123")
FPS = 10
SECONDS = 60
LIST_SIZE = 6
#: Frame size of each variant: which one the browser shows says which one it was served.
SIZES = {"faces": (320, 240), "clear": (480, 360)}
VIDEO = "document.querySelector('[data-testid=live-video]')"


def encode(folder: Path, size: tuple[int, int]) -> list[str]:
    """vtest.avi as H.264 HLS segments of 1 s (a key frame each second), all listed; their names in order."""
    import av

    folder.mkdir(parents=True)
    options = {"hls_time": "1", "hls_list_size": "0", "hls_segment_type": "mpegts",
               "hls_flags": "independent_segments", "hls_segment_filename": str(folder / "s%d.ts")}
    with av.open(str(VTEST)) as inp, av.open(str(folder / PLAYLIST), "w", format="hls", options=options) as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.time_base = Fraction(1, FPS)
        stream.codec_context.gop_size = FPS
        stream.options = {"preset": "ultrafast", "x264-params": f"keyint={FPS}:min-keyint={FPS}:scenecut=0"}
        for n, frame in enumerate(inp.decode(video=0)):
            if n >= SECONDS * FPS:
                break
            f = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            f.pts, f.time_base = n, Fraction(1, FPS)
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return [line for line in (folder / PLAYLIST).read_text().splitlines() if line and not line.startswith("#")]


class Feed(threading.Thread):
    """One variant's live folder as the recorder's tap writes it, from :meth:`go` on: the newest ``LIST_SIZE``
    segments listed (one more each second), older ones deleted, the playlist rewritten twice a second (written to
    a temporary name and renamed, as the muxer does). Before :meth:`go`, and after :meth:`stop`, no folder."""

    def __init__(self, staged: Path, names: list[str], folder: Path) -> None:
        super().__init__(daemon=True)
        self.staged, self.names, self.folder = staged, names, folder
        self._go, self._halt = threading.Event(), threading.Event()

    def go(self) -> None:
        self._go.set()

    def stop(self) -> None:
        self._halt.set()
        self._go.set()
        self.join(10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def run(self) -> None:
        self._go.wait()
        self.folder.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        while not self._halt.is_set():
            newest = min(LIST_SIZE + int(time.monotonic() - started), len(self.names))
            first = max(0, newest - LIST_SIZE)
            for n in range(first, newest):
                target = self.folder / self.names[n]
                if not target.exists():
                    shutil.copyfile(self.staged / self.names[n], self.folder / "tmp.ts")
                    os.replace(self.folder / "tmp.ts", target)
            if first >= 2:
                (self.folder / self.names[first - 2]).unlink(missing_ok=True)
            lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-TARGETDURATION:1", f"#EXT-X-MEDIA-SEQUENCE:{first}",
                     "#EXT-X-INDEPENDENT-SEGMENTS"]
            for name in self.names[first:newest]:
                lines += ["#EXTINF:1.000000,", name]
            (self.folder / "index.m3u8.tmp").write_text("\n".join(lines) + "\n")
            os.replace(self.folder / "index.m3u8.tmp", self.folder / PLAYLIST)
            self._halt.wait(0.5)


@pytest.fixture(scope="module")
def cameras(server) -> dict[str, int]:
    """A streaming camera that masks faces, one that masks plates (not maskable live), the demo's camera (uploaded
    footage: no live view), and a viewer granted all three (no unmask permission)."""
    out = server.shell(
        "import json\n"
        "from django.contrib.auth.models import User, Group\n"
        "from backend.cameras.models import Camera\n"
        "demo = Camera.objects.get(name='Pedestrian street (demo)')\n"
        "street, _ = Camera.objects.update_or_create(name='Live street', defaults={'site': 'Browser',"
        " 'stream_address': 'rtsp://127.0.0.1:9/street', 'privacy_mask': 'faces'})\n"
        "gate, _ = Camera.objects.update_or_create(name='Plates gate', defaults={'site': 'Browser',"
        " 'stream_address': 'rtsp://127.0.0.1:9/gate', 'privacy_mask': 'faces_plates'})\n"
        f"u, _ = User.objects.get_or_create(username={WATCHER[0]!r})\n"
        f"u.set_password({WATCHER[1]!r}); u.save(); u.groups.add(Group.objects.get(name='viewer'))\n"
        "for c in (demo, street, gate): c.granted_users.add(u)\n"
        "print(json.dumps({'demo': demo.id, 'street': street.id, 'gate': gate.id}))\n"
    )
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> dict[str, tuple[Path, list[str]]]:
    root = tmp_path_factory.mktemp("live-segments")
    return {variant: (root / variant, encode(root / variant, size)) for variant, size in SIZES.items()}


@pytest.fixture
def feeds(server, staged):
    """``feed(camera, variant)``: a :class:`Feed` of that camera's view in the server's data folder (started)."""
    made: list[Feed] = []

    def feed(camera: int, variant: str, *, go: bool = True, segments: str | None = None) -> Feed:
        folder = server.data_dir / live_dir(camera, variant).relative_to(settings.SIGHTLINE.DATA_DIR)
        f = Feed(*staged[segments or variant], folder)
        f.start()
        if go:
            f.go()
        made.append(f)
        return f

    yield feed
    for f in made:
        f.stop()


def watch_requests(page) -> list[dict]:
    """Every live request the page makes from now on: its path and query, status and Authorization header."""
    seen: list[dict] = []

    def on_response(r) -> None:
        url = urlsplit(r.url)
        if "/live/" in url.path:
            seen.append({"url": url.path + (f"?{url.query}" if url.query else ""), "status": r.status,
                         "auth": r.request.headers.get("authorization", "")})

    page.on("response", on_response)
    return seen


def until(page, check, timeout_s: float = 10) -> None:
    """Wait (letting the page's events in) until ``check()``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(100)


def wait_playing(page, width: int, timeout: float = 30_000) -> None:
    """The live video shows frames of ``width`` pixels, and its time moves on by over a second."""
    page.wait_for_function(f"() => {{ const v = {VIDEO}; return v && v.readyState >= 2 && v.videoWidth === {width}; }}",
                           timeout=timeout)
    t0 = page.evaluate(f"() => {VIDEO}.currentTime")
    page.wait_for_function(f"() => {VIDEO}.currentTime > {t0} + 1.0 && {VIDEO}.videoWidth === {width}",
                           timeout=20_000)
    assert page.evaluate(f"() => !{VIDEO}.paused")


def test_the_cameras_page_opens_the_live_view_which_starts_plays_masked_and_unmasks(page, server, cameras, feeds):
    with_axe(page)
    login(page, server, server.admin)
    faces = feeds(cameras["street"], "faces", go=False)  # the tap has not written a segment yet: 202
    feeds(cameras["street"], "clear")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cameras").click()
    row = page.get_by_role("row").filter(has_text="Live street")
    row.wait_for()
    assert page.get_by_role("row").filter(has_text="Pedestrian street (demo)").get_by_role(
        "link", name="Watch live").count() == 0, "uploaded footage: no live view"
    requests = watch_requests(page)
    row.get_by_role("link", name="Watch live").click()
    page.wait_for_url(re.compile(rf"/cameras/{cameras['street']}/live$"))
    page.get_by_role("heading", name=re.compile("Live street")).wait_for()
    status = page.get_by_test_id("live-status")
    assert status.inner_text() == "Starting…" and status.get_attribute("role") == "status"
    until(page, lambda: len([r for r in requests if "index.m3u8" in r["url"]]) >= 2)
    assert [r["status"] for r in requests if "index.m3u8" in r["url"]][:2] == [202, 202], requests
    assert page.get_by_test_id("live-video").get_attribute("src") is None, "no player before the view started"

    faces.go()
    wait_playing(page, SIZES["faces"][0])
    assert status.count() == 0
    assert page.get_by_test_id("masked-badge").inner_text() == "Faces masked"
    assert page.get_by_label("Live view of Live street").evaluate("v => v.muted && v.autoplay && v.playsInline")
    segments = [r for r in requests if r["url"].endswith(".ts")]
    assert segments and all(r["status"] == 200 and r["auth"].startswith("Token ") for r in segments), segments
    assert not any("unmask" in r["url"] for r in requests)
    toggle = page.get_by_role("switch", name="Show unmasked")
    assert toggle.is_visible() and not toggle.is_checked()
    violations = axe_violations(page)
    assert not violations, violations
    screenshot(page, "live-masked")

    # The admin may unmask: the stream is reloaded, unmasked (the clear variant), every request saying so.
    done = len(requests)
    toggle.check()
    page.get_by_test_id("unmasked-badge").wait_for()
    wait_playing(page, SIZES["clear"][0])
    later = requests[done:]
    assert later and all("unmask=1" in r["url"] for r in later), later
    assert any(r["url"].endswith(".ts?unmask=1") and r["status"] == 200 for r in later), later
    toggle.uncheck()
    wait_playing(page, SIZES["faces"][0])

    # Leaving the page stops the player: the playlist is no longer fetched (the view stops when idle).
    page.get_by_role("link", name="Back to cameras").click()
    page.wait_for_url(re.compile(r"/cameras$"))
    page.wait_for_timeout(500)
    left = len(requests)
    page.wait_for_timeout(3000)
    assert len(requests) == left, requests[left:]
    assert not page.js_errors


def test_a_viewer_gets_the_masked_view_without_a_switch(page, server, cameras, feeds):
    feeds(cameras["street"], "faces")
    feeds(cameras["street"], "clear")
    login(page, server, WATCHER)
    requests = watch_requests(page)
    page.goto(f"/cameras/{cameras['street']}/live")  # a deep link: the server serves the app there
    wait_playing(page, SIZES["faces"][0])
    assert page.get_by_test_id("masked-badge").inner_text() == "Faces masked"
    assert page.get_by_role("switch", name="Show unmasked").count() == 0
    assert requests and not any("unmask" in r["url"] for r in requests)
    # Asked unmasked anyway, the server refuses: what the switch would have done is not possible for them.
    r = page.request.get(f"/api/v1/cameras/{cameras['street']}/live/index.m3u8?unmask=1",
                         headers={"Authorization": f"Token {token(page)}"})
    assert r.status == 403
    assert not page.js_errors


def test_a_camera_without_a_live_view_says_why_and_one_masking_plates_plays(page, server, cameras, feeds):
    with_axe(page)
    login(page, server, WATCHER)
    page.goto("/cameras")
    page.get_by_role("row").filter(has_text="Live street").get_by_role("link", name="Watch live").wait_for()
    assert page.get_by_role("row").filter(has_text="Pedestrian street (demo)").get_by_role(
        "link", name="Watch live").count() == 0
    page.goto(f"/cameras/{cameras['demo']}/live")
    alert = page.get_by_test_id("live-failed").get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == "This camera does not stream: it has no live view."
    assert page.get_by_test_id("live-video").count() == 0
    violations = axe_violations(page)
    assert not violations, violations
    screenshot(page, "live-no-view")
    # A camera that masks plates plays its own masked view (the faces view's segments stand in for it here).
    feeds(cameras["gate"], "faces_plates", segments="faces")
    page.goto(f"/cameras/{cameras['gate']}/live")
    wait_playing(page, SIZES["faces"][0])
    page.goto("/cameras/999999/live")
    page.get_by_role("alert").filter(has_text="No such camera (or not one you may see).").wait_for()
    assert not page.js_errors
