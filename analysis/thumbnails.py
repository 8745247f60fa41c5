"""JPEG crops of detections, written to media storage under :func:`backend.eventlog.schema.thumbnail_name`."""

from __future__ import annotations

import io

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from .detectors.base import Detection

MAX_SIDE = 256
MARGIN = 0.15


def crop(frame: np.ndarray, det: Detection) -> np.ndarray:
    """The detection's box grown by a margin, clipped to the frame, from an H×W×3 array."""
    h, w = frame.shape[:2]
    mx, my = (det.x2 - det.x1) * MARGIN, (det.y2 - det.y1) * MARGIN
    x1, y1 = max(int((det.x1 - mx) * w), 0), max(int((det.y1 - my) * h), 0)
    x2, y2 = min(int(np.ceil((det.x2 + mx) * w)), w), min(int(np.ceil((det.y2 + my) * h)), h)
    return frame[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)].copy()


def encode_jpeg(pixels: np.ndarray) -> bytes:
    image = Image.fromarray(pixels)
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def save(name: str, pixels: np.ndarray) -> None:
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(encode_jpeg(pixels)))


def delete(name: str) -> None:
    default_storage.delete(name)
