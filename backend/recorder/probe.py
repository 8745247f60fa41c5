"""Testing a camera's stream: "can we reach it, log in, and what does it send?" for the admin and the API.

Opens the stream with PyAV over RTSP/TCP with a short timeout and reads its first video packets. The URL it
opens carries the password; every message this module returns has been through
:func:`backend.sightline.redaction.redact` and it never logs the URL.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import av
import av.error

from backend.cameras.addresses import DestinationRefused, pinned_url
from backend.cameras.models import Camera
from backend.sightline.redaction import redact

#: FFmpeg's RTSP socket timeout is in microseconds.
_US = 1_000_000


def rtsp_options(timeout_s: float) -> dict[str, str]:
    """Options for opening a camera: TCP (interleaved; survives NAT and loses no packets), bounded waits."""
    return {
        "rtsp_transport": "tcp",
        "timeout": str(int(timeout_s * _US)),
        # Cameras send SPS/PPS in the SDP or with the first key frame: a second of probing is enough.
        "analyzeduration": str(_US),
        "probesize": str(2 * 1024 * 1024),
    }


def describe_error(exc: BaseException) -> str:
    """A redacted, user-readable reason for a failed connection."""
    text = redact(str(exc)) or exc.__class__.__name__
    if isinstance(exc, av.error.HTTPUnauthorizedError):
        return f"the camera refused the user name or password (401 Unauthorized): {text}"
    if isinstance(exc, av.error.HTTPForbiddenError):
        return f"the camera denied access to this stream (403 Forbidden): {text}"
    if isinstance(exc, av.error.HTTPNotFoundError):
        return f"the camera has no stream at this address (404 Not Found): {text}"
    if isinstance(exc, av.error.ConnectionRefusedError):
        return f"nothing listens at this address and port (connection refused): {text}"
    if isinstance(exc, av.error.ExitError | TimeoutError):
        return f"the camera did not answer in time: {text}"
    return text


@dataclass(slots=True)
class StreamCheck:
    ok: bool
    message: str
    codec: str = ""
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_stream(camera: Camera, timeout_s: float = 8.0) -> StreamCheck:
    """Open ``camera``'s stream and report codec, size and frame rate, or the (redacted) reason it failed."""
    started = time.monotonic()
    if not camera.stream_address:
        return StreamCheck(False, "the camera has no stream address (its footage is uploaded)")
    try:
        url = pinned_url(camera.stream_url())
    except DestinationRefused as exc:
        return StreamCheck(False, str(exc), seconds=time.monotonic() - started)
    try:
        with av.open(url, options=rtsp_options(timeout_s), timeout=(timeout_s, timeout_s),
                     metadata_errors="ignore") as container:
            if not container.streams.video:
                return StreamCheck(False, "the stream has no video", seconds=time.monotonic() - started)
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            fps = round(float(rate), 2) if rate else None
            ctx = stream.codec_context
            message = f"{ctx.name} {ctx.width}x{ctx.height}" + (f" at {fps:g} fps" if fps else "")
            return StreamCheck(True, message, codec=ctx.name, width=ctx.width or None,
                               height=ctx.height or None, fps=fps, seconds=time.monotonic() - started)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        return StreamCheck(False, _test_message(exc), seconds=time.monotonic() - started)


def _test_message(exc: BaseException) -> str:
    """What the connection test says: whether an RTSP camera answered, never what else may listen there.

    A refused connection, a timeout and a service that is not RTSP all read the same, so the test cannot
    map the ports of the cameras' network. Answers from an RTSP server (401, 403, 404) are the camera's.
    """
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError | av.error.HTTPNotFoundError):
        return describe_error(exc)
    return "no RTSP camera answered at this address (nothing there, not a camera, or not in time)"
