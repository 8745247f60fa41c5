"""``/api/v1/analyze/``: analyse an image or a short clip now, and get its detections in the answer.

``POST /api/v1/analyze/`` (multipart ``file``: a JPEG, PNG or WebP picture, or a clip of at most
``SIGHTLINE.ANALYZE_MAX_DURATION_S`` in a container and codec uploads accept) is checked as an upload is
(``backend.clips.services``: size, then a probe in the limited child process; the stored name is the request's
id with the probed format's extension, never the client's file name), becomes an
:class:`~backend.analyze.models.AnalysisRequest` and is analysed by the workers of the ``analysis`` queue
(``analysis.on_demand``): the web process never loads a model. The request waits for the row to finish,
reading it every :data:`POLL_S`, up to ``SIGHTLINE.ANALYZE_TIMEOUT_S`` (or less: ``?timeout=``); then:

- 200 with the result (an image's detections; a clip's detections per analysed frame and its tracks), 422 with
  the reason when the file could not be analysed after all;
- 504 with the request's id and the URL to poll: ``GET /api/v1/analyze/{id}/`` answers 202 while it is queued
  or analysing, and 200 once it is done or failed (``status`` and ``error`` say which);
- 400 with ``{"file": [reason]}`` for a file refused (nothing is kept), 503 with ``Retry-After`` when the
  broker cannot be reached (the request is dropped, its file deleted).

Operators and admins may analyse; a request is read by whoever made it, and by admins (anyone else: 404). A
finished request is kept ``SIGHTLINE.ANALYZE_RESULT_TTL_S``; its file is deleted as soon as it is analysed.
Results are not camera footage: no event, sighting or clip is made of them.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from analysis import on_demand
from backend.accounts.permissions import MayAnalyse
from backend.accounts.roles import Role, role_of
from backend.clips.services import PROBING, UploadRejected, check_size, store_probed

from .models import AnalysisRequest

#: How often a waiting request reads its row.
POLL_S = 0.05
#: ``Retry-After`` of a 503 (the broker is away) and of a 202 (still analysing), in seconds.
BROKER_RETRY_AFTER_S = 30
POLL_RETRY_AFTER_S = 1


class AnalysedBoxSerializer(serializers.Serializer):
    """In the source picture's pixels, from its top left corner."""

    x1 = serializers.FloatField()
    y1 = serializers.FloatField()
    x2 = serializers.FloatField()
    y2 = serializers.FloatField()


class AnalysedDetectionSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="COCO label, e.g. person, car, bicycle.")
    confidence = serializers.FloatField()
    box = AnalysedBoxSerializer()


class AnalysedFrameDetectionSerializer(AnalysedDetectionSerializer):
    track = serializers.IntegerField(help_text="The track it belongs to (see tracks).")


class AnalysedFrameSerializer(serializers.Serializer):
    offset_ms = serializers.IntegerField(help_text="Time of the frame from the clip's first frame.")
    detections = AnalysedFrameDetectionSerializer(many=True)


class AnalysedTrackSerializer(serializers.Serializer):
    track = serializers.IntegerField()
    label = serializers.CharField()
    first_offset_ms = serializers.IntegerField()
    last_offset_ms = serializers.IntegerField()
    best_confidence = serializers.FloatField()
    best_offset_ms = serializers.IntegerField()
    best_box = AnalysedBoxSerializer()
    detections = serializers.IntegerField(help_text="Detections linked into the track.")


class ImageResultSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[AnalysisRequest.Kind.IMAGE.value])
    model = serializers.CharField(help_text="The detector that found them.")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    detections = AnalysedDetectionSerializer(many=True, help_text="From SIGHTLINE_DETECTION_MIN_CONFIDENCE up, "
                                                          "most confident first.")


class ClipResultSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[AnalysisRequest.Kind.CLIP.value])
    model = serializers.CharField(help_text="The detector that found them.")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    fps = serializers.FloatField(help_text="Frames a second analysed (SIGHTLINE_ANALYZE_FPS).")
    duration_s = serializers.FloatField(help_text="Time from the first to the last frame analysed.")
    frames = AnalysedFrameSerializer(many=True, help_text="Every analysed frame, with its detections.")
    tracks = AnalysedTrackSerializer(many=True)
    warning = serializers.CharField(allow_null=True, help_text="Set when only part of the clip could be analysed.")


