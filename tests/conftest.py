from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import CameraFactory, UserFactory

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


@pytest.fixture(scope="session", autouse=True)
def _data_dir():
    """The run's own data directory (see settings_test): removed when the run ends."""
    Path(settings.MEDIA_ROOT).mkdir(parents=True, exist_ok=True)
    yield
    if Path(settings.DATA_DIR).name.startswith("test-"):
        shutil.rmtree(settings.DATA_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _fresh_search_backend():
    import search

    search.reset()
    yield
    search.reset()


@pytest.fixture
def own_media(tmp_path, settings):
    """A media folder of the test's own: the run's media folder is shared, and clip ids repeat across tests."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings.MEDIA_ROOT


@pytest.fixture
def cameras(db):
    """Two cameras: the lobby (granted to the colleague) and the vault (granted to nobody)."""
    return CameraFactory(name="Lobby"), CameraFactory(name="Vault")


@pytest.fixture
def personas(db, cameras):
    """GIVEN an admin (sees all), a colleague operator granted the lobby only, and an outsider viewer."""
    lobby, _vault = cameras
    admin = UserFactory(username="admin", is_staff=True, role="admin")
    colleague = UserFactory(username="colleague", role="operator")
    lobby.granted_users.add(colleague)
    outsider = UserFactory(username="outsider", role="viewer")
    return {"admin": admin, "colleague": colleague, "outsider": outsider}


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture(scope="session")
def vtest_path() -> Path:
    if not VTEST.is_file():
        pytest.fail(f"{VTEST} is missing: install Debian's opencv-doc (the README's test command does)")
    return VTEST


@pytest.fixture(scope="session")
def footage_h264(vtest_path, tmp_path_factory) -> Path:
    """The first 8 seconds of vtest.avi as H.264 MP4 (what cameras send)."""
    from analysis.transcode import transcode_to_h264

    return transcode_to_h264(vtest_path, tmp_path_factory.mktemp("footage") / "vtest-8s.mp4", max_seconds=8)
