"""The synchronous analysis requests' lifecycle in the workers (``analysis.on_demand``): claims, attempts,
the order waiting requests are served in, a bad file failing its request, and the sweep.

Files here are real files in media storage that do not decode (they fail their request in the worker's
check, before any model is loaded); the broker, where one is used, is the real file-system queue.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from analysis import on_demand
from backend.analyze.models import AnalysisRequest
from tests.brokers import publishing_to

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_media")]

Status = AnalysisRequest.Status


def make_request(kind: str = "image", *, content: bytes = b"\0not a picture" * 50, created_ago: float = 0,
                 **fields) -> AnalysisRequest:
    row = AnalysisRequest(kind=kind, **fields)
    row.file.name = default_storage.save(f"analyze/{row.pk.hex}{'.jpg' if kind == 'image' else '.mp4'}",
                                         ContentFile(content))
    row.save()
    if created_ago:
        AnalysisRequest.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(seconds=created_ago))
    return AnalysisRequest.objects.get(pk=row.pk)


def _age(row: AnalysisRequest, seconds: float) -> None:
    AnalysisRequest.objects.filter(pk=row.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=seconds))


def _file_exists(name: str) -> bool:
    return bool(name) and default_storage.exists(name)


def test_a_request_is_claimed_once_and_a_finished_one_never_again(settings):
    row = make_request()
    assert on_demand.claim(row.pk) is True
    # A second message (a redelivery) while the worker beats: nothing to claim.
    assert on_demand.claim(row.pk) is False
    assert on_demand.claim(str(row.pk)) is False
    claimed = AnalysisRequest.objects.get(pk=row.pk)
    assert (claimed.status, claimed.attempts) == (Status.ANALYSING, 1)
    assert claimed.started_at is not None and claimed.heartbeat_at is not None
    # Its worker stopped beating: the next claim takes it over, counting an attempt.
    _age(row, settings.SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S + 1)
    assert on_demand.claim(row.pk) is True
    assert AnalysisRequest.objects.get(pk=row.pk).attempts == 2
    for final in (Status.DONE, Status.FAILED):
        AnalysisRequest.objects.filter(pk=row.pk).update(status=final)
        _age(row, 100_000)
        assert on_demand.claim(row.pk) is False
        assert AnalysisRequest.objects.get(pk=row.pk).status == final
    assert on_demand.claim("f" * 32) is False and on_demand.claim("not an id") is False


def test_a_request_whose_workers_keep_dying_fails_after_its_attempts(settings):
    row = make_request()
    limit = settings.SIGHTLINE.ANALYSIS_MAX_ATTEMPTS
    for _ in range(limit):
        assert on_demand.claim(row.pk) is True
        _age(row, settings.SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S + 1)
    assert on_demand.claim(row.pk) is False
    failed = AnalysisRequest.objects.get(pk=row.pk)
    assert failed.status == Status.FAILED and f"after {limit} attempts" in failed.error
    assert failed.file.name == "" and not _file_exists(row.file.name) and failed.expires_at > failed.finished_at


@pytest.mark.parametrize("kind", ["image", "clip"])
def test_a_file_that_does_not_decode_fails_its_request_and_is_deleted(kind):
    row = make_request(kind)
    assert on_demand.claim(row.pk)
    assert on_demand.run(row.pk) == Status.FAILED  # never raises
    failed = AnalysisRequest.objects.get(pk=row.pk)
    assert failed.status == Status.FAILED and "not" in failed.error and failed.result is None
    assert not _file_exists(row.file.name) and failed.file.name == ""
    ttl = django_settings.SIGHTLINE.ANALYZE_RESULT_TTL_S
    assert abs((failed.expires_at - failed.finished_at).total_seconds() - ttl) < 1
    # A second run (a late message) changes nothing.
    assert on_demand.run(row.pk) == Status.FAILED and on_demand.run("f" * 32) == "missing"


def test_a_request_whose_file_is_gone_fails_with_the_reason():
    row = make_request()
    default_storage.delete(row.file.name)
    assert on_demand.claim(row.pk) and on_demand.run(row.pk) == Status.FAILED
    assert AnalysisRequest.objects.get(pk=row.pk).error == "the file is no longer stored"


def test_waiting_requests_are_served_oldest_first():
    newest = make_request(created_ago=10)
    oldest = make_request(created_ago=30)
    clip = make_request("clip", created_ago=20, frames_expected=50)
    busy = make_request(created_ago=40, status=Status.ANALYSING, heartbeat_at=timezone.now(), attempts=1)
    assert on_demand.waiting() == [(oldest.pk, 1), (clip.pk, 50), (newest.pk, 1)]

    assert on_demand.serve_waiting(limit=2) == 2
    assert on_demand.waiting() == [(newest.pk, 1)]
    assert on_demand.serve_waiting() == 1 and on_demand.serve_waiting() == 0
    finished = {pk: at for pk, at in AnalysisRequest.objects.exclude(pk=busy.pk).values_list("pk", "finished_at")}
    assert finished[oldest.pk] < finished[clip.pk] < finished[newest.pk]
    assert AnalysisRequest.objects.get(pk=busy.pk).status == Status.ANALYSING  # another worker's: left alone


def test_a_message_for_a_request_already_served_finds_nothing_to_claim():
    row = make_request(status=Status.DONE, result={"kind": "image"}, attempts=1)
    assert on_demand.analyse_request.apply(args=[str(row.pk)]).get() == "not claimed"
    assert AnalysisRequest.objects.get(pk=row.pk).attempts == 1


def test_frames_expected(settings):
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"ANALYZE_FPS": 5.0, "ANALYZE_MAX_DURATION_S": 10.0})
    assert on_demand.frames_expected("image", None) == 1
    assert on_demand.frames_expected("clip", 3.0) == 15
    assert on_demand.frames_expected("clip", 2.96) == 15
    assert on_demand.frames_expected("clip", None) == 50
    assert on_demand.frames_expected("clip", 60.0) == 50


def test_the_sweep(settings, queue_dir):
    """GIVEN an expired request, a live one, a dead worker's with attempts left and one without, one that no
    worker started in time, and files no request names, WHEN the sweep runs, THEN each gets what it needs."""
    conf = settings.SIGHTLINE
    now = timezone.now()
    stale = conf.ANALYSIS_HEARTBEAT_TIMEOUT_S + 1
    expired = make_request(status=Status.DONE, finished_at=now - timedelta(hours=2),
                           expires_at=now - timedelta(hours=1), result={"kind": "image"})
    kept = make_request(status=Status.DONE, finished_at=now, expires_at=now + timedelta(hours=1))
    dead = make_request(status=Status.ANALYSING, attempts=1, heartbeat_at=now - timedelta(seconds=stale))
    exhausted = make_request(status=Status.ANALYSING, attempts=conf.ANALYSIS_MAX_ATTEMPTS,
                             heartbeat_at=now - timedelta(seconds=stale))
    never_started = make_request(created_ago=stale)
    waiting = make_request()
    old_orphan = default_storage.save("analyze/orphan.probing", ContentFile(b"x"))
    long_ago = time.time() - stale - conf.PROBE_TIMEOUT_S - 5
    os.utime(default_storage.path(old_orphan), (long_ago, long_ago))
    new_orphan = default_storage.save("analyze/being-probed.probing", ContentFile(b"x"))

    with publishing_to():
        report = on_demand.sweep()

    assert (report.expired, report.failed, report.redispatched, report.orphans) == (1, 2, 1, 1)
    assert not AnalysisRequest.objects.filter(pk=expired.pk).exists() and not _file_exists(expired.file.name)
    assert AnalysisRequest.objects.get(pk=kept.pk).status == Status.DONE and _file_exists(kept.file.name)
    assert sum(str(dead.pk) in p.read_text(errors="ignore") for p in queue_dir.glob("*.msg")) == 1
    assert AnalysisRequest.objects.get(pk=dead.pk).status == Status.ANALYSING
    assert on_demand.claim(dead.pk)  # the re-sent message's worker takes it over
    gone = AnalysisRequest.objects.get(pk=exhausted.pk)
    assert gone.status == Status.FAILED and "attempts" in gone.error and not _file_exists(exhausted.file.name)
    late = AnalysisRequest.objects.get(pk=never_started.pk)
    assert late.status == Status.FAILED and "no analysis worker started it" in late.error
    assert not _file_exists(never_started.file.name)
    assert AnalysisRequest.objects.get(pk=waiting.pk).status == Status.QUEUED and _file_exists(waiting.file.name)
    assert not default_storage.exists(old_orphan) and default_storage.exists(new_orphan)
    # Then nothing more to do.
    with publishing_to():
        assert not on_demand.sweep()


def test_the_sweep_command_sweeps_requests_too():
    from io import StringIO

    from django.core.management import call_command

    make_request(status=Status.DONE, expires_at=timezone.now() - timedelta(seconds=1))
    out = StringIO()
    call_command("sweep_jobs", stdout=out)
    assert "analysis requests: 1 expired" in out.getvalue()
    assert not AnalysisRequest.objects.exists()


def test_the_task_is_found_by_the_workers_and_goes_to_the_analysis_queue():
    from backend.sightline.celery import app

    app.loader.import_default_modules()
    assert "analysis.analyse_request" in app.tasks
    assert app.amqp.router.route({}, "analysis.analyse_request")["queue"].name == "analysis"


def test_importing_the_api_and_the_worker_side_loads_no_model(tmp_path):
    """The web process imports the view and ``analysis.on_demand`` (to send the task): neither may import
    torch, SciPy or a detector."""
    code = ("import json, sys, django; django.setup(); import backend.analyze.api, analysis.on_demand; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'scipy', 'onnxruntime'}"
            " or m.startswith('analysis.detectors') or m == 'analysis.tracker')))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.sightline.settings_test",
           "SIGHTLINE_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
