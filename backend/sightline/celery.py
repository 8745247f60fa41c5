"""The Celery application. Workers start with ``celery -A backend.sightline worker -Q analysis``."""

import logging
import os
import threading
import time

from celery import Celery
from celery.signals import setup_logging, worker_process_init, worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.sightline.settings")

app = Celery("sightline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["analysis", "search", "backend.exports"])


@worker_process_init.connect
def _warm_detector(**_: object) -> None:
    """Load the model (and import the pipeline) once per worker process, before the first task arrives."""
    from django.conf import settings

    from analysis.tasks import warm_up

    conf = settings.SIGHTLINE
    if conf.TORCH_THREADS:
        import torch

        torch.set_num_threads(conf.TORCH_THREADS)
    warm_up()


log = logging.getLogger(__name__)
_sweeping = threading.Event()


@setup_logging.connect
def _django_logging(**_: object) -> None:
    """Workers log through Django's ``LOGGING`` (its secret-redaction filter included), not Celery's own
    handlers: connecting this signal stops Celery from replacing the root logger's configuration."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@worker_ready.connect
def _start_job_sweeper(**_: object) -> None:
    """Each worker sweeps the job table (``backend.clips.jobs.sweep``) from its main process, at once and
    every ``SIGHTLINE.JOB_SWEEP_EVERY_S``: lost messages are sent again, dead workers' jobs handed out. It
    applies retention and the disk floor every ``SIGHTLINE.RETENTION_EVERY_S`` (``backend.clips.retention``)."""
    from django.conf import settings

    every = settings.SIGHTLINE.JOB_SWEEP_EVERY_S
    threading.Thread(target=_sweep_forever, args=(every,), name="job-sweeper", daemon=True).start()


@worker_shutdown.connect
def _stop_job_sweeper(**_: object) -> None:
    _sweeping.set()


def _sweep_forever(every: float) -> None:
    from django.conf import settings
    from django.db import close_old_connections, connection

    from backend.clips.jobs import sweep
    from backend.clips.retention import apply_retention
    from backend.exports.jobs import sweep as sweep_renders
    from backend.sightline.redaction import redact

    retention_every = settings.SIGHTLINE.RETENTION_EVERY_S
    last_retention = float("-inf")
    while not _sweeping.is_set():
        try:
            close_old_connections()
            sweep()
            sweep_renders()
            if time.monotonic() - last_retention >= retention_every:
                last_retention = time.monotonic()
                apply_retention()
        except Exception as exc:  # the database or the broker is away: try again at the next sweep
            log.warning("job sweep failed: %s", redact(str(exc)) or exc.__class__.__name__)
        finally:
            connection.close()
        _sweeping.wait(every)
