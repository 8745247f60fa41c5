"""Structured logs (backend/sightline/logs.py): one JSON object a line, with context, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.http import HttpResponse
from django.test import AsyncClient, Client
from django.urls import path

from backend.sightline import logs
from backend.sightline.logs import (
    JsonFormatter,
    TextFormatter,
    current_log_context,
    detect_role,
    log_context,
    task_finished,
    task_started,
)
from backend.sightline.redaction import RedactSecretsFilter

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("backend.sightline.tests")
# A camera address as FFmpeg prints it, password included (tests/test_redaction.py's inputs).
SECRET_URL = "rtsp://admin:s3cr%40t@10.0.0.5:554/stream"
REDACTED_URL = "rtsp://admin:***@10.0.0.5:554/stream"


# -- views for the request tests (this module is their URLconf) ---------------------------------------------

def sync_view(request):
    log.info("serving a sync view")
    if request.user.is_authenticated:  # what a view does: the session's user is looked up here
        log.info("serving %s", request.user.get_username())
    return HttpResponse("ok")


async def async_view(request):
    log.info("serving an async view")
    return HttpResponse("ok")


urlpatterns = [path("sync/", sync_view), path("async/", async_view)]


# -- capturing what the configured handler writes -----------------------------------------------------------

@pytest.fixture
def json_lines():
    """What the handler configured by ``settings.LOGGING`` writes, read back as JSON, one object a line."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    stream = io.StringIO()
    old = handler.setStream(stream)

    def read() -> list[dict]:
        text = stream.getvalue()
        assert text.endswith("\n")
        return [json.loads(line) for line in text.splitlines()]  # fails on anything but one object a line

    try:
        yield read
    finally:
        handler.setStream(old)


def by_message(records: list[dict], message: str) -> dict:
    return next(r for r in records if r["message"] == message)


def test_the_tests_run_with_the_production_format():
    assert settings.LOG_FORMAT == "json" and not settings.DEBUG


def test_each_record_is_one_json_object_a_line_with_its_fields(json_lines):
    log.warning("two\nlines of %s", "message")
    try:
        raise RuntimeError("it broke")
    except RuntimeError:
        log.exception("with a traceback")

    first, second = json_lines()
    assert first["level"] == "WARNING" and first["logger"] == "backend.sightline.tests"
    assert first["message"] == "two\nlines of message"
    assert first["timestamp"].endswith("Z")
    stamp = datetime.fromisoformat(first["timestamp"])
    assert stamp.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert second["level"] == "ERROR" and "RuntimeError: it broke" in second["exc_info"]


def test_bound_context_is_on_the_records_and_an_explicit_extra_wins(json_lines):
    with log_context(camera_id=7, clip_id=3):
        log.info("inside")
        log.info("explicit", extra={"camera_id": 8})
    log.info("outside")

    records = json_lines()
    assert by_message(records, "inside")["camera_id"] == 7
    assert by_message(records, "inside")["clip_id"] == 3
    assert by_message(records, "explicit")["camera_id"] == 8
    assert "camera_id" not in by_message(records, "outside")


def test_secrets_in_the_message_its_arguments_extra_fields_and_tracebacks_are_redacted(json_lines):
    class Camera:
        def __str__(self) -> str:
            return f"camera at {SECRET_URL}"

    log.warning(f"cannot open {SECRET_URL}")
    log.warning("cannot open %s: %s", SECRET_URL, "401 Unauthorized")
    log.warning("extra fields", extra={"url": SECRET_URL, "camera": Camera(),
                                       "nested": {"urls": [SECRET_URL, "http://cam/snap?password=hunter2"]}})
    try:
        raise OSError(f"{SECRET_URL}: Server returned 401 Unauthorized")
    except OSError:
        log.exception("failed")

    text = json.dumps(records := json_lines())
    assert "s3cr" not in text and "hunter2" not in text
    assert records[0]["message"] == f"cannot open {REDACTED_URL}"
    assert records[1]["message"] == f"cannot open {REDACTED_URL}: 401 Unauthorized"
    assert records[2]["url"] == REDACTED_URL
    assert records[2]["camera"] == f"camera at {REDACTED_URL}"
    assert records[2]["nested"] == {"urls": [REDACTED_URL, "http://cam/snap?password=***"]}
    assert f"OSError: {REDACTED_URL}: Server returned 401 Unauthorized" in records[3]["exc_info"]


def test_the_filter_alone_redacts_extra_fields_and_leaves_clean_values_alone():
    untouched = {"n": 1}
    record = logging.makeLogRecord({"msg": "open %s", "args": (SECRET_URL,), "url": SECRET_URL,
                                    "urls": (SECRET_URL,), "clean": untouched, "count": 3})
    assert RedactSecretsFilter().filter(record)
    assert record.getMessage() == f"open {REDACTED_URL}"
    assert record.url == REDACTED_URL and record.urls == [REDACTED_URL]
    assert record.clean is untouched and record.count == 3


