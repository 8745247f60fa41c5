"""``/api/v1/cameras/``: CRUD for admins, read-only (visible cameras) for everyone else.

The password is write-only: it is accepted, encrypted and never returned; ``has_password`` says whether
one is set. The stream address and user name are shown to admins only (and addresses are cut out of
``last_error`` for everyone else). An empty string clears it; leaving the field out keeps it.

The live state (``state``, ``last_seen_at``, ``last_error``) is written by the recorder and read-only here.
``tracked_objects`` (the camera's confirmation rules, edited in the admin; empty: the site defaults) is
read-only and shown to admins only, like the address. ``has_live_view`` says, to everyone, whether the camera
can be watched live (``…/live/index.m3u8``): live view on, camera enabled, a stream address.
``status`` and ``problem`` say what the camera is doing in plain words, read from the recorder's state and the
camera's lease (:mod:`backend.cameras.status`: never "recording" when no recorder holds it); ``last_error``
keeps the recorder's raw reason. ``POST /cameras/{id}/test/`` probes the stream (admins);
``GET /cameras/{id}/gaps/`` lists recording gaps from the event log. Error messages are redacted: they never
carry the stream URL's password.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backend.accounts.permissions import ReadAnyWriteAdmin
from backend.accounts.roles import Role, restrict_to_visible, role_of
from backend.eventlog.models import Event, EventType

from .models import Camera, TrackedObject
from .status import Status, camera_problem, camera_status

_ADDRESS = re.compile(r"\brtsps?://\S+", re.IGNORECASE)


class TrackedObjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrackedObject
        fields = ["label", "min_score", "threshold", "min_hits", "min_area", "max_area"]
        read_only_fields = fields


class CameraSerializer(serializers.ModelSerializer):
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=256,
                                     style={"input_type": "password"})
    has_password = serializers.BooleanField(read_only=True)
    tracked_objects = TrackedObjectSerializer(many=True, read_only=True, help_text=(
        "Labels this camera tracks and when their tracks become sightings (admins only; empty: the site "
        "defaults)."))
    has_live_view = serializers.SerializerMethodField(help_text=(
        "Whether it can be watched live: live view on, the camera enabled and streaming (not uploaded footage)."))
    status = serializers.SerializerMethodField(help_text=(
        "What it is doing now: recording, reconnecting, error, offline (no recorder holds it, or not connected "
        "yet), disabled, or uploads (no stream: its footage is uploaded)."))
    problem = serializers.SerializerMethodField(help_text=(
        "What is wrong, in plain words (empty when nothing is); the raw reason is last_error."))

    class Meta:
        model = Camera
        fields = ["id", "name", "site", "stream_address", "username", "password", "has_password", "enabled",
                  "analysis_fps", "retention_days", "privacy_mask", "created_at", "state", "last_seen_at", "last_error",
                  "status", "problem", "tracked_objects", "has_live_view"]
        read_only_fields = ["created_at", "state", "last_seen_at", "last_error"]

    @extend_schema_field(serializers.ChoiceField(choices=Status.choices))
    def get_status(self, instance: Camera) -> str:
        return camera_status(instance).value

    def get_problem(self, instance: Camera) -> str:
        return camera_problem(instance)

    def get_has_live_view(self, instance: Camera) -> bool:
        return bool(settings.SIGHTLINE.LIVE_VIEW and instance.enabled and instance.stream_address)

    def to_representation(self, instance: Camera) -> dict:  # type: ignore[type-arg]
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or role_of(request.user) < Role.ADMIN:
            # Where a camera is and how to log in to it are for admins: others see state, never the way in.
            data.pop("stream_address", None)
            data.pop("username", None)
            data.pop("tracked_objects", None)
            data["last_error"] = _ADDRESS.sub("the camera's address", data.get("last_error") or "")
        return data

    def create(self, validated_data: dict) -> Camera:  # type: ignore[type-arg]
        password = validated_data.pop("password", None)
        camera = Camera(**validated_data)
        if password:
            camera.set_password(password)
        camera.save()
        return camera

    def update(self, instance: Camera, validated_data: dict) -> Camera:  # type: ignore[type-arg]
        password = validated_data.pop("password", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        if password is not None:
            instance.set_password(password)
        instance.save()
        return instance


class StreamCheckSerializer(serializers.Serializer):  # type: ignore[type-arg]
    ok = serializers.BooleanField()
    message = serializers.CharField()
    codec = serializers.CharField(allow_blank=True)
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    fps = serializers.FloatField(allow_null=True)
    seconds = serializers.FloatField()


class GapSerializer(serializers.Serializer):  # type: ignore[type-arg]
    seq = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    seconds = serializers.FloatField(allow_null=True)


class CameraViewSet(viewsets.ModelViewSet):
    serializer_class = CameraSerializer
    permission_classes = [ReadAnyWriteAdmin]
    filterset_fields = ["site", "enabled"]
    pagination_class = None

    def get_queryset(self) -> QuerySet[Camera]:
        cameras = Camera.objects.order_by("name").prefetch_related("tracked_objects")
        return restrict_to_visible(cameras, self.request.user, field="id")

    @extend_schema(request=None, responses=StreamCheckSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Open the camera's stream now: codec, size and frame rate, or why it failed (redacted)."""
        from backend.recorder.probe import check_stream

        result = check_stream(self.get_object())
        return Response(StreamCheckSerializer(result.as_dict()).data)

    @extend_schema(responses=GapSerializer(many=True))
    @action(detail=True, methods=["get"])
    def gaps(self, request: Request, pk: str | None = None) -> Response:
        """Recording gaps of this camera (newest first, at most 500), from ``camera.gap`` events."""
        camera = self.get_object()
        events = (Event.objects.filter(camera_id=camera.pk, type=EventType.RECORDING_GAP)
                  .order_by("-seq")[:500])
        rows = [{"seq": e.seq, "start": e.data.get("start"), "end": e.data.get("end"),
                 "seconds": e.data.get("seconds")} for e in events]
        return Response(GapSerializer(rows, many=True).data)
