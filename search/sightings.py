"""The sighting rule: how the detections of one track fold into its sighting. Its one copy.

Both search projections apply it: the database one to ``Sighting`` rows, the Elasticsearch one to the
summary documents it keeps per track (as :class:`SightingSummary`), so both backends give the same answers.

- The span is the earliest and latest detection time; ``detections`` counts them.
- The best detection is the one of highest confidence; the first seen (lowest ``seq``: events arrive in
  order) wins ties. It gives the sighting its confidence, best time, clip position, box and thumbnail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from backend.eventlog.schema import DetectionRef, detection_thumbnail, epoch_ms


class DetectionEvent(DetectionRef, Protocol):
    """What the rule reads of an ``object.detected`` event."""

    seq: int
    time: datetime
    camera_id: int | None
    label: str
    confidence: float | None
    x1: float | None
    y1: float | None
    x2: float | None
    y2: float | None
    model: str


class SightingFields(Protocol):
    """The attributes the rule maintains (a ``Sighting`` row and a :class:`SightingSummary` both have them)."""

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


S = TypeVar("S", bound=SightingFields)


def begin(make: Callable[..., S], track: int, event: DetectionEvent) -> S:
    """An empty sighting for ``track``, built by ``make`` (a model class or a dataclass): fold into it next."""
    at = epoch_ms(event.time)
    return make(id=track, camera_id=event.camera_id or 0, label=event.label, model=event.model,
                confidence=-1.0, start_ms=at, end_ms=at, duration_ms=0, detections=0)


def fold(sighting: S, event: DetectionEvent) -> S:
    """Fold one detection of the sighting's track into it (in place) and return it."""
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
    return sighting


@dataclass(slots=True, kw_only=True)
class SightingSummary:
    """A sighting outside the database (the Elasticsearch summary document), with the rule's attributes.

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
    last_seq: int = 0

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> SightingSummary:
        return cls(
            id=doc["id"], camera_id=doc["camera_id"], label=doc["label"], model=doc["model"],
            confidence=doc["confidence"], start_ms=doc["start"], end_ms=doc["end"],
            duration_ms=doc["end"] - doc["start"], detections=doc["detections"], best_ms=doc["best"],
            best_seq=doc["best_seq"], best_clip_id=doc["best_clip_id"], best_offset_ms=doc["best_offset_ms"],
            x1=doc["x1"], y1=doc["y1"], x2=doc["x2"], y2=doc["y2"], thumbnail=doc.get("thumbnail") or "",
            last_seq=doc["last_seq"],
        )

    def to_document(self) -> dict[str, Any]:
        """The summary document (field names of ``indices.sighting_mapping``)."""
        return {
            "id": self.id, "camera_id": self.camera_id, "label": self.label, "model": self.model,
            "confidence": self.confidence, "start": self.start_ms, "end": self.end_ms, "best": self.best_ms,
            "best_seq": self.best_seq, "best_clip_id": self.best_clip_id, "best_offset_ms": self.best_offset_ms,
            "x1": self.x1, "y1": self.y1, "x2": self.x2, "y2": self.y2, "detections": self.detections,
            "thumbnail": self.thumbnail, "last_seq": self.last_seq,
        }
