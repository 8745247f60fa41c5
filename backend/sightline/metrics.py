"""Prometheus metrics: ``GET /metrics`` on every web process (``prometheus-client``, ``django-prometheus``).

Two kinds, one exposition:

- **Process-local** (each web process counts its own; scrape every web process): HTTP requests and latency
  per route and method (``django_http_requests_latency_seconds_by_view_method``, django-prometheus's
  middleware), and search latency per backend (:data:`SEARCH_SECONDS`).
- **The deployment's state**, read from the database when scraped (:class:`StateCollector`), so every web
  process answers the same and nothing has to run in the workers, recorders or projector for it: the
  analysis backlog per priority (jobs, frames, expected wait; ``backend.clips.capacity``), each worker's
  measured frames/s and frames analysed, job latency per priority over the last :data:`RECENT`, each
  projection's lag in events, each camera's recorder state and the age of its last frame, the delay from a
  segment's last frame to its registration, and the media disk's use.

The endpoint is off (404) unless ``SIGHTLINE_METRICS_TOKEN`` is set; Prometheus then sends it as a bearer
token (``authorization: {credentials_file: …}`` in its scrape config). Labels hold camera names and ids and
worker names (host:pid), never an address, a user or a secret.
"""

from __future__ import annotations

import hmac
import shutil
import statistics
import threading
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: Window of the "recent" figures computed from the database (job latency, segment registration delay).
RECENT = timedelta(minutes=15)

