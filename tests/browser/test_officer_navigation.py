"""The officer's loop in a real browser: find a sighting, step through the results, come back to the same place.

Previous/Next walk the search's own result list in its order (filters and sort kept, the next page fetched when
the loaded ones end), with J/K and the arrow keys, and keep focus on the control; Back (the link or the
browser's) brings the grid back with the same pages loaded, the same scroll position and the opened card
focused; a card opened in another tab resumes the session instead of asking for the login, and signing out in
one tab signs out the others. The demo footage holds too few people to fill pages, so a module fixture appends
more (low confidence, so the demo's own people stay first in the default order) and cars in between them.
"""

from __future__ import annotations

import re

import pytest

from benchmarks.bench_ui import tab_presses_to_first_result

from .conftest import append_to_demo_clip, login, screenshot
from .test_exports_ui import api, axe_violations, with_axe

pytestmark = pytest.mark.slow

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]
PEOPLE = 110
CARS = 30
PAGE = 48  # the Search page's page size


@pytest.fixture(scope="module")
def crowd(server) -> None:
    """``PEOPLE`` person tracks and ``CARS`` car tracks in the demo clip, interleaved in time, three detections each
    (confirmed by the production rule: median confidence at least 0.5), confidences not in time order. Their track
    numbers (from 660000) are apart from those of the other browser tests, which look at their own tracks."""
    out = append_to_demo_clip(server, (
        "evs = []\n"
        f"for n in range({PEOPLE + CARS}):\n"
        f"    car = n % {(PEOPLE + CARS) // CARS} == 1\n"
        "    conf = 0.6 if car else 0.5 + (n * 7 % 9) / 100\n"
        "    evs += [detection(clip.id, clip.camera_id, 660000 + n, 150 + 37 * n + 10 * i, conf, ordinal=i,"
        " label='car' if car else 'person', start=clip.started_at, model='browser-navigation') for i in range(3)]"))
    assert out["added"] in (0, 3 * (PEOPLE + CARS))


@pytest.fixture
def context(browser, server, request):
    """A browser context (desktop size unless the test is parametrized with another viewport)."""
    viewport = getattr(request, "param", DESKTOP)
    ctx = browser.new_context(base_url=server.url, viewport=viewport, timezone_id="UTC", locale="en-GB")
    yield ctx
    ctx.close()


def new_page(ctx):
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.js_errors = errors  # type: ignore[attr-defined]
    return pg