@extend_schema_field(PolymorphicProxySerializer(
    component_name="AnalysisResult",
    serializers={AnalysisRequest.Kind.IMAGE.value: ImageResultSerializer,
                 AnalysisRequest.Kind.CLIP.value: ClipResultSerializer},
    resource_type_field_name="kind"))
class ResultField(serializers.JSONField):
    """What the worker stored (``analysis.on_demand``), in the shape of an image's or a clip's result."""


class AnalysisJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=AnalysisRequest.Status.choices)
    kind = serializers.ChoiceField(choices=AnalysisRequest.Kind.choices)
    frames_expected = serializers.IntegerField()
    frames_analysed = serializers.IntegerField()
    error = serializers.CharField(help_text="Why it failed; a warning when only part of a clip was analysed.")
    result = ResultField(allow_null=True, read_only=True, help_text="Set once the status is done.")
    poll_url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True, help_text="When it and its result are deleted.")

    def get_poll_url(self, row: AnalysisRequest) -> str:
        return poll_url(row.pk)

    def to_representation(self, instance: AnalysisRequest) -> dict[str, Any]:
        # The result is stored as the worker wrote it (already the documented shape).
        data = super().to_representation(instance)
        data["result"] = instance.result if instance.status == AnalysisRequest.Status.DONE else None
        return data


class AnalyzeUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False, help_text=(
        "A JPEG, PNG or WebP picture, or a short clip (MP4/MOV, MKV/WebM, AVI or MPEG-TS) of at most "
        "SIGHTLINE_ANALYZE_MAX_DURATION_S seconds."))


class AnalyzeTimeoutSerializer(serializers.Serializer):
    detail = serializers.CharField()
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=AnalysisRequest.Status.choices)
    poll_url = serializers.CharField()


class AnalyzeRefusedSerializer(serializers.Serializer):
    file = serializers.ListField(child=serializers.CharField(), required=False)
    timeout = serializers.ListField(child=serializers.CharField(), required=False)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


_TIMEOUT = OpenApiParameter("timeout", OpenApiTypes.DOUBLE, description=(
    "Seconds to wait for the result, above 0 and at most SIGHTLINE_ANALYZE_TIMEOUT_S (the default)."))


def poll_url(request_id: uuid.UUID) -> str:
    return reverse("v1:analyze-detail", kwargs={"pk": str(request_id)})


def _timeout(request: Request) -> float:
    limit = settings.SIGHTLINE.ANALYZE_TIMEOUT_S
    raw = request.query_params.get("timeout")
    if raw is None:
        return limit
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value <= limit:  # NaN compares false
        raise ValidationError({"timeout": [f"timeout must be a number of seconds above 0 and at most {limit:g}"]})
    return value


