from django.contrib import admin

from .models import Sighting


@admin.register(Sighting)
class SightingAdmin(admin.ModelAdmin):
    """Read-only: sightings are a projection of the event log."""

    list_display = ["id", "label", "confidence", "camera_id", "start_ms", "detections"]
    list_filter = ["label"]
    show_full_result_count = False

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
