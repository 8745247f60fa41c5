from django.apps import AppConfig


class AnalyzeConfig(AppConfig):
    name = "backend.analyze"
    label = "analyze"
    verbose_name = "Synchronous analysis"
