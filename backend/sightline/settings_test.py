"""Settings for the test suite: the embedded default with its own data directory and eager tasks."""

import os
import tempfile

from .config import REPO_ROOT

os.environ.setdefault("SIGHTLINE_SECRET_KEY", "test-only-key-" + "x" * 40)
# One data directory per test run (database, media), so concurrent runs never share files.
(REPO_ROOT / "var").mkdir(exist_ok=True)
os.environ.setdefault("SIGHTLINE_DATA_DIR", tempfile.mkdtemp(prefix="test-", dir=REPO_ROOT / "var"))
os.environ.setdefault("SIGHTLINE_CELERY_ALWAYS_EAGER", "1")
# The tests' RTSP cameras run on this machine, in server mode too.
os.environ.setdefault("SIGHTLINE_CAMERA_ALLOW_LOOPBACK", "1")
# No disk floor unless a test sets one: a full CI disk must not make other tests lose their footage.
os.environ.setdefault("SIGHTLINE_DISK_FREE_FLOOR_BYTES", "0")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
