"""Render jobs that finish exactly once, as analysis jobs do (``backend.clips.jobs``): the row is the job,
the broker only its doorbell.

``queued`` → (claimed with one conditional UPDATE) ``rendering`` → ``done`` or ``failed``. A job is sent
once its row is committed (:func:`dispatch`, the outbox); a worker that dies mid-render stops beating and the
next claim or :func:`sweep` takes the job over; after ``SIGHTLINE.EXPORT_MAX_ATTEMPTS`` attempts it fails with
its reason. A render that produced a file that does not verify counts as a failed attempt and is tried again
(``backend.exports.tasks``): a job is never ``done`` with a broken file.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TypeVar

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from .models import Export, RenderJob, Rendition

log = logging.getLogger(__name__)

J = TypeVar("J", bound=RenderJob)
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5}
KINDS: dict[str, type[RenderJob]] = {"export": Export, "rendition": Rendition}


def kind_of(model: type[RenderJob]) -> str:
    return next(name for name, cls in KINDS.items() if cls is model)


def _claimable() -> Q:
    stale = timezone.now() - timedelta(seconds=settings.SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S)
    dead = Q(status=RenderJob.Status.RENDERING) & (Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True))
    return Q(status=RenderJob.Status.QUEUED) | dead


def claim(model: type[J], pk: int) -> J | None:
    """Take the job for this worker (counting an attempt); ``None`` when it is not this worker's to render."""
    now = timezone.now()
    limit = settings.SIGHTLINE.EXPORT_MAX_ATTEMPTS
    taken = model.objects.filter(_claimable(), pk=pk, attempts__lt=limit).update(  # type: ignore[attr-defined]
        status=RenderJob.Status.RENDERING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now,
        progress=0.0)
    if taken:
        return model.objects.get(pk=pk)  # type: ignore[attr-defined,no-any-return]
    fail_exhausted(model, pk)
    return None


def beat(job: RenderJob, progress: float) -> None:
    type(job).objects.filter(pk=job.pk, status=RenderJob.Status.RENDERING).update(  # type: ignore[attr-defined]
        heartbeat_at=timezone.now(), progress=round(min(max(progress, 0.0), 0.99), 3))


def retry_later(job: RenderJob, reason: str) -> bool:
    """Give the job back after a failed attempt (its file did not verify, the worker hit an error); ``False``
    when that was its last attempt and it has been failed with ``reason``."""
    if job.attempts >= settings.SIGHTLINE.EXPORT_MAX_ATTEMPTS:
        fail(job, reason)
        return False
    type(job).objects.filter(pk=job.pk, status=RenderJob.Status.RENDERING).update(  # type: ignore[attr-defined]
        status=RenderJob.Status.QUEUED, heartbeat_at=None, error=reason[:1000], dispatched_at=None)
    return True


def fail(job: RenderJob, reason: str) -> None:
    type(job).objects.filter(pk=job.pk).exclude(status=RenderJob.Status.DONE).update(  # type: ignore[attr-defined]
        status=RenderJob.Status.FAILED, error=reason[:1000], finished_at=timezone.now(), heartbeat_at=None)
    log.warning("%s %s failed: %s", kind_of(type(job)), job.pk, reason)


def fail_exhausted(model: type[RenderJob], pk: int) -> bool:
    limit = settings.SIGHTLINE.EXPORT_MAX_ATTEMPTS
    job = model.objects.filter(_claimable(), pk=pk, attempts__gte=limit).first()  # type: ignore[attr-defined]
    if job is None:
        return False
    fail(job, job.error or f"rendering did not finish after {job.attempts} attempts (the worker stopped "
                            "each time: killed, out of memory or restarted)")
    return True


def dispatch(model: type[RenderJob], pk: int) -> bool:
    """Send the job's task once its row is committed; ``False`` when the broker could not take it."""
    from .tasks import render_job

    try:
        render_job.apply_async(args=[kind_of(model), pk], retry=True, retry_policy=_PUBLISH_RETRY)
    except (BrokerError, ConnectionError, OSError) as exc:
        log.warning("%s %s stays queued: the broker did not take its task (%s)", kind_of(model), pk,
                    exc.__class__.__name__)
        return False
    model.objects.filter(pk=pk, status=RenderJob.Status.QUEUED).update(  # type: ignore[attr-defined]
        dispatched_at=timezone.now())
    return True


def sweep(*, limit: int = 200) -> int:
    """Re-send render jobs the broker may have lost, hand out dead workers' ones, fail exhausted ones."""
    conf = settings.SIGHTLINE
    resend_before = timezone.now() - timedelta(seconds=conf.ANALYSIS_REDISPATCH_S)
    lost = Q(status=RenderJob.Status.QUEUED) & (Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=resend_before))
    acted = 0
    for model in KINDS.values():
        dead = _claimable() & Q(status=RenderJob.Status.RENDERING)
        rows = model.objects.filter(lost | dead).order_by("pk").values_list("pk", "attempts")[:limit]  # type: ignore[attr-defined]
        for pk, attempts in rows:
            if attempts >= conf.EXPORT_MAX_ATTEMPTS:
                acted += fail_exhausted(model, pk)
            elif dispatch(model, pk):
                acted += 1
            else:
                return acted  # the broker is down: the next sweep tries again
    return acted
