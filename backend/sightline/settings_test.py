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
# Every track a sighting, as before the confirmation rule (search/sightings.py): most tests' fixtures are
# single detections of any label at any confidence (tests/search/contract.py), and they test search, the
# feed or retention, not the rule. The tests of the rule set the production defaults or tracked objects
# themselves (tests/search/test_confirmation.py). Subprocesses (browser tests, workers) inherit these.
os.environ.setdefault("SIGHTLINE_TRACKED_LABELS", "*")
os.environ.setdefault("SIGHTLINE_CONFIRM_MIN_SCORE", "0")
os.environ.setdefault("SIGHTLINE_CONFIRM_THRESHOLD", "0")
os.environ.setdefault("SIGHTLINE_CONFIRM_MIN_HITS", "1")
# No face pass (analysis.privacy) unless a test asks for it: CenterFace on every analysed frame would slow every
# analysis test down; the tests of faces pass the detectors or turn the setting on (tests/analysis/test_faces.py).
os.environ.setdefault("SIGHTLINE_FACE_DETECTION", "0")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
