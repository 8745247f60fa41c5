"""``/api/v1/cameras/{id}/live/index.m3u8`` and ``…/live/s<n>.ts``: watch a camera live (HLS), faces masked.

A player (hls.js, Safari) opens the playlist URL and fetches what it lists. Authentication: the session
cookie (players send cookies with same-origin requests; GET needs no CSRF token), or for other clients an
API token in the ``Authorization: Token <key>`` header on every request (hls.js: ``xhrSetup``); a camera the
user may not see is 404, as everywhere.

What the user gets is decided on every request, playlist and segment alike, by
:func:`backend.exports.privacy.playback_masking`, and each decision maps to a folder of its own written by
the recorder (:mod:`backend.recorder.live`), so a segment of one variant is never served as another:

- camera masking ``none``: the unmasked view (``clear``, the camera's stream remuxed);
- ``faces``: the masked view (``faces``); with ``?unmask=1`` and the ``exports.unmask`` permission the
  unmasked one, without the permission 403. The playlist of an unmasked view lists its segments with
  ``?unmask=1``, so each segment request is checked the same way;
- ``faces_plates`` and ``persons``: the views of those maskings (``faces_plates``: faces, and plates found in
  the vehicles the object detector finds live; ``persons``: every person the object detector finds, and
  faces), the same way: the unmasked one only with ``?unmask=1`` and the permission.

Demand: each playlist fetch records that the user watches (:func:`backend.recorder.models.want`), which keeps
the recorder's tap running for ``LIVE_IDLE_S`` more; the first fetch of a viewing is audited once
(``camera.live``; and ``footage.unmask`` when unmasked footage of a masked camera is given), never each
segment. Until the first segments exist (the tap starts within ``LIVE_POLL_S``, at the camera's next key
frame, and lists a segment once it is complete) the playlist answers **202** with ``Retry-After``: a client
polls it until 200 before handing it to a player (a 5xx would read as a server fault; players do not retry a
202). A camera that is disabled or has no stream address answers 409. Segments: 404 once deleted (the
playlist slides) or for any name that is not ``s<digits>.ts`` (no paths, no dots, no encoded slashes: the
name is matched whole before the file system is touched). Every answer says ``Cache-Control: no-store``.

Deployment: the web process reads the files the recorder writes under ``DATA_DIR/live``, so both must share
``DATA_DIR`` (as they share the media folder).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend import audit
from backend.accounts.roles import restrict_to_visible
from backend.cameras.models import Camera, Masking
from backend.exports.privacy import playback_masking
from backend.sightline.media import serve_file

from .live import PLAYLIST, SEGMENT_NAME, STALE_AFTER_S, live_dir
from .models import LiveVariant, want

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
#: The live view of each masking (each a folder of its own: a segment of one is never served as another's).
VARIANTS = {Masking.NONE: LiveVariant.CLEAR, Masking.FACES: LiveVariant.FACES,
            Masking.FACES_PLATES: LiveVariant.FACES_PLATES, Masking.PERSONS: LiveVariant.PERSONS}
RETRY_AFTER_S = 1


class _FirstRenderer(BaseContentNegotiation):
    """Players ask for ``application/vnd.apple.mpegurl`` or ``video/*``; errors are JSON whatever they accept
    (DRF would answer 406 otherwise)."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


class _Conflict(Exception):
    pass


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _wants_unmask(request: Request) -> bool:
    return request.query_params.get("unmask") in ("1", "true")


def _camera(request: Request, pk: int) -> Camera:
    camera = restrict_to_visible(Camera.objects.all(), request.user, field="id").filter(pk=pk).first()
    if camera is None:
        raise Http404("no such camera")
    return camera


def _variant(request: Request, camera: Camera) -> tuple[str, str]:
    """(variant served, masking given) for this request; raises PermissionDenied (403) or :class:`_Conflict`."""
    if not settings.SIGHTLINE.LIVE_VIEW:
        raise _Conflict("live view is turned off on this site")
    if not camera.enabled or not camera.stream_address:
        raise _Conflict("this camera does not stream: it has no live view")
    masking = playback_masking(request.user, camera, unmask=_wants_unmask(request))
    return VARIANTS[masking], masking


def _fresh_playlist(path: Path) -> str | None:
    """The playlist, if its tap is alive (rewritten lately) and it lists a segment."""
    conf = settings.SIGHTLINE
    try:
        age = time.time() - path.stat().st_mtime
        text = path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if age > conf.LIVE_SEGMENT_S * 3 + STALE_AFTER_S or not any(_segments(text)):
        return None
    return text


def _segments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _rewrite(text: str, unmask: bool) -> str:
    """The playlist as served: only segment names the segment view accepts, with ``?unmask=1`` when asked."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            if not SEGMENT_NAME.fullmatch(line):
                continue  # never written by the muxer; never sent on
            if unmask:
                line += "?unmask=1"
        lines.append(line)
    return "\n".join(lines) + "\n"


_UNMASK = OpenApiParameter("unmask", bool, description="Unmasked (needs the unmask permission; audited once a "
                                                       "viewing). Default: masked as the camera says.")


class _LiveView(APIView):
    content_negotiation_class = _FirstRenderer
    renderer_classes = [JSONRenderer]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Conflict):
            return _no_store(Response({"detail": str(exc)}, status=409))  # type: ignore[return-value]
        response = super().handle_exception(exc)
        return _no_store(response)  # type: ignore[return-value]


class LivePlaylistView(_LiveView):
    @extend_schema(
        operation_id="cameras_live_playlist", parameters=[_UNMASK],
        responses={(200, PLAYLIST_TYPE): OpenApiTypes.STR,
                   202: OpenApiResponse(description="starting: ask again after Retry-After seconds"),
                   403: OpenApiResponse(description="unmask asked without the permission"),
                   404: OpenApiResponse(description="no such camera (or not visible)"),
                   409: OpenApiResponse(description="no live view for this camera")},
        description="The camera's live HLS playlist (about 1 s segments, a few seconds behind). Keeps the live "
                    "view running while it is fetched; poll it until 200.")
    def get(self, request: Request, pk: int) -> HttpResponse:
        camera = _camera(request, pk)
        variant, masking = _variant(request, camera)
        unmask = _wants_unmask(request)
        if want(camera, request.user, variant, settings.SIGHTLINE.LIVE_IDLE_S):
            actor = audit.actor_for(request)
            audit.record("camera.live", actor, target=f"camera:{camera.pk}",
                         details={"camera": camera.pk, "masking": masking})
            if unmask and camera.privacy_mask != Masking.NONE:
                audit.record("footage.unmask", actor, target=f"camera:{camera.pk}",
                             details={"camera": camera.pk, "what": "live"})
        text = _fresh_playlist(live_dir(camera.pk, variant) / PLAYLIST)
        if text is None:
            response = Response({"status": "starting", "detail": "the live view is starting; ask again shortly",
                                 "retry_after": RETRY_AFTER_S}, status=202)
            response["Retry-After"] = str(RETRY_AFTER_S)
            return _no_store(response)  # type: ignore[return-value]
        return _no_store(HttpResponse(_rewrite(text, unmask), content_type=PLAYLIST_TYPE))


class LiveSegmentView(_LiveView):
    @extend_schema(
        operation_id="cameras_live_segment", parameters=[_UNMASK],
        responses={(200, "video/mp2t"): OpenApiTypes.BINARY,
                   403: OpenApiResponse(description="unmask asked without the permission"),
                   404: OpenApiResponse(description="no such camera or segment"),
                   409: OpenApiResponse(description="no live view for this camera")},
        description="One segment the live playlist lists (MPEG-TS).")
    def get(self, request: Request, pk: int, name: str) -> HttpResponse:
        camera = _camera(request, pk)
        variant, _ = _variant(request, camera)
        if not SEGMENT_NAME.fullmatch(name):
            raise Http404("no such segment")
        path = live_dir(camera.pk, variant) / name
        try:
            response = serve_file(request, path)  # Range requests too
        except (FileNotFoundError, NotADirectoryError):
            raise Http404("no such segment (it left the live window)") from None
        return _no_store(response)