class AnalyzeViewSet(viewsets.GenericViewSet):
    permission_classes = [MayAnalyse]
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = AnalysisJobSerializer
    queryset = AnalysisRequest.objects.all()

    def get_queryset(self) -> QuerySet[AnalysisRequest]:
        """Requests not yet expired; a user's own, every one for admins (another's reads as unknown)."""
        if getattr(self, "swagger_fake_view", False):
            return AnalysisRequest.objects.none()
        rows = AnalysisRequest.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        user = self.request.user
        if user.is_staff or role_of(user) >= Role.ADMIN:
            return rows
        return rows.filter(requested_by=user)

    @extend_schema(
        request={"multipart/form-data": AnalyzeUploadSerializer}, parameters=[_TIMEOUT],
        responses={
            200: OpenApiResponse(AnalysisJobSerializer, description="Analysed: the result."),
            400: OpenApiResponse(AnalyzeRefusedSerializer, description="The file (or the timeout) was refused; "
                                                                       "nothing was kept."),
            403: OpenApiResponse(DetailSerializer, description="Only operators and admins may analyse."),
            413: OpenApiResponse(DetailSerializer, description="The body declares more than "
                                                               "SIGHTLINE_ANALYZE_MAX_BYTES."),
            422: OpenApiResponse(AnalysisJobSerializer, description="The file could not be analysed: error says "
                                                                    "why."),
            503: OpenApiResponse(DetailSerializer, description="The analysis workers cannot be reached; try again "
                                                               "after Retry-After seconds."),
            504: OpenApiResponse(AnalyzeTimeoutSerializer, description="Not finished in time: poll poll_url."),
        },
        description="Analyse a picture or a short clip now: its detections (a clip's per analysed frame, and its "
                    "tracks) in the answer, or, past the timeout, a 504 with the request to poll.")
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        timeout = _timeout(request)
        upload = AnalyzeUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        content = upload.validated_data["file"]
        request_id = uuid.uuid4()
        try:
            check_size(content, settings.SIGHTLINE.ANALYZE_MAX_BYTES)
            # A name of Sightline's choosing (the request's id), never the client's.
            name, info = store_probed(content, f"{on_demand.MEDIA_FOLDER}/{request_id.hex}{PROBING}",
                                      limits=on_demand.analysis_limits(), images=True)
        except UploadRejected as exc:
            return Response({"file": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        kind = AnalysisRequest.Kind.IMAGE if info.image else AnalysisRequest.Kind.CLIP
        sent: list[bool] = []
        try:
            with transaction.atomic():
                AnalysisRequest.objects.create(
                    id=request_id, requested_by=request.user, file=name, kind=kind,
                    frames_expected=on_demand.frames_expected(kind, info.duration_s))
                # The outbox: the task is sent once the row is durable.
                transaction.on_commit(lambda: sent.append(on_demand.dispatch(request_id)))
        except BaseException:
            default_storage.delete(name)
            raise
        if sent == [False] and _drop_unsent(request_id, name):
            response = Response({"detail": "the analysis workers cannot be reached; try again later"},
                                status=status.HTTP_503_SERVICE_UNAVAILABLE)
            response["Retry-After"] = str(BROKER_RETRY_AFTER_S)
            return response
        return _wait(request_id, timeout)

    @extend_schema(
        responses={
            200: OpenApiResponse(AnalysisJobSerializer, description="Finished: done (with the result) or failed "
                                                                    "(with the error)."),
            202: OpenApiResponse(AnalysisJobSerializer, description="Queued or analysing: ask again after "
                                                                    "Retry-After seconds."),
            403: OpenApiResponse(DetailSerializer, description="Only operators and admins may analyse."),
            404: OpenApiResponse(DetailSerializer, description="No such request (another user's, or expired)."),
        },
        description="A synchronous analysis request: its status and, once done, its result.")
    def retrieve(self, request: Request, *args: object, **kwargs: object) -> Response:
        row = self.get_object()
        if row.status in (AnalysisRequest.Status.QUEUED, AnalysisRequest.Status.ANALYSING):
            response = Response(AnalysisJobSerializer(row).data, status=status.HTTP_202_ACCEPTED)
            response["Retry-After"] = str(POLL_RETRY_AFTER_S)
            return response
        return Response(AnalysisJobSerializer(row).data)


def _drop_unsent(request_id: uuid.UUID, name: str) -> bool:
    """The broker did not take the task: drop the request, unless a worker serving waiting requests has
    claimed it meanwhile (then it is analysed, and the answer waits for it as usual)."""
    deleted, _ = AnalysisRequest.objects.filter(pk=request_id, status=AnalysisRequest.Status.QUEUED).delete()
    if deleted:
        default_storage.delete(name)
    return bool(deleted)


def _wait(request_id: uuid.UUID, timeout: float) -> Response:
    """Read the row every :data:`POLL_S` until it finishes or ``timeout`` passes (no result backend: the row
    is the answer)."""
    deadline = time.monotonic() + timeout
    finished = (AnalysisRequest.Status.DONE, AnalysisRequest.Status.FAILED)
    current = AnalysisRequest.Status.QUEUED
    while True:
        state = AnalysisRequest.objects.filter(pk=request_id).values_list("status", flat=True).first()
        if state is None:  # swept meanwhile (it expired): gone
            break
        current = state
        if current in finished:
            row = AnalysisRequest.objects.get(pk=request_id)
            done = current == AnalysisRequest.Status.DONE
            code = status.HTTP_200_OK if done else status.HTTP_422_UNPROCESSABLE_ENTITY
            return Response(AnalysisJobSerializer(row).data, status=code)
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(POLL_S, left))
    url = poll_url(request_id)
    response = Response({"detail": f"the analysis did not finish within {timeout:g} s; its result will be at "
                                   f"{url}", "id": str(request_id), "status": current, "poll_url": url},
                        status=status.HTTP_504_GATEWAY_TIMEOUT)
    response["Location"] = url
    response["Retry-After"] = str(POLL_RETRY_AFTER_S)
    return response
