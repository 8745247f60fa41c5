"""Defects an officer found in the search page, each checked in a real browser against the demo's real data:
the card's time and the order it sorts by, the header count, the histogram, bad link parameters (and unknown
pages), empty states and the upload's start time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api.test_uploads import with_creation_time

from .conftest import open_filters, screenshot
from .test_exports_ui import api, axe_violations

pytestmark = pytest.mark.slow

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]
EMPTY = "No sightings match these filters."


def assert_axe_clean(page) -> None:
    violations = axe_violations(page)
    assert violations == [], violations


def header_count(page) -> int:
    """The number in "Sightings (N)", once the search has answered."""
    h = page.locator("#results-h .muted")
    page.wait_for_function("() => /^\\(\\d+\\)$/.test(document.querySelector('#results-h .muted').textContent)")
    page.get_by_text("Loading…").wait_for(state="detached")
    return int(h.inner_text().strip("()"))


def api_total(page, query: str) -> int:
    n, cursor = 0, None
    while True:
        status, data = api(page, "GET", f"/api/v1/search/?{query}&page_size=200&facets=false"
                                         + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, data
        n += len(data["results"])
        cursor = data["next_cursor"]
        if not cursor:
            return n


def query_of(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_card_shows_the_whole_time_first_with_its_zone(open_page, viewport, zone):
    page = open_page(viewport, timezone_id=zone)
    card = page.get_by_test_id("result").first
    card.wait_for()
    page.wait_for_function("() => document.querySelector('[data-testid=result] img')?.complete")
    info = card.evaluate("""(a) => {
      const meta = a.querySelector('.meta'), t = meta.querySelector('[data-testid=result-time]');
      const cam = meta.querySelector('[data-testid=result-camera]');
      const cr = a.getBoundingClientRect();
      const spans = [...t.querySelectorAll('span')].map((s) => {
        const r = s.getBoundingClientRect();
        return {text: s.textContent, inside: r.left >= cr.left - 0.5 && r.right <= cr.right + 0.5,
                cut: s.scrollWidth > Math.ceil(r.width) + 1};
      });
      return {first: meta.firstElementChild === t, text: t.textContent, datetime: t.getAttribute('datetime'),
              numeric: getComputedStyle(t).fontVariantNumeric, overflow: getComputedStyle(t).textOverflow,
              tCut: t.scrollWidth > t.clientWidth + 1, spans, camTitle: cam.title, camText: cam.textContent,
              expectZone: new Intl.DateTimeFormat(undefined, {timeZoneName: 'short'}).formatToParts(
                new Date(t.getAttribute('datetime'))).find((p) => p.type === 'timeZoneName').value};
    }""")
    assert info["first"], "the time comes first on the card"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+", info["text"]), info["text"]
    assert info["text"].endswith(" " + info["expectZone"])
    assert info["expectZone"] == "UTC" if zone == "UTC" else re.fullmatch(r"GMT\+[12]|CES?T", info["expectZone"])
    assert "tabular-nums" in info["numeric"]
    assert not info["tCut"] and info["overflow"] != "ellipsis"
    assert all(s["inside"] and not s["cut"] for s in info["spans"]), info["spans"]
    # The camera name may be cut, but its full text is in the tooltip.
    assert info["camTitle"] == info["camText"] == "Pedestrian street (demo)"
    screenshot(page, f"officer-card-{viewport['width']}-{zone.replace('/', '-')}")
    assert_axe_clean(page)
    assert not page.js_errors


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_header_count_is_the_number_of_results_matching_the_filters(open_page, viewport):
    page = open_page(viewport)
    page.goto("/?tag=person")
    chip = page.get_by_test_id("tag-person")
    page.wait_for_function("() => document.querySelector('[data-testid=tag-person] .count')")
    n = header_count(page)
    assert n == int(chip.locator(".count").inner_text())
    assert n == api_total(page, "tag=person&min_confidence=0.5") > 0
    # Without a tag it is every sighting at the default confidence.
    page.goto("/")
    assert header_count(page) == api_total(page, "min_confidence=0.5")
    # An unknown tag matches nothing: the header says so, above the one empty message.
    page.goto("/?tag=zebra")
    assert header_count(page) == 0
    page.get_by_text(EMPTY).wait_for()
    assert page.get_by_test_id("result").count() == 0
    assert page.get_by_test_id("tag-zebra").get_attribute("aria-pressed") == "true"
    assert not page.js_errors


def load_every_card(page, expected: int) -> list[dict]:
    """Scroll until the grid holds ``expected`` cards; each card's shown start (and end, when a span)."""
    cards = page.get_by_test_id("result")
    for _ in range(40):
        if cards.count() >= expected:
            break
        page.mouse.wheel(0, 20000)
        page.wait_for_timeout(150)
    assert cards.count() == expected
    return cards.evaluate_all("""(as) => as.map((a) => {
      const w = a.querySelector('[data-testid=result-time]');
      const ts = w.tagName === 'TIME' ? [w] : [...w.querySelectorAll('time')];
      return {id: Number(a.getAttribute('href').split('?')[0].split('/').pop()), text: w.textContent,
              start: Date.parse(ts[0].getAttribute('datetime')), began: w.hasAttribute('data-began-before'),
              end: ts.length > 1 ? Date.parse(ts[1].getAttribute('datetime')) : null};
    })""")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_oldest_first_is_the_order_of_the_times_shown(viewport, open_page):
    page = open_page(viewport)
    page.goto("/?sort=time&min_confidence=0")
    shown = load_every_card(page, header_count(page))
    starts = [c["start"] for c in shown]
    assert starts == sorted(starts), "cards in the order of the times they show"
    # The time shown is the sighting's start, the time the API sorts by.
    status, data = api(page, "GET", "/api/v1/search/?sort=time&min_confidence=0&page_size=200&facets=false")
    assert status == 200
    by_id = {r["id"]: r for r in data["results"]}
    for c in shown:
        if c["id"] in by_id:
            assert c["start"] == int(datetime.fromisoformat(by_id[c["id"]]["start"]).timestamp() * 1000)
    assert not any(c["began"] for c in shown), "no window: no spans"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_sighting_that_began_before_the_window_shows_its_span(viewport, open_page):
    page = open_page(viewport)
    def span(r: dict) -> timedelta:
        return datetime.fromisoformat(r["end"]) - datetime.fromisoformat(r["start"])

    status, data = api(page, "GET", "/api/v1/search/?sort=-confidence&min_confidence=0&page_size=200&facets=false")
    assert status == 200
    longest = max(data["results"], key=span)
    assert span(longest) > timedelta(seconds=4), "the demo has sightings lasting seconds"
    start = datetime.fromisoformat(longest["start"]) + span(longest) / 2
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    window = f"start={iso(start)}&end={iso(start + timedelta(seconds=20))}"
    page.goto(f"/?sort=time&min_confidence=0&{window}")
    shown = load_every_card(page, header_count(page))
    lo = start.timestamp() * 1000
    earlier = [c for c in shown if c["start"] < lo]
    assert longest["id"] in {c["id"] for c in earlier}
    for c in shown:
        # Every card says when it was seen: inside the window, or a span from before it into it.
        assert c["began"] == (c["start"] < lo), c
        if c["began"]:
            assert c["end"] is not None and c["end"] >= lo, c
            assert "began earlier" in c["text"] and " – " in c["text"], c["text"]
    assert [c["start"] for c in shown] == sorted(c["start"] for c in shown)
    assert_axe_clean(page)
    assert not page.js_errors


