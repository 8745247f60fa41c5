"""``/api/v1/clips/``: upload footage for analysis and follow its job.

An upload is checked before it is accepted: for a camera the user may see, a start time in ISO 8601, then
(``services.store_upload``) not empty, not too large, and a file that PyAV can open and decode a frame of.
Only then is it kept, a ``clip.registered`` event appended and the analysis queued; the answer is 202 with
the clip and its job. The same footage uploaded again for the camera (same SHA-256: a client retrying after a
lost answer) gets 200 with the clip it already became, and is not analysed twice.

Admission control (``capacity``): a stored upload is refused, and deleted, with ``503`` and ``Retry-After``
when analysis is full (the uploads already waiting would not start within ``SIGHTLINE.ANALYSIS_MAX_DELAY_S``)
and with ``429`` and ``Retry-After`` when the uploader's own footage waiting for analysis would pass
``SIGHTLINE.UPLOAD_QUOTA_S``; the body says which, why and when to retry. It is checked after the file is
stored so that the retry of an upload already accepted still gets its clip.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from backend import audit
from backend.accounts.permissions import ReadAnyWriteOperator
from backend.accounts.roles import restrict_to_visible
from backend.cameras.models import Camera, Masking
from backend.exports.models import Rendition
from backend.exports.privacy import playback_masking
from backend.exports.renditions import rendition_for, retry_failed
from backend.sightline.media import serve_file

from . import capacity
from .models import Clip
from .services import AlreadyUploaded, UploadRejected, register_stored, store_upload, upload_start

log = logging.getLogger(__name__)


class JobSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="job_id")
    status = serializers.CharField()
    progress = serializers.FloatField()
    error = serializers.CharField()
    frames_analysed = serializers.IntegerField()
    detections = serializers.IntegerField()
    started_at = serializers.DateTimeField(source="analysis_started_at")
    finished_at = serializers.DateTimeField(source="analysis_finished_at")


class ClipSerializer(serializers.ModelSerializer):
    job = JobSerializer(source="*", read_only=True)
    video_url = serializers.SerializerMethodField()
    camera_name = serializers.CharField(source="camera.name", read_only=True)

    class Meta:
        model = Clip
        fields = ["id", "camera", "camera_name", "original_name", "source", "started_at", "started_at_source",
                  "duration_s",
                  "width", "height", "codec", "size_bytes", "status", "progress", "error", "job",
                  "video_url", "created_at", "expired_at"]
        read_only_fields = fields

    def get_video_url(self, clip: Clip) -> str:
        return f"/api/v1/clips/{clip.pk}/video/"


_UNMASK = OpenApiParameter("unmask", bool, description="Unmasked footage (needs the unmask permission; "
                                                       "each play is audited). Default: masked as the camera says.")


class PlaybackSerializer(serializers.Serializer):
    masked = serializers.BooleanField()
    masking = serializers.CharField()
    status = serializers.ChoiceField(choices=["ready", "preparing", "failed"])
    progress = serializers.FloatField()
    error = serializers.CharField()
    video_url = serializers.CharField()


@extend_schema_field(OpenApiTypes.INT)
class VisibleCameraField(serializers.PrimaryKeyRelatedField):
    """A camera the requesting user may see; any other id reads as unknown (no existence leak)."""

    default_error_messages = {
        "does_not_exist": "unknown camera {pk_value}",
        "incorrect_type": "camera must be a camera id (an integer), not {data_type}",
    }

    def get_queryset(self) -> QuerySet[Camera]:
        return restrict_to_visible(Camera.objects.all(), self.context["request"].user, field="id")


class ClipUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False, help_text="A video file.")
    camera = VisibleCameraField()
    started_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601 time of the first frame, e.g. 2026-11-26T08:00:00Z. Default: the "
                                  "time the file says it was recorded (its creation time), else when it is "
                                  "received; the clip's started_at_source says which.",
        error_messages={"invalid": "started_at must be an ISO 8601 date and time, e.g. 2026-11-26T08:00:00Z"},
    )


class RefusalSerializer(serializers.Serializer):
    detail = serializers.CharField()
    reason = serializers.ChoiceField(choices=["backlog", "live_saturated", "quota"],
                                     help_text="backlog or live_saturated: analysis is full (503); quota: yours (429).")
    retry_after_s = serializers.IntegerField(help_text="Also in the Retry-After header.")


def refused(refusal: capacity.Refusal) -> Response:
    return Response(refusal.body(), status=refusal.status, headers={"Retry-After": str(refusal.retry_after_s)})


class NewestFirst(CursorPagination):
    # CursorPagination's default ordering is a "created" field, which clips do not have (every list
    # request answered 500).
    ordering = ("-created_at", "-id")


class ClipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                  viewsets.GenericViewSet):
    permission_classes = [ReadAnyWriteOperator]
    pagination_class = NewestFirst
    filterset_fields = ["camera", "status", "source"]
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[Clip]:
        return restrict_to_visible(Clip.objects.select_related("camera").order_by("-created_at", "-id"),
                                   self.request.user)

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        return ClipUploadSerializer if self.action == "create" else ClipSerializer

    @extend_schema(request=ClipUploadSerializer,
                   responses={202: ClipSerializer, 200: ClipSerializer, 429: RefusalSerializer,
                              503: RefusalSerializer},
                   description="202: stored and queued for analysis. 200: this camera already has this exact "
                               "footage (same SHA-256): the existing clip, not analysed again. 503: analysis is "
                               "full; 429: your footage waiting for analysis is above your quota; both with "
                               "Retry-After.")
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        upload = ClipUploadSerializer(data=request.data, context={"request": request})
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        camera: Camera = data["camera"]
        upload = data["file"]
        try:
            stored = store_upload(upload, camera, original_name=upload.name)
        except UploadRejected as exc:
            return Response({"file": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        except AlreadyUploaded as exc:  # a retry of an upload whose answer was lost: the same clip, analysed once
            return Response(ClipSerializer(exc.clip, context={"request": request}).data, status=status.HTTP_200_OK)
        state = capacity.queue_state()
        refusal = capacity.admit_backlog(state) or capacity.admit_quota(
            request.user, stored.info.duration_s or capacity.UNKNOWN_DURATION_S, camera.analysis_fps, state)
        if refusal is not None:
            stored.discard()
            log.info("upload refused (%s): %s", refusal.reason, refusal.detail)
            return refused(refusal)
        started_at, source = upload_start(data.get("started_at"), stored.info)
        clip, created = register_stored(stored, camera=camera, started_at=started_at, started_at_source=source,
                                        uploaded_by=request.user)
        return Response(ClipSerializer(clip, context={"request": request}).data,
                        status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    @extend_schema(responses={(200, "video/*"): OpenApiTypes.BINARY, 202: PlaybackSerializer},
                   parameters=[_UNMASK])
    @action(detail=True, methods=["get"])
    def video(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The clip's video (supports Range requests), masked as its camera says unless ``unmask=1`` (with the
        unmask permission; audited). A masked version not made yet answers 202 with its progress and
        ``Retry-After``; ``playback/`` says the same without fetching. Add ``#t=<seconds>`` to start at a moment."""
        clip = self.get_object()
        unmask = _wants_unmask(request)
        masking = playback_masking(request.user, clip.camera, unmask=unmask)
        starts = request.headers.get("Range", "bytes=0-").replace(" ", "").startswith("bytes=0-")
        path = _stored_path(clip)
        if masking != Masking.NONE:
            rendition = rendition_for(clip, masking)
            if rendition.status != Rendition.Status.DONE:
                body = _playback(clip, masking, rendition, unmask=False)
                failed = rendition.status == Rendition.Status.FAILED
                code = status.HTTP_409_CONFLICT if failed else status.HTTP_202_ACCEPTED
                response = Response(body, status=code)
                if code == status.HTTP_202_ACCEPTED:
                    response["Retry-After"] = "2"
                return response
            path = Path(rendition.file.path)
        if starts:
            # A play starts at byte 0; the seeks and chunks that follow are the same play.
            audit.record("clip.play", audit.actor_for(request), target=f"clip:{clip.pk}",
                         details={"camera": clip.camera_id, "masking": masking})
            if unmask and clip.camera.privacy_mask != Masking.NONE:
                audit.record("footage.unmask", audit.actor_for(request), target=f"clip:{clip.pk}",
                             details={"camera": clip.camera_id, "what": "clip"})
        response = serve_file(request, path)
        if unmask:
            response["Cache-Control"] = "private, no-store"
        return response

    @extend_schema(responses=PlaybackSerializer, parameters=[
        _UNMASK, OpenApiParameter("retry", bool, description="Try a failed masked version again.")])
    @action(detail=True, methods=["get"])
    def playback(self, request: Request, pk: str | None = None) -> Response:
        """How this user can play the clip: masked or not, ready or being prepared (with progress), and the
        URL to play. Asking starts the masked version's job; ``retry=1`` tries a failed one again."""
        clip = self.get_object()
        unmask = _wants_unmask(request)
        masking = playback_masking(request.user, clip.camera, unmask=unmask)
        _stored_path(clip)
        if masking == Masking.NONE:
            return Response(_playback(clip, masking, None, unmask=unmask))
        rendition = rendition_for(clip, masking)
        if request.query_params.get("retry") in ("1", "true"):
            rendition = retry_failed(rendition)
        return Response(_playback(clip, masking, rendition, unmask=False))


def _wants_unmask(request: Request) -> bool:
    return request.query_params.get("unmask") in ("1", "true")


def _stored_path(clip: Clip) -> Path:
    try:
        path = Path(clip.file.path)
    except (ValueError, NotImplementedError):
        raise Http404("the clip has no stored file") from None
    if not path.is_file():
        raise Http404("the clip's file is no longer stored")
    return path


def _playback(clip: Clip, masking: str, rendition: Rendition | None, *, unmask: bool) -> dict[str, object]:
    url = f"/api/v1/clips/{clip.pk}/video/" + ("?unmask=1" if unmask else "")
    if rendition is None:
        return {"masked": False, "masking": masking, "status": "ready", "progress": 1.0, "error": "", "video_url": url}
    state = {Rendition.Status.DONE: "ready", Rendition.Status.FAILED: "failed"}.get(rendition.status, "preparing")
    return {"masked": True, "masking": masking, "status": state, "progress": rendition.progress,
            "error": rendition.error if state == "failed" else "", "video_url": url}
