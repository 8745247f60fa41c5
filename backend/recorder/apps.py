"""Django app configuration of the recorder (its state lives on the Camera row; its one model says who watches live)."""

from django.apps import AppConfig


class RecorderAppConfig(AppConfig):
    name = "backend.recorder"
    label = "recorder"
    verbose_name = "Recorder"
