"""Synchronous analysis requests in the Django admin: read-only (the API creates them, workers finish them)."""

from __future__ import annotations

from django.contrib import admin

from backend.sightline.admin import ReadOnlyAdmin

from .models import AnalysisRequest


@admin.register(AnalysisRequest)
class AnalysisRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "status", "requested_by", "frames_analysed", "frames_expected", "created_at",
                    "finished_at", "expires_at"]
    list_filter = ["status", "kind"]
    readonly_fields = [f.name for f in AnalysisRequest._meta.fields]
    fields = readonly_fields
