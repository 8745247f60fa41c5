"""Browser tests: Playwright (Python) driving Debian's Chromium against a real daphne server.

The session fixture prepares a data directory of its own (migrate, collectstatic, ``manage.py demo`` with the
real detector on real footage, a viewer granted no camera), starts daphne on a free port and yields its URL.
Chromium or the Playwright package missing: skipped locally, a failure when ``CI=true``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services import service_unavailable

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("SIGHTLINE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
MANIFEST = REPO / "frontend" / "dist" / ".vite" / "manifest.json"
VIEWER = ("watcher", "watcher-pass-123")


def _missing(what: str) -> None:
    service_unavailable(what)


@dataclass
class Server:
    url: str
    env: dict[str, str]
    data_dir: Path
    admin: tuple[str, str]
    viewer: tuple[str, str]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start daphne on ``port`` and wait until it answers."""
        log = (self.data_dir / "daphne.log").open("a")
        self.proc = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
                                      "backend.sightline.asgi:application"], cwd=REPO, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.url + "/", timeout=2).read()  # noqa: S310
                return
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.proc.kill()
                    pytest.fail("daphne did not start:\n" + (self.data_dir / "daphne.log").read_text())
                time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.proc = None

    def manage(self, *args: str, timeout: float = 300) -> str:
        out = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=self.env, capture_output=True,
                             text=True, timeout=timeout)
        if out.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args[:2])} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def shell(self, code: str) -> str:
        return self.manage("shell", "-c", code)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_frontend_built() -> None:
    if MANIFEST.is_file():
        return
    frontend = REPO / "frontend"
    if shutil.which("npm") and (frontend / "node_modules").is_dir():
        subprocess.run(["npm", "run", "build"], cwd=frontend, check=True, capture_output=True, timeout=300)
    if not MANIFEST.is_file():
        pytest.fail("the front end is not built: cd frontend && npm ci && npm run build")


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    _ensure_frontend_built()
    data_dir = Path(tempfile.mkdtemp(prefix="browser-", dir=REPO / "var" if (REPO / "var").is_dir() else None))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_") and k != "DJANGO_SETTINGS_MODULE"}
    env.update(DJANGO_SETTINGS_MODULE="backend.sightline.settings",
               SIGHTLINE_SECRET_KEY="browser-tests-" + "k" * 40, SIGHTLINE_DATA_DIR=str(data_dir),
               SIGHTLINE_CELERY_ALWAYS_EAGER="1", PYTHONUNBUFFERED="1",
               # Every test signs in, often in several tabs, from one address: more than a person would.
               SIGHTLINE_LOGIN_RATE="1000/minute")
    for key in ("SIGHTLINE_DETECTOR", "SIGHTLINE_TORCH_THREADS"):
        if key in os.environ:
            env[key] = os.environ[key]
    srv = Server(url="", env=env, data_dir=data_dir, admin=("", ""), viewer=VIEWER)
    srv.manage("migrate", "--noinput")
    srv.manage("collectstatic", "--noinput")
    demo = srv.manage("demo", "--seconds", "6", timeout=600)
    m = re.search(r"LOGIN (\S+) / (\S+)", demo)
    assert m, f"demo printed no login:\n{demo}"
    srv.admin = (m.group(1), m.group(2))
    srv.shell(
        "from django.contrib.auth.models import User, Group\n"
        f"u, _ = User.objects.get_or_create(username={VIEWER[0]!r})\n"
        f"u.set_password({VIEWER[1]!r}); u.save(); u.groups.add(Group.objects.get(name='viewer'))\n"
    )
    srv.port = _free_port()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright Python package is not installed (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        _missing(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(base_url=server.url, viewport={"width": 1366, "height": 860})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.js_errors = errors  # type: ignore[attr-defined]
    yield pg
    ctx.close()


def login(page, server: Server, who: tuple[str, str]) -> None:
    page.goto("/")
    page.get_by_label("User name").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_test_id("whoami").filter(has_text=who[0]).wait_for()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def open_page(browser, server):
    """``open_page(viewport, timezone_id=..., who=...)``: a signed-in page (the admin, 1440×900 by default) with
    axe-core loaded and its script errors collected in ``page.js_errors``."""
    from .test_exports_ui import with_axe

    contexts = []

    def make(viewport: dict | None = None, timezone_id: str = "UTC", who: tuple[str, str] | None = None):
        ctx = browser.new_context(base_url=server.url, viewport=viewport or {"width": 1440, "height": 900},
                                  timezone_id=timezone_id, locale="en-GB")
        contexts.append(ctx)
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.js_errors = errors  # type: ignore[attr-defined]
        with_axe(pg)
        login(pg, server, who or server.admin)
        return pg

    yield make
    for ctx in contexts:
        ctx.close()


def open_filters(page) -> None:
    """On a narrow screen the search filters are a drawer: open it (nothing to do on a desktop)."""
    toggle = page.get_by_test_id("filters-toggle")
    toggle.wait_for(state="attached")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") == "false":
        toggle.click()


def append_to_demo_clip(server, events: str) -> dict:
    """Append detections to the demo clip in the server's event log, from another process (``server.shell``).

    ``events``: Python statements that set ``evs``, a list of new events, with ``clip`` (the demo clip) and
    ``detection`` (``tests.factories``) at hand. Returns ``{"added": n, "clip": id}``: ``added`` is 0 when an
    earlier test module appended the same events (natural keys).
    """
    code = (
        "import json\n"
        "from backend.clips.models import Clip\n"
        "from backend.eventlog.log import EventLog\n"
        "from tests.factories import detection\n"
        "clip = Clip.objects.order_by('id').first()\n"
        f"{events}\n"
        "print(json.dumps({'added': EventLog.append(evs), 'clip': clip.id}))\n"
    )
    return json.loads(server.shell(code).strip().splitlines()[-1])
