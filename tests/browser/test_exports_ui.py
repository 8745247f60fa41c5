"""Masked playback, evidence exports and cases in the web UI: a real browser, a real server, the demo's real
footage (its camera masks faces by default), exports rendered by the real renderer and decoded here."""

from __future__ import annotations

import hashlib
import io
import json
import re

import pytest

from tests.services import service_unavailable

from .conftest import REPO, login, screenshot

pytestmark = pytest.mark.slow

AXE = REPO / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
OPERATOR = ("ops-officer", "ops-officer-pass-123")
#: The first preparation of a masked rendition renders the whole clip (on the request, with eager tasks).
PREPARE_MS = 120_000


def with_axe(page) -> None:
    """Load axe-core into every document the page opens from now on (an init script: the app's CSP forbids
    inline scripts, which add_script_tag would be)."""
    if not AXE.is_file():
        service_unavailable(f"{AXE} is missing (cd frontend && npm ci)")
    page.add_init_script(path=str(AXE))


def axe_violations(page) -> list[dict]:
    """WCAG 2 A/AA violations axe-core finds on the page as it is now (after :func:`with_axe`)."""
    assert page.evaluate("() => typeof window.axe !== 'undefined'"), "call with_axe(page) before navigating"
    result = page.evaluate("""async () => {
      const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
      return r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5)}));
    }""")
    return result  # type: ignore[no-any-return]


def token(page) -> str:
    return page.evaluate("() => sessionStorage.getItem('sightline.token')")  # type: ignore[no-any-return]


