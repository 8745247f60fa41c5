"""``/api/v1/exports/`` and ``/api/v1/cases/``: evidence exports and the cases that keep them.

``POST /api/v1/exports/`` takes either a ``sighting`` (its moment, with ``before_s`` and ``after_s``) or a
``camera`` with ``start`` and ``end``, a ``masking`` and ``burn_boxes``; it answers 202 with the export and
its job, whose progress ``GET /api/v1/exports/{id}/`` shows. A request that cannot give footage is refused
at once with a 4xx that says why: a sighting or camera the user may not see reads as unknown, a range with
no stored footage, longer than ``SIGHTLINE.EXPORT_MAX_DURATION_S`` or ending before it starts, a masking
weaker than the camera's for a user who may not unmask (403), a closed case. Exports and cases are for
operators and admins; every export, download and case change is in the audit trail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from backend import audit
from backend.accounts.permissions import OperatorsOnly
from backend.accounts.roles import can_see_camera, restrict_to_visible
from backend.cameras.models import Camera, Masking
from backend.clips.api import NewestFirst, VisibleCameraField
from backend.sightline.media import serve_file

from . import jobs
from .models import Case, Export
from .privacy import covers, may_receive, may_unmask
from .sources import clips_covering


class ExportJobSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="job_id")
    status = serializers.CharField()
    progress = serializers.FloatField()
    error = serializers.CharField()
    attempts = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()


class ExportSerializer(serializers.ModelSerializer):
    job = ExportJobSerializer(source="*", read_only=True)
    camera_name = serializers.CharField(source="camera.name", read_only=True)
    created_by = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    manifest_url = serializers.SerializerMethodField()
    sighting = serializers.IntegerField(source="sighting_id", allow_null=True)

    class Meta:
        model = Export
        fields = ["id", "camera", "camera_name", "sighting", "start", "end", "masking", "burn_boxes", "case",
                  "status", "progress", "error", "job", "mode", "frames", "size_bytes", "sha256", "created_by",
                  "created_at", "expired_at", "download_url", "manifest_url"]
        read_only_fields = fields

    def get_created_by(self, export: Export) -> str | None:
        return export.created_by.get_username() if export.created_by else None

    def get_download_url(self, export: Export) -> str | None:
        return f"/api/v1/exports/{export.pk}/download/" if export.status == Export.Status.DONE and export.file else None

    def get_manifest_url(self, export: Export) -> str | None:
        return f"/api/v1/exports/{export.pk}/manifest/" if export.manifest else None


@extend_schema_field(OpenApiTypes.INT)
class OpenCaseField(serializers.PrimaryKeyRelatedField):
    default_error_messages = {"does_not_exist": "unknown case {pk_value}",
                              "incorrect_type": "case must be a case id (an integer), not {data_type}"}

    def get_queryset(self) -> QuerySet[Case]:
        return Case.objects.all()

    def to_internal_value(self, data: Any) -> Case:
        case: Case = super().to_internal_value(data)
        if not case.is_open:
            raise serializers.ValidationError(f"case {case.pk} is closed: reopen it to add exports")
        return case


class ExportRequestSerializer(serializers.Serializer):
    sighting = serializers.IntegerField(required=False, min_value=1,
                                        help_text="Export this sighting's moment (with before_s and after_s).")
    camera = VisibleCameraField(required=False)
    start = serializers.DateTimeField(required=False, help_text="With camera: ISO 8601 start of the range.")
    end = serializers.DateTimeField(required=False, help_text="With camera: ISO 8601 end of the range.")
    before_s = serializers.FloatField(required=False, default=5.0, min_value=0.0)
    after_s = serializers.FloatField(required=False, default=5.0, min_value=0.0)
    masking = serializers.ChoiceField(choices=Masking.choices, required=False,
                                      help_text="Default: the camera's own masking.")
    burn_boxes = serializers.BooleanField(required=False, default=False)
    case = OpenCaseField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        conf = settings.SIGHTLINE
        request = self.context["request"]
        margin = conf.EXPORT_MAX_MARGIN_S
        for name in ("before_s", "after_s"):
            if attrs[name] > margin:
                raise serializers.ValidationError({name: f"at most {margin:g} seconds"})
        if ("sighting" in attrs) == ("camera" in attrs):
            raise serializers.ValidationError("give either a sighting, or a camera with start and end")
        if "sighting" in attrs:
            from search import get_backend

            hit = get_backend().get(attrs["sighting"])
            if hit is None or not can_see_camera(request.user, hit.camera_id):
                raise serializers.ValidationError({"sighting": f"unknown sighting {attrs['sighting']}"})
            origin = datetime.fromtimestamp(0, tz=UTC)
            attrs["camera"] = Camera.objects.get(pk=hit.camera_id)
            attrs["start"] = origin + timedelta(milliseconds=hit.start_ms) - timedelta(seconds=attrs["before_s"])
            attrs["end"] = origin + timedelta(milliseconds=hit.end_ms) + timedelta(seconds=attrs["after_s"])
        else:
            missing = [name for name in ("start", "end") if name not in attrs]
            if missing:
                raise serializers.ValidationError({name: "required with camera" for name in missing})
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "must be after start"})
        length = (attrs["end"] - attrs["start"]).total_seconds()
        if length > conf.EXPORT_MAX_DURATION_S:
            raise serializers.ValidationError(
                {"end": f"an export is at most {conf.EXPORT_MAX_DURATION_S:g} seconds long; this is {length:g}"})
        camera: Camera = attrs["camera"]
        attrs.setdefault("masking", camera.privacy_mask)
        if not covers(attrs["masking"], camera.privacy_mask) and not may_unmask(request.user):
            raise PermissionDenied(f"you may not export this camera with less masking than its own "
                                   f"({camera.get_privacy_mask_display()})")
        if not clips_covering(camera.pk, attrs["start"], attrs["end"]):
            raise serializers.ValidationError(
                f"no footage of camera {camera.pk} is stored between {attrs['start'].isoformat()} and "
                f"{attrs['end'].isoformat()}")
        return attrs


class ExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                    viewsets.GenericViewSet):
    permission_classes = [OperatorsOnly]
    pagination_class = NewestFirst
    filterset_fields = ["camera", "status", "case"]

    def get_queryset(self) -> QuerySet[Export]:
        return restrict_to_visible(Export.objects.select_related("camera", "created_by"), self.request.user)

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        return ExportRequestSerializer if self.action == "create" else ExportSerializer

    @extend_schema(request=ExportRequestSerializer, responses={202: ExportSerializer})
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        asked = ExportRequestSerializer(data=request.data, context={"request": request})
        asked.is_valid(raise_exception=True)
        data = asked.validated_data
        with transaction.atomic():
            export = Export.objects.create(camera=data["camera"], sighting_id=data.get("sighting"),
                                           start=data["start"], end=data["end"], masking=data["masking"],
                                           burn_boxes=data["burn_boxes"], case=data.get("case"),
                                           created_by=request.user)
            transaction.on_commit(lambda: jobs.dispatch(Export, export.pk))
        audit.record("export.create", audit.actor_for(request), target=f"export:{export.pk}",
                     details={"camera": export.camera_id, "masking": export.masking, "case": export.case_id,
                              "start": export.start.isoformat(), "end": export.end.isoformat()})
        return Response(ExportSerializer(export, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)

    def _deliverable(self, request: Request) -> Export:
        export = self.get_object()
        if not may_receive(request.user, export.camera, export.masking):
            raise PermissionDenied("this export is less masked than its camera and you may not unmask footage")
        if export.status != Export.Status.DONE or not export.file:
            raise Http404("this export has no file: it is not done, failed or expired")
        return export

    @extend_schema(responses={(200, "video/mp4"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The export's MP4 (Range requests supported)."""
        export = self._deliverable(request)
        path = Path(export.file.path)
        if not path.is_file():
            raise Http404("this export's file is no longer stored")
        if request.headers.get("Range", "bytes=0-").replace(" ", "").startswith("bytes=0-"):
            audit.record("export.download", audit.actor_for(request), target=f"export:{export.pk}",
                         details={"camera": export.camera_id, "sha256": export.sha256})
        response = serve_file(request, path)
        response["Content-Disposition"] = f'attachment; filename="sightline-export-{export.pk}.mp4"'
        return response

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def manifest(self, request: Request, pk: str | None = None) -> Response:
        """What the file is, where it came from and who made it, with its SHA-256."""
        export = self._deliverable(request)
        return Response(export.manifest)


