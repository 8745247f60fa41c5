"""What a test does when a service it needs (a server, a browser) is not there."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def service_unavailable(message: str) -> NoReturn:
    """Fail in CI (``CI=true``: a missing service is a failure), skip with the reason elsewhere."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI: a missing service is a failure)")
    pytest.skip(message)
