"""Django app config for the live feed (no models: the feed is a read-only view of the event log)."""

from __future__ import annotations

from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "backend.live"
    label = "live"
    verbose_name = "Live feed"

    def ready(self) -> None:
        from backend.eventlog.signals import log_appended

        from . import notify

        log_appended.connect(notify.on_log_appended, dispatch_uid="live.notify")
