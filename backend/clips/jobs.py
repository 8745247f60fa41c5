"""Analysis jobs that finish exactly once: the ``Clip`` row is the job, the broker only its doorbell.

Lifecycle: ``queued`` → (claimed by a worker) ``analysing`` → ``done`` or ``failed``; nothing leaves
``done`` or ``failed``.

- **Outbox.** Registering a clip commits its job row; :func:`dispatch` sends the task once the row is
  committed and marks ``dispatched_at``. A broker that cannot be reached leaves the job queued and
  undispatched; it is sent when the broker is back. An upload is never refused or lost for it.
- **Claim.** A worker takes a job with one conditional UPDATE (:func:`claim`): a queued job, or one whose
  worker stopped beating (``heartbeat_at`` older than ``SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S``: killed,
  OOM, a deploy). Each claim counts an attempt; progress refreshes the heartbeat (:func:`beat`). A message
  delivered twice, or redelivered while its job runs, finds nothing to claim.
- **Priority.** A job has a priority (``Clip.priority``: live segments, then uploads, then operators'
  re-runs; synchronous requests sit between live and uploads in their own table, ``backend.analyze``).
  The broker delivers in its order; the worker reorders: before its own job it claims what is more urgent
  (:func:`claim_more_urgent`), and a long analysis serves waiting live segments between its batches
  (``analysis.tasks``). A camera's live segments are analysed one at a time and oldest first, so each one
  resumes the tracks of the one before.
- **Sweep.** :func:`sweep` (every ``SIGHTLINE.JOB_SWEEP_EVERY_S`` in each worker, and ``manage.py
  sweep_jobs``) re-sends what the broker may have lost (queued and not dispatched, or dispatched long ago
  without starting; analysing with a dead worker) and fails jobs that used up their attempts, with the
  reason. A job is therefore never stuck: it completes, or it fails saying why.

Re-running a clip is harmless: the event log's natural keys make the second run append nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from backend.eventlog.log import EventLog, NewEvent
from backend.eventlog.models import EventType
from backend.eventlog.schema import analysis_key

from .models import Clip, Priority

log = logging.getLogger(__name__)

#: How long sending a task may retry an unreachable broker before the job is left to the sweeper.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5}


class Claim(Enum):
    CLAIMED = "claimed"
    BUSY = "busy"  # another worker is analysing it and beating
    FINISHED = "finished"  # done or failed: never analysed again
    EXHAUSTED = "exhausted"  # its attempts are used up: it has just been failed
    MISSING = "missing"  # deleted meanwhile


def _claimable() -> Q:
    """Jobs a worker may take: queued ones, and those whose worker stopped beating."""
    stale = timezone.now() - timedelta(seconds=settings.SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S)
    dead = Q(status=Clip.Status.ANALYSING) & (Q(heartbeat_at__lt=stale)
                                              | Q(heartbeat_at__isnull=True, analysis_started_at__lt=stale))
    return Q(status=Clip.Status.QUEUED) | dead


def exhausted_reason(attempts: int) -> str:
    return (f"analysis did not finish after {attempts} attempts (the worker stopped each time: killed, out of "
            "memory or restarted); upload the clip again to retry")


def claim(clip_id: int) -> Claim:
    """Take the job for this worker, counting an attempt."""
    now = timezone.now()
    limit = settings.SIGHTLINE.ANALYSIS_MAX_ATTEMPTS
    taken = (Clip.objects.filter(_claimable(), pk=clip_id, attempts__lt=limit)
             .update(status=Clip.Status.ANALYSING, attempts=F("attempts") + 1, analysis_started_at=now,
                     heartbeat_at=now, progress=0.0, error=""))
    if taken:
        return Claim.CLAIMED
    row = Clip.objects.filter(pk=clip_id).values("status", "attempts").first()
    if row is None:
        return Claim.MISSING
    if row["status"] in (Clip.Status.DONE, Clip.Status.FAILED):
        return Claim.FINISHED
    if row["attempts"] >= limit and fail_exhausted(clip_id):
        return Claim.EXHAUSTED
    return Claim.BUSY


def beat(clip_id: int, **progress: object) -> None:
    """The worker is alive: refresh the heartbeat, with the progress fields given (``progress``, …)."""
    Clip.objects.filter(pk=clip_id, status=Clip.Status.ANALYSING).update(heartbeat_at=timezone.now(), **progress)


def release(clip_id: int) -> None:
    """Give a claimed job back after a transient error, so the retry can claim it at once (best effort).

    The attempt is not counted: the worker did not die, the database hiccuped, and the task retries it.
    """
    Clip.objects.filter(pk=clip_id, status=Clip.Status.ANALYSING, attempts__gt=0).update(
        status=Clip.Status.QUEUED, heartbeat_at=None, attempts=F("attempts") - 1)


def fail_exhausted(clip_id: int) -> bool:
    """Fail a job whose attempts are used up (and that nobody is analysing); True when this call did it."""
    limit = settings.SIGHTLINE.ANALYSIS_MAX_ATTEMPTS
    clip = Clip.objects.filter(_claimable(), pk=clip_id, attempts__gte=limit).first()
    if clip is None:
        return False
    reason = exhausted_reason(clip.attempts)
    if not Clip.objects.filter(_claimable(), pk=clip_id, attempts__gte=limit).update(
            status=Clip.Status.FAILED, error=reason, analysis_finished_at=timezone.now()):
        return False
    EventLog.append([NewEvent(key=analysis_key("failed", clip.pk, "attempts"), type=EventType.ANALYSIS_FAILED,
                              time=clip.started_at, camera_id=clip.camera_id, clip_id=clip.pk,
                              data={"reason": reason, "attempts": clip.attempts})])
    log.warning("clip %s failed: %s", clip_id, reason)
    return True


def requeue(clip_id: int) -> None:
    """An operator's explicit re-run (the demo after a failed run): the job starts over with fresh attempts,
    behind uploads (re-analysis is the least urgent work)."""
    Clip.objects.filter(pk=clip_id).exclude(status=Clip.Status.DONE).update(
        status=Clip.Status.QUEUED, attempts=0, heartbeat_at=None, dispatched_at=None, error="",
        priority=Priority.REANALYSIS)


def _earlier_live_in_flight(clip: Clip) -> bool:
    stale = timezone.now() - timedelta(seconds=settings.SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S)
    return Clip.objects.filter(camera_id=clip.camera_id, priority=Priority.LIVE, status=Clip.Status.ANALYSING,
                               heartbeat_at__gte=stale, started_at__lt=clip.started_at).exists()


def defer_behind_earlier_segment(clip_id: int) -> bool:
    """Leave a live segment queued while an earlier one of its camera is being analysed: that worker takes it
    next (:func:`claim_next_segment`). Its message is spent, so it is marked undispatched: if that worker dies,
    the sweep sends it again. True when deferred."""
    clip = Clip.objects.filter(pk=clip_id, status=Clip.Status.QUEUED).only("camera_id", "started_at").first()
    if clip is None or not _earlier_live_in_flight(clip):
        return False
    Clip.objects.filter(pk=clip_id, status=Clip.Status.QUEUED).update(dispatched_at=None)
    return True


def claim_next_segment(clip_id: int) -> int | None:
    """Claim the live segment of the same camera that follows ``clip_id``, if it is waiting: its id."""
    clip = Clip.objects.filter(pk=clip_id).only("camera_id", "started_at").first()
    if clip is None:
        return None
    following = (Clip.objects.filter(camera_id=clip.camera_id, priority=Priority.LIVE, status=Clip.Status.QUEUED,
                                     started_at__gt=clip.started_at)
                 .order_by("started_at", "pk").values_list("pk", flat=True).first())
    if following is None or claim(following) is not Claim.CLAIMED:
        return None
    return following


def priority_of(clip_id: int) -> int | None:
    return Clip.objects.filter(pk=clip_id).values_list("priority", flat=True).first()


def more_urgent_waiting(than: int) -> bool:
    """Whether a queued job is more urgent than ``than`` (one indexed query: cheap between batches)."""
    return than > 0 and Clip.objects.filter(status=Clip.Status.QUEUED, priority__lt=than).exists()


def claim_more_urgent(than: int, *, up_to: int | None = None) -> int | None:
    """Claim the most urgent claimable job more urgent than ``than`` (and at least as urgent as ``up_to``):
    its id, or ``None``.

    Order: priority, then cameras with nothing of that priority in analysis now (no camera starves another),
    then the oldest. A camera's live segment waits while another of its live segments is analysed, so that
    its segments are analysed in order (each resumes the previous one's tracks).
    """
    if than <= 0:
        return None
    limit = settings.SIGHTLINE.ANALYSIS_MAX_ATTEMPTS
    stale = timezone.now() - timedelta(seconds=settings.SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S)
    in_flight = Clip.objects.filter(status=Clip.Status.ANALYSING, heartbeat_at__gte=stale,
                                    camera_id=OuterRef("camera_id"), priority=OuterRef("priority"))
    candidates = (Clip.objects.filter(_claimable(), priority__lt=than, attempts__lt=limit)
                  .annotate(camera_busy=Exists(in_flight))
                  .exclude(priority=Priority.LIVE, camera_busy=True))
    if up_to is not None:
        candidates = candidates.filter(priority__lte=up_to)
    for clip_id in candidates.order_by("priority", "camera_busy", "created_at", "pk").values_list("pk", flat=True)[:8]:
        if claim(clip_id) is Claim.CLAIMED:
            return clip_id
    return None


def dispatch(clip_id: int) -> bool:
    """Send the job's task (the outbox's send); False when the broker could not take it (left queued)."""
    from analysis.tasks import analyse_clip

    try:
        analyse_clip.apply_async(args=[clip_id], retry=True, retry_policy=_PUBLISH_RETRY)
    except (BrokerError, ConnectionError, OSError) as exc:
        log.warning("clip %s stays queued: the broker did not take its task (%s); it is sent again when the "
                    "broker is back", clip_id, exc.__class__.__name__)
        return False
    Clip.objects.filter(pk=clip_id, status=Clip.Status.QUEUED).update(dispatched_at=timezone.now())
    return True


@dataclass(slots=True)
class SweepReport:
    dispatched: int = 0
    undeliverable: int = 0
    failed: int = 0

    def __bool__(self) -> bool:
        return bool(self.dispatched or self.undeliverable or self.failed)


def sweep(*, limit: int = 500) -> SweepReport:
    """Re-send lost jobs, hand dead workers' jobs out again, fail exhausted ones (see the module's docs)."""
    conf = settings.SIGHTLINE
    report = SweepReport()
    resend_before = timezone.now() - timedelta(seconds=conf.ANALYSIS_REDISPATCH_S)
    lost = Q(status=Clip.Status.QUEUED) & (Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=resend_before))
    dead = _claimable() & Q(status=Clip.Status.ANALYSING)
    for clip_id, attempts in (Clip.objects.filter(lost | dead).order_by("pk")
                              .values_list("pk", "attempts")[:limit]):
        if attempts >= conf.ANALYSIS_MAX_ATTEMPTS:
            report.failed += fail_exhausted(clip_id)
        elif dispatch(clip_id):
            report.dispatched += 1
        else:
            report.undeliverable += 1
            break  # the broker is down: the next sweep tries again
    if report:
        log.info("job sweep: %s re-sent, %s failed after their last attempt, %s waiting for the broker",
                 report.dispatched, report.failed, report.undeliverable)
    return report
