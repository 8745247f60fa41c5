"""Django app config for the live feed (no models: the feed is a read-only view of the event log)."""

from __future__ import annotations

from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "backend.live"
    label = "live"
    verbose_name = "Live feed"
