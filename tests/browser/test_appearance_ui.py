"""Appearance search in the web UI, on the demo's real analysis: colour chips with counts, colours on the cards,
"find similar" on a sighting, and the time of day over the player with the seen interval on its bar."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from .conftest import open_filters
from .test_officer_ui import DESKTOP, PHONE, api_total, assert_axe_clean, header_count

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("viewport", [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")])
def test_colour_chips_filter_with_counts_and_cards_show_colours(open_page, viewport):
    page = open_page(viewport)
    page.goto("/?tag=person&min_confidence=0")
    open_filters(page)
    chips = page.get_by_test_id("colours-upper_color")
    chips.wait_for()
    black = page.get_by_test_id("upper_color-black")
    expected = int(black.locator(".count").inner_text())
    assert expected == api_total(page, "tag=person&min_confidence=0&upper_color=black") > 0
    black.click()
    page.wait_for_url(re.compile(r"upper_color=black"))
    assert black.get_attribute("aria-pressed") == "true"
    assert header_count(page) == expected
    # Every card says its colours, upper body black among them.
    colours = page.get_by_test_id("result-colours")
    colours.first.wait_for()
    assert all("upper body black" in t for t in colours.all_inner_texts())
    # A colour in the link that is not in the palette is named, not silently dropped.
    page.goto("/?upper_color=crimson")
    assert "upper_color must be one of" in page.get_by_test_id("url-issues").inner_text()
    assert_axe_clean(page)
    assert not page.js_errors


@pytest.mark.parametrize("viewport", [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")])
def test_find_similar_and_the_players_time_of_day(viewport, open_page):
    page = open_page(viewport)
    page.goto("/?tag=person&min_confidence=0")
    page.get_by_test_id("result").first.click()
    page.wait_for_url(re.compile(r"/sightings/\d+"))
    own = int(re.search(r"/sightings/(\d+)", page.url).group(1))
    # Over the player: the time of day of the frame shown, not only the clip's own time.
    clock = page.get_by_test_id("player-clock")
    clock.wait_for()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", clock.inner_text().strip()), clock.inner_text()
    shown = datetime.strptime(clock.inner_text().strip()[:19], "%Y-%m-%d %H:%M:%S")
    mark = page.get_by_test_id("seen-mark")
    mark.wait_for()
    # Play from the seen interval's start: the clock then reads the sighting's first moment.
    mark.click()
    page.wait_for_timeout(300)
    start = page.locator("dt:has-text('Seen') + dd").inner_text().split(" – ")[0]
    read = clock.inner_text().strip()[:19]
    assert abs((datetime.strptime(read, "%Y-%m-%d %H:%M:%S")
                - datetime.strptime(start, "%Y-%m-%d %H:%M:%S")).total_seconds()) <= 2, (read, start)
    assert shown.year >= 2026
    # Find similar: people only, most alike first, never itself.
    page.get_by_test_id("similar-camera").click()
    results = page.get_by_test_id("similar-result")
    results.first.wait_for()
    alike = [int(t.split("%")[0]) for t in results.locator(".conf").all_inner_texts()]
    assert alike == sorted(alike, reverse=True) and all(0 <= a <= 100 for a in alike)
    assert own not in [int(i) for i in results.evaluate_all("(as) => as.map((a) => a.dataset.id)")]
    assert all(t == "person" for t in results.locator(".meta span:nth-of-type(1)").all_inner_texts())
    assert_axe_clean(page)
    results.first.click()
    page.wait_for_url(re.compile(r"/sightings/\d+$"))
    assert not page.js_errors
