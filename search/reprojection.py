"""Re-projection after a camera's confirmation rules change: what was hidden may become a sighting, and back.

A change of a camera's tracked objects (``backend.cameras.models.TrackedObject``, saved or deleted by the
admin, the API or anything else) is heard here (``SearchConfig.ready`` connects :func:`tracked_objects_changed`)
and, once its transaction has committed, sent as one Celery task (``search.reproject_cameras``, on the
workers' queue) for all the cameras that transaction changed. The task:

1. re-projects the ``Sighting`` table for those cameras only
   (:meth:`search.projection.SightingProjection.reproject_camera`: one transaction holding the projection's
   checkpoint, the cameras' rows deleted and their detections folded again from the log);
2. rebuilds the search backend's own index where it has one (Elasticsearch: ``rebuild_index``, a new
   generation swapped in without downtime; the live projector's summary cache is per generation, so it
   cannot write a stale summary into the new one). Requests that arrive while a rebuild runs are coalesced
   into one more rebuild after it (a lock in Django's cache: shared through Redis in server mode, per
   process in the embedded default).

``manage.py reproject_camera <id>`` does the same at once. The site defaults come from the environment, which
changes only with a restart: after changing them run ``manage.py rebuild_projections search.sightings``
(and ``manage.py rebuild_search_index`` on Elasticsearch). Nothing is written to the event log: the log
holds what cameras saw, not how it is projected (the admin's changes are audited as usual).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError

from backend.eventlog import projections
from backend.eventlog.models import Event, EventType

log = logging.getLogger(__name__)

_LOCK = "search:rebuild-for-rules"
_AGAIN = "search:rebuild-for-rules:again"
#: Longest a rebuild may hold the lock (a crashed holder frees it after this).
_LOCK_TTL_S = 6 * 3600
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5}


class _Pending(threading.local):
    def __init__(self) -> None:
        self.cameras: set[int] = set()


_pending = _Pending()


def tracked_objects_changed(sender: Any, instance: Any, raw: bool = False, **_: Any) -> None:
    """``post_save`` / ``post_delete`` of a tracked object: re-project its camera after commit."""
    if raw:
        return  # fixtures: loaded data comes with its own projection state
    schedule([instance.camera_id])


def schedule(camera_ids: Iterable[int]) -> None:
    """Re-project these cameras once the current transaction commits (at once outside one).

    All the cameras of one transaction go in one task (an admin page saving five tracked objects rebuilds
    once). A rolled-back transaction's cameras ride along with the next commit: one needless re-projection.
    """
    _pending.cameras.update(camera_ids)
    transaction.on_commit(_dispatch)


def _dispatch() -> None:
    cameras, _pending.cameras = sorted(_pending.cameras), set()
    if not cameras:
        return  # an earlier callback of the same commit sent them
    from .tasks import reproject_cameras

    try:
        reproject_cameras.apply_async(args=[cameras], retry=True, retry_policy=_PUBLISH_RETRY)
    except (BrokerError, ConnectionError, OSError) as exc:
        log.warning("search: could not queue the re-projection of camera(s) %s (%s); search keeps the old "
                    "rules for them until `manage.py reproject_camera` runs", cameras, exc.__class__.__name__)


def reproject_cameras(camera_ids: Iterable[int]) -> str:
    """Re-project the cameras' sightings now, then rebuild the backend's own index if it has one."""
    from . import get_backend
    from .backends.base import RebuildUnsupported
    from .projection import SightingProjection

    projection = projections.registered().get(SightingProjection.name)
    if not isinstance(projection, SightingProjection):
        projection = SightingProjection()
    ids = sorted(set(camera_ids))
    report = []
    for camera_id in ids:
        events = projection.reproject_camera(camera_id)
        report.append(f"camera {camera_id}: {events} detections folded again")
    seen = Event.objects.filter(camera_id__in=ids, type=EventType.OBJECT_DETECTED)
    # Without detections nothing the backend indexed depends on these rules (a new or a deleted camera). The
    # database backend searches the table just re-projected: it has no rebuild of its own.
    if seen.exists():
        with contextlib.suppress(RebuildUnsupported):
            report.append(_rebuild_coalesced(get_backend()))
    return "; ".join(report)


def _rebuild_coalesced(backend: Any) -> str:
    """``backend.rebuild()``, never two at once: a request during a rebuild makes the holder run once more."""
    token = uuid.uuid4().hex
    cache.set(_AGAIN, token, _LOCK_TTL_S)
    if not cache.add(_LOCK, token, _LOCK_TTL_S):
        return "a rebuild is running: it runs again for these rules"
    done = []
    try:
        while cache.get(_AGAIN) is not None:
            cache.delete(_AGAIN)
            done.append(backend.rebuild(batch=projections.DEFAULT_BATCH))
    finally:
        cache.delete(_LOCK)
    if cache.get(_AGAIN) is not None:  # asked for between the last check and the release: run for it
        done.append(_rebuild_coalesced(backend))
    return "; ".join(done)