def api_ids(page, query: str) -> list[int]:
    """Every result of the search API for ``query``, in its order."""
    ids: list[int] = []
    cursor = None
    while True:
        status, data = api(page, "GET", f"/api/v1/search/?{query}&page_size=200&facets=false"
                                         + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, data
        ids += [r["id"] for r in data["results"]]
        cursor = data["next_cursor"]
        if not cursor:
            return ids


def grid_ids(page) -> list[int]:
    return page.get_by_test_id("result").evaluate_all(
        "els => els.map(e => Number(new URL(e.href).pathname.split('/').pop()))")


def wait_grid(page, at_least: int = 1) -> None:
    page.wait_for_function(f"() => document.querySelectorAll('[data-testid=result]').length >= {at_least}")
    page.get_by_text("Loading…").wait_for(state="detached")


def load_at_least(page, n: int) -> int:
    """Scroll to the bottom until at least ``n`` cards are loaded (infinite scroll); the number loaded."""
    while (count := page.get_by_test_id("result").count()) < n:
        page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_function(f"() => document.querySelectorAll('[data-testid=result]').length > {count}")
    page.get_by_text("Loading…").wait_for(state="detached")
    return page.get_by_test_id("result").count()


def shown_id(page) -> int:
    page.wait_for_url(re.compile(r"/sightings/\d+"))
    return int(re.search(r"/sightings/(\d+)", page.url).group(1))  # type: ignore[union-attr]


def wait_sighting(page, sid: int) -> None:
    """The page shows sighting ``sid``: its URL, and its details (the article names its sighting once loaded)."""
    page.wait_for_url(re.compile(rf"/sightings/{sid}(\?|$)"))
    page.wait_for_function("""(sid) => { const a = document.querySelector('article');
      return !!a?.querySelector('dl.facts') && (a.dataset.sighting ?? String(sid)) === String(sid); }""", arg=sid)


def focused(page) -> dict:
    return page.evaluate("""() => { const a = document.activeElement;
      return {tag: a.tagName, rel: a.getAttribute('rel'), text: a.textContent.trim(), testid: a.dataset.testid ?? null,
              href: a.getAttribute('href')}; }""")


def focused_card_id(page) -> int | None:
    return page.evaluate("""() => { const a = document.activeElement;
      return a?.dataset?.testid === 'result' ? Number(new URL(a.href).pathname.split('/').pop()) : null; }""")


def in_view(page, sid: int) -> bool:
    """The card of sighting ``sid`` is wholly inside the viewport, below the sticky header."""
    return page.evaluate("""(sid) => { const a = [...document.querySelectorAll('[data-testid=result]')]
        .find((e) => new URL(e.href).pathname === `/sightings/${sid}`);
      const top = document.querySelector('header.top').getBoundingClientRect().bottom;
      const r = a.getBoundingClientRect(); return r.top >= top - 1 && r.bottom <= innerHeight + 1; }""", sid)


def shift_tab_until(page, reached, presses: int, what: str) -> None:
    """Shift+Tab until ``reached(focused(page))``, at most ``presses`` times."""
    for _ in range(presses):
        page.keyboard.press("Shift+Tab")
        if reached(focused(page)):
            return
    pytest.fail(f"{what} was never focused")


def scroll_y(page) -> float:
    return page.evaluate("() => window.scrollY")  # type: ignore[no-any-return]


def keyboard_login(page, who: tuple[str, str]) -> None:
    """Sign in as the keyboard does: the form starts focused, Tab between the fields, Enter."""
    page.goto("/")
    page.get_by_label("User name").wait_for()
    # The form starts focused (within a moment of appearing: it focuses itself once mounted).
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'username'", timeout=5_000)
    page.keyboard.type(who[0])
    page.keyboard.press("Tab")
    page.keyboard.type(who[1])
    page.keyboard.press("Enter")
    page.get_by_test_id("whoami").filter(has_text=who[0]).wait_for()
    wait_grid(page)


def test_keyboard_only_find_a_person_open_step_and_come_back_to_the_same_place(context, server, crowd):
    page = new_page(context)
    keyboard_login(page, server.admin)
    # From the login to the first card, with the skip link (asserted at the end; see the next test).
    presses = tab_presses_to_first_result(page, use_skip_link=True)

    # Filter by tag: Shift+Tab back up to the person chip, Enter.
    shift_tab_until(page, lambda f: f["testid"] == "tag-person", 200, "the person chip")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/\?tag=person$"))
    wait_grid(page)
    # Into the grid and down it, card by card, past the first page (infinite scroll follows the focus).
    tab_presses_to_first_result(page, use_skip_link=True)
    target = PAGE + 7
    for i in range(target):
        count = page.get_by_test_id("result").count()
        if i == count - 1:
            wait_grid(page, count + 1)
        page.keyboard.press("Tab")
    order = grid_ids(page)
    loaded = len(order)
    assert loaded > PAGE
    opened = focused_card_id(page)
    assert opened == order[target], (opened, order[target])
    before = scroll_y(page)
    next_was_in_view = in_view(page, order[target + 1])
    page.keyboard.press("Enter")
    wait_sighting(page, opened)
    page.keyboard.press("j")
    wait_sighting(page, order[target + 1])
    assert focused(page)["rel"] == "next", "focus is on Next after the step"
    page.get_by_text(f"{target + 2} of ").wait_for()
    shift_tab_until(page, lambda f: f["text"] == "Back to results", 10, "Back to results")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/\?tag=person$"))
    wait_grid(page)
    assert page.get_by_test_id("result").count() == loaded, "the same pages are loaded"
    page.wait_for_function("(sid) => document.activeElement?.getAttribute('href')?.startsWith(`/sightings/${sid}?`)",
                           arg=order[target + 1])
    assert in_view(page, order[target + 1]), page.evaluate("""(sid) => { const a = [...document.querySelectorAll(
      '[data-testid=result]')].find((e) => new URL(e.href).pathname === `/sightings/${sid}`);
      return [a.getBoundingClientRect().top, a.getBoundingClientRect().bottom, innerHeight, scrollY]; }""",
                                                        order[target + 1])
    if next_was_in_view:
        assert abs(scroll_y(page) - before) <= 1
    # The keyboard goes on from there: the card after it.
    page.keyboard.press("Tab")
    assert focused_card_id(page) == order[target + 2]
    screenshot(page, "officer-keyboard-back")
    assert presses == 1
    assert not page.js_errors


def test_the_skip_link_takes_the_keyboard_from_the_login_to_the_results(context, server):
    """Tab presses from the login to the first result card, with the skip link and without (printed for the
    report; the issue measured 89 on its data before there was a skip link)."""
    page = new_page(context)
    keyboard_login(page, server.admin)
    assert page.evaluate("() => document.activeElement.id") == "main", "signed in, the focus is on the page"
    skipping = tab_presses_to_first_result(page, use_skip_link=True)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("User name").wait_for()
    keyboard_login(page, server.admin)
    plain = tab_presses_to_first_result(page, use_skip_link=False)
    print(f"TAB PRESSES login -> first result: {plain} (Tab only), {skipping} (with the skip link)")
    assert skipping == 1 < plain
    # From the top of a page loaded anew: "Skip to content", then it is the first stop in the page; it focuses the
    # first card, and adds no history entry. With no results it lands on the heading that says so.
    page.reload()
    wait_grid(page)
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Skip to content"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Skip to results"
    entries = page.evaluate("() => history.length")
    page.keyboard.press("Enter")
    assert focused_card_id(page) == grid_ids(page)[0]
    assert page.evaluate("() => history.length") == entries and "#results" not in page.url
    page.goto("/?tag=zebra")
    page.get_by_text("No sightings match these filters.").wait_for()
    page.locator("#main").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "results-h"
    assert not page.js_errors


@pytest.mark.parametrize("context", SIZES, indirect=True)
def test_next_and_previous_walk_the_result_list_in_its_order_with_its_filters(context, server, crowd):
    page = new_page(context)
    with_axe(page)
    login(page, server, server.admin)
    query = "tag=person&sort=time"
    page.goto(f"/?{query}")
    wait_grid(page)
    expected = api_ids(page, f"{query}&min_confidence=0.5")
    assert len(expected) > PAGE + 3
    assert grid_ids(page) == expected[:PAGE]
    total = len(expected)
    start = PAGE - 3
    page.get_by_test_id("result").nth(start).click()
    wait_sighting(page, expected[start])
    # Next by its link (Enter on it), past the end of the loaded page: the walk is the search's own list.
    page.get_by_role("link", name="Next").focus()
    visited, focus = [expected[start]], []
    for _ in range(6):
        at = page.url
        page.keyboard.press("Enter")
        page.wait_for_function("(at) => location.href !== at", arg=at)
        visited.append(shown_id(page))
        wait_sighting(page, visited[-1])
        focus.append(focused(page)["rel"])
    assert visited == expected[start:start + 7]
    assert focus == ["next"] * 6, "the focus stays on Next after each step"
    page.get_by_text(f"{start + 7} of {total}").wait_for()
    statuses = {}
    for sid in visited:
        status, data = api(page, "GET", f"/api/v1/sightings/{sid}/")
        statuses[sid] = (status, data.get("tag"))
    assert all(v == (200, "person") for v in statuses.values()), statuses
    # Previous (K, then the left arrow) returns the way it came; focus moves to Previous and stays there.
    page.keyboard.press("k")
    wait_sighting(page, expected[start + 5])
    assert focused(page)["rel"] == "prev"
    page.keyboard.press("ArrowLeft")
    wait_sighting(page, expected[start + 4])
    assert focused(page)["rel"] == "prev"
    page.keyboard.press("ArrowRight")
    wait_sighting(page, expected[start + 5])
    # The filters and the order are kept in the links.
    assert page.url.endswith(f"?{query}")
    # With a modifier the arrow is the browser's, not a step.
    page.get_by_role("link", name="Back to results").focus()
    page.keyboard.press("Control+ArrowRight")
    page.wait_for_timeout(300)
    assert shown_id(page) == expected[start + 5]
    # The first result has no Previous.
    page.goto(f"/?{query}")
    wait_grid(page)
    page.get_by_test_id("result").first.click()
    wait_sighting(page, expected[0])
    assert page.get_by_role("link", name="Previous").get_attribute("aria-disabled") == "true"
    page.keyboard.press("k")
    page.wait_for_timeout(300)
    assert shown_id(page) == expected[0]
    assert axe_violations(page) == []
    assert not page.js_errors


def test_a_sighting_opened_without_its_search_steps_through_the_search_of_its_link(context, server, crowd):
    page = new_page(context)
    login(page, server, server.admin)
    query = "tag=person&sort=time"
    expected = api_ids(page, f"{query}&min_confidence=0.5")
    page.goto(f"/sightings/{expected[5]}?{query}")
    wait_sighting(page, expected[5])
    page.get_by_role("link", name="Next").and_(page.locator("[href]")).wait_for()
    page.keyboard.press("j")
    wait_sighting(page, expected[6])
    page.get_by_text(f"7 of {len(expected)}").wait_for()
    # Back to results: that search's grid, with the pages looked through and the card focused.
    page.get_by_role("link", name="Back to results").click()
    page.wait_for_url(re.compile(rf"/\?{query}$"))
    wait_grid(page)
    page.wait_for_function("() => document.activeElement?.dataset?.testid === 'result'")
    assert focused_card_id(page) == expected[6]
    assert not page.js_errors


@pytest.mark.parametrize("context", SIZES, indirect=True)
def test_back_brings_the_grid_back_with_its_pages_scroll_and_the_opened_card(context, server, crowd):
    page = new_page(context)
    login(page, server, server.admin)
    page.goto("/?tag=person")
    wait_grid(page)
    loaded = load_at_least(page, 2 * PAGE)
    assert loaded == 2 * PAGE, "more people than two pages"
    card = page.get_by_test_id("result").nth(PAGE + 20)
    card.scroll_into_view_if_needed()
    page.mouse.wheel(0, 120)
    page.wait_for_timeout(200)
    page.get_by_text("Loading…").wait_for(state="detached")
    loaded = page.get_by_test_id("result").count()
    sid = int(card.get_attribute("href").split("?")[0].rsplit("/", 1)[1])  # type: ignore[union-attr]

    def open_card() -> float:
        """Open the card where the grid is scrolled now (a click would first scroll it wholly into view)."""
        card.evaluate("(a) => a.focus({preventScroll: true})")
        at = scroll_y(page)
        page.keyboard.press("Enter")
        wait_sighting(page, sid)
        return at

    was_in_view = in_view(page, sid)
    before = open_card()
    assert before > 1000
    for way in ("browser", "link"):
        if way == "browser":
            page.go_back()
        else:
            page.get_by_role("link", name="Back to results").click()
        page.wait_for_url(re.compile(r"/\?tag=person$"))
        wait_grid(page)
        assert page.get_by_test_id("result").count() == loaded, way
        page.wait_for_function("y => Math.abs(window.scrollY - y) <= 1", arg=before)
        assert focused_card_id(page) == sid, way
        assert in_view(page, sid) == was_in_view, way
        if way == "browser":
            assert open_card() == before
    # A reload of the grid is a new search: the first page, at the top.
    page.reload()
    wait_grid(page)
    assert page.get_by_test_id("result").count() == PAGE
    assert scroll_y(page) == 0
    assert not page.js_errors


def test_another_tab_resumes_the_session_and_signing_out_signs_out_every_tab(context, server, crowd):
    first = new_page(context)
    login(first, server, server.admin)
    sid = api_ids(first, "tag=person&min_confidence=0.5")[0]
    # A card opened in a new tab (same browser, no token in that tab): the sighting, not the login form.
    second = new_page(context)
    second.goto(f"/sightings/{sid}?tag=person")
    second.locator("#username, dl.facts").first.wait_for()
    assert second.get_by_label("User name").count() == 0
    wait_sighting(second, sid)
    second.get_by_test_id("whoami").filter(has_text=server.admin[0]).wait_for()
    assert second.evaluate("() => sessionStorage.getItem('sightline.token')") is None
    # Nothing of the login is kept where every tab (or a script after the tab closed) could read it.
    assert second.evaluate("() => Object.keys(localStorage)") == []
    # It may act, not only read: an unsafe request rides on the session with the CSRF token (and not without).
    statuses = second.evaluate("""async () => {
      const c = /(?:^|; )csrftoken=([^;]+)/.exec(document.cookie);
      const post = (headers) => fetch('/api/v1/cases/', {method: 'POST', credentials: 'same-origin',
        headers: {'Content-Type': 'application/json', ...headers}, body: JSON.stringify({title: 'Tab case'})});
      return [(await post({})).status, (await post({'X-CSRFToken': decodeURIComponent(c[1])})).status]; }""")
    assert statuses == [403, 201]
    # Signing out in the first tab signs out the second.
    first.get_by_role("button", name="Sign out").click()
    first.get_by_label("User name").wait_for()
    second.get_by_label("User name").wait_for(timeout=5_000)
    # And the session is over: a third tab asks for the login.
    third = new_page(context)
    third.goto(f"/sightings/{sid}")
    third.get_by_label("User name").wait_for()
    assert third.request.get("/api/v1/me/").status == 403
    # Signing in again in one tab signs in the others that show the login form.
    login(third, server, server.admin)
    second.get_by_test_id("whoami").filter(has_text=server.admin[0]).wait_for(timeout=5_000)
    assert not first.js_errors and not second.js_errors and not third.js_errors
