"""``GET /api/v1/events/?after=<seq>``: the event log itself, in sequence order, for integrations.

A client stores the ``seq`` of the last event it processed and asks for ``after`` it; ``next_after`` in the
answer is where to continue. Viewers and operators see events of their cameras only.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts.roles import restrict_to_visible

from .models import Event, EventType

MAX_LIMIT = 1000


class DetectionSerializer(serializers.Serializer):
    label = serializers.CharField()
    confidence = serializers.FloatField()
    box = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4)
    track = serializers.IntegerField()
    offset_ms = serializers.IntegerField()
    model = serializers.CharField()


class EventSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    key = serializers.CharField()
    type = serializers.CharField()
    time = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    camera = serializers.IntegerField(allow_null=True)
    clip = serializers.IntegerField(allow_null=True)
    data = serializers.DictField()
    detection = DetectionSerializer(allow_null=True)


def event_to_dict(e: Event) -> dict[str, object]:
    detection = None
    if e.type == EventType.OBJECT_DETECTED:
        detection = {"label": e.label, "confidence": e.confidence, "box": [e.x1, e.y1, e.x2, e.y2],
                     "track": e.track, "offset_ms": e.offset_ms, "model": e.model}
    return {"seq": e.seq, "key": e.key, "type": EventType(e.type).label, "time": e.time.isoformat(),
            "recorded_at": e.recorded_at.isoformat(), "camera": e.camera_id, "clip": e.clip_id,
            "data": e.data, "detection": detection}


class EventPageSerializer(serializers.Serializer):
    results = EventSerializer(many=True)
    next_after = serializers.IntegerField()


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: [f"must be an integer, not {raw[:40]!r}"]}) from None
    if not lo <= value <= hi:
        raise ValidationError({name: [f"must be between {lo} and {hi}"]})
    return value


class EventListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="Return events with seq greater than this."),
            OpenApiParameter("limit", int, description=f"At most this many events (1–{MAX_LIMIT}, default 100)."),
            OpenApiParameter("type", str, many=True, description="Only these types, e.g. object.detected."),
        ],
        responses=EventPageSerializer,
    )
    def get(self, request: Request) -> Response:
        after = _int_param(request, "after", 0, 0, 2**62)
        limit = _int_param(request, "limit", 100, 1, MAX_LIMIT)
        qs = Event.objects.filter(seq__gt=after).order_by("seq")
        types = request.query_params.getlist("type")
        if types:
            try:
                qs = qs.filter(type__in=[EventType.by_name(t) for t in types])
            except ValueError as exc:
                known = ", ".join(t.label for t in EventType)
                raise ValidationError({"type": [f"unknown event type {str(exc)[:40]!r}; known: {known}"]}) from None
        qs = restrict_to_visible(qs, request.user)
        events = list(qs[:limit])
        return Response({"results": [event_to_dict(e) for e in events],
                         "next_after": events[-1].seq if events else after})
