"""Celery tasks of the analysis queue.

Tasks take ids, not objects; tolerate a clip deleted meanwhile; claim the clip with a conditional UPDATE
so two workers never analyse it at once; retry only transient database errors, with backoff and jitter.
A bad video fails its own job with a reason and never the worker. The task owns the job's ``Clip`` row
(claim, progress, outcome); the pipeline only reports progress to it.

Importing this module is cheap: the detector (torch) is imported when a task first runs, so a web process
that queues analyses never loads it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.db.models import Q
from django.utils import timezone

from backend.clips.models import Clip
from backend.eventlog.log import EventLog, NewEvent
from backend.eventlog.models import EventType
from backend.eventlog.schema import analysis_key
from backend.sightline.redaction import redact

from .decode import UnreadableVideo

log = logging.getLogger(__name__)

#: A claim older than this (no progress written) is taken to belong to a dead worker.
CLAIM_TIMEOUT = timedelta(minutes=10)


def _claim(clip_id: int) -> bool:
    now = timezone.now()
    return bool(
        Clip.objects.filter(pk=clip_id)
        .filter(~Q(status=Clip.Status.ANALYSING) | Q(analysis_started_at__lt=now - CLAIM_TIMEOUT))
        .update(status=Clip.Status.ANALYSING, analysis_started_at=now, progress=0.0, error="")
    )


def _event(clip: Clip, kind: EventType, key: str, data: dict[str, object]) -> NewEvent:
    return NewEvent(key=key, type=kind, time=clip.started_at, camera_id=clip.camera_id, clip_id=clip.pk, data=data)


def analyse(clip_id: int) -> str:
    """Analyse one clip now, in this process; returns the clip's final status."""
    clip = Clip.objects.select_related("camera").filter(pk=clip_id).first()
    if clip is None:
        log.info("clip %s was deleted before its analysis ran", clip_id)
        return "missing"
    if not _claim(clip_id):
        log.info("clip %s is being analysed by another worker", clip_id)
        return "busy"
    from .detectors.registry import get_detector
    from .pipeline import AnalysisResult, ClipAnalysis

    def report(progress: float, so_far: AnalysisResult) -> None:
        Clip.objects.filter(pk=clip_id).update(progress=progress, frames_analysed=so_far.frames,
                                               detections=so_far.detections)

    conf = settings.SIGHTLINE
    detector = get_detector(conf.DETECTOR)
    model = detector.model_id
    EventLog.append([_event(clip, EventType.ANALYSIS_STARTED, analysis_key("started", clip.pk, model),
                            {"model": model})])
    analysis = ClipAnalysis(clip, detector, batch_size=conf.ANALYSIS_BATCH_SIZE,
                            min_confidence=conf.DETECTION_MIN_CONFIDENCE, on_progress=report)
    try:
        result = analysis.run()
    except UnreadableVideo as exc:
        return _fail(clip, model, str(exc))
    except OperationalError:
        # Transient: give the clip back so the retry can claim it.
        Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.QUEUED)
        raise
    except Exception as exc:
        log.exception("analysis of clip %s failed", clip_id)
        return _fail(clip, model, f"analysis failed: {redact(str(exc)) or exc.__class__.__name__}")
    summary = {"model": model, "frames": result.frames, "detections": result.detections,
               "sightings": len(result.tracks)}
    if result.warning:
        summary["warning"] = result.warning
    EventLog.append([_event(clip, EventType.ANALYSIS_COMPLETED, analysis_key("completed", clip.pk, model), summary)])
    Clip.objects.filter(pk=clip.pk).update(
        status=Clip.Status.DONE, progress=1.0, error=result.warning or "", frames_analysed=result.frames,
        detections=result.detections, analysis_finished_at=timezone.now(), tracker_state=result.tracker_state,
    )
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
