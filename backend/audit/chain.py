"""The audit trail: who did what, when and from where, as hash-chained ``audit`` events in the event log.

Each entry's ``data`` holds the action, the user (id and name), the client address and user agent, the
target and details (search filters, changed field names: never values of secret fields), ``prev`` (the
previous entry's hash) and ``hash``: SHA-256 over the entry's key, time and every other field, canonical
JSON. Entries are chained under the event log's append lock, so concurrent writers cannot fork the chain.
:class:`AuditHead` keeps the newest hash, so removing the newest entries is caught too; :func:`verify`
(``manage.py verify_audit``) finds any edited, removed or reordered entry.

What the chain proves: that nobody changed the trail through Sightline or by editing rows without
recomputing every later hash and the head. Someone with full database write access could rewrite all of
it; shipping the head hash elsewhere (it is logged at every verification) narrows that.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from backend.eventlog.log import EventLog, NewEvent, lock_for_append
from backend.eventlog.models import Event, EventType

from .models import AuditHead

GENESIS = "0" * 64


def _digest(key: str, time: datetime, data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "hash"}
    canonical = json.dumps({"key": key, "time": time.astimezone(UTC).isoformat(timespec="microseconds"),
                            "data": body}, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int | None = None
    username: str = ""
    ip: str = ""
    user_agent: str = ""


def record(action: str, actor: Actor, *, target: str = "", details: dict[str, Any] | None = None) -> None:
    """Append one audit entry, chained to the previous one."""
    now = timezone.now()
    data: dict[str, Any] = {"action": action, "user_id": actor.user_id, "username": actor.username[:150],
                            "ip": actor.ip[:64], "user_agent": actor.user_agent[:200], "target": target[:200],
                            "details": details or {}}
    key = f"audit:{uuid.uuid4().hex}"
    with transaction.atomic():
        lock_for_append()  # the chain needs one writer at a time (SQLite: the transaction is IMMEDIATE)
        head = AuditHead.objects.select_for_update().filter(pk=1).first()
        data["prev"] = head.hash if head is not None else GENESIS
        data["hash"] = _digest(key, now, data)
        EventLog.append([NewEvent(key=key, type=EventType.AUDIT, time=now, data=data)], project=False)
        AuditHead.objects.update_or_create(pk=1, defaults={"hash": data["hash"], "entries": (
            (head.entries if head is not None else 0) + 1)})


def entries() -> Iterator[Event]:
    return Event.objects.filter(type=EventType.AUDIT).order_by("seq").iterator(chunk_size=2000)


@dataclass(frozen=True, slots=True)
class Verification:
    entries: int
    problems: list[str]
    head: str

    @property
    def intact(self) -> bool:
        return not self.problems


def verify() -> Verification:
    """Walk the whole chain; every edited, missing or reordered entry is named in ``problems``."""
    problems: list[str] = []
    previous, count = GENESIS, 0
    for event in entries():
        count += 1
        data = event.data if isinstance(event.data, dict) else {}
        if _digest(event.key, event.time, data) != data.get("hash"):
            problems.append(f"entry #{event.seq} ({data.get('action', '?')}) was changed after it was written")
        if data.get("prev") != previous:
            problems.append(f"the entry before #{event.seq} was removed or the entries were reordered")
        previous = str(data.get("hash", ""))
    head = AuditHead.objects.filter(pk=1).first()
    if head is not None and (head.hash != previous or head.entries != count):
        problems.append(f"the newest entries were removed: the head says {head.entries} entries ending in "
                        f"{head.hash[:12]}…, the log holds {count} ending in {previous[:12]}…")
    if head is None and count:
        problems.append("the chain's head record is missing")
    return Verification(count, problems, previous)
