from django.apps import AppConfig


class EventLogConfig(AppConfig):
    name = "backend.eventlog"
    label = "eventlog"
    verbose_name = "Event log"

    def ready(self) -> None:
        # All projection wiring in one place.
        from . import projections

        projections.register_builtin_projections()
