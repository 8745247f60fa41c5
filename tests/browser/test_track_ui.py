"""The Sighting page follows the object: the box moves with the track while the clip plays, and the path of
its feet is drawn over the best frame. A real browser, a real server, the demo's real clip; the track is
appended to the event log so that its motion is known exactly."""

from __future__ import annotations

import pytest

from .conftest import append_to_demo_clip, login, screenshot

pytestmark = pytest.mark.slow

TRACK = 880001
STEP_MS = 500
OFFSETS = list(range(0, 4001, STEP_MS))  # the clip is 6 s long: the track ends 2 s before it does
BEST = 1000


def _box(i: int) -> tuple[float, float, float, float]:
    """Walks right all along and turns down half way."""
    x1 = 0.05 + 0.07 * i
    y1 = 0.15 + 0.06 * max(0, i - 4)
    return (round(x1, 4), round(y1, 4), round(x1 + 0.14, 4), round(y1 + 0.4, 4))


@pytest.fixture(scope="module")
def moving_sighting(server):
    """A car moving across the demo clip, confident enough to be confirmed by the production rule (the
    server runs with it: three detections, median at least 0.5); other tests search for people only."""
    boxes = [(ms, _box(i)) for i, ms in enumerate(OFFSETS)]
    out = append_to_demo_clip(server, (
        f"evs = [detection(clip.id, clip.camera_id, {TRACK}, ms, 0.6 if ms == {BEST} else 0.55, label='car',"
        f" start=clip.started_at, model='browser-track', box=box) for ms, box in {boxes!r}]"))
    assert out["added"] in (0, len(OFFSETS))
    return out["clip"]


def _displayed(cw: float, ch: float, vw: float, vh: float) -> tuple[float, float, float, float]:
    scale = min(cw / vw, ch / vh)
    w, h = vw * scale, vh * scale
    return (cw - w) / 2, (ch - h) / 2, w, h


def _expected(t_ms: float, tolerance_ms: float) -> tuple[float, float, float, float] | None:
    """The track's box at t (linear between detections), None outside its span and tolerance."""
    if t_ms < OFFSETS[0] - tolerance_ms or t_ms > OFFSETS[-1] + tolerance_ms:
        return None
    t = min(max(t_ms, OFFSETS[0]), OFFSETS[-1])
    i = min(int((t - OFFSETS[0]) // STEP_MS), len(OFFSETS) - 2)
    f = (t - OFFSETS[i]) / STEP_MS
    a, b = _box(i), _box(i + 1)
    return tuple(p + (q - p) * f for p, q in zip(a, b, strict=True))  # type: ignore[return-value]


SAMPLE_JS = """async (ms) => {
  const v = document.querySelector('video'), b = document.querySelector('[data-testid=box]');
  if (v.paused) await v.play().catch(() => undefined);
  const out = [], end = performance.now() + ms;
  while (performance.now() < end && !v.ended) {
    await new Promise((r) => setTimeout(r, 40));
    const vr = v.getBoundingClientRect(), br = b.getBoundingClientRect();
    out.push({t: Number(b.dataset.t), visible: getComputedStyle(b).display !== 'none',
              left: br.left - vr.left, top: br.top - vr.top, width: br.width, height: br.height,
              cw: v.clientWidth, ch: v.clientHeight, vw: v.videoWidth, vh: v.videoHeight});
  }
  return out;
}"""


def test_the_box_follows_the_track_while_the_clip_plays(page, server, moving_sighting):
    login(page, server, server.admin)
    page.goto(f"/sightings/{TRACK}")
    page.wait_for_selector("[data-testid=box][data-mode=track]", state="attached", timeout=20_000)
    page.wait_for_function("() => { const v = document.querySelector('video'); return v && v.readyState >= 2; }",
                           timeout=20_000)
    track = page.evaluate(f"""async () => (await fetch('/api/v1/sightings/{TRACK}/track/', {{headers: {{
        Authorization: 'Token ' + sessionStorage.getItem('sightline.token')}}}})).json()""")
    assert [p["offset_ms"] for p in track["points"]] == OFFSETS
    assert {p["clip"] for p in track["points"]} == {moving_sighting}

    samples = page.evaluate(SAMPLE_JS, 6000)
    shown = [s for s in samples if s["visible"]]
    assert len({s["t"] for s in shown}) >= 8, samples  # it was redrawn as frames came, not once
    first = samples[0]
    x0, y0, w, h = _displayed(first["cw"], first["ch"], first["vw"], first["vh"])
    assert x0 > 20 or y0 > 20, "the video should be letterboxed in its element here"
    tolerance = STEP_MS / 2
    for s in samples:
        want = _expected(s["t"] * 1000, tolerance)
        if abs(s["t"] * 1000 - (OFFSETS[-1] + tolerance)) < 30:
            continue  # the edge of the span: either is right
        if want is None:
            assert not s["visible"], s
            continue
        assert s["visible"], s
        x1, y1, x2, y2 = want
        got = (s["left"], s["top"], s["width"], s["height"])
        expect = (x0 + x1 * w, y0 + y1 * h, (x2 - x1) * w, (y2 - y1) * h)
        assert all(abs(g - e) <= 1.5 for g, e in zip(got, expect, strict=True)), (s, expect)
    lefts = [s["left"] for s in shown]
    assert lefts == sorted(lefts) and lefts[-1] - lefts[0] > 0.2 * w, "the box should walk right"
    assert any(s["t"] * 1000 > OFFSETS[-1] + tolerance + 100 for s in samples), "played past the track's end"
    screenshot(page, "sighting-track")
    assert not page.js_errors


def test_the_path_of_the_feet_is_drawn_over_the_best_frame(page, server, moving_sighting):
    login(page, server, server.admin)
    page.goto(f"/sightings/{TRACK}")
    figure = page.locator("[data-testid=track-path][data-view=frame]")
    figure.wait_for(timeout=20_000)
    assert "round mark at the start, square at the end" in figure.inner_text()
    svg = page.get_by_test_id("path")
    assert svg.get_attribute("aria-hidden") == "true"
    vw, vh = page.evaluate("() => { const v = document.querySelector('video'); return [v.videoWidth, v.videoHeight]; }")
    assert svg.get_attribute("viewBox") == f"0 0 {vw} {vh}"
    pts = [tuple(map(float, p.split(","))) for p in svg.locator("polyline").get_attribute("points").split()]
    feet = [((b[0] + b[2]) / 2 * vw, b[3] * vh) for b in map(_box, range(len(OFFSETS)))]
    assert len(pts) == len(feet)
    assert all(abs(p[0] - f[0]) <= 0.11 and abs(p[1] - f[1]) <= 0.11 for p, f in zip(pts, feet, strict=True))
    start = page.get_by_test_id("path-start")
    assert abs(float(start.get_attribute("cx")) - feet[0][0]) < 0.1
    assert abs(float(start.get_attribute("cy")) - feet[0][1]) < 0.1
    end = page.get_by_test_id("path-end")
    cx = float(end.get_attribute("x")) + float(end.get_attribute("width")) / 2
    cy = float(end.get_attribute("y")) + float(end.get_attribute("height")) / 2
    assert abs(cx - feet[-1][0]) < 0.1 and abs(cy - feet[-1][1]) < 0.1
    # The still is a real frame: it has pixels and the page's size.
    page.wait_for_function("() => { const i = document.querySelector('[data-testid=track-path] img');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    screenshot(page, "sighting-path")
    assert not page.js_errors
