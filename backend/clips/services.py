"""Registering a clip: the one path shared by uploads (API and admin), the demo and the recorder."""

from __future__ import annotations

from datetime import datetime

from django.core.files.storage import default_storage
from django.db import transaction

from analysis.decode import VideoInfo
from backend.cameras.models import Camera
from backend.eventlog.log import EventLog, NewEvent
from backend.eventlog.models import EventType

from .models import Clip, clip_upload_to


def register_clip(*, camera: Camera, stored_name: str, info: VideoInfo, started_at: datetime,
                  original_name: str = "", uploaded_by=None, source: str = Clip.Source.UPLOAD,  # type: ignore[no-untyped-def]
                  queue: bool = True) -> Clip:
    """Create the clip for a probed file already in storage, log ``clip.registered``, queue its analysis.

    Must run inside a transaction: the task is queued only once the clip is committed.
    """
    clip = Clip(camera=camera, started_at=started_at, original_name=original_name[:255], source=source,
                duration_s=info.duration_s, width=info.width, height=info.height, codec=info.codec,
                uploaded_by=uploaded_by if uploaded_by is not None and uploaded_by.is_authenticated else None)
    clip.file.name = stored_name
    clip.size_bytes = default_storage.size(stored_name)
    clip.save()
    EventLog.append([NewEvent(
        key=f"clip:{clip.pk}", type=EventType.CLIP_REGISTERED, time=started_at, camera_id=camera.pk,
        clip_id=clip.pk,
        data={"duration_s": info.duration_s, "width": info.width, "height": info.height, "codec": info.codec,
              "source": source},
    )])
    if queue:
        from analysis.tasks import analyse_clip

        transaction.on_commit(lambda: analyse_clip.delay(clip.pk))
    return clip


def storage_name_for(camera: Camera, filename: str) -> str:
    """Where an incoming file for ``camera`` is stored (see :func:`backend.clips.models.clip_upload_to`)."""
    return clip_upload_to(Clip(camera=camera), filename)