class CaseSerializer(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()
    closed_by = serializers.SerializerMethodField()
    is_open = serializers.BooleanField(read_only=True)
    exports = serializers.SerializerMethodField()

    class Meta:
        model = Case
        fields = ["id", "title", "note", "is_open", "created_by", "created_at", "closed_at", "closed_by", "exports"]
        read_only_fields = ["id", "is_open", "created_by", "created_at", "closed_at", "closed_by", "exports"]

    def get_created_by(self, case: Case) -> str | None:
        return case.created_by.get_username() if case.created_by else None

    def get_closed_by(self, case: Case) -> str | None:
        return case.closed_by.get_username() if case.closed_by else None

    def get_exports(self, case: Case) -> list[int]:
        """The case's exports of cameras the user may see."""
        user = self.context["request"].user
        return sorted(restrict_to_visible(case.exports.all(), user).values_list("id", flat=True))


class CaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                  mixins.UpdateModelMixin, viewsets.GenericViewSet):
    permission_classes = [OperatorsOnly]
    pagination_class = NewestFirst
    serializer_class = CaseSerializer
    queryset = Case.objects.select_related("created_by", "closed_by")
    http_method_names = ["get", "post", "patch", "head", "options"]

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:  # type: ignore[type-arg]
        case = serializer.save(created_by=self.request.user)
        audit.record("case.create", audit.actor_for(self.request), target=f"case:{case.pk}")

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:  # type: ignore[type-arg]
        case = serializer.save()
        audit.record("case.change", audit.actor_for(self.request), target=f"case:{case.pk}",
                     details={"fields": sorted(serializer.validated_data)})

    @extend_schema(request=None, responses=CaseSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        """Close the case: its exports then follow their cameras' retention."""
        case = self.get_object()
        Case.objects.filter(pk=case.pk, closed_at__isnull=True).update(closed_at=timezone.now(), closed_by=request.user)
        audit.record("case.close", audit.actor_for(request), target=f"case:{case.pk}")
        case.refresh_from_db()
        return Response(CaseSerializer(case, context={"request": request}).data)

    @extend_schema(request=None, responses=CaseSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        """Reopen a closed case: its exports not yet expired are kept again."""
        case = self.get_object()
        Case.objects.filter(pk=case.pk).update(closed_at=None, closed_by=None)
        audit.record("case.reopen", audit.actor_for(request), target=f"case:{case.pk}")
        case.refresh_from_db()
        return Response(CaseSerializer(case, context={"request": request}).data)
