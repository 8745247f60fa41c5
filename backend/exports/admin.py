"""Cases and exports in the Django admin: cases editable (title, note, open or closed), exports read-only
(they are made through the API, which checks masking and audits them)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from backend.sightline.admin import ReadOnlyAdmin

from .models import Case, Export


class ExportInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Export
    fields = ["id", "camera", "start", "end", "masking", "status", "sha256"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["title", "created_by", "created_at", "closed_at"]
    search_fields = ["title", "note"]
    fields = ["title", "note", "created_by", "created_at", "closed_at", "closed_by"]
    readonly_fields = ["created_by", "created_at", "closed_at", "closed_by"]
    inlines = [ExportInline]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # evidence: a case is closed, never deleted


@admin.register(Export)
class ExportAdmin(ReadOnlyAdmin):
    list_display = ["id", "camera", "start", "end", "masking", "burn_boxes", "status", "case", "created_by"]
    list_filter = ["status", "masking", "camera"]
    readonly_fields = [f.name for f in Export._meta.fields]
    fields = readonly_fields
