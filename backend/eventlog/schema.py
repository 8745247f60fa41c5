"""The event schema: natural keys, detection ordinals, epoch-millisecond times and thumbnail names.

Everything that writes events (analysis, uploads, the recorder) and everything that reads them (the
projections, the live feed) agrees on these through this module alone. A key is the event's identity: the
same fact always gets the same key, which is what makes an append idempotent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class DetectionRef(Protocol):
    """What names a detection's thumbnail: its key, clip and place in the clip (an ``Event`` has them)."""

    key: str
    clip_id: int | None
    offset_ms: int | None


def clip_registered_key(clip_id: int) -> str:
    return f"clip:{clip_id}"


def analysis_key(step: str, clip_id: int, model: str) -> str:
    """Key of an analysis step of one clip by one model: ``started``, ``progress40``, ``completed``…"""
    return f"{step}:{clip_id}:{model}"


def detection_key(clip_id: int, model: str, offset_ms: int, ordinal: int) -> str:
    """Detection ``ordinal`` (its place in the detector's answer) in the frame at ``offset_ms`` of a clip."""
    return f"det:{clip_id}:{model}:{offset_ms}:{ordinal}"


def detection_ordinal(key: str) -> int:
    """The ordinal that ends a detection's key."""
    return int(key.rsplit(":", 1)[1])


def epoch_ms(at: datetime) -> int:
    """Milliseconds since the epoch: how projections store and compare times."""
    return int(at.timestamp() * 1000)


def thumbnail_folder(clip_id: int) -> str:
    """The storage folder holding every thumbnail of a clip (retention deletes it with the clip)."""
    return f"thumbnails/{clip_id}"


def thumbnail_name(clip_id: int, offset_ms: int, ordinal: int) -> str:
    """Storage name of the JPEG crop of detection ``ordinal`` in the frame at ``offset_ms`` of a clip."""
    return f"{thumbnail_folder(clip_id)}/{offset_ms:09d}-{ordinal:03d}.jpg"


def detection_thumbnail(event: DetectionRef) -> str | None:
    """The thumbnail name of a detection event (``None`` for one outside any clip)."""
    if event.clip_id is None:
        return None
    return thumbnail_name(event.clip_id, event.offset_ms or 0, detection_ordinal(event.key))
