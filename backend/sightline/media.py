"""Serving stored media (clips, thumbnails) to signed-in users, with HTTP Range support.

Media are never exposed as public static files: every response passes a camera permission check in its
view first. Browsers need Range requests to seek in a video; Django's ``FileResponse`` does not answer them,
hence this small implementation of a single ``bytes=`` range (multi-range requests get the whole file).

A stored file is served only as one of the allow-listed video and image types, chosen by its extension
(which Sightline chose from the probed format); anything else goes out as an ``application/octet-stream``
download. Every media response says ``nosniff`` and carries a sandboxing Content-Security-Policy, so even
a file that holds markup can never run as a page of this origin.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 256 * 1024


def _iter_range(path: Path, start: int, length: int):  # type: ignore[no-untyped-def]
    with path.open("rb") as fh:
        fh.seek(start)
        remaining = length
        while remaining > 0:
            data = fh.read(min(_CHUNK, remaining))
            if not data:
                return
            remaining -= len(data)
            yield data


#: The only types media are served as.
MEDIA_TYPES = {".mp4": "video/mp4", ".mkv": "video/x-matroska", ".webm": "video/webm", ".avi": "video/x-msvideo",
               ".ts": "video/mp2t", ".jpg": "image/jpeg"}
_DOWNLOAD = "application/octet-stream"
MEDIA_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"


def _harden(response: HttpResponse, content_type: str) -> HttpResponse:
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = MEDIA_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    if content_type == _DOWNLOAD:
        response["Content-Disposition"] = "attachment"
    return response


def serve_file(request: HttpRequest, path: Path) -> HttpResponse:
    content_type = MEDIA_TYPES.get(path.suffix.lower(), _DOWNLOAD)
    return _harden(_serve(request, path, content_type), content_type)


def _serve(request: HttpRequest, path: Path, content_type: str) -> HttpResponse:
    size = path.stat().st_size
    match = _RANGE.match(request.headers.get("Range", "").strip())
    if not match or (not match[1] and not match[2]):
        response: HttpResponse = FileResponse(path.open("rb"), content_type=content_type)
        response["Accept-Ranges"] = "bytes"
        return response
    if match[1]:
        start = int(match[1])
        end = min(int(match[2]), size - 1) if match[2] else size - 1
    else:  # suffix range: the last N bytes
        start, end = max(size - int(match[2]), 0), size - 1
    if start >= size or start > end:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    length = end - start + 1
    response = StreamingHttpResponse(_iter_range(path, start, length), status=206, content_type=content_type)
    response["Content-Length"] = str(length)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response
