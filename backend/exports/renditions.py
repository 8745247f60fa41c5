"""Masked renditions of clips for playback, made on demand and cached.

:func:`rendition_for` returns the clip's rendition for a masking, creating its job the first time it is
asked for and again when the clip's detections changed since it was made (a re-analysis). Retention deletes
renditions with their clip (:func:`discard_for_clip`); the disk floor deletes them first
(:func:`discard_oldest`): they are remade when asked for.
"""

from __future__ import annotations

import logging

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from backend.clips.models import Clip

from . import jobs
from .models import RenderJob, Rendition
from .overlays import mask_version

log = logging.getLogger(__name__)


def _delete_file(rendition: Rendition) -> int:
    name = rendition.file.name if rendition.file else ""
    if not name or not default_storage.exists(name):
        return 0
    size = default_storage.size(name)
    default_storage.delete(name)
    return size


def _restart(rendition: Rendition) -> None:
    _delete_file(rendition)
    Rendition.objects.filter(pk=rendition.pk).update(
        status=RenderJob.Status.QUEUED, file="", size_bytes=0, sha256="", attempts=0, error="", progress=0.0,
        heartbeat_at=None, dispatched_at=None, finished_at=None)
    transaction.on_commit(lambda: jobs.dispatch(Rendition, rendition.pk))


def rendition_for(clip: Clip, masking: str) -> Rendition:
    """The clip's rendition with ``masking``, queued if it does not exist yet or is stale."""
    rendition = Rendition.objects.filter(clip=clip, masking=masking).first()
    if rendition is None:
        try:
            with transaction.atomic():
                rendition = Rendition.objects.create(clip=clip, masking=masking)
        except IntegrityError:  # asked for twice at once: one job
            return Rendition.objects.get(clip=clip, masking=masking)
        transaction.on_commit(lambda: jobs.dispatch(Rendition, rendition.pk))  # type: ignore[union-attr]
        if transaction.get_autocommit():
            rendition.refresh_from_db()  # the job may have run already (tasks run eagerly in one-shot setups)
        return rendition
    if rendition.status == RenderJob.Status.DONE and (
            rendition.mask_seq < mask_version(clip) or not default_storage.exists(rendition.file.name)):
        _restart(rendition)
        rendition.refresh_from_db()
    return rendition


def retry_failed(rendition: Rendition) -> Rendition:
    """A failed rendition asked for again (its clip may have been re-analysed): try once more."""
    if rendition.status == RenderJob.Status.FAILED:
        _restart(rendition)
        rendition.refresh_from_db()
    return rendition


def discard_for_clip(clip_id: int) -> int:
    """Delete every rendition of a clip (its footage is going); bytes freed. Raises OSError."""
    freed = 0
    for rendition in Rendition.objects.filter(clip_id=clip_id):
        freed += _delete_file(rendition)
    Rendition.objects.filter(clip_id=clip_id).delete()
    return freed


def discard_oldest(limit: int = 20) -> int:
    """Delete the least recently made renditions (the disk is short); bytes freed."""
    freed = 0
    for rendition in Rendition.objects.exclude(file="").order_by("finished_at", "pk")[:limit]:
        try:
            freed += _delete_file(rendition)
        except OSError as exc:
            log.warning("disk: cannot delete rendition %s: %s", rendition.pk, exc.strerror or exc)
            continue
        rendition.delete()
    return freed
