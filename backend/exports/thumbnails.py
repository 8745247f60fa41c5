"""Masked sighting thumbnails, for people who may not see a camera's footage unmasked.

Made on first request from the stored crop and the masks logged for its frame (the same boxes exports and
renditions mask: ``overlays.mask_boxes``), and cached beside the crop under a name that carries the masking
and the clip's mask version: retention deletes them with the clip's other thumbnails, and a re-analysis
makes a new one. A clip whose masks cannot be known gets a thumbnail masked whole.
"""

from __future__ import annotations

import io

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from backend.clips.models import Clip
from backend.eventlog.schema import crop_bounds, epoch_ms

from .masks import pixelate
from .overlays import MasksUnknown, mask_boxes, mask_version


def masked_thumbnail(thumbnail: str, *, clip_id: int, offset_ms: int, box: tuple[float, float, float, float],
                     masking: str, padding: float) -> str:
    """The storage name of ``thumbnail`` masked with ``masking`` (made now if needed)."""
    clip = Clip.objects.get(pk=clip_id)
    name = f"{thumbnail.removesuffix('.jpg')}.{masking}-{mask_version(clip)}.jpg"
    if default_storage.exists(name):
        return name
    with default_storage.open(thumbnail, "rb") as fh:
        pixels = np.asarray(Image.open(fh).convert("RGB")).copy()
    try:
        masks = mask_boxes([clip], masking)
        boxes = masks.at(epoch_ms(clip.started_at) + offset_ms) if masks is not None else []
    except MasksUnknown:
        boxes = [(0, "unknown", 0.0, 0.0, 1.0, 1.0)]
    if boxes and clip.width and clip.height:
        x1, y1, x2, y2 = crop_bounds(box, clip.width, clip.height)
        cx1, cy1, cw, ch = x1 / clip.width, y1 / clip.height, (x2 - x1) / clip.width, (y2 - y1) / clip.height
        local = [(track, label, (bx1 - cx1) / cw, (by1 - cy1) / ch, (bx2 - cx1) / cw, (by2 - cy1) / ch)
                 for track, label, bx1, by1, bx2, by2 in boxes]
        local = [(t, label, max(a, 0.0), max(b, 0.0), min(c, 1.0), min(d, 1.0)) for t, label, a, b, c, d in local
                 if c > 0 and d > 0 and a < 1 and b < 1]
        if local:
            pixelate(pixels, local, padding)
    elif boxes:
        pixelate(pixels, [(0, "unknown", 0.0, 0.0, 1.0, 1.0)], 0.0)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=85)
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(out.getvalue()))
    return name
