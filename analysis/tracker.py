"""Links detections across frames into tracks (what the product calls sightings), at a few frames a second.

Analysis samples 2 frames a second by default: a walking pedestrian moves more than their own width between
two analysed frames, so plain IoU between boxes loses them. Per label, this tracker combines:

- **Motion**: a Kalman filter per track over box centre and size (:mod:`analysis.motion`), with the real time
  step between frames; a detection is a candidate for a track when its centre is within the prediction's
  99 % gate (Mahalanobis) and its size is compatible, or when it overlaps the predicted box well.
- **Two rounds (ByteTrack)**: detections at or above ``high_score`` are matched first, to every live or
  recently lost track; the remaining tracks then take low-score detections (``low_score`` to ``high_score``)
  that overlap their prediction. A person half hidden behind another keeps their track through the frames
  where the detector is unsure; low-score detections that continue no track are dropped, and only
  high-score ones start tracks.
- **Appearance** (:mod:`analysis.appearance`): colour histograms of the upper and lower body, averaged over
  the track; part of the matching cost, and required for re-linking a track lost for more than a second.
- **Look-alikes**: a confident detection left over after that, which looks very like a track left over
  (``look_alike``) and lies within ``max_speed`` box heights a second of where it was last seen, continues it
  with a fresh motion estimate: someone who turned sharply or started running lands outside the gate.
- **Lost tracks** stay matchable for ``max_lost_ms`` (longer for objects that have not moved: a parked car
  or a person standing still that the detector misses for a while stays one track).

The assignment is SciPy's Hungarian solver. Why our own tracker instead of a package's: ByteTrack and BoT-SORT
implementations (``supervision``, ``boxmot``) assume a constant frame rate of 25–30 fps in their motion
model and matching thresholds, pull OpenCV's GUI build or a re-identification model download into every
worker, and keep state in objects that cannot be saved between a camera's segments; here the whole state is
plain numbers (:meth:`Tracker.state`) that the next segment resumes. Measured against ground truth in
``analysis/eval`` (README, "Answer quality").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from . import appearance
from .detectors.base import Detection
from .motion import BoxFilter, MotionNoise, centre_distances, pack, predict_many, unpack, z_to_box

#: Squared Mahalanobis distance inside which 99 % of a 2-D Gaussian lies.
GATE_99 = 9.21
_FORBIDDEN = 1e6


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    high_score: float = 0.3
    low_score: float = 0.1
    max_lost_ms: int = 2500
    #: For a track whose centre never moved more than ``still_radius`` box heights from where it started.
    still_max_lost_ms: int = 60_000
    still_radius: float = 0.3
    #: IoU with the prediction that links a box whatever the motion gate says (and the low-score round's bar).
    overlap_iou: float = 0.3
    #: Box sizes within this ratio of the prediction's may be the same object.
    size_ratio: float = 1.7
    appearance_weight: float = 0.4
    #: Below this appearance similarity a track lost for more than ``relink_after_ms`` is not re-linked.
    relink_similarity: float = 0.55
    relink_after_ms: int = 1000
    #: The fallback for objects that leave their motion gate: this similar, and at most this fast.
    look_alike: float = 0.85
    max_speed: float = 2.0
    #: Weight of the newest appearance in the track's running average.
    appearance_update: float = 0.2
    noise: MotionNoise = field(default_factory=MotionNoise)


@dataclass(slots=True)
class _Track:
    id: int
    label: str
    filter: BoxFilter
    last_ms: int
    hits: int
    feature: np.ndarray | None
    origin: np.ndarray  # centre when first seen
    travelled: float  # farthest distance from the origin, in box heights
    last_box: np.ndarray  # where it was last seen

    def box(self) -> np.ndarray:
        return z_to_box(self.filter.mean)

    def still(self, config: TrackerConfig) -> bool:
        return self.hits >= 3 and self.travelled <= config.still_radius


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of ``a`` (N×4) and ``b`` (M×4), boxes as x1, y1, x2, y2."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


class Tracker:
    def __init__(self, config: TrackerConfig | None = None, *, next_id: int = 1) -> None:
        self.config = config or TrackerConfig()
        self.next_id = next_id
        self._tracks: list[_Track] = []

    # -- per frame -------------------------------------------------------------------------------------

    def update(self, offset_ms: int, detections: Sequence[Detection],
               image: np.ndarray | None = None) -> list[int | None]:
        """Track ids for the detections of the frame at ``offset_ms`` (same order as given).

        ``image`` (uint8 H×W×3, any size: boxes are normalised) enables appearance. A low-score detection
        that continues no track gets ``None``: it is not an object worth keeping.
        """
        config = self.config
        self._tracks = [t for t in self._tracks if offset_ms - t.last_ms <= self._patience(t)]
        ids: list[int | None] = [None] * len(detections)
        features: list[np.ndarray | None] = [None] * len(detections)
        by_label: dict[str, list[int]] = {}
        for i, d in enumerate(detections):
            if d.confidence >= config.low_score:
                by_label.setdefault(d.label, []).append(i)
        for label in sorted(by_label):
            idx = by_label[label]
            tracks = [t for t in self._tracks if t.label == label]
            high = [i for i in idx if detections[i].confidence >= config.high_score]
            # Low-score detections only continue tracks: most of them are of labels with none.
            low = [i for i in idx if detections[i].confidence < config.high_score] if tracks else []
            if image is not None:
                for i in high:
                    features[i] = appearance.describe(image, (detections[i].x1, detections[i].y1,
                                                              detections[i].x2, detections[i].y2))
            free = self._match(offset_ms, tracks, high, detections, features, ids, low_round=False)
            free = self._match_by_looks(offset_ms, free, [i for i in high if ids[i] is None], detections,
                                        features, ids)
            self._match(offset_ms, free, low, detections, features, ids, low_round=True)
            for i in high:
                if ids[i] is None:
                    ids[i] = self._start(offset_ms, detections[i], features[i])
        return ids

    def _patience(self, track: _Track) -> int:
        return self.config.still_max_lost_ms if track.still(self.config) else self.config.max_lost_ms

    def _match(self, now: int, tracks: list[_Track], idx: list[int], detections: Sequence[Detection],
               features: list[np.ndarray | None], ids: list[int | None], *, low_round: bool) -> list[_Track]:
        """Assign detections ``idx`` to ``tracks``; return the tracks left without one."""
        if not tracks or not idx:
            return tracks
        config = self.config
        boxes = np.array([[detections[i].x1, detections[i].y1, detections[i].x2, detections[i].y2] for i in idx])
        dts = np.array([(now - t.last_ms) / 1000 for t in tracks])
        z, centre_cov = predict_many([t.filter for t in tracks], dts, config.noise)
        iou = iou_matrix(np.stack([z_to_box(row) for row in z]), boxes)
        if low_round:
            cost = np.where(iou >= config.overlap_iou, 1 - iou, _FORBIDDEN)
        else:
            distance = centre_distances(z, centre_cov, boxes)
            heights = boxes[:, 3] - boxes[:, 1]
            ratio = np.maximum(heights[None, :] / z[:, 3:4], z[:, 3:4] / np.maximum(heights[None, :], 1e-6))
            allowed = ((distance <= GATE_99) & (ratio <= config.size_ratio)) | (iou >= config.overlap_iou)
            cost = 0.5 * (1 - iou) + 0.5 * np.minimum(distance / GATE_99, 1.0)
            with_feature = [r for r, t in enumerate(tracks) if t.feature is not None]
            if with_feature and all(features[i] is not None for i in idx):
                feats = np.stack([tracks[r].feature for r in with_feature])  # type: ignore[misc]
                sim = appearance.similarity(feats, np.stack([features[i] for i in idx]))  # type: ignore[misc]
                rows_ = np.array(with_feature)
                w = config.appearance_weight
                cost[rows_] = (1 - w) * cost[rows_] + w * (1 - sim)
                lost = dts[rows_] * 1000 > config.relink_after_ms
                allowed[rows_[lost]] &= sim[lost] >= config.relink_similarity
            cost = np.where(allowed, cost, _FORBIDDEN)
        rows, cols = linear_sum_assignment(cost)
        taken: set[int] = set()
        for r, c in zip(rows, cols, strict=True):
            if cost[r, c] >= _FORBIDDEN:
                continue
            i = idx[c]
            self._extend(tracks[r], now, boxes[c], features[i])
            ids[i] = tracks[r].id
            taken.add(r)
        return [t for r, t in enumerate(tracks) if r not in taken]

    def _match_by_looks(self, now: int, tracks: list[_Track], idx: list[int], detections: Sequence[Detection],
                        features: list[np.ndarray | None], ids: list[int | None]) -> list[_Track]:
        """The motion gate's fallback: an object that turned or sped up lands outside its prediction. A
        detection that looks very like a track (``look_alike``) and lies within reach of where it was last
        seen (``max_speed`` box heights a second) continues it."""
        config = self.config
        free = tracks
        tracks = [t for t in tracks if t.feature is not None]
        idx = [i for i in idx if features[i] is not None]
        if not tracks or not idx:
            return free
        boxes = np.array([[detections[i].x1, detections[i].y1, detections[i].x2, detections[i].y2] for i in idx])
        last = np.stack([t.last_box for t in tracks])
        heights = np.maximum(last[:, 3] - last[:, 1], 1e-3)
        dts = np.array([(now - t.last_ms) / 1000 for t in tracks])
        centres_t = (last[:, :2] + last[:, 2:]) / 2
        centres_d = (boxes[:, :2] + boxes[:, 2:]) / 2
        reach = np.linalg.norm(centres_d[None] - centres_t[:, None], axis=2) / heights[:, None]
        det_h = boxes[:, 3] - boxes[:, 1]
        ratio = np.maximum(det_h[None] / heights[:, None], heights[:, None] / np.maximum(det_h[None], 1e-6))
        sim = appearance.similarity(np.stack([t.feature for t in tracks]),  # type: ignore[misc]
                                    np.stack([features[i] for i in idx]))  # type: ignore[misc]
        allowed = ((sim >= config.look_alike) & (ratio <= config.size_ratio)
                   & (reach <= config.max_speed * dts[:, None] + 0.5))
        cost = np.where(allowed, 1 - sim, _FORBIDDEN)
        rows, cols = linear_sum_assignment(cost)
        taken: set[int] = set()
        for r, c in zip(rows, cols, strict=True):
            if cost[r, c] >= _FORBIDDEN:
                continue
            self._extend(tracks[r], now, boxes[c], features[idx[c]], restart=True)
            ids[idx[c]] = tracks[r].id
            taken.add(tracks[r].id)
        return [t for t in free if t.id not in taken]

    def _extend(self, track: _Track, now: int, box: np.ndarray, feature: np.ndarray | None, *,
                restart: bool = False) -> None:
        if restart:  # far from the prediction: the motion it had is not the motion it has
            track.filter = BoxFilter.start(box, self.config.noise)
        else:
            track.filter.update((now - track.last_ms) / 1000, box, self.config.noise)
        track.last_box = box
        track.last_ms, track.hits = now, track.hits + 1
        centre = (box[:2] + box[2:]) / 2
        height = max(box[3] - box[1], 1e-3)
        track.travelled = max(track.travelled, float(np.linalg.norm(centre - track.origin) / height))
        if feature is not None:
            if track.feature is None:
                track.feature = feature
            else:
                mixed = (1 - self.config.appearance_update) * track.feature + self.config.appearance_update * feature
                track.feature = mixed / max(float(np.linalg.norm(mixed)), 1e-9)

    def _start(self, now: int, det: Detection, feature: np.ndarray | None) -> int:
        box = np.array([det.x1, det.y1, det.x2, det.y2], dtype=np.float64)
        track = _Track(id=self.next_id, label=det.label, filter=BoxFilter.start(box, self.config.noise),
                       last_ms=now, hits=1, feature=feature, origin=(box[:2] + box[2:]) / 2, travelled=0.0,
                       last_box=box)
        self.next_id += 1
        self._tracks.append(track)
        return track.id

    # -- between segments ------------------------------------------------------------------------------

    def state(self, shift_ms: int = 0) -> dict[str, Any]:
        """JSON-safe state, with times moved by ``-shift_ms`` (to carry tracks into the next segment)."""
        return {
            "version": 2,
            "next_id": self.next_id,
            "tracks": [
                {"id": t.id, "label": t.label, **t.filter.state(), "last_ms": t.last_ms - shift_ms, "hits": t.hits,
                 "feature": None if t.feature is None else pack(t.feature.astype(np.float16)),
                 "origin": t.origin.tolist(), "travelled": t.travelled, "last_box": t.last_box.tolist()}
                for t in self._tracks
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, next_id: int | None = None,
                   config: TrackerConfig | None = None) -> Tracker:
        """Resume saved tracks; new tracks are numbered from ``next_id`` (default: where the state stopped).

        A state saved by the earlier IoU tracker (boxes and velocities, no version) resumes too: its tracks
        start new filters at their last box.
        """
        tracker = cls(config, next_id=int(state["next_id"]) if next_id is None else next_id)
        for t in state["tracks"]:
            if "mean" in t:
                motion = BoxFilter.from_state(t)
                origin = np.array(t["origin"], dtype=np.float64)
                travelled, feature = float(t["travelled"]), t.get("feature")
                last_box = np.array(t["last_box"], dtype=np.float64)
            else:
                last_box = np.array(t["box"], dtype=np.float64)
                motion = BoxFilter.start(last_box, tracker.config.noise)
                origin, travelled, feature = (last_box[:2] + last_box[2:]) / 2, 0.0, None
            tracker._tracks.append(_Track(
                id=int(t["id"]), label=str(t["label"]), filter=motion, last_ms=int(t["last_ms"]),
                hits=int(t["hits"]), feature=None if feature is None else unpack(feature, np.float16),
                origin=origin, travelled=travelled, last_box=last_box))
        return tracker
