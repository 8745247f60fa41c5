"""Health of a Sightline site: what an operator (or an orchestrator's probe) asks before trusting it.

- ``GET /healthz``: liveness. The process answers; nothing else is checked (no database), so a slow database
  never gets a healthy web process restarted.
- ``GET /readyz``: readiness. The database answers, the broker can be reached, the search backend answers;
  200 or 503 naming what failed. Both need no login and say nothing but ``ok``/``failed`` per component: no
  address, no version, no error text (that may quote a URL with its password).
- ``manage.py check_health``: everything, in detail, for people: stuck jobs, projector lag, cameras and
  their recorders, free disk. Exit status 1 when something needs attention.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

#: Below this free space on the media disk, the site is reported unhealthy (when no disk floor is set; with
#: one, retention frees the oldest footage first and only a disk still below the floor is a problem).
MIN_FREE_BYTES = 2 * 1024**3


def _database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def _broker() -> bool:
    from backend.sightline.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


def _search() -> bool:
    from search import get_backend

    try:
        return get_backend().ping()
    except Exception:
        return False


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "broker": _broker(), "search": _search()}
    ready = all(checks.values())
    body = {"status": "ok" if ready else "failed", "checks": {k: "ok" if v else "failed" for k, v in checks.items()}}
    return JsonResponse(body, status=200 if ready else 503)


@dataclass(slots=True)
class HealthReport:
    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not self.problems


def check() -> HealthReport:
    """The detailed report of ``manage.py check_health``."""
    from backend.cameras.models import Camera
    from backend.clips.models import Clip
    from backend.eventlog import projections

    conf = settings.SIGHTLINE
    report = HealthReport()
    now = timezone.now()
    for name, ok in (("database", _database()), ("broker", _broker()), ("search", _search())):
        report.facts[name] = "ok" if ok else "failed"
        if not ok:
            report.problems.append(f"the {name} does not answer")
    if report.facts["database"] != "ok":
        return report
    stale = now - timedelta(seconds=conf.ANALYSIS_HEARTBEAT_TIMEOUT_S)
    lost = now - timedelta(seconds=2 * conf.ANALYSIS_REDISPATCH_S)
    stuck_analysing = Clip.objects.filter(status=Clip.Status.ANALYSING, heartbeat_at__lt=stale).count()
    stuck_queued = Clip.objects.filter(status=Clip.Status.QUEUED, created_at__lt=lost).count()
    report.facts["jobs"] = {s: Clip.objects.filter(status=s).count() for s in Clip.Status.values}
    report.facts["jobs"].update(stuck_analysing=stuck_analysing, waiting_long=stuck_queued)
    if stuck_analysing:
        report.problems.append(f"{stuck_analysing} analysis job(s) without a heartbeat: is any worker running?")
    if stuck_queued:
        report.problems.append(f"{stuck_queued} job(s) queued for over {2 * conf.ANALYSIS_REDISPATCH_S:.0f} s: "
                               "is any worker running, and the broker up?")
    lags = {name: projections.lag(name) for name in sorted(projections.registered())}
    report.facts["projection_lag"] = lags
    for name, lag in lags.items():
        if lag > 10 * projections.DEFAULT_BATCH:
            report.problems.append(f"projection {name} is {lag} events behind: is run_projector running?")
    cameras = Camera.objects.filter(enabled=True).exclude(stream_address="")
    unleased = cameras.filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)).count()
    offline = cameras.exclude(state=Camera.State.RECORDING).count()
    report.facts["cameras"] = {"live": cameras.count(), "offline": offline, "without_recorder": unleased}
    if unleased:
        report.problems.append(f"{unleased} live camera(s) held by no recorder: is run_recorder running?")
    usage = shutil.disk_usage(settings.MEDIA_ROOT)
    floor = settings.SIGHTLINE.DISK_FREE_FLOOR_BYTES
    report.facts["disk_free_bytes"] = usage.free
    report.facts["disk_floor_bytes"] = floor
    if usage.free < (floor or MIN_FREE_BYTES):
        report.problems.append(f"only {usage.free // 1024**2} MiB free on the media disk"
                               + (" (below the floor: nothing is left for retention to free)" if floor else ""))
    return report
