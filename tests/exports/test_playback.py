"""Playback and thumbnails for people who may not unmask: they are given the masked rendition, never a byte
of the original; who may unmask asks for it each time, and each time is audited."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from backend.cameras.models import Masking
from backend.clips import retention
from backend.eventlog.models import Event, EventType
from backend.exports.models import Rendition
from search.models import Sighting
from tests.conftest import client_for
from tests.factories import T0

from .footage import stored_clip, track

pytestmark = pytest.mark.django_db


@pytest.fixture
def clip(cameras, footage_h264, own_media):
    clip = stored_clip(cameras[0], footage_h264, T0)
    track(clip, 1 << 20 | clip.pk, "person", (0.40, 0.20, 0.60, 0.90))
    track(clip, 2 << 20 | clip.pk, "face", (0.45, 0.22, 0.55, 0.35), ordinal=1)
    return clip


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_viewer_gets_the_masked_rendition_once_it_is_made(personas, clip, django_capture_on_commit_callbacks):
    client = client_for(personas["colleague"])
    with django_capture_on_commit_callbacks(execute=False) as pending:
        first = client.get(f"/api/v1/clips/{clip.pk}/video/")
    assert first.status_code == 202 and first["Retry-After"] == "2"
    assert first.json()["status"] == "preparing" and first.json()["masked"] is True
    for callback in pending:
        callback()  # the worker renders it
    state = client.get(f"/api/v1/clips/{clip.pk}/playback/").json()
    assert state["status"] == "ready" and state["masking"] == "faces"
    video = client.get(state["video_url"])
    assert video.status_code == 200
    data = body_of(video)
    original = Path(clip.file.path).read_bytes()
    rendition = Rendition.objects.get(clip=clip)
    assert sha(data) == rendition.sha256 != sha(original)
    assert original[1000:1064] not in data, "no stretch of the original's bytes"


def test_unmask_needs_the_permission_and_is_audited(personas, clip):
    colleague = client_for(personas["colleague"])
    assert colleague.get(f"/api/v1/clips/{clip.pk}/video/?unmask=1").status_code == 403
    assert colleague.get(f"/api/v1/clips/{clip.pk}/playback/?unmask=1").status_code == 403
    admin = personas["admin"]
    admin.user_permissions.add(Permission.objects.get(codename="unmask"))
    client = client_for(admin)
    assert client.get("/api/v1/me/").json()["may_unmask"] is True
    assert client_for(personas["colleague"]).get("/api/v1/me/").json()["may_unmask"] is False
    video = client.get(f"/api/v1/clips/{clip.pk}/video/?unmask=1")
    assert video.status_code == 200 and video["Cache-Control"] == "private, no-store"
    assert sha(body_of(video)) == sha(Path(clip.file.path).read_bytes())
    entries = [e.data for e in Event.objects.filter(type=EventType.AUDIT) if e.data["action"] == "footage.unmask"]
    assert len(entries) == 1 and entries[0]["username"] == "admin" and entries[0]["target"] == f"clip:{clip.pk}"
    assert not Rendition.objects.exists(), "nothing was rendered for an unmasked play"


def test_a_camera_that_masks_nothing_plays_its_original(personas, clip):
    clip.camera.privacy_mask = Masking.NONE
    clip.camera.save()
    video = client_for(personas["colleague"]).get(f"/api/v1/clips/{clip.pk}/video/")
    assert video.status_code == 200 and sha(body_of(video)) == sha(Path(clip.file.path).read_bytes())


def test_a_clip_whose_analysis_failed_is_not_played_to_who_may_not_unmask(
        personas, cameras, footage_h264, own_media, django_capture_on_commit_callbacks):
    failed = stored_clip(cameras[0], footage_h264, T0, status="failed")
    client = client_for(personas["colleague"])
    with django_capture_on_commit_callbacks(execute=True):
        client.get(f"/api/v1/clips/{failed.pk}/playback/")
    response = client.get(f"/api/v1/clips/{failed.pk}/video/")
    assert response.status_code == 409 and "unknown" in response.json()["error"]


def test_a_re_analysis_makes_the_rendition_again(personas, clip, django_capture_on_commit_callbacks):
    client = client_for(personas["colleague"])
    with django_capture_on_commit_callbacks(execute=True):
        client.get(f"/api/v1/clips/{clip.pk}/playback/")
    made = Rendition.objects.get(clip=clip)
    assert made.status == "done"
    track(clip, 3 << 20 | clip.pk, "face", (0.10, 0.10, 0.20, 0.25), ordinal=2)
    with django_capture_on_commit_callbacks(execute=True):
        again = client.get(f"/api/v1/clips/{clip.pk}/playback/").json()
    assert again["status"] == "preparing"
    remade = Rendition.objects.get(clip=clip)
    assert remade.status == "done" and remade.file.name != made.file.name
    assert not default_storage.exists(made.file.name)


def test_retention_deletes_renditions_with_their_clip(personas, clip, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(personas["colleague"]).get(f"/api/v1/clips/{clip.pk}/playback/")
    name = Rendition.objects.get(clip=clip).file.name
    assert default_storage.exists(name)
    Sighting.objects.all().delete()  # nothing pins the clip
    retention.expire_clip(clip, reason=retention.RETENTION)
    assert not Rendition.objects.exists() and not default_storage.exists(name)


def _textured(size: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)


def test_thumbnails_are_masked_where_the_face_is(personas, clip):
    sighting = Sighting.objects.get(id=1 << 20 | clip.pk)
    pixels = _textured((120, 220))
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=95)
    if default_storage.exists(sighting.thumbnail):
        default_storage.delete(sighting.thumbnail)
    default_storage.save(sighting.thumbnail, ContentFile(out.getvalue()))
    client = client_for(personas["colleague"])
    masked = np.asarray(Image.open(io.BytesIO(body_of(client.get(f"/api/v1/sightings/{sighting.id}/thumbnail/")))))
    stored = np.asarray(Image.open(default_storage.open(sighting.thumbnail)))
    assert masked.shape == stored.shape
    h = stored.shape[0]
    # The face is at the top of the person's box: its rows lose their detail, the legs keep theirs.
    top, bottom = slice(int(h * 0.15), int(h * 0.25)), slice(int(h * 0.7), int(h * 0.8))
    centre = slice(stored.shape[1] // 3, 2 * stored.shape[1] // 3)
    assert masked[top, centre].std() < stored[top, centre].std() / 3
    assert abs(float(masked[bottom, centre].std()) - float(stored[bottom, centre].std())) < 10
    assert client.get(f"/api/v1/sightings/{sighting.id}/thumbnail/?unmask=1").status_code == 403
