"""Keeps the ``Sighting`` table in step with the event log (the database search backend's index)."""

from __future__ import annotations

from collections.abc import Sequence

from backend.eventlog.models import Event, EventType
from backend.eventlog.projections import Projection

from .models import Sighting
from .thumbnails import thumbnail_name


def _ms(event: Event) -> int:
    return int(event.time.timestamp() * 1000)


def _ordinal(event: Event) -> int:
    return int(event.key.rsplit(":", 1)[1])


class SightingProjection(Projection):
    name = "search.sightings"
    transactional = True
    inline = True

    def apply(self, events: Sequence[Event]) -> None:
        detections = [e for e in events if e.type == EventType.OBJECT_DETECTED and e.track is not None]
        if not detections:
            return
        by_track: dict[int, list[Event]] = {}
        for event in detections:
            by_track.setdefault(event.track, []).append(event)  # type: ignore[arg-type]
        existing = Sighting.objects.in_bulk(list(by_track))
        rows: list[Sighting] = []
        for track, track_events in by_track.items():
            sighting = existing.get(track)
            for event in track_events:
                sighting = self._merge(sighting, track, event)
            rows.append(sighting)  # type: ignore[arg-type]
        # One upsert for new and changed rows: far cheaper than bulk_update's CASE expressions.
        Sighting.objects.bulk_create(
            rows, batch_size=500, update_conflicts=True, unique_fields=["id"],
            update_fields=["confidence", "start_ms", "end_ms", "duration_ms", "best_ms", "best_seq", "best_clip_id",
                           "best_offset_ms", "x1", "y1", "x2", "y2", "detections", "thumbnail"],
        )

    @staticmethod
    def _merge(sighting: Sighting | None, track: int, event: Event) -> Sighting:
        at = _ms(event)
        if sighting is None:
            sighting = Sighting(id=track, camera_id=event.camera_id or 0, label=event.label, model=event.model,
                                confidence=-1.0, start_ms=at, end_ms=at, detections=0)
        sighting.start_ms = min(sighting.start_ms, at)
        sighting.end_ms = max(sighting.end_ms, at)
        sighting.duration_ms = sighting.end_ms - sighting.start_ms
        sighting.detections += 1
        if event.confidence is not None and event.confidence > sighting.confidence:
            sighting.confidence = event.confidence
            sighting.best_ms = at
            sighting.best_seq = event.seq
            sighting.best_clip_id = event.clip_id  # type: ignore[assignment]
            sighting.best_offset_ms = event.offset_ms or 0
            sighting.x1, sighting.y1 = event.x1 or 0.0, event.y1 or 0.0
            sighting.x2, sighting.y2 = event.x2 or 0.0, event.y2 or 0.0
            sighting.thumbnail = thumbnail_name(event.clip_id, event.offset_ms or 0, _ordinal(event))  # type: ignore[arg-type]
        return sighting

    def reset(self) -> None:
        Sighting.objects.all().delete()
