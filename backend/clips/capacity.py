"""Analysis capacity: the backlog per priority, what the workers measured, and admission control on uploads.

- **Workers** report themselves (``AnalysisWorker``): a presence beat from each worker process every
  :data:`PRESENCE_EVERY_S`, and the frames/s they measured while analysing (:class:`WorkerMeter`, an
  exponential average over windows of at least :data:`METER_WINDOW_S`). A worker that has not beaten for
  ``SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S`` is gone. One that has not measured anything yet counts for
  ``SIGHTLINE.ANALYSIS_ASSUMED_FPS``.
- **Backlog**: for each queued or analysing clip, the frames still to analyse (its duration × its camera's
  analysis rate × what is left of it), and the synchronous requests' frames (``backend.analyze``).
- **Expected wait** of a new job at a priority: the frames at that priority or above, divided by the
  capacity left to it. Live cameras take their share first: an upload's wait is divided by the capacity
  minus what the recording cameras produce (their analysis rates summed).
- **Admission** (:func:`admit_upload`): an upload is refused with ``503`` and ``Retry-After`` when the
  uploads already waiting would take longer than ``SIGHTLINE.ANALYSIS_MAX_DELAY_S`` to start (the system is
  full for everyone), and with ``429`` when the uploader's own footage waiting for analysis would exceed
  ``SIGHTLINE.UPLOAD_QUOTA_S`` (this user sends too much). The new upload's own length never refuses it:
  a 24-hour file is accepted on an idle system.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Count, F, FloatField, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from backend.cameras.models import Camera

from .models import AnalysisWorker, Clip, Priority

log = logging.getLogger(__name__)

#: How often a worker process says it is alive.
PRESENCE_EVERY_S = 10.0
#: The shortest span a frames/s measurement covers (batches are a fraction of a second).
METER_WINDOW_S = 2.0
#: Weight of a new window in the worker's average.
METER_ALPHA = 0.3
#: A duration-less clip (a container that does not say) counts as this long in the backlog.
UNKNOWN_DURATION_S = 60.0
WAITING = (Clip.Status.QUEUED, Clip.Status.ANALYSING)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def _alive_since() -> object:
    return timezone.now() - timedelta(seconds=settings.SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S)


def alive_workers() -> list[AnalysisWorker]:
    return list(AnalysisWorker.objects.filter(seen_at__gte=_alive_since()).order_by("name"))


class WorkerMeter:
    """Measures this process's analysis rate and writes it to its ``AnalysisWorker`` row.

    The task calls :meth:`begin` when it starts (or resumes) a clip and :meth:`tick` with the frames each batch
    analysed; time spent elsewhere (serving a more urgent job in between) is not counted, because the job
    that resumes calls :meth:`begin` again.
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name or worker_name()
        self._last = time.monotonic()
        self._frames = 0
        self._seconds = 0.0
        self._fps = 0.0

    def begin(self) -> None:
        self._last = time.monotonic()

    def tick(self, frames: int, priority: str) -> None:
        now = time.monotonic()
        self._seconds += now - self._last
        self._frames += frames
        self._last = now
        if self._seconds < METER_WINDOW_S:
            return
        sample = self._frames / self._seconds
        self._fps = sample if self._fps == 0 else METER_ALPHA * sample + (1 - METER_ALPHA) * self._fps
        frames, seconds = self._frames, self._seconds
        self._frames, self._seconds = 0, 0.0
        updated = AnalysisWorker.objects.filter(name=self.name).update(
            seen_at=timezone.now(), frames_per_s=self._fps, frames_total=F("frames_total") + frames,
            busy_s_total=F("busy_s_total") + seconds, current_priority=priority)
        if not updated:
            AnalysisWorker.objects.update_or_create(
                name=self.name, defaults={"seen_at": timezone.now(), "frames_per_s": self._fps,
                                          "frames_total": frames, "busy_s_total": seconds,
                                          "current_priority": priority})

    def idle(self) -> None:
        AnalysisWorker.objects.filter(name=self.name).update(current_priority="")


