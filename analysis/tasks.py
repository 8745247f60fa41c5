"""Celery tasks of the analysis queue.

Tasks take ids, not objects, and tolerate a clip deleted meanwhile. The job's ``Clip`` row decides who
analyses what (``backend.clips.jobs``): a task claims its clip with a conditional UPDATE, so two workers
never analyse it at once, a finished clip is never analysed again, and a worker that died mid-clip leaves
a job that the next claim takes over. Transient database errors are retried with backoff and jitter. A bad
video fails its own job with a reason and never the worker. The task owns the job's row (claim, heartbeat
with progress, outcome); the pipeline only reports progress to it.

Scheduling (``backend.clips.jobs``): before its own job a task serves whatever is more urgent, and a long
analysis looks between batches (every ``SIGHTLINE.ANALYSIS_PREEMPT_CHECK_S``) for live segments,
synchronous requests and (behind an upload or a re-run) exports and renditions ready to render, and serves
them first, in this process, with the warm model: an hour-long upload delays a live camera's detections by one
batch, not by its length, and an officer's export by one batch, not by the upload. Its own heartbeat is
refreshed before each job it serves, and every ``HEARTBEAT_TIMEOUT_S / 4`` during one (a long export). A
camera's live segment whose predecessor is still being analysed elsewhere is left for that worker (which
takes the camera's next segment when it finishes), so the segments resume each other's tracks in order.

Importing this module is cheap: the detector (torch) is imported when a task first runs, so a web process
that queues analyses never loads it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, connections
from django.utils import timezone

from backend.clips import interludes, jobs
from backend.clips.capacity import WorkerMeter
from backend.clips.models import Clip, Priority
from backend.eventlog.log import EventLog, NewEvent
from backend.eventlog.models import EventType
from backend.eventlog.schema import analysis_key
from backend.sightline.logs import log_context
from backend.sightline.redaction import redact

from .decode import UnreadableVideo

log = logging.getLogger(__name__)


def _event(clip: Clip, kind: EventType, key: str, data: dict[str, object]) -> NewEvent:
    return NewEvent(key=key, type=kind, time=clip.started_at, camera_id=clip.camera_id, clip_id=clip.pk, data=data)


def warm_up() -> None:
    """What a worker process does before its first task: import the pipeline (SciPy, torch) and load the
    detector's weights, and the face detector's (ONNX Runtime) when face detection is on, so no analysis
    pays for them."""
    from . import pipeline  # noqa: F401
    from .detectors.registry import get_detector

    get_detector(settings.SIGHTLINE.DETECTOR)
    if settings.SIGHTLINE.FACE_DETECTION:
        from .faces import get_face_detector

        get_face_detector()


_meter: WorkerMeter | None = None


def meter() -> WorkerMeter:
    """This process's analysis rate meter (``backend.clips.capacity``)."""
    global _meter
    if _meter is None:
        _meter = WorkerMeter()
    return _meter


def analyse(clip_id: int) -> str:
    """Analyse one clip now, in this process, if its job can be claimed (serving anything more urgent
    first); returns what happened to it."""
    priority = jobs.priority_of(clip_id)
    if priority is None:
        return jobs.Claim.MISSING.value
    serve_more_urgent(priority)
    if priority == Priority.LIVE and jobs.defer_behind_earlier_segment(clip_id):
        log.info("clip %s waits for its camera's previous segment", clip_id)
        return "deferred"
    outcome = _claim_and_run(clip_id, priority)
    if priority == Priority.LIVE and outcome in (Clip.Status.DONE, Clip.Status.FAILED):
        _follow_camera(clip_id)
    return outcome


def _claim_and_run(clip_id: int, priority: int) -> str:
    claim = jobs.claim(clip_id)
    if claim is not jobs.Claim.CLAIMED:
        log.info("clip %s not analysed here: %s", clip_id, claim.value)
        return claim.value
    return _run_claimed(clip_id, priority)


def _run_claimed(clip_id: int, priority: int) -> str:
    try:
        with log_context(clip_id=clip_id):  # a job served inside another task logs its own clip
            return _run(clip_id, priority)
    except OperationalError:
        # Transient: give the job back so the retry can claim it at once. If the database is gone this
        # fails too; the job's heartbeat then goes stale and the sweep hands it out again.
        with contextlib.suppress(OperationalError):
            jobs.release(clip_id)
        raise
    finally:
        with contextlib.suppress(OperationalError):
            meter().idle()


def _follow_camera(clip_id: int) -> None:
    """After a live segment, its camera's next one (left queued by a worker that deferred it)."""
    while (following := jobs.claim_next_segment(clip_id)) is not None:
        _run_claimed(following, Priority.LIVE)
        clip_id = following


def _sync_waiting() -> bool:
    from .on_demand import any_waiting

    return any_waiting()


