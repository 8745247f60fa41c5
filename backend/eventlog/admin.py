from django.contrib import admin

from .models import Event, ProjectionCheckpoint


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The log is append-only: the admin shows it and changes nothing."""

    list_display = ["seq", "type", "time", "camera_id", "clip_id", "label", "confidence", "track"]
    list_filter = ["type", "label"]
    search_fields = ["key"]
    show_full_result_count = False

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ProjectionCheckpoint)
class ProjectionCheckpointAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "updated_at"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
