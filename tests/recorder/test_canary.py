"""A canary camera password, through a whole run, appears nowhere it must not: not in logs, API answers,
events, the search index, broker messages, the health report or the spool.

The camera is real (the GStreamer RTSP server with digest auth, under a password holding ``@``, ``/`` and
``#``); it is recorded by a real supervisor, its segments go through the real file-system broker and are
analysed; its connection is tested, and a second camera with a wrong password fails as loudly as it can.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command

from backend.cameras.models import Camera
from backend.clips import jobs
from backend.clips.models import Clip
from backend.eventlog.models import Event
from backend.recorder.supervisor import Supervisor
from search.models import Sighting
from tests.brokers import publishing_to
from tests.conftest import client_for

from .conftest import FAST, USER, RtspServer, wait_for

CANARY = "can@ry/Pw#7-q"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def canary_server(stream_footage):
    server = RtspServer(stream_footage, password=CANARY).start()
    yield server
    server.kill()


def test_a_canary_password_never_leaves_the_camera_row(canary_server, personas, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    forms = {CANARY, quote(CANARY, safe=""), quote(CANARY), "ry/Pw#7", "Pw#7-q"}
    good = Camera(name="Canary", stream_address=canary_server.address, username=USER)
    good.set_password(CANARY)
    good.save()
    bad = Camera(name="Canary wrong", stream_address=canary_server.address, username=USER)
    bad.set_password(CANARY + "x")
    bad.save()
    broker = Path(settings.CELERY_BROKER_DIR)
    with publishing_to():
        supervisor = Supervisor(owner="canary", settings=replace(FAST, queue_analysis=True)).start()
        try:
            wait_for(lambda: Clip.objects.filter(camera=good).count() >= 2, timeout=60, message="recordings")
            wait_for(lambda: Camera.objects.get(pk=bad.pk).last_error != "", message="the wrong password")
        finally:
            supervisor.stop()
        messages = [p.read_bytes().decode("utf-8", "replace") for p in broker.rglob("*") if p.is_file()]
    assert messages, "the recordings' jobs went through the broker"
    clip = Clip.objects.filter(camera=good).earliest("started_at")
    jobs.dispatch(clip.pk)  # analysed here, eagerly
    assert Clip.objects.get(pk=clip.pk).status == Clip.Status.DONE

    admin = client_for(personas["admin"])
    answers = [admin.post(f"/api/v1/cameras/{cam.pk}/test/").content for cam in (good, bad)]
    answers += [admin.get(url).content for url in ("/api/v1/cameras/", f"/api/v1/cameras/{good.pk}/",
                                                   "/api/v1/events/?limit=1000", "/api/v1/clips/",
                                                   "/api/v1/search/", "/api/v1/audit/")]
    with contextlib.suppress(SystemExit):  # it exits 1 when something needs attention (a camera is offline)
        call_command("check_health", "--json")
    texts = {
        "logs": caplog.text,
        "output": "".join(capsys.readouterr()),
        "api": b"".join(answers).decode(),
        "events": json.dumps([[e.key, e.data, e.model, e.label] for e in Event.objects.all()], default=str),
        "index": json.dumps(list(Sighting.objects.values()), default=str),
        "clips": json.dumps(list(Clip.objects.values("file", "original_name", "error")), default=str),
        "cameras": json.dumps(list(Camera.objects.values("last_error", "stream_address", "username"))),
        "broker": "\n".join(messages),
        "spool": "\n".join(str(p) for p in Path(settings.DATA_DIR).rglob("*")),
    }
    assert "401" in texts["api"], "the wrong password was reported"
    for where, text in texts.items():
        for form in forms:
            assert form not in text, f"the canary ({form!r}) leaked into {where}"
