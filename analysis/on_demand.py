"""On-demand analysis: the synchronous analyse API's requests (``backend.analyze``), served by the workers.

An :class:`~backend.analyze.models.AnalysisRequest` row is the job and the truth, as a clip's row is for an
upload (``backend.clips.jobs``); the broker is only its doorbell:

- **Dispatch** (:func:`dispatch`): the web process sends ``analysis.analyse_request`` once the row has
  committed; ``False`` when the broker cannot be reached (the API then answers 503 and drops the request).
- **Claim** (:func:`claim`): one conditional UPDATE takes a queued request, or one whose worker stopped beating
  for ``SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S``, counting an attempt (at most
  ``SIGHTLINE.ANALYSIS_MAX_ATTEMPTS``). A message for a request already served finds nothing to claim.
- **Run** (:func:`run`): the warm detector (``SIGHTLINE.DETECTOR``) on the picture, or on a clip's frames
  sampled at ``SIGHTLINE.ANALYZE_FPS`` and linked by the project's :class:`~analysis.tracker.Tracker`; each
  batch is a heartbeat. The result is stored in the row, the file deleted, the row kept for
  ``SIGHTLINE.ANALYZE_RESULT_TTL_S``. A file that cannot be decoded fails its request with the reason; it
  never raises.
- **Scheduling** (:func:`waiting`, :func:`serve_waiting`): a worker busy with a long analysis serves waiting
  requests between its batches, with the model it already holds, oldest first.
- **Sweep** (:func:`sweep`, with the job sweeps of every worker and ``manage.py sweep_jobs``): expired rows
  are deleted; a request whose worker died is sent again, or failed once its attempts are used up; one that no
  worker started within the heartbeat timeout is failed with the reason; files no row names are removed.

What is found here is *not* camera footage: nothing is appended to the event log, no clip, event or sighting
is made. Importing this module is cheap (no torch, no SciPy): the detector and the tracker are imported when a
request is run, in a worker (or, in tests, in the eager test process).
"""

from __future__ import annotations

import contextlib
import logging
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import OperationalError
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from backend.analyze.models import AnalysisRequest
from backend.sightline.redaction import redact

from . import one_shot
from .decode import UnreadableVideo, VideoLimits, probe

log = logging.getLogger(__name__)

Status = AnalysisRequest.Status
#: Where the API stores the files (``AnalysisRequest.file``), and where the sweep looks for orphans.
MEDIA_FOLDER = "analyze"
#: How long sending a task may retry an unreachable broker before the request is given up.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5}


def analysis_limits() -> VideoLimits:
    """What a request's file may be: the uploads' picture limits (``SIGHTLINE.MAX_VIDEO_PIXELS``, ``_SIDE``),
    at most ``SIGHTLINE.ANALYZE_MAX_DURATION_S`` long."""
    conf = settings.SIGHTLINE
    return VideoLimits(max_pixels=conf.MAX_VIDEO_PIXELS, max_side=conf.MAX_VIDEO_SIDE,
                       max_duration_s=min(conf.MAX_VIDEO_DURATION_S, conf.ANALYZE_MAX_DURATION_S))


def frames_expected(kind: str, duration_s: float | None) -> int:
    """How many frames :func:`run` analyses: 1 for an image; a clip's frames at ``SIGHTLINE.ANALYZE_FPS`` over
    its declared duration (capped at ``ANALYZE_MAX_DURATION_S``; that cap when it declares none)."""
    if kind == AnalysisRequest.Kind.IMAGE:
        return 1
    conf = settings.SIGHTLINE
    seconds = min(duration_s if duration_s else conf.ANALYZE_MAX_DURATION_S, conf.ANALYZE_MAX_DURATION_S)
    return max(1, math.ceil(seconds * conf.ANALYZE_FPS - 1e-6))


# -- the job's lifecycle -------------------------------------------------------------------------------------


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S)


