"""One picture or a short clip through the warm detector (and, for a clip, the tracker): the synchronous
analyse API's result body (``analysis.on_demand`` runs it for a request). Boxes are in the source picture's
pixels. Nothing here is stored: no event, clip or sighting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings

from .decode import FrameSampler, SampledFrame, UnreadableVideo

if TYPE_CHECKING:
    from .detectors.base import Detection, Detector
    from .tracker import Tracker


def _box(det: Detection, width: int, height: int) -> dict[str, float]:
    """A normalised box in the source picture's pixels."""
    return {"x1": round(det.x1 * width, 1), "y1": round(det.y1 * height, 1),
            "x2": round(det.x2 * width, 1), "y2": round(det.y2 * height, 1)}


def _detect(detector: Detector, frames: list[SampledFrame], min_confidence: float) -> list[list[Detection]]:
    """The detector on a batch, boxes normalised to each frame (a letterboxed input's padding cut off)."""
    from .detectors.base import to_frame

    found = detector.detect(np.stack([f.model_rgb for f in frames]), min_confidence)
    return [per_frame if frame.scale == (1.0, 1.0) else
            [d for d in (to_frame(d, frame.scale) for d in per_frame) if d.x2 > d.x1 and d.y2 > d.y1]
            for frame, per_frame in zip(frames, found, strict=True)]


def analyse_image(path: str, detector: Detector) -> dict[str, Any]:
    conf = settings.SIGHTLINE
    frames = iter(FrameSampler(path, 1.0, detector.input_size, conf.DETECTOR_INPUT, images=True))
    try:
        frame = next(frames, None)
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()
    if frame is None:
        raise UnreadableVideo("the image holds no decodable picture")
    width, height = frame.width, frame.height
    detections = [{"label": d.label, "confidence": round(d.confidence, 5), "box": _box(d, width, height)}
                  for d in _detect(detector, [frame], conf.DETECTION_MIN_CONFIDENCE)[0]]
    return {"kind": "image", "model": detector.model_id, "width": width,
            "height": height, "detections": detections}


@dataclass(slots=True)
class _TrackSummary:
    label: str
    first_ms: int
    last_ms: int
    best_confidence: float
    best_ms: int
    best_box: dict[str, float]
    detections: int = 0

    def as_dict(self, track: int) -> dict[str, Any]:
        return {"track": track, "label": self.label, "first_offset_ms": self.first_ms,
                "last_offset_ms": self.last_ms, "best_confidence": self.best_confidence,
                "best_offset_ms": self.best_ms, "best_box": self.best_box, "detections": self.detections}


def analyse_clip(path: str, detector: Detector, *, on_batch: Callable[[int], None] | None = None
                 ) -> tuple[dict[str, Any], int]:
    """The clip's frames at ``SIGHTLINE.ANALYZE_FPS``, tracked; ``on_batch`` gets the frames analysed so far
    after each batch (a heartbeat; it may raise to stop). Returns the result and the frames analysed."""
    from .tracker import Tracker, TrackerConfig

    conf = settings.SIGHTLINE
    low = min(conf.TRACK_LOW_CONFIDENCE, conf.DETECTION_MIN_CONFIDENCE)
    tracker = Tracker(TrackerConfig(high_score=conf.DETECTION_MIN_CONFIDENCE, low_score=low))
    sampler = FrameSampler(path, conf.ANALYZE_FPS, detector.input_size, conf.DETECTOR_INPUT)
    max_ms = round(conf.ANALYZE_MAX_DURATION_S * 1000)
    analysed: list[dict[str, Any]] = []
    tracks: dict[int, _TrackSummary] = {}
    size: tuple[int, int] = (0, 0)
    warning: str | None = None
    batch: list[SampledFrame] = []
    frames = iter(sampler)
    try:
        for frame in frames:
            if frame.offset_ms > max_ms:
                # The headers said it was short enough; its frames say otherwise.
                warning = (f"the clip holds more than the {conf.ANALYZE_MAX_DURATION_S:g} s accepted; its first "
                           f"{conf.ANALYZE_MAX_DURATION_S:g} s were analysed")
                break
            size = size if size != (0, 0) else (frame.width, frame.height)
            batch.append(frame)
            if len(batch) == conf.ANALYSIS_BATCH_SIZE:
                _track_batch(detector, tracker, batch, low, size, analysed, tracks)
                batch = []
                if on_batch is not None:
                    on_batch(len(analysed))
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()
    if batch:
        _track_batch(detector, tracker, batch, low, size, analysed, tracks)
    if not analysed:
        raise UnreadableVideo("the video stream holds no decodable frame")
    warning = warning or sampler.error
    result = {"kind": "clip", "model": detector.model_id, "width": size[0],
              "height": size[1], "fps": conf.ANALYZE_FPS,
              "duration_s": round(min(sampler.last_time, max_ms / 1000), 3),
              "frames": analysed,
              "tracks": [summary.as_dict(track) for track, summary in sorted(tracks.items())],
              "warning": warning}
    return result, len(analysed)


def _track_batch(detector: Detector, tracker: Tracker, batch: list[SampledFrame], low: float,
                 size: tuple[int, int], analysed: list[dict[str, Any]], tracks: dict[int, _TrackSummary]) -> None:
    """One batch through the detector and the tracker: the detections that belong to a track (a low-score one
    that continues none is dropped, as in the pipeline), per frame, and each track's summary."""
    width, height = size
    for frame, detections in zip(batch, _detect(detector, batch, low), strict=True):
        found = []
        for det, track in zip(detections, tracker.update(frame.offset_ms, detections, frame.model_rgb), strict=True):
            if track is None:
                continue
            confidence, box = round(det.confidence, 5), _box(det, width, height)
            found.append({"label": det.label, "confidence": confidence, "box": box, "track": track})
            summary = tracks.get(track)
            if summary is None:
                summary = tracks[track] = _TrackSummary(det.label, frame.offset_ms, frame.offset_ms, confidence,
                                                        frame.offset_ms, box)
            elif confidence > summary.best_confidence:
                summary.best_confidence, summary.best_ms, summary.best_box = confidence, frame.offset_ms, box
            summary.last_ms = frame.offset_ms
            summary.detections += 1
        analysed.append({"offset_ms": frame.offset_ms, "detections": found})
