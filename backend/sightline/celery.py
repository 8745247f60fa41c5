"""The Celery application. Workers start with ``celery -A backend.sightline worker -Q analysis``."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.sightline.settings")

app = Celery("sightline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["analysis"])


@worker_process_init.connect
def _warm_detector(**_: object) -> None:
    """Load the model once per worker process, before the first task arrives."""
    from django.conf import settings

    from analysis.detectors.registry import get_detector

    conf = settings.SIGHTLINE
    if conf.TORCH_THREADS:
        import torch

        torch.set_num_threads(conf.TORCH_THREADS)
    get_detector(conf.DETECTOR)
