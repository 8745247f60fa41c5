"""Storing and registering clips: the one path shared by uploads (API and admin), the demo and the recorder.

:func:`store_upload` checks a file (not empty, within ``SIGHTLINE.MAX_UPLOAD_BYTES`` where asked, a video
PyAV can decode a frame of), puts it in media storage and probes it; a file it refuses is not kept.
:func:`register_clip` then creates the clip, logs ``clip.registered`` and queues its analysis;
:func:`register_stored` does that for a :class:`StoredUpload` and deletes its file if registering fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from analysis.decode import UnreadableVideo, VideoInfo, probe
from backend.cameras.models import Camera
from backend.eventlog.log import EventLog, NewEvent
from backend.eventlog.models import EventType
from backend.eventlog.schema import clip_registered_key

from .models import Clip, clip_upload_to


class UploadRejected(ValueError):
    """The file cannot become a clip; the message says why in words a user understands."""


@dataclass(frozen=True, slots=True)
class StoredUpload:
    """A probed file in media storage, not yet a clip."""

    name: str
    info: VideoInfo
    original_name: str

    def discard(self) -> None:
        default_storage.delete(self.name)


def store_upload(content: File | IO[bytes], camera: Camera, *, original_name: str,
                 limit: bool = True) -> StoredUpload:
    """Check, store and probe ``content`` for ``camera``; raise :class:`UploadRejected` (keeping nothing).

    ``limit`` applies ``SIGHTLINE.MAX_UPLOAD_BYTES`` (uploads); the recorder's own segments pass ``False``.
    """
    content = content if isinstance(content, File) else File(content)
    size = content.size
    if not size:
        raise UploadRejected("the file is empty")
    max_bytes = settings.SIGHTLINE.MAX_UPLOAD_BYTES
    if limit and size > max_bytes:
        raise UploadRejected(f"the file is larger than the limit of {max_bytes} bytes")
    name = default_storage.save(storage_name_for(camera, original_name), content)
    try:
        info = probe(default_storage.path(name))
    except UnreadableVideo as exc:
        default_storage.delete(name)
        raise UploadRejected(str(exc)) from None
    except BaseException:
        default_storage.delete(name)
        raise
    return StoredUpload(name=name, info=info, original_name=original_name)


def register_stored(stored: StoredUpload, *, camera: Camera, started_at: datetime, uploaded_by=None,  # type: ignore[no-untyped-def]
                    source: str = Clip.Source.UPLOAD, original_name: str | None = None,
                    queue: bool = True) -> Clip:
    """:func:`register_clip` for a stored upload, in its own transaction; its file is deleted on failure."""
    try:
        with transaction.atomic():
            return register_clip(camera=camera, stored_name=stored.name, info=stored.info, started_at=started_at,
                                 original_name=stored.original_name if original_name is None else original_name,
                                 uploaded_by=uploaded_by, source=source, queue=queue)
    except BaseException:
        stored.discard()
        raise


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
        key=clip_registered_key(clip.pk), type=EventType.CLIP_REGISTERED, time=started_at, camera_id=camera.pk,
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
