"""Appearance for sightings analysed before analysis described it (``manage.py compute_appearance``).

A sighting's colours and its "find similar" descriptor are its best detection's (:mod:`search.sightings`).
Footage analysed earlier has best detections without them; their JPEG thumbnails are stored (the box grown by
a margin, :func:`backend.eventlog.schema.crop_bounds`), so both are computed from them — the box's place in the
crop is known from the clip's picture size — without decoding the video again: the colours by
:func:`analysis.colors.describe`, the descriptor by :func:`analysis.appearance.describe`, as analysis does on
the frame. A thumbnail is the frame's crop scaled to at most 256 pixels and JPEG-compressed; how much that
costs "find similar" is measured (``benchmarks/eval_similar.py``, README). Each answer is appended as an
``object.appearance`` event naming the detection (``data.detection_seq``), which the projections fold into the
sighting while that detection is still its best. Colours a detection was given at analysis keep their names
(they came from the full frame); only what it lacks is computed.

Found from the log alone: a track's best detection is its most confident, the first one on a tie (the fold's
rule). Resumable: an appearance event's key is its track, its detection and what this module computes
(:data:`REVISION`), so a second run appends nothing for what the first did, while an event of an earlier
revision (colours only) does not stop the descriptor from being added. A detection with a descriptor already
is passed over. Tracks without a thumbnail (privacy labels, expired clips) are left alone.
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
from backend.eventlog.schema import COLOR_ATTRIBUTES, appearance_key, box_in_thumbnail, detection_thumbnail

from . import appearance, colors

log = logging.getLogger(__name__)

#: What an appearance event of this module holds: 1, colours only; 2, colours and the descriptor.
REVISION = 2

_FIELDS = ("seq", "key", "track", "confidence", "clip_id", "camera_id", "offset_ms", "time", "label", "x1", "y1",
           "x2", "y2", "data")


@dataclass
class Report:
    tracks: int = 0
    named: int = 0
    unnamed: int = 0
    described: int = 0
    skipped: int = 0

    def __str__(self) -> str:
        return (f"{self.tracks} tracks looked at: {self.named} given colours, {self.unnamed} with none that "
                f"could be named, {self.described} given a find-similar descriptor, {self.skipped} passed over "
                f"(described already, or no thumbnail)")


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


def _describe_thumbnail(row: Any, size: tuple[int, int]) -> dict[str, Any] | None:
    """The colours and descriptor of ``row``'s box from its thumbnail (``None`` without one); the detection's
    own colours, where it has any, instead of the thumbnail's."""
    name = detection_thumbnail(row)
    if not name or not default_storage.exists(name):
        return None
    with default_storage.open(name, "rb") as fh:
        picture = np.asarray(Image.open(io.BytesIO(fh.read())).convert("RGB"))
    inner = box_in_thumbnail((row.x1, row.y1, row.x2, row.y2), size)
    own = {a: v for a in COLOR_ATTRIBUTES if (v := (row.data or {}).get(a))}
    found: dict[str, Any] = own or colors.describe(picture, inner, row.label).as_dict()  # type: ignore[arg-type]
    descriptor = appearance.describe(picture, inner)  # type: ignore[arg-type]
    if descriptor.any():
        found["embedding"] = [round(float(v), 4) for v in descriptor]
    return found


def compute_appearance(*, batch: int = 200, progress: Callable[[Report], None] | None = None) -> Report:
    """Describe every best detection that has no descriptor yet; append the answers as events, ``batch`` at
    once."""
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
            report.described += "embedding" in event.data
        pending.clear()
        if progress:
            progress(report)

    for row in best_detections():
        report.tracks += 1
        if (row.data or {}).get("embedding") or row.clip_id is None:
            report.skipped += 1
            continue
        if row.clip_id not in sizes:
            clip = Clip.objects.filter(pk=row.clip_id).values_list("width", "height").first()
            sizes[row.clip_id] = (clip[0], clip[1]) if clip and clip[0] and clip[1] else None
        size = sizes[row.clip_id]
        found = _describe_thumbnail(row, size) if size else None
        if found is None:
            report.skipped += 1
            continue
        pending.append((row, NewEvent(
            key=appearance_key(row.track, row.seq, REVISION), type=EventType.OBJECT_APPEARANCE, time=row.time,
            camera_id=row.camera_id, clip_id=row.clip_id, label=row.label, track=row.track,
            offset_ms=row.offset_ms, data={"detection_seq": row.seq, **found},
        )))
        if len(pending) >= batch:
            flush()
    flush()
    return report
