"""JPEG crops of detections, written to media storage under :func:`backend.eventlog.schema.thumbnail_name`."""

from __future__ import annotations

import io

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from backend.eventlog.schema import crop_bounds

from .detectors.base import Detection

MAX_SIDE = 256


def crop(frame: np.ndarray, det: Detection) -> np.ndarray:
    """The detection's box grown by a margin, clipped to the frame, from an H×W×3 array."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = crop_bounds((det.x1, det.y1, det.x2, det.y2), w, h)
    return frame[y1:y2, x1:x2].copy()


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
