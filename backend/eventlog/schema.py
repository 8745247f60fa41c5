"""The event schema: natural keys, detection ordinals, epoch-millisecond times and thumbnail names.

Everything that writes events (analysis, uploads, the recorder) and everything that reads them (the
projections, the live feed) agrees on these through this module alone. A key is the event's identity: the
same fact always gets the same key, which is what makes an append idempotent.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Protocol

#: Labels of detections logged so that footage can be masked (``analysis.privacy``): they are tracked and kept
#: in the log like any detection, but never become sightings, search results or thumbnails.
PRIVACY_LABELS = frozenset({"face", "plate"})

#: The named colours a detection's data may carry (``analysis.colors`` names them, search filters on them),
#: under the attribute names of :data:`COLOR_ATTRIBUTES`: a person's upper and lower body, a vehicle's body.
COLOR_PALETTE = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
                 "beige")
COLOR_ATTRIBUTES = ("upper_color", "lower_color", "color")
#: Length of the appearance descriptor a best detection's data may carry as ``embedding`` (unit length; the dot
#: product of two is their similarity, 0–1): ``analysis.appearance.SIZE``.
EMBEDDING_DIMS = 128


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


def appearance_key(track: int, detection_seq: int, revision: int = 1) -> str:
    """The appearance computed afterwards for detection ``detection_seq``, the best of sighting ``track``;
    ``revision`` says what was computed (:data:`analysis.backfill.REVISION`), so a later one is appended even
    where an earlier one was."""
    return f"appearance:{track}:{detection_seq}" + (f":r{revision}" if revision > 1 else "")


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


#: A thumbnail shows its box grown by this fraction of the box's size on every side.
THUMBNAIL_MARGIN = 0.15


def crop_bounds(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """The pixels ``(x1, y1, x2, y2)`` the thumbnail of a normalised box shows in a ``width``×``height`` frame:
    the box grown by :data:`THUMBNAIL_MARGIN`, clipped to the frame."""
    bx1, by1, bx2, by2 = box
    mx, my = (bx2 - bx1) * THUMBNAIL_MARGIN, (by2 - by1) * THUMBNAIL_MARGIN
    x1, y1 = max(int((bx1 - mx) * width), 0), max(int((by1 - my) * height), 0)
    x2, y2 = min(math.ceil((bx2 + mx) * width), width), min(math.ceil((by2 + my) * height), height)
    return x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)


def box_in_thumbnail(box: tuple[float, float, float, float], size: tuple[int, int]) -> tuple[float, ...]:
    """Where a normalised ``box`` of a ``size`` (width, height) frame lies in its thumbnail, normalised to it:
    the thumbnail is the crop scaled as a whole."""
    width, height = size
    cx1, cy1, cx2, cy2 = crop_bounds(box, width, height)
    x1, y1, x2, y2 = box
    return ((x1 * width - cx1) / (cx2 - cx1), (y1 * height - cy1) / (cy2 - cy1),
            (x2 * width - cx1) / (cx2 - cx1), (y2 * height - cy1) / (cy2 - cy1))


def detection_thumbnail(event: DetectionRef) -> str | None:
    """The thumbnail name of a detection event (``None`` for one outside any clip)."""
    if event.clip_id is None:
        return None
    return thumbnail_name(event.clip_id, event.offset_ms or 0, detection_ordinal(event.key))
