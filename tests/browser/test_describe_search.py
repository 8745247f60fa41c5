"""The Search page's "Describe" box in a real browser: what an officer types is read into the page's own label and
colour filters (the URL and the chips), every other filter kept, the text kept in the box, and what was not
understood said under it. A module fixture appends people in red tops and white vans (cars and trucks) to the
demo clip, which has people only; their track numbers (from 690000) are apart from the other browser tests'."""

from __future__ import annotations

import re

import pytest

from .conftest import append_to_demo_clip, open_filters, screenshot
from .test_exports_ui import api
from .test_officer_ui import DESKTOP, PHONE, api_total, assert_axe_clean, query_of

pytestmark = pytest.mark.slow

TRACKS = [
    (690001, "person", {"upper_color": "red", "lower_color": "blue"}),
    (690002, "person", {"upper_color": "red", "lower_color": "black"}),
    (690003, "car", {"color": "white"}),
    (690004, "truck", {"color": "white"}),
    (690005, "car", {"color": "black"}),
]


@pytest.fixture(scope="module")
def described(server) -> None:
    """Three detections of each of ``TRACKS`` (median confidence 0.52: confirmed, below the demo's own people)."""
    out = append_to_demo_clip(server, (
        f"evs = [detection(clip.id, clip.camera_id, t, 300 + 53 * n + 11 * i, 0.52, ordinal=i, label=label,"
        f" colors=colors, start=clip.started_at, model='browser-describe')"
        f" for n, (t, label, colors) in enumerate({TRACKS!r}) for i in range(3)]"))
    assert out["added"] in (0, 3 * len(TRACKS))


def shows_count(page, expected: int) -> None:
    """Wait until the header says "Sightings (expected)" and nothing is loading."""
    page.wait_for_function("(n) => document.querySelector('#results-h .muted')?.textContent === `(${n})`"
                           " && !document.body.textContent.includes('Loading…')", arg=expected)


def describe(page, text: str, *, button: bool = False) -> None:
    box = page.get_by_role("searchbox", name="Describe")
    box.fill(text)
    if button:
        page.get_by_role("button", name="Find", exact=True).click()
    else:
        box.press("Enter")


@pytest.mark.parametrize("viewport", [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")])
def test_describe_box_sets_the_label_and_colour_filters(open_page, server, described, viewport):
    page = open_page(viewport)
    status, cams = api(page, "GET", "/api/v1/cameras/")
    assert status == 200 and cams, cams
    camera = cams[0]["id"]
    # Filters the box must keep (camera, confidence, order) and a label it must replace.
    page.goto(f"/?tag=bicycle&camera={camera}&min_confidence=0&sort=-time")
    page.get_by_test_id("empty").wait_for()
    kept = {"camera": [str(camera)], "min_confidence": ["0"], "sort": ["-time"]}

    describe(page, "tall person in a red top")
    page.wait_for_url(re.compile(r"upper_color=red"))
    assert query_of(page) == {**kept, "tag": ["person"], "upper_color": ["red"]}
    expected = api_total(page, f"tag=person&upper_color=red&camera={camera}&min_confidence=0")
    assert expected >= 2
    shows_count(page, expected)
    assert all("upper body red" in t for t in page.get_by_test_id("result-colours").all_inner_texts())
    said = page.get_by_test_id("describe-said")
    assert said.get_attribute("aria-live") == "polite"
    assert page.get_by_test_id("describe-unknown").inner_text() == "Not understood: tall"
    assert "person; upper body red" in said.inner_text()
    open_filters(page)
    assert page.get_by_test_id("tag-person").get_attribute("aria-pressed") == "true"
    assert page.get_by_test_id("upper_color-red").get_attribute("aria-pressed") == "true"
    assert page.get_by_test_id("tag-bicycle").count() == 0, "the label it replaced is gone"
    assert_axe_clean(page)

    describe(page, "white van", button=True)
    page.wait_for_url(re.compile(r"color=white"))
    assert query_of(page) == {**kept, "tag": ["car", "truck"], "color": ["white"]}
    expected = api_total(page, f"tag=car&tag=truck&color=white&camera={camera}&min_confidence=0")
    assert expected >= 2
    shows_count(page, expected)
    labels = page.get_by_test_id("result").evaluate_all(
        "(as) => as.map((a) => a.querySelector('.meta > span:not(.when):not(.conf):not(.cam)').firstChild.textContent)")
    assert labels and set(labels) <= {"car", "truck"}, labels
    assert page.get_by_role("searchbox", name="Describe").input_value() == "white van", "the text stays in the box"
    assert page.get_by_test_id("describe-unknown").count() == 0
    assert "car or truck; colour white" in page.get_by_test_id("describe-said").inner_text()
    open_filters(page)
    screenshot(page, f"describe-{viewport['width']}")
    for chip in ("tag-car", "tag-truck", "color-white"):
        assert page.get_by_test_id(chip).get_attribute("aria-pressed") == "true", chip
    assert page.get_by_test_id("upper_color-red").count() == 0, "the person's colour it replaced is gone"

    # An empty box, or words it does not understand, change nothing.
    url = page.url
    describe(page, "")
    describe(page, "zebra")
    page.get_by_text("Not understood: zebra").wait_for()
    assert page.url == url
    assert_axe_clean(page)
    assert not page.js_errors