def test_every_handler_in_the_logging_settings_has_the_redaction_filter():
    config = settings.LOGGING
    redacting = {name for name, spec in config["filters"].items()
                 if spec.get("()") == "backend.sightline.redaction.RedactSecretsFilter"}
    assert redacting and config["handlers"]
    for name, handler in config["handlers"].items():
        assert redacting & set(handler.get("filters", [])), f"handler {name!r} does not redact"
        assert "context" in handler.get("filters", []), f"handler {name!r} has no context"


#: The loggers whose handlers Sightline's configuration owns (the root's included: "").
OURS = {"root", "django", "backend", "analysis", "search", "celery", "kombu", "daphne", "channels", "uvicorn",
        "elastic_transport", "elasticsearch", "axes", "py"}


def test_every_live_handler_redacts_django_defaults_included():
    """What dictConfig made of it: Django's default handlers (django, django.server) are gone too."""
    loggers = [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                       if isinstance(logger, logging.Logger)]
    seen = 0
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.NullHandler) or type(handler).__module__.startswith("_pytest"):
                continue  # writes nothing / pytest's own capture
            if logger.name.split(".")[0] not in OURS and logger.name not in settings.LOGGING.get("loggers", {}):
                continue  # a library that gives its own loggers a handler when imported (torch's profilers)
            seen += 1
            assert any(isinstance(f, RedactSecretsFilter) for f in handler.filters), (logger.name, handler)
    assert seen >= 1
    assert not logging.getLogger("django").handlers and logging.getLogger("django.server").propagate


# -- requests --------------------------------------------------------------------------------------------

@pytest.fixture
def views(settings):
    settings.ROOT_URLCONF = __name__


@pytest.mark.django_db
def test_a_request_gets_an_id_on_its_records_and_in_its_response(views, json_lines, django_user_model):
    client = Client()
    user = django_user_model.objects.create_user("watcher", password="a long password 1")
    client.force_login(user)
    response = client.get("/sync/")

    request_id = response["X-Request-ID"]
    assert len(request_id) == 32 and request_id.isalnum()
    records = json_lines()
    assert by_message(records, "serving a sync view")["request_id"] == request_id
    assert by_message(records, "serving watcher")["request_id"] == request_id
    assert by_message(records, "serving watcher")["user_id"] == user.pk
    assert "request_id" not in current_log_context()  # nothing left behind once answered
    assert Client().get("/sync/")["X-Request-ID"] != request_id


@pytest.mark.django_db
@pytest.mark.parametrize("given, kept", [
    ("abc-123_X.y", True),
    ("a" * 64, True),
    ("a" * 65, False),
    ("has space", False),
    ("<script>", False),
    ("", False),
])
def test_an_incoming_request_id_is_kept_only_when_sane(views, json_lines, given, kept):
    response = Client().get("/sync/", headers={"X-Request-ID": given})
    request_id = response["X-Request-ID"]
    assert (request_id == given) is kept
    assert logs._SANE_REQUEST_ID.fullmatch(request_id)
    assert by_message(json_lines(), "serving a sync view")["request_id"] == request_id


@pytest.mark.django_db
def test_djangos_own_response_records_carry_the_request_id(views, json_lines):
    response = Client().get("/nowhere/", headers={"X-Request-ID": "trace-404"})
    assert response.status_code == 404 and response["X-Request-ID"] == "trace-404"
    not_found = next(r for r in json_lines() if r["logger"] == "django.request")
    assert not_found["request_id"] == "trace-404" and not_found["level"] == "WARNING"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("view", ["/async/", "/sync/"])
def test_under_asgi_async_views_and_sync_views_in_threads_carry_the_request_id(views, json_lines, view):
    response = async_to_sync(AsyncClient().get)(view, headers={"X-Request-ID": "asgi-1"})
    assert response.status_code == 200 and response["X-Request-ID"] == "asgi-1"
    message = "serving an async view" if view == "/async/" else "serving a sync view"
    assert by_message(json_lines(), message)["request_id"] == "asgi-1"


# -- Celery tasks ----------------------------------------------------------------------------------------

def test_an_eager_analysis_task_logs_its_task_id_and_clip_id(json_lines, monkeypatch):
    import analysis.tasks

    assert settings.CELERY_TASK_ALWAYS_EAGER

    def analyse(clip_id: int) -> str:
        log.info("analysing")
        return "done"

    monkeypatch.setattr(analysis.tasks, "analyse", analyse)
    result = analysis.tasks.analyse_clip.delay(42)
    log.info("after")

    assert result.get() == "done"
    records = json_lines()
    inside = by_message(records, "analysing")
    assert inside["task_id"] == result.id and inside["clip_id"] == 42
    assert inside["task"] == "analysis.analyse_clip"
    assert not {"task_id", "clip_id", "task"} & set(by_message(records, "after"))


