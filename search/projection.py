"""Keeps the ``Sighting`` table in step with the event log (the database search backend's index).

Every track is folded with the one rule (:mod:`search.sightings`); a confirmed one is a ``Sighting`` row, one
not confirmed (yet) a ``PendingTrack`` row, which nothing searches. A track moves from the second table to
the first at the detection that confirms it, and never back (confirmation is sticky), except when its
camera's rules change: :meth:`SightingProjection.reproject_camera` then folds the camera's detections again.

Registered by :class:`search.apps.SearchConfig` whatever the search backend: the live feed reads this table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from backend.eventlog import projections
from backend.eventlog.models import Event, EventType
from backend.eventlog.projections import PROJECTED_FIELDS, Projection

from .models import PendingTrack, Sighting, TrackSummary
from .sightings import RuleBook, SightingSummary, begin, fold, folded, starting

#: The columns both tables share beyond ``id`` (what the fold changes, and what it starts from).
_COLUMNS = ("camera_id", "label", "model", "confidence", "start_ms", "end_ms", "duration_ms", "detections",
            "best_ms", "best_seq", "best_clip_id", "best_offset_ms", "x1", "y1", "x2", "y2", "thumbnail",
            "upper_color", "lower_color", "color", "embedding", "hits")
#: What an upsert rewrites (``camera_id``, ``label`` and ``model`` are a track's from its first detection).
_UPDATED = [c for c in _COLUMNS if c not in ("camera_id", "label", "model")]


def _summary(row: TrackSummary) -> SightingSummary:
    confirmed = isinstance(row, Sighting)
    recent = [] if confirmed else list(row.recent)  # type: ignore[attr-defined]
    return SightingSummary(id=row.id, recent=recent, confirmed=confirmed,
                           **{c: getattr(row, c) for c in _COLUMNS})


class SightingProjection(Projection):
    name = "search.sightings"
    transactional = True

    def apply(self, events: Sequence[Event]) -> None:
        by_track = folded(events)
        expired = [e.clip_id for e in events if e.type == EventType.CLIP_EXPIRED and e.clip_id is not None]
        if by_track:
            self._fold(by_track)
        if expired:
            # Retention: a track goes with the clip that holds its best moment (backend.clips.retention).
            # After the folds: an expired clip's detections never follow its expiry in the log.
            Sighting.objects.filter(best_clip_id__in=expired).delete()
            PendingTrack.objects.filter(best_clip_id__in=expired).delete()

    def _fold(self, by_track: dict[int, list[Any]]) -> None:
        tracks = list(by_track)
        existing: dict[int, TrackSummary] = dict(Sighting.objects.in_bulk(tracks))
        unconfirmed = [t for t in tracks if t not in existing]
        if unconfirmed:
            existing.update(PendingTrack.objects.in_bulk(unconfirmed))
        rules = RuleBook.load({row.camera_id for row in existing.values()}
                              | {events[0].camera_id for events in by_track.values()})
        confirmed: list[Sighting] = []
        pending: list[PendingTrack] = []
        promoted: list[int] = []
        for track, track_events in by_track.items():
            row = existing.get(track)
            if row is None:
                track_events = starting(track_events)
                if not track_events:
                    continue
            summary = _summary(row) if row is not None else begin(SightingSummary, track, track_events[0])
            rule = rules.rule(summary.camera_id, summary.label)
            for event in track_events:
                fold(summary, event, rule)
            values = {c: getattr(summary, c) for c in _COLUMNS}
            if summary.confirmed:
                confirmed.append(Sighting(id=track, **values))
                if isinstance(row, PendingTrack):
                    promoted.append(track)
            else:
                pending.append(PendingTrack(id=track, recent=summary.recent, **values))
        # One upsert per table for new and changed rows: far cheaper than bulk_update's CASE expressions.
        if confirmed:
            Sighting.objects.bulk_create(confirmed, batch_size=500, update_conflicts=True, unique_fields=["id"],
                                         update_fields=_UPDATED)
        if promoted:
            PendingTrack.objects.filter(id__in=promoted).delete()
        if pending:
            PendingTrack.objects.bulk_create(pending, batch_size=500, update_conflicts=True, unique_fields=["id"],
                                             update_fields=[*_UPDATED, "recent"])

    def reset(self) -> None:
        Sighting.objects.all().delete()
        PendingTrack.objects.all().delete()

    def reproject_camera(self, camera_id: int, *, batch: int = projections.DEFAULT_BATCH) -> int:
        """Fold the camera's detections again from the log under its rules as they are now; return how many.

        One transaction holding this projection's checkpoint row (no batch of it interleaves): the camera's
        rows of both tables go, then its ``object.detected`` events up to the checkpoint are folded in ``seq``
        order, batch by batch like the live projection (the rule does not depend on how the log is cut).
        Events after the checkpoint are the live projection's, under the same rules.
        """
        detections = Event.objects.filter(type__in=(EventType.OBJECT_DETECTED, EventType.OBJECT_APPEARANCE),
                                          camera_id=camera_id, track__isnull=False)
        done = 0
        with transaction.atomic():
            upto = projections.locked_position(self.name)
            Sighting.objects.filter(camera_id=camera_id).delete()
            PendingTrack.objects.filter(camera_id=camera_id).delete()
            after = 0
            while True:
                rows = list(detections.filter(seq__gt=after, seq__lte=upto).order_by("seq")
                            .values_list(*PROJECTED_FIELDS, named=True)[:batch])
                if not rows:
                    break
                self._fold(folded(rows))
                after = rows[-1].seq
                done += len(rows)
        return done