def url_range(page) -> tuple[datetime, datetime]:
    q = query_of(page)
    return datetime.fromisoformat(q["start"][0]), datetime.fromisoformat(q["end"][0])


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_histogram_under_an_hour_has_seconds_tooltips_presets_zoom_and_keyboard_handles(open_page, viewport):
    page = open_page(viewport)
    status, data = api(page, "GET", "/api/v1/search/?sort=time&min_confidence=0&page_size=1&facets=false")
    assert status == 200
    first = datetime.fromisoformat(data["results"][0]["start"])
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    page.goto(f"/?min_confidence=0&start={iso(first)}&end={iso(first + timedelta(seconds=20))}")
    hist = page.get_by_test_id("histogram")
    hist.wait_for()
    # The axis of a 20-second chart names seconds, and its ends differ.
    labels = page.get_by_test_id("histogram-axis").locator("span").all_inner_texts()
    assert all(re.search(r"\d\d:\d\d:\d\d$", t) for t in labels), labels
    assert len(set(labels)) == 3, labels
    # Hovering a bar says its interval and how many sightings it holds.
    bar = hist.locator("rect.bar").first
    bar.scroll_into_view_if_needed()
    box = bar.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] - 1)
    tip = page.get_by_test_id("histogram-tip")
    tip.wait_for()
    assert re.search(r"\d\d:\d\d:\d\d – \d\d:\d\d:\d\d: \d+ sightings?$", tip.inner_text()), tip.inner_text()
    page.mouse.move(0, 0)
    # Keyboard: the start handle moves by one bar per arrow key; Enter applies.
    handle = page.get_by_test_id("handle-start")
    handle.focus()
    assert handle.get_attribute("role") == "slider"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page.wait_for_function("(t) => new URL(location.href).searchParams.get('start') !== t", arg=iso(first))
    s, e = url_range(page)
    assert first < s < e == first + timedelta(seconds=20), (s, e)
    assert page.get_by_test_id("handle-end").get_attribute("aria-valuetext")
    # Zoom out: three times as wide around the same middle.
    before = url_range(page)
    page.get_by_test_id("zoom-out").click()
    page.wait_for_function("(t) => new URL(location.href).searchParams.get('start') !== t", arg=iso(before[0]))
    s, e = url_range(page)
    assert e - s == 3 * (before[1] - before[0])
    assert s + (e - s) / 2 == before[0] + (before[1] - before[0]) / 2
    # A preset: the last hour, ending now.
    page.get_by_test_id("preset-1h").click()
    page.wait_for_function("() => { const q = new URL(location.href).searchParams;"
                           " return Date.parse(q.get('end')) - Date.parse(q.get('start')) === 3600000; }")
    s, e = url_range(page)
    assert abs((e - datetime.now(tz=s.tzinfo)).total_seconds()) < 120
    screenshot(page, f"officer-histogram-{viewport['width']}")
    assert_axe_clean(page)
    assert not page.js_errors


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_bad_link_parameters_are_named_and_the_url_normalised(open_page, server, viewport):
    page = open_page(viewport)
    page.goto("/?tag=person&min_confidence=abc")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "min_confidence must be a number between 0 and 1: ignored" in alert.inner_text()
    page.wait_for_url(re.compile(r"/\?tag=person$"))
    assert page.locator("output[for=f-conf]").inner_text() == "50%"
    page.get_by_test_id("result").first.wait_for()
    assert_axe_clean(page)
    # Changing the search clears the message.
    open_filters(page)
    page.get_by_label("Order").select_option("-time")
    page.wait_for_url(re.compile(r"sort=-time"))
    assert page.get_by_role("alert").count() == 0

    # Out of range: ignored (the default is used), not clamped to 1, which matched nothing.
    page.goto("/?min_confidence=5")
    page.get_by_role("alert").filter(has_text="min_confidence must be a number between 0 and 1").wait_for()
    page.get_by_test_id("result").first.wait_for()
    assert "min_confidence" not in query_of(page)
    assert header_count(page) > 0

    # A start after the end: the end is dropped, and the officer is told.
    page.goto("/?start=2030-01-02T00:00:00Z&end=2030-01-01T00:00:00Z&sort=banana")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "end must be after start: end ignored" in alert.inner_text()
    assert "sort must be one of" in alert.inner_text()
    page.wait_for_function("() => !location.search.includes('end=') && !location.search.includes('sort=')")
    assert query_of(page) == {"start": ["2030-01-02T00:00:00.000Z"]}

    # A page that does not exist: the app's own 404 (status 404), with a way back to Search.
    response = page.goto("/no/such/page")
    assert response is not None and response.status == 404
    page.get_by_role("heading", name="Page not found").wait_for()
    assert "Not Found" not in page.inner_text("body")
    assert page.title() == "Page not found · Sightline"
    assert_axe_clean(page)
    screenshot(page, "officer-404")
    page.get_by_role("link", name="Go to Search").click()
    page.wait_for_url(re.compile(r"/$"))
    page.get_by_test_id("result").first.wait_for()
    # The server's own prefixes keep their own answers.
    assert page.request.get("/api/v1/nowhere/").status == 404
    assert "Page not found" not in page.request.get("/api/v1/nowhere/").text()
    assert not page.js_errors


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_empty_state_keeps_the_selection_and_offers_clear_filters(open_page, viewport):
    page = open_page(viewport)
    status, cams = api(page, "GET", "/api/v1/cameras/")
    assert status == 200 and cams
    cam = next(c for c in cams if c["name"] == "Pedestrian street (demo)")
    page.goto(f"/?tag=person&camera={cam['id']}&min_confidence=1")
    page.get_by_text(EMPTY).wait_for()
    assert header_count(page) == 0
    open_filters(page)
    # Selected filters stay visible, at 0, so they can be seen and unselected.
    chip = page.get_by_test_id("tag-person")
    assert chip.get_attribute("aria-pressed") == "true" and chip.locator(".count").inner_text() == "0"
    box = page.get_by_role("checkbox", name=re.compile(r"^Pedestrian street \(demo\)"))
    box.wait_for()
    assert box.is_checked() and box.is_visible()
    label = page.locator("label").filter(has=box)
    assert label.locator(".count").inner_text() == "0"
    # One empty message, not two (the histogram's own "no sightings" is not shown as well).
    assert page.get_by_text(EMPTY).count() == 1
    assert page.get_by_text(re.compile("No sightings in this time range")).count() == 0
    screenshot(page, f"officer-empty-{viewport['width']}")
    assert_axe_clean(page)
    page.get_by_role("button", name="Clear filters").click()
    page.wait_for_url(re.compile(r"/$"))
    page.get_by_test_id("result").first.wait_for()
    assert header_count(page) > 0
    assert page.get_by_test_id("tag-person").get_attribute("aria-pressed") == "false"
    assert page.get_by_role("button", name="Clear filters").count() == 0
    assert not page.js_errors


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_upload_takes_the_start_time_from_the_file_or_asks_for_it(viewport, open_page, footage_h264, tmp_path):
    page = open_page(viewport)
    page.goto("/upload")
    page.get_by_label("Camera").select_option(label="Pedestrian street (demo) (Demo)")
    start = page.get_by_label("Recording started at")
    # Nothing is assumed before a file is chosen (today: the current time, which stamps old footage as new).
    assert start.input_value() == ""
    # A file that says when it was recorded: its time, in the browser's zone (UTC here), said to be the file's.
    recorded = with_creation_time(footage_h264, tmp_path / "export.mp4", "2026-11-20T07:15:30.000000Z")
    page.get_by_test_id("file").set_input_files(str(recorded))
    page.get_by_test_id("start-hint").filter(has_text="Taken from the file").wait_for()
    assert start.input_value() == "2026-11-20T07:15:30"
    # One that does not: the field is emptied and the upload refused until a time is given; nothing is sent.
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if r.method == "POST" else None)
    page.get_by_test_id("file").set_input_files(str(footage_h264))
    page.get_by_test_id("start-hint").filter(has_text="does not say").wait_for()
    assert start.input_value() == ""
    page.get_by_role("button", name="Upload and analyse").click()
    page.get_by_test_id("upload-error").filter(has_text="Enter when the recording started").wait_for()
    assert page.evaluate("document.activeElement.id") == "u-start"
    assert not [u for u in requests if "/api/v1/clips/" in u]
    assert_axe_clean(page)
    assert not page.js_errors


