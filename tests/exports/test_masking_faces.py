"""Masking, verified the way an auditor would: real faces are analysed by the real detectors, the footage is
exported and played back masked, and the face detector run on every frame of what was handed out finds no
face, where it finds the faces on the same frames of the source."""

from __future__ import annotations

from datetime import timedelta

import av
import pytest
from django.conf import settings as django_settings

from analysis.eval.faces import make_face_clip
from backend.clips.models import Clip
from backend.eventlog.models import Event, EventType
from backend.exports.models import Export, Rendition
from tests.conftest import client_for
from tests.factories import T0

from .test_exports_api import export

pytestmark = pytest.mark.django_db(transaction=True)


def faces_per_frame(path) -> list[int]:  # type: ignore[no-untyped-def]
    """How many faces CenterFace finds (at the logging threshold) on every frame of ``path``."""
    from analysis.faces import get_face_detector

    detector = get_face_detector()
    threshold = django_settings.SIGHTLINE.FACE_MIN_CONFIDENCE
    with av.open(str(path)) as container:
        return [len(detector.detect(frame.to_ndarray(format="rgb24"), threshold))
                for frame in container.decode(video=0)]


def test_faces_shown_in_the_source_are_masked_on_every_frame_handed_out(
        cameras, personas, own_media, tmp_path, settings, django_capture_on_commit_callbacks):
    """Four seconds of four real faces moving across a wall (10 fps), uploaded and analysed for real with
    face detection on; then exported masked, and played back masked."""
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"FACE_DETECTION": True})
    source = tmp_path / "faces.mp4"
    make_face_clip(source, seconds=4, fps=10, size=(640, 360))
    from tests.api.test_uploads import upload

    colleague = client_for(personas["colleague"])
    response = upload(colleague, cameras[0].pk, source.read_bytes(), "faces.mp4", started_at=T0.isoformat())
    clip = Clip.objects.get(pk=response.json()["id"])
    assert clip.status == Clip.Status.DONE, clip.error
    assert clip.privacy_labels == ["face"]
    assert Event.objects.filter(clip_id=clip.pk, type=EventType.OBJECT_DETECTED, label="face").count() >= 8
    found = faces_per_frame(source)
    assert len(found) == 40 and min(found) >= 3, found  # the check below can fail

    response = export(colleague, django_capture_on_commit_callbacks, camera=clip.camera_id,
                      start=T0.isoformat(), end=(T0 + timedelta(seconds=4)).isoformat(), masking="faces")
    job = Export.objects.get(pk=response.json()["id"])
    assert job.status == Export.Status.DONE, job.error
    found = faces_per_frame(job.file.path)
    assert abs(len(found) - 40) <= 1
    assert sum(found) == 0, [i for i, n in enumerate(found) if n]

    state = colleague.get(f"/api/v1/clips/{clip.pk}/playback/").json()
    assert state["status"] == "ready" and state["masked"], state
    found = faces_per_frame(Rendition.objects.get(clip=clip).file.path)
    assert abs(len(found) - 40) <= 1
    assert sum(found) == 0, [i for i, n in enumerate(found) if n]
