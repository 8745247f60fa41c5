"""Celery tasks of search (routed to the workers' queue, ``analysis``, by ``CELERY_TASK_ROUTES``).

Tasks take ids and are safe to run twice: a re-projection folds the log again from the same events.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(name="search.reproject_cameras", autoretry_for=(OperationalError,), retry_backoff=True,
             retry_backoff_max=120, retry_jitter=True, max_retries=5)
def reproject_cameras(camera_ids: list[int]) -> str:
    """Re-project the cameras' sightings under their rules as they are now (``search.reprojection``)."""
    from .reprojection import reproject_cameras as run

    return run(camera_ids)
