"""The Celery application. Workers start with ``celery -A backend.sightline worker -Q analysis``."""

import logging
import os
import threading
import time

from celery import Celery
from celery.signals import (
    setup_logging,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.sightline.settings")

app = Celery("sightline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["analysis", "search", "backend.exports"])
# The synchronous analyse API's task (analysis.analyse_request) lives beside its claim and run.
app.autodiscover_tasks(["analysis"], related_name="on_demand")


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
    # The worker process says it is alive (the queue view and admission control count it; see
    # backend.clips.capacity); the frames/s it measures are written as it analyses.
    from analysis.tasks import meter
    from backend.clips.capacity import start_presence

    start_presence(meter().name)


@worker_process_shutdown.connect
def _leave(**_: object) -> None:
    from analysis.tasks import meter
    from backend.clips.capacity import leave

    try:
        leave(meter().name)
    except Exception as exc:  # the database is away: the row goes stale and is pruned
        log.debug("worker row not removed: %s", exc.__class__.__name__)


log = logging.getLogger(__name__)
_sweeping = threading.Event()


@setup_logging.connect
def _django_logging(**_: object) -> None:
    """Workers log through Django's ``LOGGING`` (JSON lines, the secret-redaction filter included), not
    Celery's own handlers: connecting this signal stops Celery from replacing the root logger's configuration.
    Records say ``role: worker``, and a task's its ``task_id`` (``backend.sightline.logs``)."""
    from django.conf import settings

    from backend.sightline import logs

    logs.set_role(logs.role() or "worker")
    logs.configure_logging(settings.LOGGING)


@worker_ready.connect
def _start_job_sweeper(**_: object) -> None:
    """Each worker sweeps the job table (``backend.clips.jobs.sweep``) from its main process, at once and
    every ``SIGHTLINE.JOB_SWEEP_EVERY_S``: lost messages are sent again, dead workers' jobs handed out, expired
    synchronous analysis requests deleted (``analysis.on_demand.sweep``). It
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

    from analysis.on_demand import sweep as sweep_requests
    from backend.clips.capacity import prune_workers
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
            sweep_requests()
            if time.monotonic() - last_retention >= retention_every:
                last_retention = time.monotonic()
                apply_retention()
                prune_workers()
        except Exception as exc:  # the database or the broker is away: try again at the next sweep
            log.warning("job sweep failed: %s", redact(str(exc)) or exc.__class__.__name__)
        finally:
            connection.close()
        _sweeping.wait(every)
