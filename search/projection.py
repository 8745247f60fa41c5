"""Keeps the ``Sighting`` table in step with the event log (the database search backend's index).

Registered by :class:`search.apps.SearchConfig` whatever the search backend: the live feed reads this table.
"""

from __future__ import annotations

from collections.abc import Sequence

from backend.eventlog.models import Event, EventType
from backend.eventlog.projections import Projection

from .models import Sighting
from .sightings import begin, fold


class SightingProjection(Projection):
    name = "search.sightings"
    transactional = True

    def apply(self, events: Sequence[Event]) -> None:
        by_track: dict[int, list[Event]] = {}
        expired: list[int] = []
        for event in events:
            if event.type == EventType.OBJECT_DETECTED and event.track is not None:
                by_track.setdefault(event.track, []).append(event)
            elif event.type == EventType.CLIP_EXPIRED and event.clip_id is not None:
                expired.append(event.clip_id)
        if by_track:
            self._fold(by_track)
        if expired:
            # Retention: a sighting goes with the clip that holds its best moment (backend.clips.retention).
            # After the folds: an expired clip's detections never follow its expiry in the log.
            Sighting.objects.filter(best_clip_id__in=expired).delete()

    def _fold(self, by_track: dict[int, list[Event]]) -> None:
        existing = Sighting.objects.in_bulk(list(by_track))
        rows: list[Sighting] = []
        for track, track_events in by_track.items():
            sighting = existing.get(track) or begin(Sighting, track, track_events[0])
            for event in track_events:
                fold(sighting, event)
            rows.append(sighting)
        # One upsert for new and changed rows: far cheaper than bulk_update's CASE expressions.
        Sighting.objects.bulk_create(
            rows, batch_size=500, update_conflicts=True, unique_fields=["id"],
            update_fields=["confidence", "start_ms", "end_ms", "duration_ms", "best_ms", "best_seq", "best_clip_id",
                           "best_offset_ms", "x1", "y1", "x2", "y2", "detections", "thumbnail"],
        )

    def reset(self) -> None:
        Sighting.objects.all().delete()
