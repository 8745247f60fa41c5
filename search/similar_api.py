"""``GET /api/v1/sightings/{id}/similar/``: the sightings that look most like one, most similar first.

"Find similar" compares the appearance descriptors of the sightings' best detections (the tracker's colour
histograms of the upper and lower body, ``analysis.appearance``): the same label, on the cameras asked for (by
default every camera the user may see), optionally in a time window. The sighting asked about must be one the
user may see (404 otherwise, as everywhere), and no answer ever comes from a camera the user may not see —
not even as a count: visibility is a filter of the search itself, applied before ranking.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend import audit
from backend.accounts.roles import visible_camera_ids
from backend.cameras.models import Camera

from . import get_backend
from .api import visible_hit
from .backends.base import SimilarQuery
from .representation import sighting_to_dict
from .serializers import MAX_CAMERAS, SightingSerializer

MAX_SIMILAR = 50


class SimilarParamsSerializer(serializers.Serializer):
    camera = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False,
                                   max_length=MAX_CAMERAS)
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_SIMILAR, default=20)

    def validate(self, attrs: dict) -> dict:  # type: ignore[type-arg]
        if attrs.get("start") and attrs.get("end") and attrs["end"] <= attrs["start"]:
            raise ValidationError({"end": ["end must be after start"]})
        return attrs


class SimilarSightingSerializer(SightingSerializer):
    similarity = serializers.FloatField(help_text="0–1: how alike the two look (1: the same colours).")


class SimilarResultSerializer(serializers.Serializer):
    of = serializers.IntegerField(help_text="The sighting compared with.")
    results = SimilarSightingSerializer(many=True)


class SimilarSightingsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("camera", int, many=True, description="Look only on these cameras (repeatable); "
                                                                   "default: every camera you may see."),
            OpenApiParameter("start", OpenApiTypes.DATETIME, description="Sightings overlapping [start, end)."),
            OpenApiParameter("end", OpenApiTypes.DATETIME),
            OpenApiParameter("limit", int, description=f"1–{MAX_SIMILAR}, default 20."),
        ],
        responses=SimilarResultSerializer,
    )
    def get(self, request: Request, sighting_id: int) -> Response:
        hit = visible_hit(request, sighting_id)
        raw: dict[str, object] = {k: request.query_params.get(k) for k in request.query_params if k != "camera"}
        if "camera" in request.query_params:
            raw["camera"] = request.query_params.getlist("camera")
        form = SimilarParamsSerializer(data=raw)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        query = SimilarQuery(of=hit.id, cameras=tuple(dict.fromkeys(data.get("camera", []))),
                             start=data.get("start"), end=data.get("end"), limit=data["limit"],
                             visible_cameras=visible_camera_ids(request.user))
        found = get_backend().similar(query)
        audit.record("sighting.similar", audit.actor_for(request), target=f"sighting:{hit.id}",
                     details={"cameras": list(query.cameras), "results": len(found)})
        names = dict(Camera.objects.filter(id__in={f.hit.camera_id for f in found}).values_list("id", "name"))
        return Response({"of": hit.id, "results": [{**sighting_to_dict(f.hit, names), "similarity": f.similarity}
                                                    for f in found]})
