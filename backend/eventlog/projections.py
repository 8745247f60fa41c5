"""Projections: read models derived from the event log, each with a checkpoint and a rebuild from zero.

A projection consumes events in sequence order. Its checkpoint says how far it has read. A *transactional*
projection writes to the same database as the log and saves its checkpoint in the same transaction as its
effects, so it applies each event exactly once and resumes after a crash where it stopped. A
non-transactional one (an external index) must make its writes idempotent, since after a crash it replays
from its last saved checkpoint.

Consumers register their projections themselves, from their app's ``AppConfig.ready()`` (:func:`register`):
this package imports nothing from the apps that read the log.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import Event, ProjectionCheckpoint

log = logging.getLogger(__name__)

DEFAULT_BATCH = 2000

#: The columns a projection reads. Rows come as named tuples with the model's attribute names (``seq``,
#: ``camera_id``…): several times cheaper than model instances, which matters at tens of thousands of events a
#: second. ``data`` is left out: no projection here needs it.
PROJECTED_FIELDS = ("seq", "key", "type", "time", "camera_id", "clip_id", "label", "confidence", "x1", "y1", "x2",
                    "y2", "track", "offset_ms", "model", "data")


class Projection(ABC):
    #: Unique, stable name: the checkpoint's primary key.
    name: str
    #: Effects live in the log's database and commit with the checkpoint; such a projection runs inside
    #: every append's transaction when ``SIGHTLINE.PROJECT_INLINE`` is on (the embedded default).
    transactional: bool = True
    #: Events read per batch (one transaction, one checkpoint write, and for external indices one bulk request).
    batch_size: int = DEFAULT_BATCH

    @abstractmethod
    def apply(self, events: Sequence[Event]) -> None:
        """Apply events in sequence order. Must tolerate types it does not care about.

        ``events`` carry the attributes named in :data:`PROJECTED_FIELDS` (model instances or lighter rows).
        """

    @abstractmethod
    def reset(self) -> None:
        """Drop everything this projection built (its checkpoint is reset by the runner)."""


_registry: dict[str, Projection] = {}


def register(projection: Projection) -> None:
    """Add (or replace, by name) a projection: called from the consuming app's ``ready()``."""
    _registry[projection.name] = projection


def registered() -> dict[str, Projection]:
    return dict(_registry)


def get(name: str) -> Projection:
    try:
        return _registry[name]
    except KeyError:
        raise KeyError(f"unknown projection {name!r}; known: {', '.join(sorted(_registry))}") from None


def _checkpoint_for_update(name: str) -> ProjectionCheckpoint:
    checkpoint, _ = ProjectionCheckpoint.objects.get_or_create(name=name)
    if connection.vendor == "postgresql":
        checkpoint = ProjectionCheckpoint.objects.select_for_update().get(name=name)
    return checkpoint


def locked_position(name: str) -> int:
    """Inside a transaction: lock the projection's checkpoint row until it ends (none of the projection's
    batches runs meanwhile; SQLite's ``IMMEDIATE`` transactions serialise writers anyway) and return how far
    the projection has read. For work that must see the projection stand still (a partial re-projection)."""
    if not connection.in_atomic_block:
        raise RuntimeError("locked_position() holds the lock only inside transaction.atomic()")
    return _checkpoint_for_update(name).position


def position(name: str) -> int:
    return ProjectionCheckpoint.objects.filter(name=name).values_list("position", flat=True).first() or 0


def catch_up(projection: Projection, *, batch: int | None = None, limit: int | None = None) -> int:
    """Apply every event after the checkpoint (at most ``limit``); return how many events were read.

    A transactional projection applies each batch and moves its checkpoint in one transaction. A
    non-transactional one (an external index) is never called inside a database transaction: it reads the
    batch, writes it out, then moves its checkpoint in a short transaction, only if nobody moved it
    meanwhile (a rebuild swapping generations; its writes are then replayed from the new position, and are
    idempotent anyway).
    """
    batch = batch or projection.batch_size
    done = 0
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        step = _transactional_batch if projection.transactional else _external_batch
        read = step(projection, size)
        done += read
        if read < size:
            break
    return done


def _events_after(position: int, batch: int) -> list[Any]:
    return list(Event.objects.filter(seq__gt=position).order_by("seq")
                .values_list(*PROJECTED_FIELDS, named=True)[:batch])


def _transactional_batch(projection: Projection, batch: int) -> int:
    with transaction.atomic():
        checkpoint = _checkpoint_for_update(projection.name)
        events = _events_after(checkpoint.position, batch)
        if events:
            projection.apply(events)
            checkpoint.position = events[-1].seq
            checkpoint.save(update_fields=["position", "updated_at"])
    return len(events)


def _external_batch(projection: Projection, batch: int) -> int:
    start = ProjectionCheckpoint.objects.get_or_create(name=projection.name)[0].position
    events = _events_after(start, batch)
    if not events:
        return 0
    projection.apply(events)  # network calls: outside any transaction, so appends never wait for them
    moved = ProjectionCheckpoint.objects.filter(name=projection.name, position=start).update(
        position=events[-1].seq, updated_at=timezone.now())
    if not moved:
        log.info("projection %s: checkpoint moved during a batch (a rebuild); resuming from it", projection.name)
    return len(events)


#: Events an append replays into the inline projections beyond its own: after a checkpoint reset the rest
#: is left to ``rebuild_projections`` or ``run_projector``, never to one append's transaction.
INLINE_BACKLOG = DEFAULT_BATCH


def catch_up_inline(appended: int) -> None:
    """Run the inline projections now, inside an append's transaction: its ``appended`` events and at most
    :data:`INLINE_BACKLOG` more."""
    if not settings.SIGHTLINE.PROJECT_INLINE:
        return
    for projection in _registry.values():
        if projection.transactional:
            catch_up(projection, limit=appended + INLINE_BACKLOG)


def rebuild(projection: Projection, *, batch: int | None = None) -> int:
    """Drop the projection and replay the whole log into it."""
    with transaction.atomic():
        checkpoint = _checkpoint_for_update(projection.name)
        projection.reset()
        checkpoint.position = 0
        checkpoint.save(update_fields=["position", "updated_at"])
    return catch_up(projection, batch=batch)


def lag(name: str) -> int:
    """How many events the projection has still to read."""
    return Event.objects.filter(seq__gt=position(name)).count()
