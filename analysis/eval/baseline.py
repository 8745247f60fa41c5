"""The IoU tracker Sightline used until the tracking evaluation: the baseline it is measured against.

Also the timid tracker that proposes tracklets for the ground-truth annotation (:mod:`analysis.eval.annotate`).

Why our own tracker instead of ``supervision``'s ByteTrack or ``norfair``: analysis samples only a few
frames per second, so motion models tuned for 25–30 fps add little; supervision pulls OpenCV's GUI build
and matplotlib into every worker; and a camera's tracker state must be saved between consecutive segments
(plain numbers here, see :meth:`IoUTracker.state`). The assignment itself is SciPy's Hungarian solver.

Per label, each live track predicts its box by constant velocity, then detections are assigned to tracks
maximising IoU; pairs below ``min_iou`` are not linked. A track not seen for ``max_gap_ms`` ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from analysis.detectors.base import Detection
from analysis.tracker import iou_matrix


@dataclass(slots=True)
class _Track:
    id: int
    label: str
    box: np.ndarray
    velocity: np.ndarray
    last_ms: int
    hits: int


class IoUTracker:
    def __init__(self, *, max_gap_ms: int = 3000, min_iou: float = 0.1, next_id: int = 1) -> None:
        self.max_gap_ms = max_gap_ms
        self.min_iou = min_iou
        self.next_id = next_id
        self._tracks: list[_Track] = []

    def update(self, offset_ms: int, detections: Sequence[Detection]) -> list[int]:
        """Assign a track id to each detection of the frame at ``offset_ms`` (same order as given)."""
        self._tracks = [t for t in self._tracks if offset_ms - t.last_ms <= self.max_gap_ms]
        ids = [0] * len(detections)
        for label in {d.label for d in detections}:
            det_idx = [i for i, d in enumerate(detections) if d.label == label]
            tracks = [t for t in self._tracks if t.label == label]
            boxes = np.array([[detections[i].x1, detections[i].y1, detections[i].x2, detections[i].y2]
                              for i in det_idx], dtype=np.float64)
            matched: set[int] = set()
            if tracks:
                predicted = np.stack([t.box + t.velocity * (offset_ms - t.last_ms) for t in tracks])
                iou = iou_matrix(predicted, boxes)
                rows, cols = linear_sum_assignment(-iou)
                for r, c in zip(rows, cols, strict=True):
                    if iou[r, c] < self.min_iou:
                        continue
                    track = tracks[r]
                    dt = max(offset_ms - track.last_ms, 1)
                    track.velocity = 0.5 * track.velocity + 0.5 * (boxes[c] - track.box) / dt
                    track.box, track.last_ms = boxes[c], offset_ms
                    track.hits += 1
                    ids[det_idx[c]] = track.id
                    matched.add(c)
            for c, i in enumerate(det_idx):
                if c in matched:
                    continue
                track = _Track(id=self.next_id, label=label, box=boxes[c], velocity=np.zeros(4),
                               last_ms=offset_ms, hits=1)
                self.next_id += 1
                self._tracks.append(track)
                ids[i] = track.id
        return ids

    def state(self, shift_ms: int = 0) -> dict[str, Any]:
        """JSON-safe state, with times moved by ``-shift_ms`` (to carry tracks into the next segment)."""
        return {
            "next_id": self.next_id,
            "tracks": [
                {"id": t.id, "label": t.label, "box": t.box.tolist(), "velocity": t.velocity.tolist(),
                 "last_ms": t.last_ms - shift_ms, "hits": t.hits}
                for t in self._tracks
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, next_id: int | None = None, **kwargs: Any) -> IoUTracker:
        """Resume saved tracks; new tracks are numbered from ``next_id`` (default: where the state stopped)."""
        tracker = cls(next_id=int(state["next_id"]) if next_id is None else next_id, **kwargs)
        tracker._tracks = [
            _Track(id=int(t["id"]), label=str(t["label"]), box=np.array(t["box"], dtype=np.float64),
                   velocity=np.array(t["velocity"], dtype=np.float64), last_ms=int(t["last_ms"]),
                   hits=int(t["hits"]))
            for t in state["tracks"]
        ]
        return tracker
