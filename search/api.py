"""``GET /api/v1/search/`` and the sighting endpoints (detail, thumbnail).

Query parameters are validated by :mod:`search.serializers` (a bad one gets a 400 naming it); answers are
shaped by :mod:`search.representation`. A sighting of a camera the user may not see is a 404, exactly like
one that does not exist.
"""

from __future__ import annotations

from pathlib import Path

from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend import audit
from backend.accounts.roles import can_see_camera, visible_camera_ids
from backend.cameras.models import Camera
from backend.eventlog.schema import COLOR_ATTRIBUTES, COLOR_PALETTE
from backend.sightline.media import serve_file
from backend.sightline.metrics import SEARCH_SECONDS

from . import get_backend
from .backends.base import MAX_PAGE_SIZE, SORTS, InvalidCursor, SearchQuery, SightingHit
from .representation import page_to_dict, sighting_to_dict
from .serializers import SearchParamsSerializer, SearchResultSerializer, SightingSerializer


class SearchView(APIView):
    """Sightings (one per tracked object) matching the filters, best confidence first by default."""

    @extend_schema(
        parameters=[
            OpenApiParameter("tag", str, many=True, description="Object label, repeatable (person, car…)."),
            OpenApiParameter("camera", int, many=True, description="Camera id, repeatable."),
            *(OpenApiParameter(name, str, many=True, enum=list(COLOR_PALETTE), description=about)
              for name, about in (("upper_color", "A person's upper-body colour, repeatable (any of them)."),
                                  ("lower_color", "A person's lower-body colour, repeatable."),
                                  ("color", "A vehicle's colour, repeatable."))),
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
        repeatable = ("tag", "camera", *COLOR_ATTRIBUTES)
        raw = {k: params.get(k) for k in params if k not in repeatable}
        for many in repeatable:
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
            upper_colors=tuple(dict.fromkeys(data.get("upper_color", []))),
            lower_colors=tuple(dict.fromkeys(data.get("lower_color", []))),
            colors=tuple(dict.fromkeys(data.get("color", []))),
        )
        backend = get_backend()
        try:
            with SEARCH_SECONDS.labels(backend.name).time():
                page = backend.search(query, facets=data["facets"])
        except InvalidCursor as exc:
            raise ValidationError({"cursor": [str(exc)]}) from None
        if not query.cursor:  # a search, not its next page
            audit.record("search", audit.actor_for(request), details={
                "tags": list(query.tags), "cameras": list(query.cameras), **query.color_filters(),
                "start": query.start.isoformat() if query.start else None,
                "end": query.end.isoformat() if query.end else None,
                "min_confidence": query.min_confidence, "sort": query.sort, "results": len(page.results)})
        return Response(page_to_dict(page))


def visible_hit(request: Request, sighting_id: int) -> SightingHit:
    hit = get_backend().get(sighting_id)
    if hit is None or not can_see_camera(request.user, hit.camera_id):
        raise Http404("no such sighting")
    return hit


class SightingDetailView(APIView):
    @extend_schema(responses=SightingSerializer)
    def get(self, request: Request, sighting_id: int) -> Response:
        hit = visible_hit(request, sighting_id)
        audit.record("sighting.view", audit.actor_for(request), target=f"sighting:{hit.id}",
                     details={"camera": hit.camera_id})
        names = dict(Camera.objects.filter(id=hit.camera_id).values_list("id", "name"))
        return Response(sighting_to_dict(hit, names))


class SightingThumbnailView(APIView):
    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY},
                   parameters=[OpenApiParameter("unmask", bool, description="Unmasked (needs the unmask "
                                                "permission; audited). Default: masked as the camera says.")])
    def get(self, request: Request, sighting_id: int) -> HttpResponse:
        from django.conf import settings

        from backend.exports.privacy import playback_masking
        from backend.exports.thumbnails import masked_thumbnail

        hit = visible_hit(request, sighting_id)
        if not hit.thumbnail or not default_storage.exists(hit.thumbnail):
            raise Http404("this sighting has no thumbnail")
        camera = Camera.objects.get(pk=hit.camera_id)
        unmask = request.query_params.get("unmask") in ("1", "true")
        masking = playback_masking(request.user, camera, unmask=unmask)
        name = hit.thumbnail
        if masking != Camera.Masking.NONE:
            name = masked_thumbnail(hit.thumbnail, clip_id=hit.best_clip_id, offset_ms=hit.best_offset_ms,
                                    box=hit.box, masking=masking, padding=settings.SIGHTLINE.MASK_PADDING)
        elif unmask:
            audit.record("footage.unmask", audit.actor_for(request), target=f"sighting:{hit.id}",
                         details={"camera": hit.camera_id, "what": "thumbnail"})
        response = serve_file(request, Path(default_storage.path(name)))
        # An unmasked picture is never kept by the browser: the next person at it may not be allowed to see it.
        response["Cache-Control"] = "private, no-store" if unmask else "private, max-age=3600"
        return response