@contextlib.contextmanager
def _beating(keep_alive: Callable[[], None] | None) -> Iterator[None]:
    """``keep_alive`` called every quarter of the heartbeat timeout, in a thread, while the block runs: the
    job that is serving another (a long export) must not look dead meanwhile."""
    if keep_alive is None:
        yield
        return
    stop = threading.Event()
    every_s = settings.SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S / 4

    def beat() -> None:
        try:
            while not stop.wait(every_s):
                keep_alive()
        finally:
            connections.close_all()  # this thread's own connections

    thread = threading.Thread(target=beat, name="sightline-keep-alive", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def serve_more_urgent(than: int, *, nested: bool = False, keep_alive: Callable[[], None] | None = None) -> int:
    """Run, in this process, the jobs more urgent than ``than``: live segments, then synchronous requests,
    then (for an upload or a re-run) exports and renditions ready to render, then (not between batches of
    another job: ``nested``) uploads ahead of a re-run. Returns how many ran."""
    from .on_demand import serve_waiting

    served = 0
    tried: set[interludes.Key] = set()
    while True:
        if keep_alive is not None:
            keep_alive()
        clip_id = jobs.claim_more_urgent(than, up_to=Priority.LIVE)
        if clip_id is not None:
            _run_claimed(clip_id, Priority.LIVE)
        elif than > Priority.SYNC and (serve_waiting(limit=1) or _serve_render_beating(tried, keep_alive)):
            pass
        elif not nested and (clip_id := jobs.claim_more_urgent(than)) is not None:
            _run_claimed(clip_id, jobs.priority_of(clip_id) or Priority.UPLOAD)
        else:
            return served
        served += 1


def _serve_render_beating(tried: set[interludes.Key], keep_alive: Callable[[], None] | None) -> bool:
    """An export or rendition ready to render (``backend.clips.interludes``), rendered here, ``keep_alive``
    beating meanwhile; ``False`` when there is none not tried in this round."""
    with _beating(keep_alive):
        return interludes.serve_one(tried)


def _run(clip_id: int, priority: int) -> str:
    from .detectors.registry import get_detector
    from .pipeline import AnalysisResult, ClipAnalysis
    from .privacy import privacy_for

    clip = Clip.objects.select_related("camera").get(pk=clip_id)
    conf = settings.SIGHTLINE
    label = Priority(priority).label
    rate = meter()
    rate.begin()
    last_check = time.monotonic()
    frames_so_far = 0

    def report(progress: float, so_far: AnalysisResult) -> None:
        nonlocal last_check, frames_so_far
        jobs.beat(clip_id, progress=progress, frames_analysed=so_far.frames, detections=so_far.detections)
        rate.tick(so_far.frames - frames_so_far, label)
        frames_so_far = so_far.frames
        if priority <= Priority.LIVE or time.monotonic() - last_check < conf.ANALYSIS_PREEMPT_CHECK_S:
            return
        if jobs.more_urgent_waiting(priority) or (priority > Priority.SYNC
                                                  and (_sync_waiting() or interludes.waiting())):
            serve_more_urgent(priority, nested=True, keep_alive=lambda: jobs.beat(clip_id))
            rate.begin()
        last_check = time.monotonic()

    detector = get_detector(conf.DETECTOR)
    model = detector.model_id
    EventLog.append([_event(clip, EventType.ANALYSIS_STARTED, analysis_key("started", clip.pk, model),
                            {"model": model})])
    privacy = privacy_for(clip.camera)
    analysis = ClipAnalysis(clip, detector, batch_size=conf.ANALYSIS_BATCH_SIZE,
                            min_confidence=conf.DETECTION_MIN_CONFIDENCE,
                            low_confidence=conf.TRACK_LOW_CONFIDENCE, input_mode=conf.DETECTOR_INPUT,
                            on_progress=report, privacy=privacy)
    try:
        result = analysis.run()
    except UnreadableVideo as exc:
        return _fail(clip, model, str(exc))
    except OperationalError:
        raise
    except Exception as exc:
        log.exception("analysis of clip %s failed", clip_id)
        return _fail(clip, model, f"analysis failed: {redact(str(exc)) or exc.__class__.__name__}")
    summary = {"model": model, "frames": result.frames, "detections": result.detections,
               "sightings": len(result.tracks)}
    # What the privacy pass looked for (masking trusts only these labels' absence) and how much it found.
    looked_for = sorted(privacy.model_ids()) if privacy else []
    if privacy:
        summary["privacy_detections"] = result.privacy_detections
    if result.warning:
        summary["warning"] = result.warning
    EventLog.append([_event(clip, EventType.ANALYSIS_COMPLETED, analysis_key("completed", clip.pk, model), summary)])
    Clip.objects.filter(pk=clip.pk).update(
        status=Clip.Status.DONE, progress=1.0, error=result.warning or "", frames_analysed=result.frames,
        detections=result.detections, analysis_finished_at=timezone.now(), tracker_state=result.tracker_state,
        privacy_labels=looked_for,
    )
    if analysis.resumed_from is not None:
        # Only the latest segment's state is ever resumed (by the next one): a live camera would otherwise keep
        # one state (tens of KB) per segment.
        Clip.objects.filter(pk=analysis.resumed_from).update(tracker_state=None)
    return Clip.Status.DONE


def _fail(clip: Clip, model: str, reason: str) -> str:
    reason = redact(reason)[:1000]
    EventLog.append([_event(clip, EventType.ANALYSIS_FAILED, analysis_key("failed", clip.pk, model),
                            {"reason": reason})])
    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.FAILED, error=reason,
                                           analysis_finished_at=timezone.now())
    return Clip.Status.FAILED


@shared_task(name="analysis.analyse_clip", autoretry_for=(OperationalError,), retry_backoff=True,
             retry_backoff_max=120, retry_jitter=True, max_retries=5)
def analyse_clip(clip_id: int) -> str:
    return analyse(clip_id)
