"""The web UI end to end: a real browser, a real server, real footage analysed by the real detector."""

from __future__ import annotations

import re

import pytest

from .conftest import append_to_demo_clip, login, screenshot

pytestmark = pytest.mark.slow


def test_login_search_person_ranked_by_confidence(page, server):
    login(page, server, server.admin)
    page.get_by_test_id("tag-person").click()
    page.wait_for_url(re.compile(r"\?tag=person"))
    cards = page.get_by_test_id("result")
    cards.first.wait_for()
    confidences = [float(c) for c in cards.evaluate_all("els => els.map(e => e.dataset.confidence)")]
    assert confidences, "no results for person"
    assert all(c >= 0.5 for c in confidences), "the default minimum confidence is 0.5"
    assert confidences == sorted(confidences, reverse=True)
    assert page.get_by_test_id("histogram").is_visible()
    # Thumbnails load through the session cookie (or as blobs): at least the first one has pixels.
    page.wait_for_function("() => { const i = document.querySelector('[data-testid=result] img');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    # The query state is in the URL: reloading shows the same search.
    page.reload()
    page.get_by_test_id("result").first.wait_for()
    assert page.get_by_test_id("tag-person").get_attribute("aria-pressed") == "true"
    screenshot(page, "search")
    assert not page.js_errors


def test_histogram_drag_narrows_time_range(page, server):
    login(page, server, server.admin)
    page.goto("/?tag=person")
    hist = page.get_by_test_id("histogram")
    hist.wait_for()
    box = hist.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.up()
    page.wait_for_url(re.compile(r"start=.*end="))
    assert "tag=person" in page.url


def test_sighting_video_plays_with_box(page, server):
    login(page, server, server.admin)
    page.goto("/?tag=person")
    page.get_by_test_id("result").first.click()
    page.wait_for_url(re.compile(r"/sightings/\d+"))
    video = page.get_by_test_id("video")
    video.wait_for()
    page.wait_for_function(
        "() => { const v = document.querySelector('video'); return v && (v.readyState >= 2 || v.currentTime > 0); }",
        timeout=20_000)
    # The box follows the track and hides outside its span: look at it at the best moment, paused there.
    page.evaluate("""() => new Promise((done) => {
      const v = document.querySelector('video');
      v.pause();
      const t = parseFloat(v.src.split('#t=')[1] || '0');
      v.addEventListener('seeked', () => done(), {once: true});
      v.currentTime = t;
    })""")
    box = page.get_by_test_id("box")
    box.wait_for()
    vb, bb = video.bounding_box(), box.bounding_box()
    assert bb["width"] > 4 and bb["height"] > 4
    assert vb["x"] - 1 <= bb["x"] and bb["x"] + bb["width"] <= vb["x"] + vb["width"] + 1
    assert vb["y"] - 1 <= bb["y"] and bb["y"] + bb["height"] <= vb["y"] + vb["height"] + 1
    assert page.get_by_role("button", name="Copy link").is_visible()
    screenshot(page, "sighting")
    assert not page.js_errors


def test_viewer_sees_nothing_from_the_demo_camera(page, server):
    login(page, server, server.viewer)
    page.get_by_text("No sightings match these filters.").wait_for()
    assert page.get_by_test_id("result").count() == 0
    assert "Pedestrian street" not in page.content()
    page.goto("/cameras")
    page.get_by_text("No cameras you may see.").wait_for()
    screenshot(page, "viewer-search")


def test_cameras_page_lists_state_and_edits_in_the_app(page, server):
    login(page, server, server.admin)
    page.get_by_role("link", name="Cameras").click()
    row = page.get_by_role("row").filter(has_text="Pedestrian street (demo)")
    row.wait_for()
    # Cameras are edited in the app (test_live_cameras_ui.py), not in the Django admin.
    row.get_by_role("button", name="Edit Pedestrian street (demo)").click()
    page.get_by_role("dialog", name="Edit Pedestrian street (demo)").get_by_role("button", name="Cancel").click()
    row.get_by_role("button", name="Gaps").click()
    page.get_by_text("Never recorded: its footage is uploaded.").wait_for()
    # The analysis queue: every priority with its depth and expected wait, and whether uploads are accepted.
    queue = page.get_by_role("region", name="Analysis queue")
    queue.get_by_role("row").filter(has_text="re-analysis").wait_for()
    assert [r.inner_text().split("\t")[0] for r in queue.get_by_role("row").all()[1:]] == [
        "live", "synchronous", "upload", "re-analysis"]
    assert "frames/s" in queue.inner_text() or "No analysis worker is running" in queue.inner_text()
    screenshot(page, "cameras")


def test_upload_rejects_a_non_video_with_the_servers_message(page, server, tmp_path):
    login(page, server, server.admin)
    page.get_by_role("link", name="Upload").click()
    page.get_by_label("Camera").select_option(label="Pedestrian street (demo) (Demo)")
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 50)
    page.get_by_test_id("file").set_input_files(str(fake))
    page.get_by_test_id("start-hint").filter(has_text="does not say").wait_for()
    page.get_by_label("Recording started at").fill("2026-11-20T07:15:30")
    page.get_by_role("button", name="Upload and analyse").click()
    err = page.get_by_test_id("upload-error")
    err.wait_for()
    text = err.inner_text()
    assert text.startswith("file: "), text
    assert len(text) > len("file: ") + 5
    screenshot(page, "upload")


def append_sightings(server, tracks: list[int], confidence: float, model: str) -> None:
    """Append three detections of each track to the server's event log, from another process."""
    out = append_to_demo_clip(server, (
        f"evs = [detection(clip.id, clip.camera_id, t, 100 + 40 * i + 7 * n, {confidence}, ordinal=n,"
        f" start=clip.started_at, model={model!r}) for n, t in enumerate({tracks!r}) for i in range(3)]"))
    assert out["added"] == 3 * len(tracks)


def test_live_page_recovers_what_it_missed_during_a_dropped_connection(page, server):
    """GIVEN the live page, WHEN the server goes away, sightings are recorded meanwhile and the server comes back,
    THEN the page reconnects by itself and shows each missed sighting exactly once."""
    login(page, server, server.admin)
    page.get_by_role("link", name="Live").click()
    page.wait_for_selector("[data-testid=feed-status][data-status=live]", timeout=15_000)
    server.stop()
    page.wait_for_selector("[data-testid=feed-status]:not([data-status=live])", timeout=15_000)
    append_sightings(server, [55501, 55502], 0.91, "browser-reconnect")
    server.start()
    page.wait_for_selector("[data-testid=live-item][data-sighting='55502']", timeout=30_000)
    page.wait_for_selector("[data-testid=live-item][data-sighting='55501']", timeout=5_000)
    assert page.locator("[data-testid=live-item][data-sighting='55501']").count() == 1
    assert page.locator("[data-testid=live-item][data-sighting='55502']").count() == 1
    screenshot(page, "live-reconnected")


def test_live_page_receives_an_appended_sighting(page, server):
    login(page, server, server.admin)
    page.get_by_role("link", name="Live").click()
    page.wait_for_selector("[data-testid=feed-status][data-status=live]", timeout=15_000)
    append_sightings(server, [987654], 0.93, "browser-test")
    item = page.get_by_test_id("live-item").first
    item.wait_for(timeout=20_000)
    assert "person" in item.inner_text()
    assert "93%" in item.inner_text()
    screenshot(page, "live")
