"""The one interface every detector backend implements.

A detector turns a batch of RGB frames into boxes with COCO-style labels. It never decodes video, never
tracks and never touches the database: the pipeline (``analysis.pipeline``) owns those steps, so that an
operator can bring other weights by writing one class that satisfies :class:`Detector`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Detection:
    """One box in one frame. Coordinates are normalised to [0, 1] of the frame's width and height."""

    label: str
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float


def to_frame(det: Detection, scale: tuple[float, float]) -> Detection:
    """A box normalised to a letterboxed input, normalised to the frame (the padding cut off); ``scale`` as
    :func:`analysis.decode.fit_to_square` gives it."""
    sx, sy = scale
    if (sx, sy) == (1.0, 1.0):
        return det
    return Detection(det.label, det.confidence, min(det.x1 * sx, 1.0), min(det.y1 * sy, 1.0),
                     min(det.x2 * sx, 1.0), min(det.y2 * sy, 1.0))


class Detector(Protocol):
    """A warm model: built once per worker process, then fed batches."""

    #: Stable identifier stored with every detection (e.g. ``"centernet-mnv3@human-3.3.6"``).
    model_id: str
    #: Square input side the model wants; the pipeline resizes frames to ``input_size × input_size``.
    input_size: int
    #: Labels the model can emit, in class-index order.
    labels: Sequence[str]

    def detect(self, frames: np.ndarray, min_confidence: float) -> list[list[Detection]]:
        """Detect objects in ``frames``: uint8 array N×H×W×3 (RGB, H = W = ``input_size``).

        Returns one list per frame, sorted by confidence, highest first, keeping boxes whose confidence is
        at least ``min_confidence``.
        """
        ...
