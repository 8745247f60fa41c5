"""``GET /api/v1/search/`` and the sighting endpoints (detail, thumbnail).

Query parameters are validated by a serializer: a bad one gets a 400 naming the parameter. A sighting of a
camera the user may not see is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts.roles import can_see_camera, visible_camera_ids
from backend.cameras.models import Camera
from backend.sightline.media import serve_file

from . import get_backend
from .backends.base import MAX_PAGE_SIZE, SORTS, InvalidCursor, SearchPage, SearchQuery, SightingHit

TAG_PATTERN = r"^[a-z][a-z0-9 _-]{0,31}$"


#: Bounds on list parameters, so a hostile query string cannot build a huge ``IN (...)``.
MAX_TAGS = 32
MAX_CAMERAS = 500


class SightingFilterSerializer(serializers.Serializer):
    """The filters that search and the live feed share: same names, rules and messages in both."""

    tag = serializers.ListField(child=serializers.RegexField(TAG_PATTERN, error_messages={
        "invalid": "a tag is a lower-case label such as person, car or bicycle"}), required=False,
        max_length=MAX_TAGS)
    camera = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False,
                                   max_length=MAX_CAMERAS)
    min_confidence = serializers.FloatField(required=False, min_value=0.0, max_value=1.0, default=0.0)

    def validate_min_confidence(self, value: float) -> float:
        # NaN passes DRF's min/max checks (every comparison with NaN is false) and would match nothing.
        if not math.isfinite(value):
            raise serializers.ValidationError("must be a number between 0 and 1")
        return value


class SearchParamsSerializer(SightingFilterSerializer):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    sort = serializers.ChoiceField(choices=SORTS, required=False, default="-confidence")
    cursor = serializers.CharField(required=False, max_length=500)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE, default=50)
    facets = serializers.BooleanField(required=False, default=True)

    def validate(self, attrs: dict) -> dict:  # type: ignore[type-arg]
        if attrs.get("start") and attrs.get("end") and attrs["end"] <= attrs["start"]:
            raise ValidationError({"end": ["end must be after start"]})
        return attrs


class CameraRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SightingSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The sighting (track) id.")
    tag = serializers.CharField()
    confidence = serializers.FloatField(help_text="Of the best detection.")
    camera = CameraRefSerializer()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    best_time = serializers.DateTimeField()
    box = serializers.ListField(child=serializers.FloatField(), help_text="x1, y1, x2, y2 in [0, 1].")
    detections = serializers.IntegerField()
    model = serializers.CharField()
    clip = serializers.IntegerField()
    offset_s = serializers.FloatField(help_text="Position of the best detection in the clip.")
    thumbnail_url = serializers.CharField()
    clip_url = serializers.CharField(help_text="Plays the clip from the moment of the best detection.")


class HistogramSerializer(serializers.Serializer):
    interval_s = serializers.IntegerField()
    buckets = serializers.ListField(child=serializers.DictField())


class FacetsSerializer(serializers.Serializer):
    tags = serializers.DictField(child=serializers.IntegerField())
    cameras = serializers.ListField(child=serializers.DictField())
    histogram = HistogramSerializer()


class SearchResultSerializer(serializers.Serializer):
    results = SightingSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    facets = FacetsSerializer(allow_null=True)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def sighting_to_dict(hit: SightingHit, camera_names: dict[int, str]) -> dict[str, object]:
    offset_s = round(hit.best_offset_ms / 1000, 3)
    return {
        "id": hit.id, "tag": hit.label, "confidence": hit.confidence,
        "camera": {"id": hit.camera_id, "name": camera_names.get(hit.camera_id, "")},
        "start": _iso(hit.start_ms), "end": _iso(hit.end_ms), "best_time": _iso(hit.best_ms),
        "box": list(hit.box), "detections": hit.detections, "model": hit.model, "clip": hit.best_clip_id,
        "offset_s": offset_s,
        "thumbnail_url": f"/api/v1/sightings/{hit.id}/thumbnail/",
        "clip_url": f"/api/v1/clips/{hit.best_clip_id}/video/#t={offset_s}",
    }


def page_to_dict(page: SearchPage) -> dict[str, object]:
    ids = {h.camera_id for h in page.results}
    if page.facets:
        ids |= set(page.facets.cameras)
    names = dict(Camera.objects.filter(id__in=ids).values_list("id", "name"))
    facets = None
    if page.facets:
        f = page.facets
        facets = {
            "tags": dict(sorted(f.tags.items(), key=lambda kv: (-kv[1], kv[0]))),
            "cameras": [{"id": c, "name": names.get(c, ""), "count": n}
                        for c, n in sorted(f.cameras.items(), key=lambda kv: (-kv[1], kv[0]))],
            "histogram": {"interval_s": f.histogram.interval_ms // 1000,
                          "buckets": [{"start": _iso(s), "count": n} for s, n in f.histogram.buckets]},
        }
    return {"results": [sighting_to_dict(h, names) for h in page.results], "next_cursor": page.next_cursor,
            "facets": facets}


class SearchView(APIView):
    """Sightings (one per tracked object) matching the filters, best confidence first by default."""

    @extend_schema(
        parameters=[
            OpenApiParameter("tag", str, many=True, description="Object label, repeatable (person, car…)."),
            OpenApiParameter("camera", int, many=True, description="Camera id, repeatable."),
            OpenApiParameter("start", OpenApiTypes.DATETIME, description="Sightings overlapping [start, end)."),
            OpenApiParameter("end", OpenApiTypes.DATETIME),
            OpenApiParameter("min_confidence", float, description="0–1, on the sighting's best detection."),
            OpenApiParameter("sort", str, enum=list(SORTS), description="Default -confidence."),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page."),
            OpenApiParameter("page_size", int, description=f"1–{MAX_PAGE_SIZE}, default 50."),
            OpenApiParameter("facets", bool, description="Compute facets (default true)."),
        ],
        responses=SearchResultSerializer,
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        raw = {k: params.get(k) for k in params if k not in ("tag", "camera")}
        for many in ("tag", "camera"):
            if many in params:
                raw[many] = params.getlist(many)  # type: ignore[assignment]
        form = SearchParamsSerializer(data=raw)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        query = SearchQuery(
            tags=tuple(dict.fromkeys(data.get("tag", []))), cameras=tuple(dict.fromkeys(data.get("camera", []))),
            start=data.get("start"), end=data.get("end"), min_confidence=data["min_confidence"],
            sort=data["sort"], cursor=data.get("cursor"), page_size=data["page_size"],
            visible_cameras=visible_camera_ids(request.user),
        )
        try:
            page = get_backend().search(query, facets=data["facets"])
        except InvalidCursor as exc:
            raise ValidationError({"cursor": [str(exc)]}) from None
        return Response(page_to_dict(page))


def _visible_hit(request: Request, sighting_id: int) -> SightingHit:
    hit = get_backend().get(sighting_id)
    if hit is None or not can_see_camera(request.user, hit.camera_id):
        raise Http404("no such sighting")
    return hit


class SightingDetailView(APIView):
    @extend_schema(responses=SightingSerializer)
    def get(self, request: Request, sighting_id: int) -> Response:
        hit = _visible_hit(request, sighting_id)
        names = dict(Camera.objects.filter(id=hit.camera_id).values_list("id", "name"))
        return Response(sighting_to_dict(hit, names))


class SightingThumbnailView(APIView):
    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY})
    def get(self, request: Request, sighting_id: int) -> HttpResponse:
        hit = _visible_hit(request, sighting_id)
        if not hit.thumbnail or not default_storage.exists(hit.thumbnail):
            raise Http404("this sighting has no thumbnail")
        response = serve_file(request, Path(default_storage.path(hit.thumbnail)), "image/jpeg")
        response["Cache-Control"] = "private, max-age=3600"
        return response
