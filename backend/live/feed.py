"""The live feed's reads of the event log: synchronous, run by the consumer in Django's DB thread.

A client's position is a sequence number; :func:`read_batch` turns the events after it into the messages
of the WebSocket protocol and says how far it has read. Because the log becomes visible in ``seq`` order
(see ``backend.eventlog.log``), "everything up to ``bound`` has been read" is final: an event that commits
later always has a higher ``seq``. That is what makes a resumed feed exactly-once.

This module must never build a message for a camera outside the ``visible`` set it is given, and it never
writes. Work per batch is bounded: one query for the events (at most ``limit``), one for the sightings of
all their tracks, one for camera names, one for the source of their best clips.

Uploaded footage: a sighting message says where its best moment was filmed, ``"source": "recording"`` (a
camera's recorder, so it happened moments ago) or ``"upload"`` (footage someone uploaded, maybe from last
week; ``null`` for a clip that is gone). Uploads are marked, not left out: an officer who uploads footage
watches its sightings arrive here, and an integrator who wants only what happens now drops ``upload``. The
client shows the footage's own time.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q

from backend.accounts.roles import requested_and_visible, visible_camera_ids
from backend.cameras.models import Camera
from backend.clips.models import Clip
from backend.eventlog import projections
from backend.eventlog.log import EventLog
from backend.eventlog.models import Event, EventType
from backend.eventlog.schema import PRIVACY_LABELS
from search.backends.database import sighting_hit
from search.models import Sighting
from search.projection import SightingProjection
from search.representation import sighting_to_dict

from .params import FeedParams

#: Events read per query: bounds memory and the time one client holds the DB thread.
BATCH = 500
#: A reconnecting client is replayed at most this many log events; older ones are announced as a gap.
REPLAY_LIMIT = 2000

PROGRESS_TYPES = (EventType.ANALYSIS_STARTED, EventType.ANALYSIS_PROGRESS, EventType.ANALYSIS_COMPLETED,
                  EventType.ANALYSIS_FAILED)
_STATUS = {EventType.ANALYSIS_STARTED: "analysing", EventType.ANALYSIS_PROGRESS: "analysing",
           EventType.ANALYSIS_COMPLETED: "done", EventType.ANALYSIS_FAILED: "failed"}
_FIELDS = ("seq", "type", "camera_id", "clip_id", "track", "data")

Message = dict[str, Any]


class AccessRevoked(Exception):
    """The user was deleted or deactivated while connected."""


def readable_head() -> int:
    """The highest ``seq`` the feed may read: the log head, or the sighting projection's checkpoint if that
    is behind (a detection is sent with its sighting's state, which does not exist before the projection has
    read the detection). With inline projections (the default) they are the same, except while a rebuild
    replays the log.
    """
    head = EventLog.head()
    return min(head, projections.position(SightingProjection.name))


def replay_start(after: int, head: int) -> int | None:
    """Where replay must start so that at most :data:`REPLAY_LIMIT` events follow; ``None``: at ``after``.

    One index-only scan of the newest ``REPLAY_LIMIT + 1`` keys; ``seq`` may have holes, so counting
    sequence numbers instead of rows would be wrong.
    """
    older = (Event.objects.filter(seq__gt=after, seq__lte=head).order_by("-seq")
             .values_list("seq", flat=True)[REPLAY_LIMIT:REPLAY_LIMIT + 1])
    return next(iter(older), None)


def load_visibility(user_id: int) -> frozenset[int] | None:
    """The cameras the user may see now, from a fresh fetch (``roles`` caches on the user object)."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise AccessRevoked(user_id)
    return visible_camera_ids(user)


@dataclass(slots=True)
class Batch:
    messages: list[Message] = field(default_factory=list)
    #: Every event with ``seq <= position`` has been considered (sent or deliberately skipped).
    position: int = 0
    #: The bound this read went up to (the readable head when the caller gave none).
    bound: int = 0


def _can_see(visible: frozenset[int] | None, camera_id: int | None) -> bool:
    return visible is None or (camera_id is not None and camera_id in visible)


def progress_message(event: Event) -> Message:
    kind = EventType(event.type)
    data = event.data or {}
    if kind is EventType.ANALYSIS_PROGRESS:
        progress = float(data.get("progress", 0.0))
    else:
        # Started: nothing done yet. Completed or failed: the analysis is over either way.
        progress = 0.0 if kind is EventType.ANALYSIS_STARTED else 1.0
    return {"type": "progress", "seq": event.seq, "clip": event.clip_id, "camera": event.camera_id,
            "status": _STATUS[kind], "progress": progress,
            "error": str(data.get("reason", "")) if kind is EventType.ANALYSIS_FAILED else ""}


def read_batch(params: FeedParams, visible: frozenset[int] | None, position: int, bound: int | None = None,
               *, limit: int = BATCH) -> Batch:
    """Messages for the matching events in ``(position, bound]``, at most ``limit`` events' worth."""
    if bound is None:
        bound = readable_head()
    if bound <= position:
        return Batch(position=position, bound=bound)
    cameras = requested_and_visible(params.cameras, visible)
    if cameras is not None and not cameras:
        return Batch(position=bound, bound=bound)  # The user can see none of the cameras asked for.
    # Faces and plates never have a sighting to send: left out here so they do not fill batches.
    detections = Q(type=EventType.OBJECT_DETECTED, track__isnull=False) & ~Q(label__in=sorted(PRIVACY_LABELS))
    if params.tags:
        detections &= Q(label__in=params.tags)
    wanted = detections | Q(type__in=PROGRESS_TYPES)  # Progress ignores the tag filter.
    events = Event.objects.filter(wanted, seq__gt=position, seq__lte=bound)
    if cameras is not None:
        events = events.filter(camera_id__in=sorted(cameras))
    rows = list(events.order_by("seq").only(*_FIELDS)[:limit])
    # A full batch may stop short of the bound; a short one has read everything up to it.
    reached = rows[-1].seq if len(rows) == limit else bound
    return Batch(messages=_messages(rows, params, visible), position=reached, bound=bound)


def _messages(rows: Collection[Event], params: FeedParams, visible: frozenset[int] | None) -> list[Message]:
    tracks = {e.track for e in rows if e.type == EventType.OBJECT_DETECTED}
    sightings = Sighting.objects.in_bulk(list(tracks)) if tracks else {}
    camera_ids = {s.camera_id for s in sightings.values()}
    names = dict(Camera.objects.filter(id__in=camera_ids).values_list("id", "name")) if camera_ids else {}
    clip_ids = {s.best_clip_id for s in sightings.values()}
    sources = dict(Clip.objects.filter(id__in=clip_ids).values_list("id", "source")) if clip_ids else {}
    messages: list[Message] = []
    for event in rows:
        # Checked again per message, on the event's and on the sighting's camera: the SQL filter is the
        # fast path, this is the guarantee.
        if not _can_see(visible, event.camera_id):
            continue
        if event.type != EventType.OBJECT_DETECTED:
            messages.append(progress_message(event))
            continue
        sighting = sightings.get(event.track)  # type: ignore[arg-type]
        # Missing: not confirmed (yet: its detections before the confirming one are never sent; see
        # search.sightings), or dropped by retention since. The filter applies to the sighting's *current* best.
        if sighting is None or sighting.confidence < params.min_confidence:
            continue
        if not _can_see(visible, sighting.camera_id) or (params.cameras and sighting.camera_id not in params.cameras):
            continue
        messages.append({"type": "sighting", "seq": event.seq,
                         "source": sources.get(sighting.best_clip_id),
                         "sighting": sighting_to_dict(sighting_hit(sighting), names)})
    return messages