def _claimable(now: datetime) -> Q:
    """Queued requests, and those whose worker stopped beating (killed, out of memory, a deploy)."""
    return Q(status=Status.QUEUED) | Q(status=Status.ANALYSING, heartbeat_at__lt=_stale_before(now))


def _as_id(request_id: uuid.UUID | str) -> uuid.UUID | None:
    try:
        return request_id if isinstance(request_id, uuid.UUID) else uuid.UUID(str(request_id))
    except ValueError:
        return None


def claim(request_id: uuid.UUID | str) -> bool:
    """Take the request for this worker with one conditional UPDATE, counting an attempt; ``False`` when it is
    not this worker's to run (finished, deleted, another worker beating on it, or its attempts used up: then
    it has just been failed with the reason)."""
    pk = _as_id(request_id)
    if pk is None:
        return False
    now = timezone.now()
    limit = settings.SIGHTLINE.ANALYSIS_MAX_ATTEMPTS
    taken = AnalysisRequest.objects.filter(_claimable(now), pk=pk, attempts__lt=limit).update(
        status=Status.ANALYSING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now, frames_analysed=0,
        error="")
    if taken:
        return True
    _fail_exhausted(pk, now)
    return False


def _exhausted_reason(attempts: int) -> str:
    return (f"analysis did not finish after {attempts} attempts (the worker stopped each time: killed, out of "
            "memory or restarted)")


def _fail_exhausted(pk: uuid.UUID, now: datetime) -> bool:
    limit = settings.SIGHTLINE.ANALYSIS_MAX_ATTEMPTS
    row = AnalysisRequest.objects.filter(_claimable(now), pk=pk, attempts__gte=limit).values("attempts").first()
    if row is None:
        return False
    return _finish(AnalysisRequest.objects.filter(_claimable(now), pk=pk, attempts__gte=limit),
                   status=Status.FAILED, error=_exhausted_reason(row["attempts"]))


def release(request_id: uuid.UUID | str) -> None:
    """Give a claimed request back after a transient database error, without counting the attempt."""
    pk = _as_id(request_id)
    if pk is None:
        return
    AnalysisRequest.objects.filter(pk=pk, status=Status.ANALYSING, attempts__gt=0).update(
        status=Status.QUEUED, heartbeat_at=None, attempts=F("attempts") - 1)


def _finish(rows: Any, *, status: str, error: str = "", result: dict[str, Any] | None = None,
            frames: int | None = None) -> bool:
    """Finish the request ``rows`` selects (one row, with the conditions that make it this caller's): its
    outcome, its expiry, and its file deleted. ``False`` when the conditions no longer held."""
    now = timezone.now()
    names = list(rows.exclude(file="").values_list("file", flat=True))
    update: dict[str, Any] = {"status": status, "error": redact(error)[:1000], "finished_at": now,
                              "heartbeat_at": now, "file": "",
                              "expires_at": now + timedelta(seconds=settings.SIGHTLINE.ANALYZE_RESULT_TTL_S)}
    if result is not None:
        update["result"] = result
    if frames is not None:
        update["frames_analysed"] = frames
    if not rows.update(**update):
        return False
    _delete_files(names)
    return True


