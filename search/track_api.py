"""``GET /api/v1/sightings/{id}/track/``: where the sighting's object was, detection by detection.

The points come from the event log (``object.detected`` events of the track), in time order, so a player can
follow the object through the clip. Same visibility rule as the sighting detail: a sighting that does not
exist or whose camera the user may not see is a 404. A long track is thinned evenly to :data:`MAX_POINTS`
(keeping its first and last detection) and says so with ``truncated``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.eventlog.models import Event, EventType

from .api import visible_hit

#: At most this many points in an answer (a day-long track at 2 frames/s would be ~170 000).
MAX_POINTS = 2000

_FIELDS = ("clip_id", "offset_ms", "time", "x1", "y1", "x2", "y2", "confidence")
_ORDER = ("time", "offset_ms", "seq")


class TrackPointSerializer(serializers.Serializer):
    clip = serializers.IntegerField(allow_null=True, help_text="The clip the detection is in.")
    offset_ms = serializers.IntegerField(allow_null=True, help_text="Position in that clip.")
    time = serializers.DateTimeField()
    x1 = serializers.FloatField(help_text="Box in [0, 1] of the frame: left.")
    y1 = serializers.FloatField(help_text="Top.")
    x2 = serializers.FloatField(help_text="Right.")
    y2 = serializers.FloatField(help_text="Bottom.")
    confidence = serializers.FloatField(allow_null=True)


class TrackSerializer(serializers.Serializer):
    sighting = serializers.IntegerField(help_text="The sighting (track) id.")
    points = TrackPointSerializer(many=True, help_text="The track's detections in time order.")
    truncated = serializers.BooleanField(
        help_text=f"True when the track had more than {MAX_POINTS} detections and was thinned evenly "
                  "(first and last kept).")


def thin_indices(n: int, limit: int) -> list[int]:
    """``limit`` indices of ``range(n)`` spread evenly, first and last included (all of them when n ≤ limit)."""
    if n <= limit:
        return list(range(n))
    if limit <= 1:
        return list(range(limit))
    # Strictly increasing because n > limit: consecutive picks are at least (n-1)/(limit-1) > 1 apart.
    return [round(k * (n - 1) / (limit - 1)) for k in range(limit)]


def _point(row: tuple[Any, ...]) -> dict[str, object]:
    clip, offset_ms, time, x1, y1, x2, y2, confidence = row
    return {"clip": clip, "offset_ms": offset_ms, "time": time.isoformat().replace("+00:00", "Z"),
            "x1": x1 or 0.0, "y1": y1 or 0.0, "x2": x2 or 0.0, "y2": y2 or 0.0, "confidence": confidence}


def track_points(track: int, camera_id: int, limit: int = MAX_POINTS) -> tuple[list[dict[str, object]], bool]:
    """The track's detections in time order, at most ``limit`` of them, and whether it was thinned."""
    events = Event.objects.filter(track=track, type=EventType.OBJECT_DETECTED, camera_id=camera_id).order_by(*_ORDER)
    rows = list(events.values_list(*_FIELDS)[:limit + 1])
    if len(rows) <= limit:
        return [_point(r) for r in rows], False
    # Longer: read the sequence numbers only (one statement, so one consistent list), pick, then fetch those.
    seqs = list(events.values_list("seq", flat=True))
    picked = [seqs[i] for i in thin_indices(len(seqs), limit)]
    chosen = Event.objects.filter(seq__in=picked).order_by(*_ORDER).values_list(*_FIELDS)
    return [_point(r) for r in chosen], True


class SightingTrackView(APIView):
    """The sighting's detections in time order: the box of the object in each analysed frame."""

    @extend_schema(responses=TrackSerializer)
    def get(self, request: Request, sighting_id: int) -> Response:
        hit = visible_hit(request, sighting_id)
        points, truncated = track_points(hit.id, hit.camera_id, MAX_POINTS)
        return Response({"sighting": hit.id, "points": points, "truncated": truncated})