def test_phone_results_get_the_screen_and_filters_are_a_drawer(open_page):
    page = open_page(PHONE)
    page.goto("/?min_confidence=0")
    first = page.get_by_test_id("result").first
    first.wait_for()
    # The first card starts within the first screen (today: under a 470 px filter panel and a 3-row header).
    top = first.bounding_box()["y"]
    screenshot(page, "officer-phone-search")
    assert top < 500, top
    header = page.locator("header.top").bounding_box()
    assert header["height"] < 60, header
    # The header scrolls away with the page: it does not keep a strip of the screen.
    page.mouse.wheel(0, 800)
    page.wait_for_timeout(200)
    assert page.locator("header.top").bounding_box()["y"] < 0
    page.evaluate("window.scrollTo(0, 0)")
    # The filters open as a drawer, work, and say how many are set.
    toggle = page.get_by_test_id("filters-toggle")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not page.get_by_test_id("tag-person").is_visible()
    toggle.click()
    page.get_by_test_id("tag-person").click()
    page.wait_for_url(re.compile(r"tag=person"))
    assert "(1)" in toggle.inner_text() or toggle.get_attribute("aria-expanded") == "true"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_axe_clean(page)
    # On a desktop the filters are always there and the toggle is not.
    desk = open_page(DESKTOP)
    desk.get_by_test_id("result").first.wait_for()
    assert desk.get_by_test_id("tag-person").is_visible() and not desk.get_by_test_id("filters-toggle").is_visible()
    assert not page.js_errors