def _delete_files(names: Iterable[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError as exc:  # the sweep removes it with the other orphans
            log.warning("analysis file %s not deleted: %s", name, exc.__class__.__name__)


def any_waiting() -> bool:
    """Whether a request is queued (one indexed query: cheap between the batches of a long analysis)."""
    return AnalysisRequest.objects.filter(status=Status.QUEUED).exists()


def waiting() -> list[tuple[uuid.UUID, int]]:
    """The queued requests, oldest first, each with the frames it will take (``frames_expected``)."""
    return list(AnalysisRequest.objects.filter(status=Status.QUEUED).order_by("created_at", "id")
                .values_list("id", "frames_expected"))


def serve_waiting(limit: int | None = None) -> int:
    """Claim and run waiting requests, oldest first (at most ``limit``), in this process; returns how many
    ran. Requests that arrive meanwhile are served in the same call. Raises only what :func:`run` raises
    (a database that went away)."""
    ran = 0
    seen: set[uuid.UUID] = set()
    while limit is None or ran < limit:
        pk = (AnalysisRequest.objects.filter(status=Status.QUEUED).exclude(pk__in=seen)
              .order_by("created_at", "id").values_list("id", flat=True).first())
        if pk is None:
            return ran
        seen.add(pk)
        if claim(pk):
            _run_claimed(pk)
            ran += 1
    return ran


def _run_claimed(pk: uuid.UUID) -> str:
    try:
        return run(pk)
    except OperationalError:
        # Transient: give it back so a retry can claim it at once (if the database is gone this fails too, and
        # the heartbeat goes stale for the sweep).
        with contextlib.suppress(OperationalError):
            release(pk)
        raise


def dispatch(request_id: uuid.UUID | str) -> bool:
    """Send the request's task (once its row has committed); ``False`` when the broker could not take it."""
    try:
        analyse_request.apply_async(args=[str(request_id)], retry=True, retry_policy=_PUBLISH_RETRY)
    except (BrokerError, ConnectionError, OSError) as exc:
        log.warning("analysis request %s not sent: the broker did not take its task (%s)", request_id,
                    exc.__class__.__name__)
        return False
    return True


@shared_task(name="analysis.analyse_request", autoretry_for=(OperationalError,), retry_backoff=True,
             retry_backoff_max=30, retry_jitter=True, max_retries=5)
def analyse_request(request_id: str) -> str:
    """Claim and run one request; a message for one already served (or being served) finds nothing to claim."""
    if not claim(request_id):
        log.info("analysis request %s not run here: nothing to claim", request_id)
        return "not claimed"
    pk = _as_id(request_id)
    assert pk is not None
    return _run_claimed(pk)


# -- the analysis --------------------------------------------------------------------------------------------


class _Abandoned(Exception):
    """The row stopped being this worker's (failed by the sweep, taken over after a stale heartbeat, deleted)."""


def run(request_id: uuid.UUID | str) -> str:
    """Analyse a request this worker has claimed: store the result, delete the file; returns the final status
    (or the status it has when it was not this worker's to finish). A bad file fails the request with the
    reason; nothing but a database error is raised."""
    pk = _as_id(request_id)
    row = AnalysisRequest.objects.filter(pk=pk).first() if pk is not None else None
    if row is None:
        return "missing"
    if row.status != Status.ANALYSING:
        return str(row.status)
    mine = AnalysisRequest.objects.filter(pk=row.pk, status=Status.ANALYSING, attempts=row.attempts)
    try:
        result, frames = _analyse(row, mine)
    except _Abandoned:
        return str(AnalysisRequest.objects.filter(pk=row.pk).values_list("status", flat=True).first() or "missing")
    except UnreadableVideo as exc:
        return _fail(mine, str(exc), row)
    except OperationalError:
        raise
    except Exception as exc:
        log.exception("analysis request %s failed", row.pk)
        return _fail(mine, f"analysis failed: {redact(str(exc)) or exc.__class__.__name__}", row)
    if not _finish(mine, status=Status.DONE, error=result.get("warning") or "", result=result, frames=frames):
        return str(AnalysisRequest.objects.filter(pk=row.pk).values_list("status", flat=True).first() or "missing")
    return str(Status.DONE)


def _fail(mine: Any, reason: str, row: AnalysisRequest) -> str:
    if _finish(mine, status=Status.FAILED, error=reason):
        log.info("analysis request %s failed: %s", row.pk, redact(reason))
        return str(Status.FAILED)
    return str(AnalysisRequest.objects.filter(pk=row.pk).values_list("status", flat=True).first() or "missing")


def _analyse(row: AnalysisRequest, mine: Any) -> tuple[dict[str, Any], int]:
    from .detectors.registry import get_detector

    if not row.file.name or not default_storage.exists(row.file.name):
        raise UnreadableVideo("the file is no longer stored")
    path = default_storage.path(row.file.name)
    image = row.kind == AnalysisRequest.Kind.IMAGE
    # Checked again (headers, first frame) before anything is loaded for it: the web process probed it, but a
    # file that no longer reads as what it was must fail here with its reason, not in the detector.
    if probe(path, analysis_limits(), images=image).image != image:
        raise UnreadableVideo("the file is no longer what it was when it was sent")
    detector = get_detector(settings.SIGHTLINE.DETECTOR)
    if image:
        return one_shot.analyse_image(path, detector), 1
    return one_shot.analyse_clip(path, detector, on_batch=lambda frames: _beat(mine, frames))


def _beat(mine: Any, frames: int) -> None:
    """The worker is alive; stop when the request stopped being this worker's."""
    if not mine.update(heartbeat_at=timezone.now(), frames_analysed=frames):
        raise _Abandoned


# -- the sweep -----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SweepReport:
    expired: int = 0
    failed: int = 0
    redispatched: int = 0
    orphans: int = 0

    def __bool__(self) -> bool:
        return bool(self.expired or self.failed or self.redispatched or self.orphans)


def never_started_reason(seconds: float) -> str:
    return (f"no analysis worker started it within {seconds:g} s (the workers were busy or unreachable); "
            "send the file again")


def sweep(*, limit: int = 500) -> SweepReport:
    """Delete expired requests, send dead workers' requests again (failing those whose attempts are used up),
    fail requests no worker started within ``SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S``, and remove files that no
    request names (a web process that stopped between storing a file and its row)."""
    conf = settings.SIGHTLINE
    report = SweepReport()
    now = timezone.now()
    expired = list(AnalysisRequest.objects.filter(expires_at__lt=now).values_list("pk", "file")[:limit])
    if expired:
        AnalysisRequest.objects.filter(pk__in=[pk for pk, _ in expired], expires_at__lt=now).delete()
        _delete_files(name for _, name in expired if name)
        report.expired = len(expired)
    stale = _stale_before(now)
    for pk, attempts in (AnalysisRequest.objects.filter(status=Status.ANALYSING, heartbeat_at__lt=stale)
                         .order_by("created_at").values_list("pk", "attempts")[:limit]):
        if attempts >= conf.ANALYSIS_MAX_ATTEMPTS:
            report.failed += _fail_exhausted(pk, now)
        elif dispatch(pk):
            report.redispatched += 1
        else:
            break  # the broker is down: the next sweep tries again
    for pk in (AnalysisRequest.objects.filter(status=Status.QUEUED, created_at__lt=stale)
               .values_list("pk", flat=True)[:limit]):
        report.failed += _finish(AnalysisRequest.objects.filter(pk=pk, status=Status.QUEUED), status=Status.FAILED,
                                 error=never_started_reason(conf.ANALYSIS_HEARTBEAT_TIMEOUT_S))
    report.orphans = _remove_orphans(now - timedelta(seconds=conf.ANALYSIS_HEARTBEAT_TIMEOUT_S
                                                     + conf.PROBE_TIMEOUT_S))
    if report:
        log.info("analysis request sweep: %s expired, %s failed, %s re-sent, %s orphaned files removed",
                 report.expired, report.failed, report.redispatched, report.orphans)
    return report


def _remove_orphans(before: datetime) -> int:
    """Files under :data:`MEDIA_FOLDER` older than ``before`` that no request names."""
    try:
        _, names = default_storage.listdir(MEDIA_FOLDER)
    except (FileNotFoundError, NotImplementedError):
        return 0
    if not names:
        return 0
    named = set(AnalysisRequest.objects.exclude(file="").values_list("file", flat=True))
    removed = 0
    for name in names:
        stored = f"{MEDIA_FOLDER}/{name}"
        if stored in named:
            continue
        try:
            if default_storage.get_modified_time(stored) >= before:
                continue  # being probed, or its row is about to be written
        except (FileNotFoundError, NotImplementedError):
            continue
        _delete_files([stored])
        removed += 1
    return removed
