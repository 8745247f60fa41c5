from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .roles import role_of, visible_camera_ids


class TokenView(ObtainAuthToken):
    """Exchange a user name and password for an API token (``Authorization: Token <key>``)."""


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField()
    cameras = serializers.ListField(child=serializers.IntegerField(), allow_null=True,
                                    help_text="Visible camera ids; null means all cameras.")


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        ids = visible_camera_ids(request.user)
        return Response({"username": request.user.get_username(), "role": role_of(request.user).name.lower(),
                         "cameras": None if ids is None else sorted(ids)})
