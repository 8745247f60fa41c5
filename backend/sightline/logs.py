"""Structured logs: one JSON object a line from every Sightline process, with what the record is about.

Every record gets, through :class:`ContextFilter` (a filter on each handler in ``settings.LOGGING``):

- ``role``: which process wrote it (``web``, ``worker``, ``recorder``, ``projector``), from the command line
  (:func:`detect_role`); the Celery ``setup_logging`` handler says ``worker`` for any worker;
- ``request_id`` and ``user_id`` while an HTTP request is served (:class:`RequestIdMiddleware`);
- ``task_id``, ``task`` and, for ``analysis.analyse_clip``, ``clip_id`` while a Celery task runs (the
  ``task_prerun`` / ``task_postrun`` handlers below, which eager tasks fire too);
- ``camera_id`` in a recorder's camera threads (:func:`bind_log_context` at the start of each thread);
- whatever else code binds with :func:`log_context` / :func:`bind_log_context`.

All of it lives in context variables, so it follows a request through ``sync_to_async`` (asgiref copies
the context into the thread that runs a sync view) and never leaks between asyncio tasks or threads (a new
thread starts with an empty context). A field given explicitly (``extra={"camera_id": ...}``) wins over
the bound one. :class:`JsonFormatter` (python-json-logger) writes ``timestamp`` (ISO 8601, UTC), ``level``,
``logger``, ``message``, the context, any ``extra=`` fields and ``exc_info``; :class:`TextFormatter` is the
same for a terminal (``SIGHTLINE_LOG_FORMAT=text``). Both redact secrets from every value they write, on
top of :class:`~backend.sightline.redaction.RedactSecretsFilter` (also on every handler).
"""

from __future__ import annotations

import contextlib
import logging
import logging.config
import re
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from celery.signals import task_postrun, task_prerun
from django.http import HttpRequest, HttpResponse
from django.utils.functional import LazyObject, empty
from pythonjsonlogger.json import JsonEncoder as _LibraryJsonEncoder
from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

from .redaction import redact, redact_value

#: The context fields, in the order the text format shows them.
CONTEXT_FIELDS = ("role", "request_id", "user_id", "task", "task_id", "clip_id", "camera_id")
REQUEST_ID_HEADER = "X-Request-ID"
#: An incoming request id is kept only when it is such a token; anything else is replaced.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: The argument of a task that names what it works on, by task name (its first positional argument).
TASK_SUBJECTS = {"analysis.analyse_clip": "clip_id"}

_fields: ContextVar[Mapping[str, object]] = ContextVar("sightline_log_context", default=MappingProxyType({}))
_request: ContextVar[HttpRequest | None] = ContextVar("sightline_log_request", default=None)
_role: str | None = None


def configure_logging(config: dict[str, Any]) -> None:
    """``settings.LOGGING_CONFIG`` (and the Celery workers' ``setup_logging``): ``dictConfig``, and Python's
    warnings become records of the ``py.warnings`` logger, so they come out as JSON lines like the rest."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)


# -- the process role ---------------------------------------------------------------------------------------

_MANAGE_ROLES = {"runserver": "web", "run_recorder": "recorder", "run_projector": "projector"}


def detect_role(argv: Sequence[str]) -> str | None:
    """The role of the process started with ``argv``; ``None`` for anything else (tests, other commands)."""
    if not argv:
        return None
    program = Path(argv[0])
    name = program.parent.name if program.name == "__main__.py" else program.name  # python -m celery
    if name.startswith("celery"):
        return "worker" if "worker" in argv[1:] else None
    if name in ("daphne", "uvicorn", "gunicorn"):
        return "web"
    if name in ("manage.py", "django-admin") and len(argv) > 1:
        return _MANAGE_ROLES.get(argv[1])
    return None


def set_role(role: str | None) -> None:
    global _role
    _role = role


def role() -> str | None:
    return _role


set_role(detect_role(sys.argv))


# -- binding context ------------------------------------------------------------------------------------------

def bind_log_context(**fields: object) -> Token[Mapping[str, object]]:
    """Add ``fields`` to every record logged from here on in this context (this thread or task); returns
    the token that :func:`reset_log_context` takes to undo it. ``None`` removes a field."""
    merged = {**_fields.get(), **fields}
    return _fields.set({key: value for key, value in merged.items() if value is not None})


def reset_log_context(token: Token[Mapping[str, object]]) -> None:
    _fields.reset(token)


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """``fields`` on every record logged inside the ``with`` block."""
    token = bind_log_context(**fields)
    try:
        yield
    finally:
        reset_log_context(token)


def current_log_context() -> dict[str, object]:
    """The fields a record logged now would carry (the request's and the process role included)."""
    record = logging.LogRecord("", logging.INFO, "", 0, "", None, None)
    plain = set(record.__dict__)
    ContextFilter().filter(record)
    return {key: value for key, value in record.__dict__.items() if key not in plain}


def _user_id(request: HttpRequest) -> object:
    """The signed-in user's id, if authentication has already looked the user up: never a query here (a
    filter may run in an event loop, where the database may not be touched)."""
    user = request.__dict__.get("user")
    if isinstance(user, LazyObject):
        user = user._wrapped
        if user is empty:
            return None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "pk", None)


