"""What a test does when a service it needs (a server, a browser) is not there, and stopping one for real."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest


def service_unavailable(message: str) -> NoReturn:
    """Fail in CI (``CI=true``: a missing service is a failure), skip with the reason elsewhere."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI: a missing service is a failure)")
    pytest.skip(message)


def control(service: str, action: str) -> None:
    """Run ``scripts/services/<service>.sh <action>``: stop a real server, or start it again, for a fault."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "services" / f"{service}.sh"
    subprocess.run([str(script), action], check=True, capture_output=True, timeout=120)
