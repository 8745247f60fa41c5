"""What an object looks like, cheaply: colour histograms of the upper and lower part of its box.

Used by the tracker to tell apart people who pass close to each other and to re-link a track after an
occlusion. Two halves because clothing differs above and below the waist; the box's side margins are left
out (mostly background). Each half is a joint RGB histogram (4 bins a channel), L1-normalised, square-rooted:
the dot product of two descriptors is then the mean Bhattacharyya coefficient of the halves, 1 for identical
colours and near 0 for unrelated ones. Computed on the detector's input picture, which analysis has anyway.
"""

from __future__ import annotations

import numpy as np

BINS = 4
SIZE = 2 * BINS**3
_SHIFT = 8 - 2  # 256 / 4 = 64 levels a bin


def _half(pixels: np.ndarray) -> np.ndarray:
    if pixels.size == 0:
        return np.zeros(BINS**3)
    q = pixels.reshape(-1, 3) >> _SHIFT
    index = (q[:, 0].astype(np.int32) * BINS + q[:, 1]) * BINS + q[:, 2]
    hist = np.bincount(index, minlength=BINS**3).astype(np.float64)
    return np.sqrt(hist / hist.sum())


def describe(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The descriptor (``SIZE`` floats, unit length or zero) of ``box`` (normalised x1, y1, x2, y2) in
    ``image`` (uint8 H×W×3)."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    left, right = int((x1 + 0.2 * w) * width), int(np.ceil((x2 - 0.2 * w) * width))
    top, waist, bottom = (int(v * height) for v in (y1 + 0.12 * h, y1 + 0.5 * h, y1 + 0.9 * h))
    left, right = max(left, 0), min(max(right, left + 1), width)
    upper = image[max(top, 0):max(waist, top + 1), left:right]
    lower = image[max(waist, 0):min(max(bottom, waist + 1), height), left:right]
    out = np.concatenate([_half(upper), _half(lower)]) / np.sqrt(2)
    return out


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Similarity 0–1 between descriptors: ``a`` N×SIZE against ``b`` M×SIZE gives N×M."""
    return np.clip(a @ b.T, 0.0, 1.0)
