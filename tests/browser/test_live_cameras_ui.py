"""The Live and Cameras pages as an officer and an admin use them (issue 15, items 8 and 9), in a real browser at
desktop and phone sizes, with axe-core on every page and dialog: camera tiles and an honest feed status, uploads
marked on the live list, Search's filter chips applied at once; a cameras table that fits, problems in plain words
(the raw reason for admins only), "Disabled" and "Never recorded" where they are true, and camera management in the
app (add, edit, delete) with a write-only password.

No recorder runs here: the test writes the camera rows as the recorder would (state, last error, its lease).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from .conftest import screenshot
from .test_exports_ui import api, axe_violations

pytestmark = pytest.mark.slow

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]
TILE_VIEWER = ("tile-viewer", "tile-viewer-pass-123")
RAW = "[Errno 5] Input/output error"
PASSWORD = "Ui-Marker-Pa55-9d1e"
GREEN = "rgb(111, 220, 140)"  # --ok


@pytest.fixture(scope="module")
def tiles(server) -> Iterator[dict[str, int]]:
    """Cameras in each state the recorder leaves them in, a recording clip, and a viewer granted them all."""
    out = server.shell(
        "import json\n"
        "from datetime import timedelta\n"
        "from django.contrib.auth.models import Group, User\n"
        "from django.utils import timezone\n"
        "from backend.cameras.models import Camera\n"
        "from backend.clips.models import Clip\n"
        "now = timezone.now()\n"
        "lease = {'lease_owner': 'browser-test', 'lease_expires_at': now + timedelta(hours=3)}\n"
        "rows = [('recording', 'Tile recording', {'state': 'offline', **lease}),\n"
        f"  ('io', 'Tile unreachable', {{'state': 'offline', 'last_error': {RAW!r},"
        " 'last_seen_at': now - timedelta(hours=2), **lease}),\n"
        f"  ('disabled', 'Tile disabled', {{'enabled': False, 'state': 'disabled', 'last_error': {RAW!r}}}),\n"
        "  ('never', 'Tile never seen', {})]\n"
        "made = {}\n"
        "for key, name, fields in rows:\n"
        "    made[key] = Camera.objects.update_or_create(name=name, defaults={'site': 'Tiles',"
        " 'stream_address': f'rtsp://127.0.0.1:9/{key}', **fields})[0]\n"
        "made['clip'] = Clip.objects.get_or_create(camera=made['recording'], source='recording',"
        " defaults={'file': 'clips/tile-recording.mp4', 'started_at': now - timedelta(minutes=1)})[0]\n"
        "made['demo'] = Camera.objects.get(name='Pedestrian street (demo)')\n"
        f"u, _ = User.objects.get_or_create(username={TILE_VIEWER[0]!r})\n"
        f"u.set_password({TILE_VIEWER[1]!r}); u.save(); u.groups.add(Group.objects.get(name='viewer'))\n"
        "for key in ('recording', 'io', 'disabled', 'never'): made[key].granted_users.add(u)\n"
        "print(json.dumps({k: v.id for k, v in made.items()}))\n"
    )
    made = json.loads(out.strip().splitlines()[-1])
    yield made
    # Streaming cameras count towards the analysis the live cameras need (uploads wait for it): off again.
    server.shell("from backend.cameras.models import Camera\n"
                 "Camera.objects.filter(site='Tiles').update(enabled=False, lease_owner='', lease_expires_at=None)\n")


@pytest.fixture
def not_recording(server, tiles):
    """The recording camera back to offline (its recorder holds it, no video yet) before each test."""
    set_recording(server, tiles["recording"], False)


def set_recording(server, camera_id: int, on: bool) -> None:
    server.shell(
        "from django.utils import timezone\n"
        "from backend.cameras.models import Camera\n"
        f"Camera.objects.filter(pk={camera_id}).update(state={'recording' if on else 'offline'!r},"
        f" last_seen_at={'timezone.now()' if on else 'None'})\n")


def assert_axe_clean(page) -> None:
    violations = axe_violations(page)
    assert violations == [], violations


def assert_page_fits(page) -> None:
    """The page itself does not scroll sideways (only a table inside its own box may); else name what sticks out."""
    wide = page.evaluate("""() => document.documentElement.scrollWidth <= window.innerWidth ? [] :
      [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1
        && !e.closest('.cams-scroll')).slice(0, 8)
        .map((e) => `${e.tagName}.${e.className} ${e.getBoundingClientRect().right}`)""")
    assert wide == [], wide


def expected_recorders(page) -> int:
    """Cameras that ought to record (enabled, with a stream), as the API says."""
    status, cams = api(page, "GET", "/api/v1/cameras/")
    assert status == 200
    return sum(c["status"] not in ("disabled", "uploads") for c in cams)


def append_tracks(server, tracks: list[tuple[int, int, str, float]]) -> None:
    """Append a confirmed track (three detections) per ``(clip, track, label, confidence)``, in that order (their
    times follow from the track id, so that each call's events have natural keys of their own)."""
    code = (
        "import json\n"
        "from backend.clips.models import Clip\n"
        "from backend.eventlog.log import EventLog\n"
        "from tests.factories import detection\n"
        "evs = []\n"
        f"for n, (clip_id, track, label, conf) in enumerate({tracks!r}):\n"
        "    clip = Clip.objects.get(pk=clip_id)\n"
        "    evs += [detection(clip.id, clip.camera_id, track, 1000 * (track % 1000) + 40 * i, conf, label=label,"
        " ordinal=n,"
        " start=clip.started_at, model='browser-live-cams') for i in range(3)]\n"
        "print(json.dumps({'added': EventLog.append(evs)}))\n"
    )
    out = server.shell(code)
    assert json.loads(out.strip().splitlines()[-1])["added"] == 3 * len(tracks)


def demo_clip(server) -> dict:
    out = server.shell("import json\nfrom backend.clips.models import Clip\n"
                       "c = Clip.objects.filter(source='upload').order_by('id').first()\n"
                       "print(json.dumps({'id': c.id, 'started_at': c.started_at.isoformat()}))\n")
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def tile(page, name: str):
    return page.get_by_test_id("camera-tile").filter(has=page.get_by_role("heading", name=name, exact=True))


# Live ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_live_page_shows_camera_tiles_and_is_not_live_while_nothing_records(open_page, server, tiles, not_recording,
                                                                            viewport):
    page = open_page(viewport)
    page.goto("/live")
    status = page.get_by_test_id("feed-status")
    page.wait_for_selector("[data-testid=feed-status][data-status=live]", timeout=15_000)
    n = expected_recorders(page)
    assert n >= 3
    page.wait_for_function(f"() => document.querySelector('[data-testid=feed-status]').textContent"
                           f" === 'Connected · 0 of {n} cameras recording'")
    assert status.evaluate("e => getComputedStyle(e).color") != GREEN
    assert status.locator(".dot").evaluate("e => getComputedStyle(e).backgroundColor") != GREEN
    assert "Live" not in status.inner_text()

    # One tile per camera: its status from the recorder, when video last came, the problem in plain words.
    for name, state in [("Tile recording", "Offline"), ("Tile unreachable", "Error"), ("Tile disabled", "Disabled"),
                        ("Tile never seen", "Offline")]:
        assert tile(page, name).get_by_test_id("camera-status").inner_text() == state, name
    assert tile(page, "Tile unreachable").get_by_test_id("camera-problem").inner_text() == (
        "Camera unreachable (input/output error)")
    assert "2 h ago" in tile(page, "Tile unreachable").inner_text()
    assert tile(page, "Tile disabled").get_by_test_id("camera-problem").count() == 0, "an old error is history"
    assert "Last video never" in tile(page, "Tile never seen").inner_text()
    assert RAW not in page.content()
    # The demo camera has sightings: its tile shows the newest one's picture and says it is uploaded footage.
    demo = tile(page, "Pedestrian street (demo)")
    assert demo.get_by_test_id("camera-status").inner_text() == "Uploads only"
    demo.get_by_role("img", name=re.compile("^Latest sighting on Pedestrian street")).wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=camera-tile] img')]"
                           ".some((i) => i.complete && i.naturalWidth > 0)")
    assert tile(page, "Tile never seen").get_by_text("No sightings yet").is_visible()
    assert_page_fits(page)
    assert_axe_clean(page)
    screenshot(page, f"live-tiles-{viewport['width']}")

    # A camera starts recording: the page reads the cameras again and only now says "Live", in green.
    set_recording(server, tiles["recording"], True)
    page.wait_for_function(f"() => document.querySelector('[data-testid=feed-status]').textContent"
                           f" === 'Live · 1 of {n} cameras recording'", timeout=20_000)
    assert status.evaluate("e => getComputedStyle(e).color") == GREEN
    assert tile(page, "Tile recording").get_by_test_id("camera-status").inner_text() == "Recording"
    assert not page.js_errors


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_live_list_marks_uploads_and_filters_with_searchs_chips_at_once(open_page, server, tiles, viewport):
    page = open_page(viewport)
    page.goto("/live")
    page.wait_for_selector("[data-testid=feed-status][data-status=live]", timeout=15_000)
    assert page.get_by_role("button", name="Apply").count() == 0, "no free text + Apply: chips apply at once"
    assert page.get_by_role("textbox").count() == 0
    upload = demo_clip(server)
    base = 7_100_000 + viewport["width"] * 10
    append_tracks(server, [(upload["id"], base + 1, "person", 0.6), (tiles["clip"], base + 2, "person", 0.55)])
    recorded = page.locator(f"[data-testid=live-item][data-sighting='{base + 2}']")
    uploaded = page.locator(f"[data-testid=live-item][data-sighting='{base + 1}']")
    recorded.wait_for(timeout=20_000)
    uploaded.wait_for()
    # The upload is marked, with its footage's own time; the recording is not.
    assert uploaded.get_by_test_id("upload-badge").inner_text() == "Upload"
    assert uploaded.get_attribute("data-source") == "upload"
    footage_day = upload["started_at"][:10]
    assert re.search(rf"footage from {footage_day} \d\d:\d\d:\d\d UTC", uploaded.inner_text()), uploaded.inner_text()
    assert recorded.get_by_test_id("upload-badge").count() == 0 and "footage from" not in recorded.inner_text()
    assert_axe_clean(page)
    screenshot(page, f"live-upload-marked-{viewport['width']}")

    # A camera chip: applied at once, to the list shown and to the feed (it reconnects with the filter).
    chip = page.get_by_test_id(f"live-camera-{tiles['recording']}")
    assert chip.get_attribute("aria-pressed") == "false"
    chip.click()
    assert chip.get_attribute("aria-pressed") == "true"
    uploaded.wait_for(state="detached")
    assert recorded.is_visible()
    page.wait_for_selector("[data-testid=feed-status][data-status=live]", timeout=15_000)
    # The feed now sends only that camera: of a demo sighting then one of the recording camera, only the latter.
    append_tracks(server, [(upload["id"], base + 3, "person", 0.7), (tiles["clip"], base + 4, "car", 0.7)])
    page.locator(f"[data-testid=live-item][data-sighting='{base + 4}']").wait_for(timeout=20_000)
    assert page.locator(f"[data-testid=live-item][data-sighting='{base + 3}']").count() == 0
    # A tag chip (its label seen in the feed, or known from Search's facets): only cars now.
    car = page.get_by_test_id("live-tag-car")
    car.click()
    assert car.get_attribute("aria-pressed") == "true"
    recorded.wait_for(state="detached")
    assert page.get_by_test_id("live-item").count() == 1
    assert_axe_clean(page)
    assert not page.js_errors


