"""Django app configuration of the recorder (no models of its own: its state lives on the Camera row)."""

from django.apps import AppConfig


class RecorderAppConfig(AppConfig):
    name = "backend.recorder"
    label = "recorder"
    verbose_name = "Recorder"