def api(page, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Token {token(page)}", "Accept": "application/json"}
    # The context also holds the session cookie, so Django checks CSRF as it does for the app's requests.
    csrf = next((c["value"] for c in page.context.cookies() if c["name"] == "csrftoken"), None)
    if csrf:
        headers["X-CSRFToken"] = csrf
    if body is not None:
        headers["Content-Type"] = "application/json"
    r = page.request.fetch(path, method=method, headers=headers, data=json.dumps(body) if body is not None else None)
    return r.status, (r.json() if r.body() else {})


def a_person_sighting(page) -> dict:
    status, data = api(page, "GET", "/api/v1/search/?tag=person&page_size=1&facets=false")
    assert status == 200 and data["results"], data
    return data["results"][0]  # type: ignore[no-any-return]


def wait_playing(page, timeout: float = PREPARE_MS) -> None:
    """The page's video has a frame (readyState >= 2), then its currentTime moves on."""
    page.wait_for_function("() => { const v = document.querySelector('[data-testid=video]');"
                           " return v && v.readyState >= 2; }", timeout=timeout)
    t0 = page.evaluate("""async () => { const v = document.querySelector('[data-testid=video]');
      if (v.paused) await v.play().catch(() => undefined); return v.currentTime; }""")
    page.wait_for_function(f"() => document.querySelector('[data-testid=video]').currentTime > {t0} + 0.2",
                           timeout=20_000)


def decode_h264_mp4(data: bytes) -> tuple[int, float]:
    """Every frame of an MP4 decoded with PyAV; (frames, seconds). Fails on a stream that is not H.264."""
    import av

    assert data[4:8] == b"ftyp", "not an MP4 (no ftyp box)"
    frames = 0
    last = 0.0
    with av.open(io.BytesIO(data), format="mp4") as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264", stream.codec_context.name
        for frame in container.decode(stream):
            assert frame.width > 0 and frame.height > 0
            frames += 1
            if frame.time is not None:
                last = max(last, float(frame.time))
    return frames, last


@pytest.fixture(scope="module")
def operator(server) -> tuple[str, str]:
    """An operator granted the demo camera, without the unmask permission."""
    server.shell(
        "from django.contrib.auth.models import User, Group\n"
        "from backend.cameras.models import Camera\n"
        f"u, _ = User.objects.get_or_create(username={OPERATOR[0]!r})\n"
        f"u.set_password({OPERATOR[1]!r}); u.save(); u.groups.add(Group.objects.get(name='operator'))\n"
        "for c in Camera.objects.all(): c.granted_users.add(u)\n"
    )
    return OPERATOR


def test_the_sighting_page_plays_the_masked_video(page, server):
    with_axe(page)
    login(page, server, server.admin)
    s = a_person_sighting(page)
    page.goto(f"/sightings/{s['id']}")
    # Before anything plays, the page asks how it may: the masked rendition (prepared first if need be).
    wait_playing(page)
    badge = page.get_by_test_id("masked-badge")
    assert badge.inner_text() == "Faces masked"
    video = page.get_by_test_id("video")
    src = video.get_attribute("src") or ""
    assert "unmask" not in src and src.endswith(f"#t={s['offset_s']}"), src
    assert page.get_by_test_id("playback-status").count() == 0
    # The admin may unmask: the toggle says each view is recorded, and switches video and thumbnail.
    toggle = page.get_by_role("switch", name="Show unmasked")
    assert toggle.is_visible() and not toggle.is_checked()
    assert "recorded" in page.locator("#unmask-note").inner_text()
    violations = axe_violations(page)
    assert not violations, violations
    screenshot(page, "sighting-masked")
    toggle.check()
    page.get_by_test_id("unmasked-badge").wait_for()
    page.wait_for_function("() => (document.querySelector('[data-testid=video]')?.src || '').includes('unmask=1')")
    wait_playing(page, timeout=30_000)
    assert page.get_by_test_id("masked-badge").count() == 0
    toggle.uncheck()
    page.get_by_test_id("masked-badge").wait_for()
    page.wait_for_function("() => !(document.querySelector('[data-testid=video]')?.src || '').includes('unmask')")
    assert not page.js_errors


def test_an_operator_who_may_not_unmask_gets_no_toggle_and_no_unmasked_export(page, server, operator):
    login(page, server, operator)
    s = a_person_sighting(page)
    page.goto(f"/sightings/{s['id']}")
    wait_playing(page)
    assert page.get_by_test_id("masked-badge").inner_text() == "Faces masked"
    assert page.get_by_role("switch", name="Show unmasked").count() == 0
    page.get_by_role("button", name="Export…").click()
    masking = page.get_by_label("Masking")
    masking.wait_for()
    page.wait_for_function("() => document.querySelector('#x-masking').options[0].text === 'Camera default (faces)'")
    values = masking.evaluate("el => [...el.options].map((o) => o.value)")
    assert values == ["", "faces", "faces_plates", "persons"], values
    # The server's refusal is shown as it says it: a margin over the limit.
    page.get_by_label("Seconds before").fill("100000")
    page.get_by_role("button", name="Start export").click()
    err = page.get_by_test_id("export-error")
    err.wait_for()
    assert err.inner_text().startswith("Seconds before: at most"), err.inner_text()
    # The Exports page is in the navigation for operators.
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Exports").is_visible()
    assert not page.js_errors


def test_a_viewer_has_no_export(page, server):
    login(page, server, server.viewer)
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Exports").count() == 0


def test_export_from_the_sighting_page_decodes_as_h264_from_first_to_last_frame(page, server):
    with_axe(page)
    login(page, server, server.admin)
    s = a_person_sighting(page)
    page.goto(f"/sightings/{s['id']}")
    page.get_by_role("heading", level=1).wait_for()
    page.get_by_role("button", name="Export…").click()
    assert page.get_by_label("Seconds before").input_value() == "5"
    assert page.get_by_label("Seconds after").input_value() == "5"
    page.get_by_label("Masking").select_option("faces")
    page.get_by_label("Case", exact=True).select_option("new")
    page.get_by_label("New case title").fill("Browser export case")
    violations = axe_violations(page)
    assert not violations, violations
    page.get_by_role("button", name="Start export").click()
    progress = page.get_by_test_id("export-progress")
    progress.wait_for(timeout=PREPARE_MS)
    assert re.match(r"^(Queued|Rendering \d+ %|Done)$", page.get_by_test_id("export-status").inner_text())
    page.wait_for_selector("[data-testid=export-progress][data-status=done]", timeout=PREPARE_MS)
    assert page.get_by_test_id("export-status").inner_text() == "Done"
    link = page.get_by_test_id("export-download")
    href = link.get_attribute("href")
    m = re.fullmatch(r"/api/v1/exports/(\d+)/download/", href or "")
    assert m, href
    export_id = int(m.group(1))
    status, exp = api(page, "GET", f"/api/v1/exports/{export_id}/")
    assert status == 200 and exp["status"] == "done" and exp["masking"] == "faces" and exp["sighting"] == s["id"]
    assert exp["case"] is not None, "the new case was created first and the export put in it"
    screenshot(page, "sighting-export-done")

    r = page.request.get(href, headers={"Authorization": f"Token {token(page)}"})
    assert r.status == 200, r.status
    assert r.headers["content-type"].startswith("video/mp4")
    assert "attachment" in r.headers.get("content-disposition", "")
    data = r.body()
    assert len(data) == exp["size_bytes"]
    frames, last = decode_h264_mp4(data)
    assert frames > 10
    if exp.get("frames"):
        assert frames == exp["frames"], (frames, exp["frames"])
    assert last > 1.0
    assert hashlib.sha256(data).hexdigest() == exp["sha256"]
    assert not page.js_errors


def test_the_exports_page_lists_exports_and_manages_cases(page, server):
    with_axe(page)
    login(page, server, server.admin)
    s = a_person_sighting(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Exports").click()
    page.wait_for_url(re.compile(r"/exports$"))
    page.get_by_role("heading", name="Exports", level=1).wait_for()
    # A case made here.
    page.get_by_label("Title").fill("Stolen bicycle")
    page.get_by_label("Note").fill("Seen near the fountain")
    page.get_by_role("button", name="Create case").click()
    row = page.get_by_test_id("case-row").filter(has_text="Stolen bicycle")
    row.wait_for()
    assert "Open" in row.inner_text() and "Seen near the fountain" in row.inner_text()
    case_id = int(row.get_attribute("data-case") or 0)
    # An export into it (through the API: the Sighting page's form is tested above).
    status, exp = api(page, "POST", "/api/v1/exports/", {"sighting": s["id"], "before_s": 1, "after_s": 1,
                                                         "masking": "faces", "case": case_id})
    assert status == 202, exp
    row.get_by_role("button", name="Show exports of case Stolen bicycle").click()
    page.wait_for_url(re.compile(rf"/exports\?case={case_id}$"))
    export_row = page.locator(f"[data-testid=export-row][data-export='{exp['id']}']")
    export_row.wait_for()
    page.wait_for_selector(f"[data-testid=export-row][data-export='{exp['id']}'][data-status=done]", timeout=PREPARE_MS)
    assert page.get_by_test_id("export-row").count() == 1, "filtered by the case"
    text = export_row.inner_text()
    assert "Pedestrian street" in text and "Faces" in text and "Done" in text and "Stolen bicycle" in text
    status, fresh = api(page, "GET", f"/api/v1/exports/{exp['id']}/")
    sha = export_row.get_by_test_id("sha")
    assert sha.get_attribute("title") == fresh["sha256"] and sha.inner_text() == fresh["sha256"][:12] + "…"
    assert export_row.get_by_role("link", name=f"Download export #{exp['id']}").get_attribute("href") \
        == f"/api/v1/exports/{exp['id']}/download/"
    manifest = export_row.get_by_role("link", name=f"Manifest of export #{exp['id']}").get_attribute("href")
    status, body = api(page, "GET", manifest)
    assert status == 200 and fresh["sha256"] in json.dumps(body)
    violations = axe_violations(page)
    assert not violations, violations
    screenshot(page, "exports")
    # Close it, and reopen it.
    row.get_by_role("button", name="Close case Stolen bicycle").click()
    page.wait_for_selector(f"[data-testid=case-row][data-case='{case_id}'][data-open=false]")
    assert "Closed" in row.inner_text()
    status, case = api(page, "GET", f"/api/v1/cases/{case_id}/")
    assert case["is_open"] is False and case["exports"] == [exp["id"]]
    row.get_by_role("button", name="Reopen case Stolen bicycle").click()
    page.wait_for_selector(f"[data-testid=case-row][data-case='{case_id}'][data-open=true]")
    # All exports again.
    page.get_by_label("Case", exact=True).select_option("")
    page.wait_for_url(re.compile(r"/exports$"))
    page.get_by_test_id("export-row").first.wait_for()
    assert not page.js_errors