SEARCH_SECONDS = Histogram("sightline_search_seconds", "Search latency (one search request to the backend)",
                           ["backend"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"0.5": statistics.median(ordered), "0.95": at(0.95), "max": ordered[-1]}


class StateCollector(Collector):
    """The deployment's state, from the database, at each scrape."""

    def collect(self) -> Iterator[Metric]:
        yield from self._analysis()
        yield from self._projections()
        yield from self._cameras()
        yield from self._media()

    def _analysis(self) -> Iterator[Metric]:
        from django.utils import timezone

        from backend.clips.capacity import queue_state
        from backend.clips.models import Clip, Priority

        state = queue_state()
        jobs = GaugeMetricFamily("sightline_analysis_queue_jobs", "Jobs waiting or being analysed", labels=["priority"])
        frames = GaugeMetricFamily("sightline_analysis_queue_frames", "Frames still to analyse", labels=["priority"])
        wait = GaugeMetricFamily("sightline_analysis_expected_wait_seconds",
                                 "How long a new job of this priority would wait before it starts", labels=["priority"])
        for load in state.priorities:
            jobs.add_metric([load.priority], load.jobs)
            frames.add_metric([load.priority], load.frames)
            if load.expected_wait_s is not None:
                wait.add_metric([load.priority], load.expected_wait_s)
        yield from (jobs, frames, wait)
        yield GaugeMetricFamily("sightline_analysis_capacity_frames_per_second",
                                "Frames/s the live workers analyse together (measured or assumed)",
                                value=state.capacity_fps)
        yield GaugeMetricFamily("sightline_analysis_live_frames_per_second",
                                "Frames/s the recording cameras need", value=state.live_fps)
        fps = GaugeMetricFamily("sightline_analysis_worker_frames_per_second",
                                "A worker's measured analysis rate while busy", labels=["worker"])
        total = CounterMetricFamily("sightline_analysis_worker_frames", "Frames a worker has analysed",
                                    labels=["worker"])
        for worker in state.workers:
            fps.add_metric([worker.name], worker.frames_per_s)
            total.add_metric([worker.name], worker.frames_total)
        yield from (fps, total)
        yield GaugeMetricFamily("sightline_analysis_workers", "Live analysis workers", value=len(state.workers))

        latency = GaugeMetricFamily("sightline_analysis_job_latency_seconds",
                                    f"Queued to done, jobs finished in the last {RECENT.seconds // 60} min",
                                    labels=["priority", "quantile"])
        since = timezone.now() - RECENT
        finished = (Clip.objects.filter(analysis_finished_at__gte=since, status=Clip.Status.DONE)
                    .values_list("priority", "created_at", "analysis_finished_at")[:10_000])
        by_priority: dict[int, list[float]] = {}
        for priority, created, done in finished:
            by_priority.setdefault(priority, []).append((done - created).total_seconds())
        for priority, values in sorted(by_priority.items()):
            for q, v in _quantiles(values).items():
                latency.add_metric([Priority(priority).label, q], v)
        yield latency

        delay = GaugeMetricFamily("sightline_segment_registration_delay_seconds",
                                  "A recorded segment's last frame to its registration, last "
                                  f"{RECENT.seconds // 60} min",
                                  labels=["quantile"])
        segments = (Clip.objects.filter(source=Clip.Source.RECORDING, created_at__gte=since)
                    .values_list("created_at", "started_at", "duration_s")[:10_000])
        values = [(created - started).total_seconds() - (duration or 0) for created, started, duration in segments]
        for q, v in _quantiles(values).items():
            delay.add_metric([q], max(v, 0.0))
        yield delay

    def _projections(self) -> Iterator[Metric]:
        from backend.eventlog import projections

        lag = GaugeMetricFamily("sightline_projector_lag_events", "Events appended that a projection has not applied",
                                labels=["projection"])
        for name in sorted(projections.registered()):
            lag.add_metric([name], projections.lag(name))
        yield lag

    def _cameras(self) -> Iterator[Metric]:
        from django.utils import timezone

        from backend.cameras.models import Camera

        state = GaugeMetricFamily("sightline_camera_state", "1 for the recorder state each camera is in",
                                  labels=["camera_id", "camera", "state"])
        seen = GaugeMetricFamily("sightline_camera_last_frame_age_seconds",
                                 "Seconds since the recorder last received video from the camera",
                                 labels=["camera_id", "camera"])
        now = timezone.now()
        for camera in Camera.objects.exclude(stream_address="").only("pk", "name", "enabled", "state", "last_seen_at"):
            current = camera.state if camera.enabled else Camera.State.DISABLED
            for choice in Camera.State:
                state.add_metric([str(camera.pk), camera.name, choice.value], 1.0 if choice == current else 0.0)
            if camera.last_seen_at is not None:
                seen.add_metric([str(camera.pk), camera.name], (now - camera.last_seen_at).total_seconds())
        yield from (state, seen)

    def _media(self) -> Iterator[Metric]:
        from django.db.models import Sum

        from backend.clips.models import Clip

        disk = GaugeMetricFamily("sightline_media_disk_bytes", "The media folder's file system", labels=["kind"])
        try:
            usage = shutil.disk_usage(settings.MEDIA_ROOT)
        except OSError:
            usage = None
        if usage is not None:
            for kind in ("total", "used", "free"):
                disk.add_metric([kind], getattr(usage, kind))
        yield disk
        stored = GaugeMetricFamily("sightline_media_footage_bytes", "Footage kept, by source", labels=["source"])
        sizes = dict(Clip.objects.filter(expired_at__isnull=True).values_list("source")
                     .annotate(total=Sum("size_bytes")).values_list("source", "total"))
        for source in Clip.Source:
            stored.add_metric([source.value], float(sizes.get(source.value) or 0))
        yield stored


_registered = threading.Lock()
_collector: StateCollector | None = None


def register() -> None:
    """Add the state collector to the default registry (once per process)."""
    global _collector
    with _registered:
        if _collector is None:
            _collector = StateCollector()
            REGISTRY.register(_collector)


def _authorised(request: HttpRequest) -> bool:
    token = settings.SIGHTLINE.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token or "")


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.SIGHTLINE.METRICS_TOKEN:
        return HttpResponseNotFound("metrics are off (set SIGHTLINE_METRICS_TOKEN)", content_type="text/plain")
    if not _authorised(request):
        response = HttpResponse("a bearer token is required", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    register()
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
