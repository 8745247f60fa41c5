"""What to draw on an export or a rendition, read from the event log: the boxes to mask and the boxes to burn.

Masks are the logged detections of the labels the masking hides (``privacy.MASK_LABELS``), every one of them,
confirmed or not and whatever their score: masking too much is the safe error. A clip whose analysis did not
look for a privacy label the masking needs (analysed before face detection was on, or a camera that did not
look for plates) has whole persons masked instead, so nothing the masking promises to hide is shown.

Burnt-in boxes are the detections of tracks that are sightings (confirmed), with their labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db.models import Max

from backend.clips.models import Clip
from backend.eventlog.models import Event, EventType
from backend.eventlog.schema import PRIVACY_LABELS, epoch_ms

from .masks import TrackBoxes, TrackPoint
from .privacy import MASK_LABELS


class MasksUnknown(Exception):
    """A source clip's masks cannot be known (its analysis failed): the footage cannot be shown masked."""


def labels_for(clip: Clip, masking: str) -> frozenset[str]:
    wanted = MASK_LABELS[masking]
    missing = (wanted & PRIVACY_LABELS) - set(clip.privacy_labels or ())
    return wanted | {"person"} if missing else wanted


def _points(clips: Sequence[Clip], labels_of: dict[int, Iterable[str]], *, tracks: set[int] | None = None,
            exclude_labels: frozenset[str] = frozenset()) -> list[TrackPoint]:
    points: list[TrackPoint] = []
    origin = {clip.pk: epoch_ms(clip.started_at) for clip in clips}
    for clip in clips:
        labels = list(labels_of.get(clip.pk, ()))
        rows = Event.objects.filter(clip_id=clip.pk, type=EventType.OBJECT_DETECTED)
        if labels:
            rows = rows.filter(label__in=labels)
        elif not exclude_labels:
            continue
        if exclude_labels:
            rows = rows.exclude(label__in=exclude_labels)
        for track, label, offset, x1, y1, x2, y2 in rows.values_list("track", "label", "offset_ms", "x1", "y1",
                                                                    "x2", "y2").iterator(chunk_size=5000):
            if track is None or (tracks is not None and track not in tracks):
                continue
            points.append(TrackPoint(t_ms=origin[clip.pk] + (offset or 0), track=track, label=label,
                                     x1=x1, y1=y1, x2=x2, y2=y2))
    return points


def mask_boxes(clips: Sequence[Clip], masking: str) -> TrackBoxes | None:
    """The boxes to mask in these clips for ``masking`` (``None``: nothing to mask)."""
    if not MASK_LABELS[masking]:
        return None
    for clip in clips:
        if clip.status == Clip.Status.FAILED:
            raise MasksUnknown(f"the analysis of clip {clip.pk} failed, so what to mask in it is unknown")
    return TrackBoxes(_points(clips, {clip.pk: labels_for(clip, masking) for clip in clips}))


def burn_boxes(clips: Sequence[Clip]) -> TrackBoxes:
    """The detections of the sightings in these clips, with their labels: where each was, interpolated between
    its detections (``cover_motion`` off: a burnt box must not swell as a mask does)."""
    from search.models import Sighting

    ids = {clip.pk for clip in clips}
    camera_ids = {clip.camera_id for clip in clips}
    start = min(epoch_ms(c.started_at) for c in clips)
    end = max(epoch_ms(c.ends_at) for c in clips)
    tracks = set(Sighting.objects.filter(camera_id__in=camera_ids, start_ms__lte=end, end_ms__gte=start)
                 .values_list("id", flat=True))
    points = _points(clips, dict.fromkeys(ids, ()), tracks=tracks, exclude_labels=PRIVACY_LABELS)
    return TrackBoxes(points, cover_motion=False)


def mask_version(clip: Clip) -> int:
    """The newest detection of the clip: a rendition made before it is stale."""
    return Event.objects.filter(clip_id=clip.pk, type=EventType.OBJECT_DETECTED).aggregate(m=Max("seq"))["m"] or 0