def present(name: str) -> None:
    """This worker process is alive (and, unless a job says otherwise, idle)."""
    updated = AnalysisWorker.objects.filter(name=name).update(seen_at=timezone.now())
    if not updated:
        AnalysisWorker.objects.get_or_create(name=name, defaults={"seen_at": timezone.now()})


def start_presence(name: str) -> threading.Event:
    """Beat :func:`present` from a daemon thread until the returned event is set."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            try:
                close_old_connections()
                present(name)
            except Exception as exc:  # the database is away: the next beat tries again; the worker lives on
                log.debug("worker presence not written: %s", exc.__class__.__name__)
            finally:
                connection.close()
            stop.wait(PRESENCE_EVERY_S)

    threading.Thread(target=beat, name="worker-presence", daemon=True).start()
    return stop


def leave(name: str) -> None:
    AnalysisWorker.objects.filter(name=name).delete()


def prune_workers(older_than: timedelta = timedelta(days=1)) -> int:
    """Forget workers not seen for a day (killed ones leave their row behind)."""
    deleted, _ = AnalysisWorker.objects.filter(seen_at__lt=timezone.now() - older_than).delete()
    return deleted


@dataclass(frozen=True, slots=True)
class PriorityLoad:
    priority: str
    jobs: int
    analysing: int
    frames: float
    expected_wait_s: float | None


@dataclass(frozen=True, slots=True)
class QueueState:
    priorities: list[PriorityLoad]
    workers: list[AnalysisWorker]
    #: Frames/s all live workers analyse together (measured, or assumed for those that have not measured).
    capacity_fps: float
    #: Whether every live worker's rate is measured (False: some or all are ``ANALYSIS_ASSUMED_FPS``).
    measured: bool
    #: Frames/s the recording cameras produce (they go first).
    live_fps: float
    upload_wait_s: float | None
    by_priority: dict[int, PriorityLoad] = field(default_factory=dict)

    @property
    def upload_capacity_fps(self) -> float:
        return self.capacity_fps - self.live_fps


def _frames_left() -> object:
    duration = Coalesce(F("duration_s"), Value(UNKNOWN_DURATION_S), output_field=FloatField())
    return duration * F("camera__analysis_fps") * (Value(1.0) - F("progress"))


def _sync_frames() -> tuple[int, int, float]:
    """Synchronous requests waiting (``backend.analyze``): (jobs, analysing, frames)."""
    from backend.analyze.models import AnalysisRequest

    totals = AnalysisRequest.objects.filter(status__in=("queued", "analysing")).aggregate(
        jobs=Count("pk"), analysing=Count("pk", filter=Q(status="analysing")),
        frames=Sum(F("frames_expected") - F("frames_analysed")))
    jobs, analysing, left = totals["jobs"], totals["analysing"], totals["frames"] or 0
    return jobs, analysing, float(max(left, 0))


def queue_state() -> QueueState:
    conf = settings.SIGHTLINE
    workers = alive_workers()
    rates = [w.frames_per_s if w.frames_per_s > 0 else conf.ANALYSIS_ASSUMED_FPS for w in workers]
    capacity = sum(rates) if rates else conf.ANALYSIS_ASSUMED_FPS
    measured = bool(workers) and all(w.frames_per_s > 0 for w in workers)
    live_fps = (Camera.objects.filter(enabled=True).exclude(stream_address="")
                .aggregate(fps=Sum("analysis_fps"))["fps"] or 0.0)
    grouped = {row["priority"]: row for row in (
        Clip.objects.filter(status__in=WAITING).values("priority")
        .annotate(jobs=Count("pk"), analysing=Count("pk", filter=Q(status=Clip.Status.ANALYSING)),
                  frames=Sum(_frames_left(), output_field=FloatField())))}
    sync_jobs, sync_analysing, sync_frames = _sync_frames()
    loads: list[PriorityLoad] = []
    ahead = 0.0
    for priority in Priority:
        if priority is Priority.SYNC:
            jobs, analysing, frames = sync_jobs, sync_analysing, sync_frames
        else:
            row = grouped.get(priority.value, {})
            jobs, analysing, frames = row.get("jobs") or 0, row.get("analysing") or 0, float(row.get("frames") or 0)
        ahead += frames
        # Live segments and synchronous requests are served before anything else, from the whole capacity;
        # uploads from what the cameras leave.
        share = capacity if priority <= Priority.SYNC else capacity - live_fps
        wait = ahead / share if share > 0.01 * capacity else None
        loads.append(PriorityLoad(priority.label, jobs, analysing, round(frames, 1),
                                  round(wait, 1) if wait is not None else None))
    upload = loads[Priority.UPLOAD]
    return QueueState(priorities=loads, workers=workers, capacity_fps=round(capacity, 2), measured=measured,
                      live_fps=round(live_fps, 2), upload_wait_s=upload.expected_wait_s,
                      by_priority={p.value: load for p, load in zip(Priority, loads, strict=True)})


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    reason: str
    retry_after_s: int
    detail: str

    def body(self) -> dict[str, object]:
        return {"detail": self.detail, "reason": self.reason, "retry_after_s": self.retry_after_s}


def _retry_after(seconds: float) -> int:
    return max(1, min(math.ceil(seconds), 24 * 3600))


def admit_backlog(state: QueueState | None = None) -> Refusal | None:
    """``503`` when the uploads already waiting would not start within ``ANALYSIS_MAX_DELAY_S``."""
    limit = settings.SIGHTLINE.ANALYSIS_MAX_DELAY_S
    if limit <= 0:
        return None
    state = state or queue_state()
    wait = state.upload_wait_s
    if wait is not None and wait <= limit:
        return None
    if wait is None:
        return Refusal(503, "live_saturated", 300, (
            f"analysis is full: the live cameras need {state.live_fps:g} frames/s of the "
            f"{state.capacity_fps:g} the workers analyse; uploads wait until there is capacity"))
    return Refusal(503, "backlog", _retry_after(wait - limit), (
        f"analysis is full: the footage already waiting takes about {wait / 60:.0f} min to analyse, above "
        f"the {limit / 60:.0f} min this server accepts; try again in about {(wait - limit) / 60:.0f} min"))


def admit_quota(user: object, new_footage_s: float, camera_fps: float,
                state: QueueState | None = None) -> Refusal | None:
    """``429`` when the user's footage waiting for analysis would exceed ``UPLOAD_QUOTA_S`` with this upload.

    A user with nothing waiting is always admitted (a file longer than the quota is not refused forever).
    """
    quota = settings.SIGHTLINE.UPLOAD_QUOTA_S
    if quota <= 0 or not getattr(user, "is_authenticated", False):
        return None
    duration = Coalesce(F("duration_s"), Value(UNKNOWN_DURATION_S), output_field=FloatField())
    waiting = (Clip.objects.filter(uploaded_by=user, status__in=WAITING)
               .aggregate(s=Sum(duration * (Value(1.0) - F("progress")), output_field=FloatField()))["s"] or 0.0)
    if waiting <= 0 or waiting + new_footage_s <= quota:
        return None
    state = state or queue_state()
    share = max(state.upload_capacity_fps, 0.01 * state.capacity_fps)
    # The user's queued footage must shrink by the excess: at this camera's rate, on what uploads get.
    excess_s = waiting + new_footage_s - quota
    return Refusal(429, "quota", _retry_after(excess_s * camera_fps / share), (
        f"upload quota: {waiting / 60:.0f} min of your footage is still waiting for analysis and this file "
        f"adds {new_footage_s / 60:.0f} min, above your {quota / 60:.0f} min; try again when more of it is "
        "analysed"))
