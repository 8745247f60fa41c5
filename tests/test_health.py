"""Health endpoints and ``check_health``, against the real database and brokers."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from backend.clips.models import Clip
from tests.brokers import publishing_to


def test_healthz_and_readyz_need_no_login_and_tell_nothing_else(client, db):
    live = client.get("/healthz", HTTP_HOST="localhost")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = client.get("/readyz", HTTP_HOST="localhost")
    assert ready.status_code == 200, ready.content
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "search": "ok"}}


def test_readyz_names_a_broker_that_does_not_answer(client, db):
    with publishing_to("redis://:hunter2-marker@127.0.0.1:9/0"):
        ready = client.get("/readyz", HTTP_HOST="localhost")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "broker": "failed", "search": "ok"}
    assert b"hunter2" not in ready.content and b"127.0.0.1" not in ready.content


def test_check_health_reports_a_stuck_job(cameras, settings):
    out = StringIO()
    call_command("check_health", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["healthy"] is True, report
    stale = timezone.now() - timedelta(seconds=settings.SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S + 5)
    Clip.objects.create(camera=cameras[0], started_at=timezone.now(), status=Clip.Status.ANALYSING,
                        heartbeat_at=stale, file="clips/x.mp4")
    out = StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("check_health", "--json", stdout=out)
    assert exit_.value.code == 1
    report = json.loads(out.getvalue())
    assert report["facts"]["jobs"]["stuck_analysing"] == 1
    assert any("without a heartbeat" in p for p in report["problems"])
