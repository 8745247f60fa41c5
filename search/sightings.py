"""The sighting rule: how the detections of one track fold into its sighting, and when a track is one. Its
one copy.

Both search projections apply it: the database one to ``Sighting`` and ``PendingTrack`` rows, the
Elasticsearch one to the summary documents it keeps per track (as :class:`SightingSummary`), so both
backends give the same answers.

- The span is the earliest and latest detection time; ``detections`` counts them.
- The best detection is the one of highest confidence; the first seen (lowest ``seq``: events arrive in
  order) wins ties. It gives the sighting its confidence, best time, clip position, box and thumbnail.

**Confirmation** (after Frigate's): a track is searched only once it is *confirmed*, so that one-frame false
positives (skis on feet, a traffic cone taken for a fire hydrant) never become sightings. The rule for a
track is its camera's :class:`ConfirmationRule` for its label: the camera's tracked objects
(``backend.cameras.models.TrackedObject``) when it has any, else the site defaults (``SIGHTLINE_TRACKED_LABELS``
and ``SIGHTLINE_CONFIRM_*``). A label without a rule on the camera is not tracked there: never confirmed.

- Every detection folds into the span, the best and ``detections`` as above, confirmed or not.
- A detection *qualifies* when its confidence is at least ``min_score`` and its box (normalised coordinates)
  covers between ``min_area`` and ``max_area`` of the frame, bounds included.
- ``hits`` counts the qualifying detections; ``recent`` keeps the confidences of the last
  :data:`RECENT` of them, oldest first.
- The track becomes ``confirmed`` at the first qualifying detection after which ``hits >= min_hits`` and
  the median of ``recent`` is at least ``threshold``. It then stays confirmed, whatever follows.

Detections fold one at a time in ``seq`` order, and the state (``hits``, ``recent``, ``confirmed``) is kept
with the track, so how the log is cut into batches changes nothing. Unconfirmed tracks stay in the event log;
a change of rules re-projects from it (``search.reprojection``).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
from django.conf import settings

from backend.cameras.models import TrackedObject
from backend.eventlog.models import EventType
from backend.eventlog.schema import (
    EMBEDDING_DIMS,
    PRIVACY_LABELS,
    DetectionRef,
    detection_thumbnail,
    epoch_ms,
)

if TYPE_CHECKING:
    from backend.sightline.config import SightlineSettings

#: How many qualifying confidences a track keeps for the median.
RECENT = 10
#: ``SIGHTLINE_TRACKED_LABELS`` meaning every label.
EVERY_LABEL = "*"


class DetectionEvent(DetectionRef, Protocol):
    """What the rule reads of an ``object.detected`` event."""

    seq: int
    type: int
    time: datetime
    camera_id: int | None
    label: str
    confidence: float | None
    x1: float | None
    y1: float | None
    x2: float | None
    y2: float | None
    model: str
    #: The best detections' named colours (``analysis.colors``: ``upper_color``, ``lower_color``, ``color``).
    data: dict[str, Any]


class SightingFields(Protocol):
    """The attributes the rule maintains (:class:`SightingSummary` has them; the database rows are made
    from one)."""

    camera_id: int
    label: str
    confidence: float
    start_ms: int
    end_ms: int
    duration_ms: int
    detections: int
    best_ms: int
    best_seq: int
    best_clip_id: int
    best_offset_ms: int
    x1: float
    y1: float
    x2: float
    y2: float
    thumbnail: str
    upper_color: str
    lower_color: str
    color: str
    embedding: bytes | None
    hits: int
    recent: list[float]
    confirmed: bool


S = TypeVar("S", bound=SightingFields)


@dataclass(frozen=True, slots=True)
class ConfirmationRule:
    """When the tracks of one label on one camera become sightings (see the module docstring)."""

    label: str
    min_score: float
    threshold: float
    min_hits: int
    min_area: float = 0.0
    max_area: float = 1.0

    def qualifies(self, event: DetectionEvent) -> bool:
        score = event.confidence
        if score is None or score < self.min_score:
            return False
        return self.min_area <= box_area(event) <= self.max_area


def box_area(event: DetectionEvent) -> float:
    """The fraction of the frame the detection's box covers (coordinates are normalised to 0–1)."""
    width = (event.x2 or 0.0) - (event.x1 or 0.0)
    height = (event.y2 or 0.0) - (event.y1 or 0.0)
    return max(width, 0.0) * max(height, 0.0)


def site_rule(label: str, conf: SightlineSettings | None = None) -> ConfirmationRule | None:
    """The site defaults' rule for ``label`` (``conf``: the typed settings, default ``settings.SIGHTLINE``);
    ``None`` when the label is not tracked."""
    if conf is None:
        conf = settings.SIGHTLINE
    tracked = conf.TRACKED_LABELS
    if EVERY_LABEL not in tracked and label not in tracked:
        return None
    return ConfirmationRule(label=label, min_score=conf.CONFIRM_MIN_SCORE, threshold=conf.CONFIRM_THRESHOLD,
                            min_hits=conf.CONFIRM_MIN_HITS, min_area=conf.CONFIRM_MIN_AREA,
                            max_area=conf.CONFIRM_MAX_AREA)


