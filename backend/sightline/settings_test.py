"""Settings for the test suite: the embedded default with its own data directory and eager tasks."""

import os

from .config import REPO_ROOT

os.environ.setdefault("SIGHTLINE_SECRET_KEY", "test-only-key-" + "x" * 40)
os.environ.setdefault("SIGHTLINE_DATA_DIR", str(REPO_ROOT / "var" / "test"))
os.environ.setdefault("SIGHTLINE_CELERY_ALWAYS_EAGER", "1")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