# Cameras -------------------------------------------------------------------------------------------------------

def camera_row(page, name: str):
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name, exact=True))


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_cameras_table_fits_and_says_what_is_wrong_in_plain_words(open_page, tiles, not_recording, viewport):
    page = open_page(viewport)
    page.goto("/cameras")
    row = camera_row(page, "Tile unreachable")
    row.wait_for()
    assert_page_fits(page)
    edit = row.get_by_role("button", name="Edit Tile unreachable")
    if viewport is DESKTOP:
        box = edit.bounding_box()
        assert box and box["x"] + box["width"] <= DESKTOP["width"], box
        table = page.get_by_test_id("cameras-table")
        assert table.evaluate("e => e.scrollWidth <= e.clientWidth"), "the table fits at 1440 px"
    else:
        edit.scroll_into_view_if_needed()
        box = edit.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        assert_page_fits(page)

    problem = row.get_by_test_id("camera-problem")
    assert problem.inner_text().startswith("Camera unreachable (input/output error)")
    raw = row.get_by_test_id("camera-raw-error")
    assert not raw.is_visible(), "the raw reason is behind Details"
    row.get_by_text("Details").click()
    assert raw.inner_text() == RAW
    assert row.get_by_test_id("camera-status").inner_text() == "Error"

    disabled = camera_row(page, "Tile disabled")
    assert disabled.get_by_test_id("camera-status").inner_text() == "Disabled"
    assert disabled.get_by_test_id("camera-problem").inner_text() == "—"

    never = camera_row(page, "Tile never seen")
    never.get_by_role("button", name="Gaps").click()
    page.get_by_text("Never recorded.").wait_for()
    assert page.get_by_text("No recording gaps").count() == 0
    assert_axe_clean(page)
    screenshot(page, f"cameras-{viewport['width']}")


