"""Server mode end to end: PostgreSQL, a Redis broker and a real Celery worker process.

Run by ``scripts/test.sh`` in its second pass, which starts PostgreSQL and Redis. In CI a missing service
is a failure, never a skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.api.test_uploads import upload
from tests.brokers import publishing_to
from tests.conftest import client_for
from tests.services import service_unavailable

pytestmark = [pytest.mark.server, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def redis_url():
    url = os.environ.get("SIGHTLINE_TEST_REDIS_URL")
    if connection.vendor != "postgresql" or not url:
        message = "server-mode tests need DATABASE_URL (PostgreSQL) and SIGHTLINE_TEST_REDIS_URL"
        service_unavailable(message)
    return url


@pytest.fixture
def worker(transactional_db, redis_url):
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.sightline.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "SIGHTLINE_SECRET_KEY": settings.SECRET_KEY,
        "SIGHTLINE_DATA_DIR": str(settings.DATA_DIR),
        "SIGHTLINE_CELERY_ALWAYS_EAGER": "0",
    }
    log = Path(settings.DATA_DIR) / "worker.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "backend.sightline", "worker", "-Q", "analysis", "-c", "1",
             "--pool=solo", "--loglevel=INFO"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        with publishing_to(redis_url):
            yield process
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.returncode not in (0, -15):
            print(log.read_text()[-5000:])


def wait_for(client, clip_id: int, statuses: set[str], timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/clips/{clip_id}/").json()
        seen.append((body["status"], body["progress"]))
        if body["status"] in statuses:
            return {**body, "seen": seen}
        time.sleep(0.2)
    raise AssertionError(f"clip {clip_id} still {seen[-1]} after {timeout} s")


def test_uploads_are_analysed_by_a_real_worker(worker, personas, cameras, footage_h264):
    """GIVEN a worker on the Redis broker, WHEN a corrupt and a good clip are uploaded, THEN the corrupt one
    fails with its reason, the worker survives, and the good one goes queued → analysing → done."""
    client = client_for(personas["colleague"])
    lobby, _ = cameras
    # Two files (the same footage uploaded twice would be one clip): one trailing byte tells them apart.
    bad = upload(client, lobby.pk, footage_h264.read_bytes() + b"\0").json()
    from backend.clips.models import Clip

    Path(Clip.objects.get(pk=bad["id"]).file.path).write_bytes(b"\x00broken" * 500)
    good = upload(client, lobby.pk, footage_h264.read_bytes())
    assert good.status_code == 202 and good.json()["status"] == "queued"

    failed = wait_for(client, bad["id"], {"failed", "done"})
    assert failed["status"] == "failed" and "not a readable video" in failed["error"]
    done = wait_for(client, good.json()["id"], {"done", "failed"})
    assert done["status"] == "done", done
    progress = client.get("/api/v1/events/", {"type": "analysis.progress", "limit": 1000}).json()["results"]
    steps = [e["data"]["progress"] for e in progress if e["clip"] == done["id"]]
    assert len(steps) >= 3 and steps == sorted(steps)
    assert worker.poll() is None, "the worker must survive bad video"
    results = client.get("/api/v1/search/", {"tag": "person", "camera": lobby.pk}).json()["results"]
    assert len(results) >= 3 and results[0]["confidence"] >= results[-1]["confidence"]
