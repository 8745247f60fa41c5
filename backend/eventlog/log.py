"""``EventLog.append``: the only way anything is written to the event log.

Appends are idempotent by natural key and ordered: on PostgreSQL every append holds one transaction-scoped
advisory lock, so sequence numbers become visible in commit order and a reader that tails ``seq > N`` never
misses a row that commits late. (SQLite serialises writers by itself; the settings open every transaction
IMMEDIATE.) Inline projections run inside the same transaction, so the embedded default's search index is
never behind the log. Once an append commits, :data:`~backend.eventlog.signals.log_appended` tells whoever
listens (the live feed) that the log grew.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from .models import Event, EventType
from .signals import send_log_appended

#: Arbitrary constant naming the advisory lock that orders appends on PostgreSQL.
_APPEND_LOCK_ID = 0x5167_6874  # "Sght"
_KEY_CHUNK = 500


@dataclass(slots=True)
class NewEvent:
    key: str
    type: EventType
    time: datetime
    camera_id: int | None = None
    clip_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    confidence: float | None = None
    x1: float | None = None
    y1: float | None = None
    x2: float | None = None
    y2: float | None = None
    track: int | None = None
    offset_ms: int | None = None
    model: str = ""

    def to_row(self) -> Event:
        return Event(
            key=self.key, type=int(self.type), time=self.time, camera_id=self.camera_id, clip_id=self.clip_id,
            data=self.data, label=self.label, confidence=self.confidence, x1=self.x1, y1=self.y1, x2=self.x2,
            y2=self.y2, track=self.track, offset_ms=self.offset_ms, model=self.model,
        )


def lock_for_append() -> None:
    """Serialise appenders on PostgreSQL for the rest of the current transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_APPEND_LOCK_ID])


class EventLog:
    @staticmethod
    def append(events: Iterable[NewEvent], *, project: bool = True) -> int:
        """Append ``events`` whose keys are new; return how many were added.

        Events whose key is already in the log are dropped silently: that is what makes a redelivered task
        harmless. ``project`` runs the inline projections before the transaction commits.
        """
        from . import projections

        batch: Sequence[NewEvent] = list(events)
        with transaction.atomic():
            lock_for_append()
            existing: set[str] = set()
            keys = [e.key for e in batch]
            for start in range(0, len(keys), _KEY_CHUNK):
                existing.update(
                    Event.objects.filter(key__in=keys[start:start + _KEY_CHUNK]).values_list("key", flat=True)
                )
            seen: set[str] = set()
            rows = []
            for event in batch:
                if event.key in existing or event.key in seen:
                    continue
                seen.add(event.key)
                rows.append(event.to_row())
            if rows:
                Event.objects.bulk_create(rows, batch_size=_KEY_CHUNK, ignore_conflicts=True)
            if project and rows:
                projections.catch_up_inline(len(rows))
            if rows:  # A hint to readers once this commits (they re-read the log); never fails the append.
                head = EventLog.head()
                transaction.on_commit(lambda: send_log_appended(head))
        return len(rows)

    @staticmethod
    def head() -> int:
        """The highest sequence number in the log (0 when empty)."""
        last = Event.objects.order_by("-seq").values_list("seq", flat=True).first()
        return last or 0
