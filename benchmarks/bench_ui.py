"""Time for the Search page to show its first results over 1,000,000 detections, in headless Chromium.

The data directory of ``bench_search`` (1,000,000 synthetic detections projected into sightings) is served by
daphne; Chromium signs in, then opens ``/?tag=person`` again and again. Measured: from navigation start to the
first result card's thumbnail element in the page (the API answers, the page renders the grid). Baseline in the
same run: the bare ``GET /api/v1/search/?tag=person&min_confidence=0.5`` the page sends, timed from Python.
Also counted: the Tab presses to the first result card, with Tab alone from the page just signed in to, and
from the top of a page loaded anew taking the skip links (Enter on them is not counted).

Usage: python -m benchmarks.bench_search   (prints its data directory), then
       python -m benchmarks.bench_ui --data-dir <that directory>
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from benchmarks._django import machine

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def tab_presses_to_first_result(page, use_skip_link: bool, limit: int = 400) -> int:
    """Press Tab from the focus where it is until a result card has it; the number of presses. With
    ``use_skip_link``, Enter on "Skip to content" and "Skip to results" when they have the focus (not counted)."""
    here = ("() => { const a = document.activeElement;"
            " return a?.dataset?.testid === 'result' ? 'card' : a?.textContent?.trim(); }")
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        now = page.evaluate(here)
        if use_skip_link and now in ("Skip to content", "Skip to results"):
            page.keyboard.press("Enter")
            now = page.evaluate(here)
        if now == "card":
            return presses
    raise AssertionError(f"no result card after {limit} Tab presses")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.sightline.settings",
           "SIGHTLINE_DATA_DIR": str(args.data_dir), "SIGHTLINE_SECRET_KEY": "benchmark-only-" + "x" * 40}

    def manage(*a: str) -> str:
        return subprocess.run([sys.executable, "manage.py", *a], cwd=REPO, env=env, check=True,
                              capture_output=True, text=True).stdout

    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput")
    manage("shell", "-c", "from django.contrib.auth.models import User\n"
           "u, _ = User.objects.get_or_create(username='bench', defaults={'is_superuser': True})\n"
           "u.is_superuser = True; u.set_password('bench-pass-123'); u.save()")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                               "backend.sightline.asgi:application"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/", timeout=2).read()  # noqa: S310
                break
            except OSError:
                time.sleep(0.2)
        token_req = urllib.request.Request(url + "/api/v1/auth/token/",  # noqa: S310
                                           data=b"username=bench&password=bench-pass-123")
        token = json.loads(urllib.request.urlopen(token_req).read())["token"]  # noqa: S310
        api_ms = []
        for _ in range(args.runs):
            req = urllib.request.Request(url + "/api/v1/search/?tag=person&min_confidence=0.5",  # noqa: S310
                                         headers={"Authorization": f"Token {token}"})
            t = time.perf_counter()
            body = json.loads(urllib.request.urlopen(req).read())  # noqa: S310
            api_ms.append((time.perf_counter() - t) * 1000)
        assert body["results"], "the benchmark data holds no person"

        from playwright.sync_api import sync_playwright

        page_ms = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(base_url=url, viewport={"width": 1366, "height": 860})
            page.goto("/")
            page.get_by_label("User name").fill("bench")
            page.get_by_label("Password").fill("bench-pass-123")
            page.get_by_role("button", name="Sign in").click()
            page.get_by_test_id("whoami").wait_for()
            page.get_by_test_id("result").first.wait_for()
            tabs = tab_presses_to_first_result(page, use_skip_link=False)
            page.reload()
            page.get_by_test_id("result").first.wait_for()
            tabs_skipping = tab_presses_to_first_result(page, use_skip_link=True)
            for _ in range(args.runs):
                page.goto("/?tag=person")
                page.get_by_test_id("result").first.wait_for()
                page_ms.append(page.evaluate(
                    "() => performance.now() - performance.getEntriesByType('navigation')[0].startTime"))
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    print(f"Machine: {machine()}; Chromium headless; daphne + SQLite over the bench_search data")
    print("| measure | p50 | p95 |")
    print("|---|---|---|")
    print(f"| Search page: navigation to first results | {statistics.median(page_ms):.0f} ms | "
          f"{percentile(page_ms, 95):.0f} ms |")
    print(f"| baseline: the search API call alone | {statistics.median(api_ms):.0f} ms | "
          f"{percentile(api_ms, 95):.0f} ms |")
    print(f"| page / API (p50) | {statistics.median(page_ms) / statistics.median(api_ms):.1f} | |")
    print(f"Tab presses to the first result card: {tabs} from the page just signed in to (Tab only), "
          f"{tabs_skipping} from the top of a page loaded anew (with the skip links)")


if __name__ == "__main__":
    main()
