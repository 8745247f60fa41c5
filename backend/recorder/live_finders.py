"""What a masked live view masks in a frame, per variant: boxes normalised to the frame; and which boxes a
frame between two detections is masked with (:func:`mask_boxes`).

The same detectors as analysis, run in the live tap's thread on the frames it chooses to detect
(:class:`backend.recorder.live.MaskedTap` decides how often from what a call costs):

``faces``: CenterFace (``analysis.faces``) on the frame scaled to ``LIVE_FACE_INPUT_SIDE``.
``persons``: every person the object detector (``analysis.detectors``, ``DETECTOR`` with ``DETECTOR_INPUT``)
  finds from ``LIVE_OBJECT_MIN_CONFIDENCE``, whole, and the faces besides (a person the detector misses still
  has its face masked).
``faces_plates``: the faces, searched in the heads of the people the object detector finds too (as analysis
  does), and the plates in its vehicles (``analysis.plates``, the PP-OCR text detector in vehicle boxes).

Live errs towards masking: its thresholds (``LIVE_FACE_MIN_CONFIDENCE``, ``LIVE_OBJECT_MIN_CONFIDENCE``) are
below analysis's. The models are loaded when a tap of that variant starts, in the recorder's process (the
web process never loads them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import av
import numpy as np

from .models import LiveVariant

Norm = tuple[float, float, float, float]
#: A finder: the boxes to mask in a decoded frame, normalised to it.
Finder = Callable[[av.VideoFrame], list[Norm]]


def _iou(a: Norm, b: Norm) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / max((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter, 1e-12)


def _grow(box: Norm, fraction: float) -> Norm:
    dx, dy = (box[2] - box[0]) * fraction, (box[3] - box[1]) * fraction
    return (box[0] - dx, box[1] - dy, box[2] + dx, box[3] + dy)


def _hull(a: Norm, b: Norm) -> Norm:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _contains(outer: Norm, inner: Norm) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def mask_boxes(held: list[Norm], before: list[Norm], after: list[Norm], padding: float) -> list[Norm]:
    """The face boxes masked on a frame between two detections: those held, those of both detections, and
    the hull of each pair of them that overlap once padded (a face that moved), without the boxes another
    one already contains."""
    boxes = [*held, *before, *after]
    for a in before:
        for b in after:
            if a != b and _iou(_grow(a, padding), _grow(b, padding)) > 0:
                boxes.append(_hull(a, b))
    boxes.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
    kept: list[Norm] = []
    for box in boxes:
        if not any(_contains(k, box) for k in kept):
            kept.append(box)
    return kept


def _boxes(detections: Any) -> list[Norm]:
    return [(d.x1, d.y1, d.x2, d.y2) for d in detections]


def finder_for(variant: str, conf: Any) -> Finder:
    """The finder of a masked ``variant`` (``conf``: :class:`backend.recorder.live.LiveSettings`)."""
    from analysis.faces import FaceDetector

    faces = FaceDetector(input_side=conf.face_input_side, min_confidence=conf.face_min_confidence,
                         threads=conf.threads)
    if variant == LiveVariant.FACES:
        def find_faces(frame: av.VideoFrame) -> list[Norm]:
            rw, rh, _, _ = faces.input_shape(frame.width, frame.height)
            return _boxes(faces.detect(frame.reformat(width=rw, height=rh, format="rgb24").to_ndarray()))

        return find_faces
    if variant not in (LiveVariant.PERSONS, LiveVariant.FACES_PLATES):
        raise ValueError(f"no masked live view {variant!r}")

    from django.conf import settings

    from analysis.decode import fit_to_square
    from analysis.detectors.base import to_frame
    from analysis.detectors.registry import get_detector

    detector = get_detector(settings.SIGHTLINE.DETECTOR)
    mode = settings.SIGHTLINE.DETECTOR_INPUT
    threshold = conf.object_min_confidence
    plates = None
    if variant == LiveVariant.FACES_PLATES:
        from analysis.plates import get_plate_finder

        plates = get_plate_finder()

    def find_objects(frame: av.VideoFrame) -> list[Norm]:
        square, sx, sy = fit_to_square(frame, detector.input_size, mode)
        objects = [to_frame(d, (sx, sy)) for d in detector.detect(np.ascontiguousarray(square[None]), threshold)[0]]
        rgb = frame.to_ndarray(format="rgb24")
        people = [d for d in objects if d.label == "person"]
        found = _boxes(faces.detect(rgb, people=people))
        if plates is None:
            return found + _boxes(people)
        return found + _boxes(plates.find(rgb, objects))

    return find_objects
