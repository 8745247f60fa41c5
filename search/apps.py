from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"
    label = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        """Register the projections search reads with the event log (which knows none of its consumers), and
        re-project when a camera's confirmation rules change."""
        from django.db.models.signals import post_delete, post_save

        from backend.cameras.models import TrackedObject
        from backend.eventlog import projections

        from . import get_backend
        from .projection import SightingProjection
        from .reprojection import tracked_objects_changed

        # The Sighting table is kept whatever the backend: the live feed and sighting pages read it.
        projections.register(SightingProjection())
        for projection in get_backend().projections():
            projections.register(projection)
        # A camera's confirmation rules changed: re-project what depends on them (search.reprojection).
        post_save.connect(tracked_objects_changed, sender=TrackedObject, dispatch_uid="search-reproject-save")
        post_delete.connect(tracked_objects_changed, sender=TrackedObject, dispatch_uid="search-reproject-delete")