class RuleBook:
    """The confirmation rules of some cameras, read once: a projection loads one per batch.

    ``cameras`` holds the rules of every camera that has tracked objects (by label); any other camera uses
    ``defaults`` (the site's rule for a label, or ``None``).
    """

    def __init__(self, cameras: Mapping[int, Mapping[str, ConfirmationRule]],
                 defaults: Callable[[str], ConfirmationRule | None]) -> None:
        self._cameras = cameras
        self._defaults = defaults
        self._default_rules: dict[str, ConfirmationRule | None] = {}

    @classmethod
    def load(cls, camera_ids: Iterable[int | None]) -> RuleBook:
        """The rules of ``camera_ids`` from their tracked objects, and the site defaults as they are now."""
        ids = sorted({c for c in camera_ids if c})
        cameras: dict[int, dict[str, ConfirmationRule]] = {}
        if ids:
            rows = TrackedObject.objects.filter(camera_id__in=ids).values_list(
                "camera_id", "label", "min_score", "threshold", "min_hits", "min_area", "max_area")
            for camera_id, label, min_score, threshold, min_hits, min_area, max_area in rows:
                cameras.setdefault(camera_id, {})[label] = ConfirmationRule(
                    label=label, min_score=min_score, threshold=threshold, min_hits=min_hits,
                    min_area=min_area, max_area=max_area)
        conf = settings.SIGHTLINE
        return cls(cameras, lambda label: site_rule(label, conf))

    def rule(self, camera_id: int | None, label: str) -> ConfirmationRule | None:
        """The rule for ``label`` on the camera; ``None``: not tracked there, never confirmed."""
        own = self._cameras.get(camera_id or 0)
        if own is not None:
            return own.get(label)
        if label not in self._default_rules:
            self._default_rules[label] = self._defaults(label)
        return self._default_rules[label]


def confirmation_rule(camera_id: int | None, label: str) -> ConfirmationRule | None:
    """The rule for ``label`` on one camera, read now (one query); ``None``: never confirmed there."""
    return RuleBook.load([camera_id]).rule(camera_id, label)


def begin(make: Callable[..., S], track: int, event: DetectionEvent) -> S:
    """An empty, unconfirmed sighting for ``track``, built by ``make`` (:class:`SightingSummary`): fold into it
    next."""
    at = epoch_ms(event.time)
    return make(id=track, camera_id=event.camera_id or 0, label=event.label, model=event.model,
                confidence=-1.0, start_ms=at, end_ms=at, duration_ms=0, detections=0, hits=0, recent=[],
                confirmed=False)


def fold(sighting: S, event: DetectionEvent, rule: ConfirmationRule | None) -> S:
    """Fold one detection of the sighting's track into it (in place) and return it.

    ``rule`` is the track's (:meth:`RuleBook.rule` for its camera and label); ``None`` confirms nothing.
    """
    if event.type == EventType.OBJECT_APPEARANCE:
        # Colours named afterwards: the sighting's, if they are of its best detection still.
        data = event.data or {}
        if data.get("detection_seq") == sighting.best_seq:
            _take_colours(sighting, data)
        return sighting
    at = epoch_ms(event.time)
    if at < sighting.start_ms:
        sighting.start_ms = at
    if at > sighting.end_ms:
        sighting.end_ms = at
    sighting.duration_ms = sighting.end_ms - sighting.start_ms
    sighting.detections += 1
    if event.confidence is not None and event.confidence > sighting.confidence:
        sighting.confidence = event.confidence
        sighting.best_ms = at
        sighting.best_seq = event.seq
        sighting.best_clip_id = event.clip_id or 0
        sighting.best_offset_ms = event.offset_ms or 0
        sighting.x1, sighting.y1 = event.x1 or 0.0, event.y1 or 0.0
        sighting.x2, sighting.y2 = event.x2 or 0.0, event.y2 or 0.0
        sighting.thumbnail = detection_thumbnail(event) or ""
        # The sighting looks like its best detection: its colours, or none when it was not named.
        _take_colours(sighting, event.data or {})
    if rule is not None and rule.qualifies(event):
        sighting.hits += 1
        sighting.recent = [*sighting.recent, float(event.confidence or 0.0)][-RECENT:]
        if (not sighting.confirmed and sighting.hits >= rule.min_hits
                and statistics.median(sighting.recent) >= rule.threshold):
            sighting.confirmed = True
    return sighting


