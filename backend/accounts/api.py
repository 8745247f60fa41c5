from __future__ import annotations

from django.contrib.auth import authenticate, user_logged_in
from drf_spectacular.utils import extend_schema
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from .roles import role_of, visible_camera_ids


class CredentialsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):  # type: ignore[type-arg]
    token = serializers.CharField()
    expiry = serializers.DateTimeField(help_text="Without use until then, the token stops working.")


class TokenView(APIView):
    """``POST``: exchange a user name and password for an API token (``Authorization: Token <key>``), which
    expires after ``SIGHTLINE_API_TOKEN_TTL_H`` without use. ``DELETE``: revoke the token presented.

    Tokens are stored hashed (django-rest-knox). Failed logins are throttled per address and lock a user
    name out from an address after five failures (django-axes: 429 until the cool-off ends).
    """

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    def _method(self) -> str:
        return getattr(getattr(self, "request", None), "method", None) or "POST"  # no request: the schema

    def get_authenticators(self):  # type: ignore[no-untyped-def]
        return [TokenAuthentication()] if self._method() == "DELETE" else []

    def get_permissions(self):  # type: ignore[no-untyped-def]
        return [IsAuthenticated()] if self._method() == "DELETE" else [AllowAny()]

    def get_throttles(self):  # type: ignore[no-untyped-def]
        return super().get_throttles() if self._method() == "POST" else []

    @extend_schema(request=CredentialsSerializer, responses=TokenSerializer)
    def post(self, request: Request) -> Response:
        credentials = CredentialsSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        user = authenticate(request._request, username=credentials.validated_data["username"],
                            password=credentials.validated_data["password"])
        if user is None or not user.is_active:
            raise ValidationError({"detail": "the user name or password is wrong"})
        instance, token = AuthToken.objects.create(user)
        user_logged_in.send(sender=type(user), request=request._request, user=user)  # audited
        return Response({"token": token, "expiry": instance.expiry})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        if isinstance(request.auth, AuthToken):
            request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField()
    cameras = serializers.ListField(child=serializers.IntegerField(), allow_null=True,
                                    help_text="Visible camera ids; null means all cameras.")
    may_unmask = serializers.BooleanField(help_text="May ask for footage unmasked (each time is audited).")


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        ids = visible_camera_ids(request.user)
        from backend.exports.privacy import may_unmask

        return Response({"username": request.user.get_username(), "role": role_of(request.user).name.lower(),
                         "cameras": None if ids is None else sorted(ids), "may_unmask": may_unmask(request.user)})
