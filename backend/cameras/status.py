"""What a camera is doing now, in the words a security officer reads: its status and its problem.

The recorder writes ``state``, ``last_seen_at`` and ``last_error`` (``backend.recorder.segmenter``); those
are the recorder's own view and go stale when it stops. The status is read from them *and* the camera's
lease, so that a screen never says "recording" about a camera nobody records:

- ``disabled``: switched off; an error it had before is history, not a problem;
- ``uploads``: no stream address, its footage is uploaded (there is nothing to record);
- ``offline``: enabled with a stream, but no recorder holds its lease (none runs, or the one that did died:
  a crashed recorder leaves ``state`` at ``recording``), or a recorder holds it and has not connected yet;
- ``recording``: a recorder holds the lease and receives video;
- ``reconnecting``: a recorder lost the stream and is retrying;
- ``error``: a recorder holds the lease, the camera is offline and it said why (wrong password, unreachable).

:func:`describe_problem` turns the recorder's reason (FFmpeg's text, redacted, like
``[Errno 5] Input/output error``) into plain words; the raw text stays in ``last_error`` for admins.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.db import models
from django.utils import timezone

from .models import Camera


class Status(models.TextChoices):
    RECORDING = "recording"
    RECONNECTING = "reconnecting"
    ERROR = "error"
    OFFLINE = "offline"
    DISABLED = "disabled"
    UPLOADS = "uploads"


NO_RECORDER = "Not recorded: no recorder is running for this camera"

#: Recorder reasons, first match wins: (pattern in the raw text, what it means). The raw texts come from
#: ``backend.recorder.probe.describe_error``, ``backend.cameras.addresses`` and FFmpeg/OS errors.
_PROBLEMS: list[tuple[re.Pattern[str], str]] = [(re.compile(p, re.IGNORECASE), words) for p, words in [
    (r"\b401\b|user name or password", "Sign-in failed: the camera refused the user name or password"),
    (r"\b403\b|denied access", "Access denied: the camera refused this stream"),
    (r"\b404\b|no stream at this address", "No stream at this address: check its path"),
    (r"may not be reached there", "Address not allowed: this site does not let cameras be reached there"),
    (r"does not resolve|name or service not known|name resolution", "Camera address not found: the host "
                                                                     "name does not resolve"),
    (r"connection refused|errno 111\b", "Camera unreachable (connection refused)"),
    (r"did not answer in time|timed out|errno 110\b", "Camera not answering (timed out)"),
    (r"no route to host|network is unreachable|errno 113\b|errno 101\b", "Camera unreachable (no route to "
                                                                             "its network)"),
    (r"input/output error|errno 5\b", "Camera unreachable (input/output error)"),
    (r"connection reset|broken pipe|errno 104\b|errno 32\b", "Connection to the camera dropped"),
    (r"no video", "The stream has no video"),
    (r"ended the stream|end of file", "The camera ended the stream"),
    (r"invalid data", "The stream could not be read (not a video stream this recorder understands)"),
]]


def describe_problem(raw: str) -> str:
    """Plain words for a recorder's reason; ``""`` for none. Unknown reasons read as a failed connection."""
    if not raw.strip():
        return ""
    for pattern, words in _PROBLEMS:
        if pattern.search(raw):
            return words
    return "Connection failed"


def _leased(camera: Camera, now: datetime) -> bool:
    return bool(camera.lease_owner) and camera.lease_expires_at is not None and camera.lease_expires_at >= now


def camera_status(camera: Camera, now: datetime | None = None) -> Status:
    now = now or timezone.now()
    if not camera.enabled:
        return Status.DISABLED
    if not camera.stream_address:
        return Status.UPLOADS
    if not _leased(camera, now):
        return Status.OFFLINE
    if camera.state == Camera.State.RECORDING:
        return Status.RECORDING
    if camera.state == Camera.State.RECONNECTING:
        return Status.RECONNECTING
    return Status.ERROR if camera.last_error else Status.OFFLINE


def camera_problem(camera: Camera, now: datetime | None = None) -> str:
    """What is wrong, in plain words; ``""`` when nothing is (recording, disabled, uploaded footage)."""
    now = now or timezone.now()
    status = camera_status(camera, now)
    if status in (Status.RECORDING, Status.DISABLED, Status.UPLOADS):
        return ""
    if not _leased(camera, now):
        return NO_RECORDER
    return describe_problem(camera.last_error)