def test_the_task_signal_handlers_bind_and_unbind_the_task():
    analyse = SimpleNamespace(name="analysis.analyse_clip")
    task_started(task_id="t-1", task=analyse, args=[], kwargs={"clip_id": 9})
    assert current_log_context() == {"task_id": "t-1", "task": "analysis.analyse_clip", "clip_id": 9}
    task_started(task_id="t-2", task=SimpleNamespace(name="search.reproject_cameras"), args=[5], kwargs={})
    assert current_log_context() == {"task_id": "t-2", "task": "search.reproject_cameras", "clip_id": 9}
    task_finished(task_id="t-2")
    assert current_log_context()["task_id"] == "t-1"
    task_finished(task_id="t-1")
    assert current_log_context() == {}


# -- the process role and the text format -------------------------------------------------------------------

@pytest.mark.parametrize("argv, role", [
    (["/app/.venv/bin/celery", "-A", "backend.sightline", "worker", "-Q", "analysis"], "worker"),
    (["/usr/lib/python3/site-packages/celery/__main__.py", "-A", "x", "worker"], "worker"),
    (["celery", "-A", "backend.sightline", "inspect", "ping"], None),
    (["/app/.venv/bin/daphne", "-b", "127.0.0.1", "backend.sightline.asgi:application"], "web"),
    (["manage.py", "runserver"], "web"),
    (["manage.py", "run_recorder", "--poll", "1"], "recorder"),
    (["/app/manage.py", "run_projector"], "projector"),
    (["manage.py", "migrate"], None),
    (["/app/.venv/bin/pytest"], None),
    ([], None),
])
def test_the_process_role_comes_from_the_command_line(argv, role):
    assert detect_role(argv) == role


def test_the_role_is_on_every_record(monkeypatch):
    monkeypatch.setattr(logs, "_role", "recorder")
    assert current_log_context() == {"role": "recorder"}


def test_the_text_format_shows_the_context_and_redacts():
    record = logging.makeLogRecord({"name": "backend.recorder", "levelname": "WARNING", "levelno": 30,
                                    "msg": "camera %s: cannot open %s", "args": (7, SECRET_URL),
                                    "camera_id": 7, "role": "recorder", "created": 0.0})
    line = TextFormatter().format(record)
    assert line == f"1970-01-01T00:00:00.000Z WARNING backend.recorder: camera 7: cannot open {REDACTED_URL} " \
                   "[role=recorder camera_id=7]"


def test_the_json_formatter_redacts_even_without_the_filter():
    record = logging.makeLogRecord({"msg": "open %s", "args": (SECRET_URL,), "url": SECRET_URL,
                                    "raw": SECRET_URL.encode()})
    out = json.loads(JsonFormatter().format(record))
    assert out["message"] == f"open {REDACTED_URL}" and out["url"] == REDACTED_URL
    assert "s3cr" not in json.dumps(out)


def _python(code: str, tmp_path: Path, **env: str) -> str:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.sightline.settings_test",
                   "SIGHTLINE_DATA_DIR": str(tmp_path), **env}
    result = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], env=environment,
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stderr


def test_a_celery_worker_logs_json_lines_as_a_worker(tmp_path):
    script = ("from backend.sightline.celery import app; import logging, warnings; app.log.setup(loglevel='INFO'); "
              f"logging.getLogger('celery.worker').warning('cannot open {SECRET_URL}'); "
              f"warnings.warn('a warning about {SECRET_URL}')")
    lines = [json.loads(line) for line in _python(script, tmp_path).splitlines()]  # every line is JSON
    record = next(r for r in lines if r["logger"] == "celery.worker")
    assert record["message"] == f"cannot open {REDACTED_URL}" and record["role"] == "worker"
    warning = next(r for r in lines if r["logger"] == "py.warnings")
    assert f"UserWarning: a warning about {REDACTED_URL}" in warning["message"]


def test_log_format_text_switches_every_handler_to_text(tmp_path):
    script = f"import logging; logging.getLogger('backend.recorder').warning('cannot open {SECRET_URL}')"
    output = _python(script, tmp_path, SIGHTLINE_LOG_FORMAT="text")
    line = next(line for line in output.splitlines() if "backend.recorder" in line)
    assert line.endswith(f" WARNING backend.recorder: cannot open {REDACTED_URL}")
    assert not line.startswith("{")
