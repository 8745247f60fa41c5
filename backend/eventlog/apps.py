from django.apps import AppConfig


class EventLogConfig(AppConfig):
    name = "backend.eventlog"
    label = "eventlog"
    verbose_name = "Event log"

    def ready(self) -> None:
        from . import maintenance, signals

        signals.log_appended.connect(maintenance.on_log_appended, dispatch_uid="eventlog.planner-statistics")
