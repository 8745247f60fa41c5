"""Celery task of render jobs (routed to the workers' queue, ``analysis``): exports and masked renditions.

A job waits (re-sent a few seconds later, no attempt counted) while a source clip's analysis has not ended
and the masking needs its detections. Then it claims the job, renders to a fresh file, decodes every frame
of it (``render.verify``) and only then marks the job ``done`` with the file's size and SHA-256. A render
that fails or does not verify is deleted and tried again, up to ``SIGHTLINE.EXPORT_MAX_ATTEMPTS``; then the
job fails with the reason. Importing this module is cheap (no PyAV until a job runs).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import OperationalError
from django.utils import timezone

from backend.clips.models import Clip
from backend.eventlog.log import EventLog, NewEvent
from backend.eventlog.models import EventType
from backend.eventlog.schema import epoch_ms
from backend.sightline.redaction import redact

from . import jobs
from .models import Export, RenderJob, Rendition, export_upload_to, rendition_name
from .overlays import MasksUnknown, burn_boxes, mask_boxes, mask_version
from .sources import clips_covering, unfinished

log = logging.getLogger(__name__)

#: How long a job waits before looking again at source clips still being analysed.
WAIT_S = 5.0
_BEAT_EVERY_S = 1.0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _source_clips(job: RenderJob) -> list[Clip]:
    if isinstance(job, Export):
        return clips_covering(job.camera_id, job.start, job.end)
    assert isinstance(job, Rendition)
    clip = Clip.objects.filter(pk=job.clip_id, expired_at__isnull=True).exclude(file="").first()
    return [clip] if clip is not None else []


#: How many of the oldest queued jobs of each kind :func:`ready_to_render` looks at.
_READY_LOOKS = 16


def ready_to_render(skip: Collection[tuple[str, int]] = ()) -> tuple[type[RenderJob], int] | None:
    """The oldest queued export or rendition that can be rendered now (``(model, pk)``), or ``None``.

    An analysis worker serves these before uploads (``analysis.tasks.serve_more_urgent``): an officer waiting
    for evidence does not wait for an hour of uploaded footage to be analysed. A masked job whose source clips
    are still being analysed cannot be rendered yet (its masks are not known) and is passed over, as are the
    jobs in ``skip`` (``(kind, pk)``: already tried by the caller).
    """
    waiting: list[tuple[Any, int, type[RenderJob]]] = []
    for model in (Export, Rendition):
        rows = (model.objects.filter(status=RenderJob.Status.QUEUED)  # type: ignore[attr-defined]
                .order_by("created_at", "pk").values_list("created_at", "pk")[:_READY_LOOKS])
        waiting += [(created, pk, model) for created, pk in rows if (jobs.kind_of(model), pk) not in skip]
    for _, pk, model in sorted(waiting, key=lambda w: (w[0], w[1])):
        job = model.objects.filter(pk=pk).first()  # type: ignore[attr-defined]
        if job is not None and (job.masking == "none" or not unfinished(_source_clips(job))):
            return model, pk
    return None


def _window(job: RenderJob, clips: list[Clip]) -> tuple[int, int]:
    if isinstance(job, Export):
        return epoch_ms(job.start), epoch_ms(job.end)
    return epoch_ms(clips[0].started_at), epoch_ms(clips[0].ends_at) + 1000


def run(model: type[RenderJob], pk: int) -> str:
    job = model.objects.filter(pk=pk).first()  # type: ignore[attr-defined]
    if job is None:
        return "missing"
    if job.status in (RenderJob.Status.DONE, RenderJob.Status.FAILED):
        return "finished"
    clips = _source_clips(job)
    if job.masking != "none" and unfinished(clips):
        # Masks are known once analysis ends (which it always does: done or failed). Eagerly run tasks (tests)
        # cannot wait: the sweep sends the job again.
        if not render_job.app.conf.task_always_eager:
            render_job.apply_async(args=[jobs.kind_of(model), pk], countdown=WAIT_S)
        return "waiting"
    job = jobs.claim(model, pk)
    if job is None:
        return "not claimed"
    try:
        return _render(job, clips)
    except OperationalError:
        with contextlib.suppress(OperationalError):
            model.objects.filter(pk=pk, status=RenderJob.Status.RENDERING).update(  # type: ignore[attr-defined]
                status=RenderJob.Status.QUEUED, heartbeat_at=None)
        raise


def _render(job: RenderJob, clips: list[Clip]) -> str:
    from . import render as renderer
    from .render import BrokenVideo, ExportError, NothingToExport, Overlay, Source

    render, verify = renderer.render, renderer.verify

    if not clips:
        return _failed(job, "no footage is stored for this time range (it expired or was never recorded)")
    try:
        masks = mask_boxes(clips, job.masking)
    except MasksUnknown as exc:
        return _failed(job, str(exc))
    boxes = burn_boxes(clips) if getattr(job, "burn_boxes", False) else None
    overlay = Overlay(masks=masks, mask_padding=settings.SIGHTLINE.MASK_PADDING, boxes=boxes)
    sources = [Source(path=Path(c.file.path), started_at_ms=epoch_ms(c.started_at), clip_id=c.pk) for c in clips]
    name = export_upload_to(job, "export.mp4") if isinstance(job, Export) else rendition_name(job.clip_id,
                                                                                              job.masking)
    out = Path(default_storage.path(name))
    out.parent.mkdir(parents=True, exist_ok=True)
    start_ms, end_ms = _window(job, clips)
    last_beat = 0.0

    def progress(fraction: float) -> None:
        nonlocal last_beat
        if time.monotonic() - last_beat >= _BEAT_EVERY_S:
            last_beat = time.monotonic()
            jobs.beat(job, fraction)

    try:
        # Verified here rather than inside render(): one full decode, and the check that decides "done".
        report = render(sources, start_ms, end_ms, out, overlay=overlay, on_progress=progress,
                        verify_output=False)
        verify(out, expected_frames=report.frames)
    except NothingToExport:
        out.unlink(missing_ok=True)
        return _failed(job, "the stored footage holds no frame in this time range")
    except (ExportError, OSError) as exc:
        out.unlink(missing_ok=True)
        retryable = getattr(exc, "retryable", True)
        what = "did not verify" if isinstance(exc, BrokenVideo) else "could not be made"
        reason = f"the file {what}: {redact(str(exc)) or exc.__class__.__name__}"
        log.warning("%s %s, attempt %s: %s", jobs.kind_of(type(job)), job.pk, job.attempts, reason)
        if retryable and jobs.retry_later(job, reason):
            jobs.dispatch(type(job), job.pk)
            return "retrying"
        return _failed(job, reason)
    return _finish(job, name, out, report, clips)


def _finish(job: RenderJob, name: str, out: Path, report: Any, clips: list[Clip]) -> str:
    digest = _sha256(out)
    now = timezone.now()
    fields: dict[str, Any] = {"status": RenderJob.Status.DONE, "progress": 1.0, "error": "", "file": name,
                              "size_bytes": out.stat().st_size, "sha256": digest, "mode": report.mode,
                              "frames": report.frames, "finished_at": now, "heartbeat_at": None}
    if isinstance(job, Export):
        from .manifest import build_manifest

        manifest = build_manifest(job, clips, report, digest, out.stat().st_size, now)
        fields["manifest"] = manifest
    else:
        assert isinstance(job, Rendition)
        fields["mask_seq"] = mask_version(clips[0])
    updated = type(job).objects.filter(pk=job.pk, status=RenderJob.Status.RENDERING).update(**fields)  # type: ignore[attr-defined]
    if not updated:  # taken over meanwhile (this worker was thought dead): the other render wins
        out.unlink(missing_ok=True)
        return "superseded"
    if isinstance(job, Export):
        EventLog.append([NewEvent(key=f"export.completed:{job.job_id}", type=EventType.EXPORT_COMPLETED,
                                  time=now, camera_id=job.camera_id, data=fields["manifest"])])
    return RenderJob.Status.DONE


def _failed(job: RenderJob, reason: str) -> str:
    jobs.fail(job, reason)
    _log_failure(job, reason)
    return RenderJob.Status.FAILED


def _log_failure(job: RenderJob, reason: str) -> None:
    if isinstance(job, Export):
        EventLog.append([NewEvent(key=f"export.failed:{job.job_id}", type=EventType.EXPORT_FAILED,
                                  time=timezone.now(), camera_id=job.camera_id,
                                  data={"export": job.pk, "reason": reason})])


@shared_task(name="exports.render", autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=60,
             retry_jitter=True, max_retries=5)
def render_job(kind: str, pk: int) -> str:
    return run(jobs.KINDS[kind], pk)
