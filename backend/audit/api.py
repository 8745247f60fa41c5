"""``GET /api/v1/audit/``: the audit trail for admins, newest first, filterable by action, user and time."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts.roles import Role, role_of

from .models import AuditEntry


class IsAuditor(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return role_of(request.user) >= Role.ADMIN


class AuditEntrySerializer(serializers.Serializer):  # type: ignore[type-arg]
    seq = serializers.IntegerField()
    time = serializers.DateTimeField()
    action = serializers.CharField()
    user_id = serializers.IntegerField(allow_null=True)
    username = serializers.CharField()
    ip = serializers.CharField()
    user_agent = serializers.CharField()
    target = serializers.CharField()
    details = serializers.DictField()
    hash = serializers.CharField()


class AuditParamsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    action = serializers.CharField(max_length=64, required=False, allow_blank=True)
    username = serializers.CharField(max_length=150, required=False, allow_blank=True)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    cursor = serializers.CharField(required=False, allow_blank=True)


class _Pages(CursorPagination):
    ordering = "-seq"
    page_size = 100


def entry_to_dict(entry: AuditEntry) -> dict[str, Any]:
    data = entry.data if isinstance(entry.data, dict) else {}
    return {"seq": entry.seq, "time": entry.time, **{k: data.get(k, "") for k in (
        "action", "username", "ip", "user_agent", "target", "hash")},
        "user_id": data.get("user_id"), "details": data.get("details") or {}}


class AuditListView(APIView):
    permission_classes = [IsAuditor]

    @extend_schema(parameters=[
        OpenApiParameter("action", str, description="Only this action (login, search, camera.change…)."),
        OpenApiParameter("username", str, description="Only this user's entries."),
        OpenApiParameter("since", str, description="ISO time, inclusive."),
        OpenApiParameter("until", str, description="ISO time, exclusive."),
    ], responses=AuditEntrySerializer(many=True))
    def get(self, request: Request) -> Response:
        form = AuditParamsSerializer(data={k: request.query_params.get(k) for k in request.query_params})
        form.is_valid(raise_exception=True)  # DRF's CharField refuses NUL characters (PostgreSQL cannot hold them)
        params = form.validated_data
        qs = AuditEntry.objects.all()
        if params.get("action"):
            qs = qs.filter(data__action=params["action"])
        if params.get("username"):
            qs = qs.filter(data__username=params["username"])
        if params.get("since"):
            qs = qs.filter(time__gte=params["since"])
        if params.get("until"):
            qs = qs.filter(time__lt=params["until"])
        paginator = _Pages()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response([entry_to_dict(e) for e in page or []])
