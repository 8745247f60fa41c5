"""Storing and registering clips: the one path shared by uploads (API and admin), the demo and the recorder.

:func:`store_upload` checks a file (not empty, within ``SIGHTLINE.MAX_UPLOAD_BYTES`` where asked, a video
PyAV can decode a frame of), puts it in media storage and probes it; a file it refuses is not kept. Its steps
(:func:`check_size`, :func:`store_probed`) are the synchronous analyse API's too (``backend.analyze``).
:func:`register_clip` then creates the clip, logs ``clip.registered`` and queues its analysis;
:func:`register_stored` does that for a :class:`StoredUpload` and deletes its file if registering fails.
Uploads are recognised by their SHA-256 per camera: the same footage uploaded again (a client retrying
after a lost answer) is the clip it already became, analysed once.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from analysis.decode import UnreadableVideo, VideoInfo, VideoLimits, probe
from analysis.probe_sandbox import SandboxLimits, probe_isolated
from backend.cameras.models import Camera
from backend.eventlog.log import EventLog, NewEvent
from backend.eventlog.models import EventType
from backend.eventlog.schema import clip_registered_key

from .models import Clip, clip_upload_to

#: The extension of a stored file until its probe has said what it is.
PROBING = ".probing"


class UploadRejected(ValueError):
    """The file cannot become a clip; the message says why in words a user understands."""


@dataclass(frozen=True, slots=True)
class StoredUpload:
    """A probed file in media storage, not yet a clip."""

    name: str
    info: VideoInfo
    original_name: str
    sha256: str

    def discard(self) -> None:
        default_storage.delete(self.name)


class AlreadyUploaded(Exception):
    """This camera already has this exact footage (same SHA-256): ``clip`` is what it became."""

    def __init__(self, clip: Clip) -> None:
        super().__init__(f"this camera already has this footage: clip {clip.pk}")
        self.clip = clip


def _sha256(content: File) -> str:
    digest = hashlib.sha256()
    for chunk in content.chunks():
        digest.update(chunk)
    content.seek(0)
    return digest.hexdigest()


def _already_uploaded(camera: Camera, sha256: str) -> Clip | None:
    return Clip.objects.filter(camera=camera, content_sha256=sha256).first()


def store_upload(content: File | IO[bytes], camera: Camera, *, original_name: str, limit: bool = True) -> StoredUpload:
    """Check, store and probe ``content`` for ``camera``; raise :class:`UploadRejected` (keeping nothing), or
    :class:`AlreadyUploaded` when the camera has this exact footage already (a retry: nothing is stored).

    ``limit`` applies ``SIGHTLINE.MAX_UPLOAD_BYTES`` (uploads); the recorder's own segments pass ``False``.
    """
    content = content if isinstance(content, File) else File(content)
    check_size(content, settings.SIGHTLINE.MAX_UPLOAD_BYTES if limit else None)
    sha256 = _sha256(content)
    existing = _already_uploaded(camera, sha256)
    if existing is not None:
        raise AlreadyUploaded(existing)
    # Untrusted uploads are probed in a limited child process; the recorder's own segments (remuxed by
    # Sightline) in this one.
    name, info = store_probed(content, storage_name_for(camera, PROBING), limits=video_limits(), isolated=limit)
    return StoredUpload(name=name, info=info, original_name=original_name, sha256=sha256)


def check_size(content: File, max_bytes: int | None) -> None:
    """Refuse an empty file, or one above ``max_bytes`` (``None``: no limit), with :class:`UploadRejected`."""
    size = content.size
    if not size:
        raise UploadRejected("the file is empty")
    if max_bytes is not None and size > max_bytes:
        raise UploadRejected(f"the file is larger than the limit of {max_bytes} bytes")


def store_probed(content: File, name: str, *, limits: VideoLimits, isolated: bool = True,
                 images: bool = False) -> tuple[str, VideoInfo]:
    """Put ``content`` in media storage as ``name`` (ending in :data:`PROBING`), probe it and give it the
    extension its probe found; returns the stored name and what the probe found. A file the probe refuses
    raises :class:`UploadRejected` and is not kept (nor is it on any other error).

    The file is stored under a neutral name first: the extension comes from what the probe found, never from
    the uploader's file name (which would decide the Content-Type it is served with). ``isolated`` probes it in
    the limited child process (:mod:`analysis.probe_sandbox`: every untrusted file); ``images`` accepts a
    single JPEG, PNG or WebP picture too (``analysis.decode.probe``).
    """
    if not name.endswith(PROBING):
        raise ValueError(f"a file being probed is stored under a name ending in {PROBING}")
    name = default_storage.save(name, content)
    try:
        path = default_storage.path(name)
        if isolated:
            info = probe_isolated(path, limits, sandbox_limits(), images=images).info
        else:
            info = probe(path, limits, images=images)
        final = name.removesuffix(PROBING) + info.extension
        os.replace(path, default_storage.path(final))
    except UnreadableVideo as exc:
        default_storage.delete(name)
        raise UploadRejected(str(exc)) from None
    except BaseException:
        default_storage.delete(name)
        raise
    return final, info


def video_limits() -> VideoLimits:
    conf = settings.SIGHTLINE
    return VideoLimits(max_pixels=conf.MAX_VIDEO_PIXELS, max_side=conf.MAX_VIDEO_SIDE,
                       max_duration_s=conf.MAX_VIDEO_DURATION_S)


def sandbox_limits() -> SandboxLimits:
    conf = settings.SIGHTLINE
    return SandboxLimits(memory_bytes=conf.PROBE_MEMORY_BYTES, wall_s=conf.PROBE_TIMEOUT_S,
                         cpu_s=max(1, int(conf.PROBE_TIMEOUT_S)))


def upload_start(given: datetime | None, info: VideoInfo) -> tuple[datetime, str]:
    """The time of an upload's first frame and where it came from: the uploader's, else the file's own
    recorded creation time, else the time it was received (said as such on the clip)."""
    if given is not None:
        return given, Clip.StartedAtSource.GIVEN
    if info.recorded_at is not None:
        return datetime.fromisoformat(info.recorded_at.replace("Z", "+00:00")), Clip.StartedAtSource.FILE
    return timezone.now(), Clip.StartedAtSource.RECEIVED


def register_stored(stored: StoredUpload, *, camera: Camera, started_at: datetime, uploaded_by=None,  # type: ignore[no-untyped-def]
                    source: str = Clip.Source.UPLOAD, original_name: str | None = None,
                    queue: bool = True, started_at_source: str = "") -> tuple[Clip, bool]:
    """:func:`register_clip` for a stored upload, in its own transaction; its file is deleted on failure.

    Returns ``(clip, created)``: the same footage registered meanwhile for the camera (two identical uploads
    at once) gives the existing clip and ``False``, and this copy is deleted.
    """
    try:
        with transaction.atomic():
            clip = register_clip(camera=camera, stored_name=stored.name, info=stored.info, started_at=started_at,
                                 original_name=stored.original_name if original_name is None else original_name,
                                 uploaded_by=uploaded_by, source=source, queue=queue, sha256=stored.sha256,
                                 started_at_source=started_at_source)
            return clip, True
    except IntegrityError:
        stored.discard()
        existing = _already_uploaded(camera, stored.sha256)
        if existing is None:
            raise
        return existing, False
    except BaseException:
        stored.discard()
        raise


def register_clip(*, camera: Camera, stored_name: str, info: VideoInfo, started_at: datetime,
                  original_name: str = "", uploaded_by=None, source: str = Clip.Source.UPLOAD,  # type: ignore[no-untyped-def]
                  queue: bool = True, sha256: str = "", started_at_source: str = "") -> Clip:
    """Create the clip for a probed file already in storage, log ``clip.registered``, queue its analysis.

    Must run inside a transaction: the task is queued only once the clip is committed.
    """
    priority = Clip.Priority.LIVE if source == Clip.Source.RECORDING else Clip.Priority.UPLOAD
    if not started_at_source and source == Clip.Source.RECORDING:
        started_at_source = Clip.StartedAtSource.CAMERA
    clip = Clip(camera=camera, started_at=started_at, started_at_source=started_at_source,
                original_name=original_name[:255], source=source, priority=priority,
                duration_s=info.duration_s, width=info.width, height=info.height, codec=info.codec,
                uploaded_by=uploaded_by if uploaded_by is not None and uploaded_by.is_authenticated else None)
    clip.file.name = stored_name
    clip.content_sha256 = sha256
    clip.size_bytes = default_storage.size(stored_name)
    clip.save()
    EventLog.append([NewEvent(
        key=clip_registered_key(clip.pk), type=EventType.CLIP_REGISTERED, time=started_at, camera_id=camera.pk,
        clip_id=clip.pk,
        data={"duration_s": info.duration_s, "width": info.width, "height": info.height, "codec": info.codec,
              "source": source},
    )])
    if queue:  # the outbox: the job row commits with the clip; its task is sent once that is durable
        from . import jobs

        transaction.on_commit(lambda: jobs.dispatch(clip.pk))
    return clip


def storage_name_for(camera: Camera, extension: str) -> str:
    """Where a file for ``camera`` is stored: a fresh name with ``extension`` (one Sightline chose)."""
    return clip_upload_to(Clip(camera=camera), f"video{extension}")