class ContextFilter(logging.Filter):
    """Puts the bound context on each record (fields already on the record are kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        found: dict[str, object] = dict(_fields.get())
        if _role is not None:
            found.setdefault("role", _role)
        # Django logs 4xx/5xx responses after the middleware has returned, with the request in ``extra``.
        request = record.__dict__.get("request")
        if not isinstance(request, HttpRequest):
            request = _request.get()
        if request is not None:
            request_id = getattr(request, "request_id", None)
            if request_id is not None:
                found["request_id"] = request_id
            user_id = _user_id(request)
            if user_id is not None:
                found["user_id"] = user_id
        for key, value in found.items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


# -- requests ------------------------------------------------------------------------------------------------

def request_id_for(request: HttpRequest) -> str:
    """The client's ``X-Request-ID`` when it is a sane token (at most 64 of ``[A-Za-z0-9._-]``), else new."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives each request an id (``request.request_id``), puts it on every record logged while it is served
    and returns it in the ``X-Request-ID`` response header. First in ``MIDDLEWARE``, so it covers them all."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self._acall(request)
        token = self._begin(request)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(token)
        return self._finish(request, response)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        token = self._begin(request)
        try:
            response = await self.get_response(request)  # type: ignore[misc]
        finally:
            _request.reset(token)
        return self._finish(request, response)

    @staticmethod
    def _begin(request: HttpRequest) -> Token[HttpRequest | None]:
        request.request_id = request_id_for(request)  # type: ignore[attr-defined]
        return _request.set(request)

    @staticmethod
    def _finish(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response[REQUEST_ID_HEADER] = request.request_id  # type: ignore[attr-defined]
        return response


# -- Celery tasks ------------------------------------------------------------------------------------------

_task_tokens: dict[str, Token[Mapping[str, object]]] = {}


@task_prerun.connect(dispatch_uid="sightline-log-context-prerun")
def task_started(task_id: str | None = None, task: Any = None, args: Sequence[Any] | None = None,
                 kwargs: Mapping[str, Any] | None = None, **_: object) -> None:
    """``task_id``, ``task`` (its name) and its subject (``clip_id`` of ``analysis.analyse_clip``) on every
    record the task logs."""
    name = getattr(task, "name", None)
    fields: dict[str, object] = {"task_id": task_id, "task": name}
    subject = TASK_SUBJECTS.get(name or "")
    if subject is not None:
        if kwargs and subject in kwargs:
            fields[subject] = kwargs[subject]
        elif args:
            fields[subject] = args[0]
    if task_id is not None:
        _task_tokens[task_id] = bind_log_context(**fields)


@task_postrun.connect(dispatch_uid="sightline-log-context-postrun")
def task_finished(task_id: str | None = None, **_: object) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is None:
        return
    try:
        reset_log_context(token)
    except ValueError:  # set in another context (cannot happen in a worker): drop the task's fields
        bind_log_context(task_id=None, task=None, **dict.fromkeys(set(TASK_SUBJECTS.values())))


# -- formatters --------------------------------------------------------------------------------------------

def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _RedactingEncoder(_LibraryJsonEncoder):
    """Objects without a JSON form become text (python-json-logger's rules), redacted."""

    def default(self, o: Any) -> Any:
        return redact_value(super().default(o))


class JsonFormatter(_LibraryJsonFormatter):
    """One JSON object a line: ``timestamp``, ``level``, ``logger``, ``message``, then the context and the
    ``extra=`` fields, ``exc_info`` and ``stack_info`` when there are; every value redacted."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("json_encoder", _RedactingEncoder)
        super().__init__("%(levelname)s %(name)s %(message)s",
                         rename_fields={"levelname": "level", "name": "logger"}, **kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        log_data["timestamp"] = _timestamp(record)
        super().add_fields(log_data, record, message_dict)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: redact_value(value) for key, value in log_data.items()}

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact(super().formatStack(stack_info))


class TextFormatter(logging.Formatter):
    """For a terminal: ``<timestamp> <LEVEL> <logger>: <message> [<context>]``, redacted."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _timestamp(record)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        context = " ".join(f"{key}={record.__dict__[key]}" for key in CONTEXT_FIELDS
                           if record.__dict__.get(key) is not None)
        return redact(f"{line} [{context}]" if context else line)

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact(super().formatStack(stack_info))


__all__ = ["CONTEXT_FIELDS", "REQUEST_ID_HEADER", "ContextFilter", "JsonFormatter", "RequestIdMiddleware",
           "TextFormatter", "bind_log_context", "configure_logging", "current_log_context", "detect_role",
           "log_context", "reset_log_context", "role", "set_role"]
