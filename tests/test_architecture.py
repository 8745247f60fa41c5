"""The code's structure holds: the layering written in the README, and a web process without the detector.

Both are checked against the real thing: import-linter reads every import (direct or through other modules)
of the real packages; the web process is a fresh interpreter that serves real requests (an upload, a search,
an admin page, the schema) on its own database and is then asked what it imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_layering_is_kept():
    """The contract in pyproject.toml: live feed > search | analysis > event log, no import upwards."""
    result = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


_WEB_PROCESS = textwrap.dedent("""
    import io, json, os, sys
    import django
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    import av, numpy as np
    import backend.sightline.asgi  # what daphne serves: URLs, views, consumers
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.urls import get_resolver
    from backend.cameras.models import Camera

    get_resolver().url_patterns  # every view module
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:  # one second of real H.264
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 40, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    admin = get_user_model().objects.create_superuser("web", "web@example.com", "a-long-password-1")
    camera = Camera.objects.create(name="Gate")
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)
    statuses = {
        "upload": client.post("/api/v1/clips/", {"camera": camera.pk, "file": SimpleUploadedFile(
            "gate.mp4", out.getvalue(), content_type="video/mp4")}).status_code,
        "search": client.get("/api/v1/search/", {"tag": "person"}).status_code,
        "admin": client.get("/admin/clips/clip/add/").status_code,
        "schema": client.get("/api/v1/schema/").status_code,
    }
    heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "scipy", "torchvision"})
    print(json.dumps({"statuses": statuses, "heavy": heavy,
                      "detector": sorted(m for m in sys.modules if m.startswith("analysis.detectors"))}))
""")


def test_web_process_does_not_import_the_detector(tmp_path):
    """GIVEN a fresh web process (the embedded default, a queue that a separate worker would read), WHEN it
    takes an upload, answers a search, shows the admin and the schema, THEN torch was never imported."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.sightline.settings_test",
           "SIGHTLINE_DATA_DIR": str(tmp_path), "SIGHTLINE_CELERY_ALWAYS_EAGER": "0"}
    for name in ("DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL"):
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-c", _WEB_PROCESS], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["statuses"] == {"upload": 202, "search": 200, "admin": 200, "schema": 200}
    assert report["heavy"] == []
    assert report["detector"] == []