def _take_colours(sighting: SightingFields, data: dict[str, Any]) -> None:
    """The appearance of the detection ``data`` belongs to: its colours and its descriptor (or none)."""
    sighting.upper_color = data.get("upper_color") or ""
    sighting.lower_color = data.get("lower_color") or ""
    sighting.color = data.get("color") or ""
    sighting.embedding = pack_embedding(data.get("embedding"))


def pack_embedding(values: Any) -> bytes | None:
    """An appearance descriptor as stored (little-endian float32), or ``None`` when there is none (or it is
    not ``EMBEDDING_DIMS`` long)."""
    if not isinstance(values, list | tuple) or len(values) != EMBEDDING_DIMS:
        return None
    return np.asarray(values, dtype="<f4").tobytes()


def unpack_embedding(raw: bytes | memoryview | None) -> np.ndarray | None:
    return None if not raw else np.frombuffer(bytes(raw), dtype="<f4")


def folded(events: Iterable[Any]) -> dict[int, list[Any]]:
    """The events a projection folds, by track: tracked detections (never faces or plates) and the colours
    named afterwards (``object.appearance``)."""
    by_track: dict[int, list[Any]] = {}
    for event in events:
        if event.track is None:
            continue
        if ((event.type == EventType.OBJECT_DETECTED and event.label not in PRIVACY_LABELS)
                or event.type == EventType.OBJECT_APPEARANCE):
            by_track.setdefault(event.track, []).append(event)
    return by_track


def starting(events: list[Any]) -> list[Any]:
    """A track's events for a projection that has no summary of it: from its first detection (colours named
    for a track it does not have, e.g. one deleted by retention, change nothing)."""
    for n, event in enumerate(events):
        if event.type == EventType.OBJECT_DETECTED:
            return events[n:]
    return []


@dataclass(slots=True, kw_only=True)
class SightingSummary:
    """A track's state under the rule, outside any table: what the database projection folds into (then
    writes as a ``Sighting`` or ``PendingTrack`` row) and the Elasticsearch summary document.

    ``last_seq`` is the highest event already folded in: a replay after a crash skips what it counted.
    """

    id: int
    camera_id: int
    label: str
    model: str
    confidence: float
    start_ms: int
    end_ms: int
    duration_ms: int
    detections: int
    best_ms: int = 0
    best_seq: int = 0
    best_clip_id: int = 0
    best_offset_ms: int = 0
    x1: float = 0.0
    y1: float = 0.0
    x2: float = 0.0
    y2: float = 0.0
    thumbnail: str = ""
    upper_color: str = ""
    lower_color: str = ""
    color: str = ""
    embedding: bytes | None = None
    hits: int = 0
    recent: list[float] = field(default_factory=list)
    confirmed: bool = False
    last_seq: int = 0

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> SightingSummary:
        # Documents written before the confirmation rule lack its fields: every track was a sighting then.
        return cls(
            id=doc["id"], camera_id=doc["camera_id"], label=doc["label"], model=doc["model"],
            confidence=doc["confidence"], start_ms=doc["start"], end_ms=doc["end"],
            duration_ms=doc["end"] - doc["start"], detections=doc["detections"], best_ms=doc["best"],
            best_seq=doc["best_seq"], best_clip_id=doc["best_clip_id"], best_offset_ms=doc["best_offset_ms"],
            x1=doc["x1"], y1=doc["y1"], x2=doc["x2"], y2=doc["y2"], thumbnail=doc.get("thumbnail") or "",
            upper_color=doc.get("upper_color") or "", lower_color=doc.get("lower_color") or "",
            color=doc.get("color") or "", embedding=pack_embedding(doc.get("embedding")),
            hits=doc.get("hits", doc["detections"]), recent=list(doc.get("recent") or []),
            confirmed=doc.get("confirmed", True), last_seq=doc["last_seq"],
        )

    def to_document(self) -> dict[str, Any]:
        """The summary document (field names of ``indices.sighting_mapping``); no ``embedding`` field when
        there is none (a dense vector cannot be empty)."""
        embedding = unpack_embedding(self.embedding)
        extra = {} if embedding is None else {"embedding": [float(v) for v in embedding]}
        return {**extra,
            "id": self.id, "camera_id": self.camera_id, "label": self.label, "model": self.model,
            "confidence": self.confidence, "start": self.start_ms, "end": self.end_ms, "best": self.best_ms,
            "best_seq": self.best_seq, "best_clip_id": self.best_clip_id, "best_offset_ms": self.best_offset_ms,
            "x1": self.x1, "y1": self.y1, "x2": self.x2, "y2": self.y2, "detections": self.detections,
            "thumbnail": self.thumbnail, "upper_color": self.upper_color, "lower_color": self.lower_color,
            "color": self.color, "hits": self.hits, "recent": list(self.recent),
            "confirmed": self.confirmed, "last_seq": self.last_seq,
        }
