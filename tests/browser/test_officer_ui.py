"""Defects an officer found in the search page, each checked in a real browser against the demo's real data:
the card's time, the header count, bad link parameters (and unknown pages), and empty states."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import login, screenshot
from .test_exports_ui import api, axe_violations, with_axe

pytestmark = pytest.mark.slow

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]
EMPTY = "No sightings match these filters."


@pytest.fixture
def open_page(browser, server):
    """``open_page(viewport, timezone_id=...)``: a signed-in admin page with axe-core loaded."""
    contexts = []

    def make(viewport: dict = DESKTOP, timezone_id: str = "UTC"):
        ctx = browser.new_context(base_url=server.url, viewport=viewport, timezone_id=timezone_id, locale="en-GB")
        contexts.append(ctx)
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.js_errors = errors  # type: ignore[attr-defined]
        with_axe(pg)
        login(pg, server, server.admin)
        return pg

    yield make
    for ctx in contexts:
        ctx.close()


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


def test_header_count_is_the_number_of_results_matching_the_filters(open_page):
    page = open_page()
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


def test_bad_link_parameters_are_named_and_the_url_normalised(open_page, server):
    page = open_page()
    page.goto("/?tag=person&min_confidence=abc")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "min_confidence must be a number between 0 and 1: ignored" in alert.inner_text()
    page.wait_for_url(re.compile(r"/\?tag=person$"))
    assert page.locator("output[for=f-conf]").inner_text() == "50%"
    page.get_by_test_id("result").first.wait_for()
    assert_axe_clean(page)
    # Changing the search clears the message.
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
