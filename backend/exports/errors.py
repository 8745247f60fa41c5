"""Why an export or a rendition failed, in words: the errors :mod:`backend.exports.render` raises.

Every message is redacted and names no server path (FFmpeg's and the OS's own messages quote the file name,
so only their ``strerror`` is used: :func:`reason`).
"""

from __future__ import annotations

import av.error

from backend.sightline.redaction import redact


class ExportError(Exception):
    """An export failed; the message says why in words (redacted, no server path)."""

    #: Whether running the same export again may succeed (a full disk, memory, a flaky file system).
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class NothingToExport(ExportError):
    """No frame of the sources lies in the asked range."""


class SourceUnreadable(ExportError):
    """A source could not be read (only raised with ``strict=True``; otherwise it is skipped)."""

    retryable = True


class OutputFailed(ExportError):
    """The export could not be written (folder missing or not writable, disk full, file too large)."""

    retryable = True


class Cancelled(ExportError):
    """``should_stop`` said stop; nothing was left behind."""


class BrokenVideo(ExportError):
    """A video that would not play everywhere; the message says why."""

    retryable = True


def reason(exc: BaseException) -> str:
    """Why, in words, without a file name (``str()`` of FFmpeg and OS errors quotes the path)."""
    if isinstance(exc, av.error.FFmpegError | OSError) and exc.strerror:
        return str(exc.strerror).lower()
    if isinstance(exc, ExportError):
        return str(exc)
    return exc.__class__.__name__