def test_a_viewer_gets_plain_words_and_no_raw_reason_or_management(open_page, tiles):
    page = open_page(PHONE, who=TILE_VIEWER)
    page.goto("/cameras")
    row = camera_row(page, "Tile unreachable")
    row.wait_for()
    assert row.get_by_test_id("camera-problem").inner_text() == "Camera unreachable (input/output error)"
    assert RAW not in page.content() and row.get_by_text("Details").count() == 0
    assert page.get_by_role("button", name=re.compile("^(Add camera|Edit|Delete)")).count() == 0
    assert_axe_clean(page)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_an_admin_adds_edits_and_deletes_a_camera_in_the_app(open_page, viewport):
    page = open_page(viewport)
    bodies: list[bytes] = []

    def keep(response) -> None:  # read at once: a body is gone once the browser drops the resource
        if "/api/" in response.url and response.status not in (204, 304):
            bodies.append(response.body())

    page.on("response", keep)
    page.goto("/cameras")
    page.get_by_role("button", name="Add camera").click()
    dialog = page.get_by_role("dialog", name="Add a camera")
    dialog.wait_for()
    assert_axe_clean(page)
    name = f"UI camera {viewport['width']}"
    dialog.get_by_label("Name", exact=True).fill(name)
    # The address is checked by the API, as everywhere; its message is shown at the field.
    dialog.get_by_label("Stream address").fill("http://192.168.50.10/live")
    dialog.get_by_role("button", name="Add camera").click()
    error = dialog.get_by_test_id("cam-stream_address-error")
    error.wait_for()
    assert "rtsp://" in error.inner_text()
    assert dialog.get_by_label("Stream address").get_attribute("aria-invalid") == "true"
    assert_axe_clean(page)
    dialog.get_by_label("Stream address").fill("rtsp://192.168.50.10:554/live")
    dialog.get_by_label("User name").fill("cam-user")
    dialog.get_by_label("Password", exact=True).fill(PASSWORD)
    dialog.get_by_label("Analysis rate (frames per second)").fill("3")
    dialog.get_by_role("button", name="Add camera").click()
    dialog.wait_for(state="detached")
    row = camera_row(page, name)
    row.wait_for()
    _, cams = api(page, "GET", "/api/v1/cameras/")
    made = next(c for c in cams if c["name"] == name)
    assert made["has_password"] and made["analysis_fps"] == 3 and made["username"] == "cam-user"
    assert made["stream_address"] == "rtsp://192.168.50.10:554/live" and made["status"] == "offline"

    # Edit: everything but the password is filled in; the password is never shown, and kept when left empty.
    row.get_by_role("button", name=f"Edit {name}").click()
    dialog = page.get_by_role("dialog", name=f"Edit {name}")
    dialog.wait_for()
    assert dialog.get_by_label("Stream address").input_value() == "rtsp://192.168.50.10:554/live"
    assert dialog.get_by_label("Password", exact=True).input_value() == ""
    assert dialog.get_by_text("A password is set.").is_visible()
    assert_axe_clean(page)
    dialog.get_by_label("Name", exact=True).fill(name + " east")
    dialog.get_by_role("checkbox", name=re.compile("^Enabled")).uncheck()
    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="detached")
    row = camera_row(page, name + " east")
    row.wait_for()
    assert row.get_by_test_id("camera-status").inner_text() == "Disabled"
    _, edited = api(page, "GET", f"/api/v1/cameras/{made['id']}/")
    assert edited["has_password"] and not edited["enabled"]

    # Delete, after a confirmation (Cancel keeps it).
    row.get_by_role("button", name=f"Delete {name} east").click()
    confirm = page.get_by_role("dialog", name=f"Delete {name} east?")
    confirm.wait_for()
    assert_axe_clean(page)
    confirm.get_by_role("button", name="Cancel").click()
    confirm.wait_for(state="detached")
    assert row.is_visible()
    row.get_by_role("button", name=f"Delete {name} east").click()
    confirm.get_by_role("button", name="Delete camera").click()
    confirm.wait_for(state="detached")
    row.wait_for(state="detached")
    assert api(page, "GET", f"/api/v1/cameras/{made['id']}/")[0] == 404
    assert_page_fits(page)
    # The password went out in one request and never came back: not in a response, not on the page.
    assert len(bodies) > 5 and not any(PASSWORD.encode() in b for b in bodies)
    assert PASSWORD not in page.content()
    assert not page.js_errors
