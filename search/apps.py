from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"
    label = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        """Register the projections search reads with the event log (which knows none of its consumers)."""
        from backend.eventlog import projections

        from . import get_backend
        from .projection import SightingProjection

        # The Sighting table is kept whatever the backend: the live feed and sighting pages read it.
        projections.register(SightingProjection())
        for projection in get_backend().projections():
            projections.register(projection)
