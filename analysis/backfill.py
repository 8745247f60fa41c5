"""Colours for sightings analysed before analysis named them (``manage.py compute_appearance``).

A sighting's colours are its best detection's (:mod:`search.sightings`). Footage analysed earlier has best
detections without colours; their JPEG thumbnails are stored (the box grown by a margin,
:func:`backend.eventlog.schema.crop_bounds`), so the colours are named from them — the box's place in the crop
is known from the clip's picture size — without decoding the video again. Each answer is appended as an
``object.appearance`` event naming the detection (``data.detection_seq``), which the projections fold into the
sighting while that detection is still its best.

Found from the log alone: a track's best detection is its most confident, the first one on a tie (the fold's
rule). Resumable: an appearance event's key is its track and detection, so a second run appends nothing for
what the first did, and a detection with colours already (or an event saying none could be named) is passed
over. Tracks without a thumbnail (privacy labels, expired clips) are left alone.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.core.files.storage import default_storage
from PIL import Image

from backend.clips.models import Clip
from backend.eventlog.log import EventLog, NewEvent
from backend.eventlog.models import Event, EventType
from backend.eventlog.schema import COLOR_ATTRIBUTES, appearance_key, crop_bounds, detection_thumbnail

from . import colors

log = logging.getLogger(__name__)

_FIELDS = ("seq", "key", "track", "confidence", "clip_id", "camera_id", "offset_ms", "time", "label", "x1", "y1",
           "x2", "y2", "data")


@dataclass
class Report:
    tracks: int = 0
    named: int = 0
    unnamed: int = 0
    skipped: int = 0

    def __str__(self) -> str:
        return (f"{self.tracks} tracks looked at: {self.named} given colours, {self.unnamed} with none that "
                f"could be named, {self.skipped} passed over (colours already, or no thumbnail)")


def best_detections(batch: int = 5000) -> Iterator[Any]:
    """Each tracked person's or vehicle's best detection, in track order (one pass over the log)."""
    rows = (Event.objects.filter(type=EventType.OBJECT_DETECTED, track__isnull=False,
                                 label__in=[colors.PERSON, *sorted(colors.VEHICLES)])
            .order_by("track", "seq").values_list(*_FIELDS, named=True).iterator(chunk_size=batch))
    best = None
    for row in rows:
        if best is not None and row.track != best.track:
            yield best
            best = None
        if best is None or (row.confidence or 0.0) > (best.confidence or 0.0):
            best = row
    if best is not None:
        yield best


def _name_from_thumbnail(row: Any, size: tuple[int, int]) -> colors.Colours | None:
    name = detection_thumbnail(row)
    if not name or not default_storage.exists(name):
        return None
    with default_storage.open(name, "rb") as fh:
        picture = np.asarray(Image.open(io.BytesIO(fh.read())).convert("RGB"))
    width, height = size
    box = (row.x1, row.y1, row.x2, row.y2)
    cx1, cy1, cx2, cy2 = crop_bounds(box, width, height)
    # The thumbnail is the crop scaled as a whole: the box's place in it, normalised to the crop.
    inner = ((row.x1 * width - cx1) / (cx2 - cx1), (row.y1 * height - cy1) / (cy2 - cy1),
             (row.x2 * width - cx1) / (cx2 - cx1), (row.y2 * height - cy1) / (cy2 - cy1))
    return colors.describe(picture, inner, row.label)  # type: ignore[arg-type]


def compute_appearance(*, batch: int = 200, progress: Callable[[Report], None] | None = None) -> Report:
    """Name the colours of every best detection that has none yet; append them as events, ``batch`` at once."""
    report = Report()
    sizes: dict[int, tuple[int, int] | None] = {}
    pending: list[tuple[Any, NewEvent]] = []

    def flush() -> None:
        if not pending:
            return
        done = set(Event.objects.filter(key__in=[e.key for _, e in pending]).values_list("key", flat=True))
        fresh = [e for _, e in pending if e.key not in done]
        report.skipped += len(pending) - len(fresh)
        EventLog.append(fresh)
        for event in fresh:
            if any(event.data.get(a) for a in COLOR_ATTRIBUTES):
                report.named += 1
            else:
                report.unnamed += 1
        pending.clear()
        if progress:
            progress(report)

    for row in best_detections():
        report.tracks += 1
        if any((row.data or {}).get(a) for a in COLOR_ATTRIBUTES) or row.clip_id is None:
            report.skipped += 1
            continue
        if row.clip_id not in sizes:
            clip = Clip.objects.filter(pk=row.clip_id).values_list("width", "height").first()
            sizes[row.clip_id] = (clip[0], clip[1]) if clip and clip[0] and clip[1] else None
        size = sizes[row.clip_id]
        named = _name_from_thumbnail(row, size) if size else None
        if named is None:
            report.skipped += 1
            continue
        pending.append((row, NewEvent(
            key=appearance_key(row.track, row.seq), type=EventType.OBJECT_APPEARANCE, time=row.time,
            camera_id=row.camera_id, clip_id=row.clip_id, label=row.label, track=row.track,
            offset_ms=row.offset_ms, data={"detection_seq": row.seq, **named.as_dict()},
        )))
        if len(pending) >= batch:
            flush()
    flush()
    return report
