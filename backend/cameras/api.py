"""``/api/v1/cameras/``: CRUD for admins, read-only (visible cameras) for everyone else.

The password is write-only: it is accepted, encrypted and never returned; ``has_password`` says whether
one is set. An empty string clears it; leaving the field out keeps it.
"""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import serializers, viewsets

from backend.accounts.permissions import ReadAnyWriteAdmin
from backend.accounts.roles import visible_camera_ids

from .models import Camera


class CameraSerializer(serializers.ModelSerializer):
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=256,
                                     style={"input_type": "password"})
    has_password = serializers.BooleanField(read_only=True)

    class Meta:
        model = Camera
        fields = ["id", "name", "site", "stream_address", "username", "password", "has_password", "enabled",
                  "analysis_fps", "retention_days", "created_at"]
        read_only_fields = ["created_at"]

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


class CameraViewSet(viewsets.ModelViewSet):
    serializer_class = CameraSerializer
    permission_classes = [ReadAnyWriteAdmin]
    filterset_fields = ["site", "enabled"]
    pagination_class = None

    def get_queryset(self) -> QuerySet[Camera]:
        qs = Camera.objects.order_by("name")
        ids = visible_camera_ids(self.request.user)
        return qs if ids is None else qs.filter(id__in=ids)
