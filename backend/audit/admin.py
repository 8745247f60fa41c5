from __future__ import annotations

from django.contrib import admin

from backend.sightline.admin import ReadOnlyAdmin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Read-only: the trail is written by Sightline alone (``manage.py verify_audit`` checks it)."""

    list_display = ["seq", "time", "action", "username", "ip", "target"]
    search_fields = ["data__username", "data__action", "data__target"]
    readonly_fields = ["seq", "key", "time", "data"]
    fields = readonly_fields

    @admin.display(description="action")
    def action(self, entry: AuditEntry) -> str:
        return str(entry.data.get("action", ""))

    @admin.display(description="user")
    def username(self, entry: AuditEntry) -> str:
        return str(entry.data.get("username", ""))

    @admin.display(description="from")
    def ip(self, entry: AuditEntry) -> str:
        return str(entry.data.get("ip", ""))

    @admin.display(description="target")
    def target(self, entry: AuditEntry) -> str:
        return str(entry.data.get("target", ""))
