"""Scores a tracker (and a confirmation rule) against ground truth, on stored detector output.

``track_dump`` replays a detector dump (:mod:`analysis.eval.dump`) through a tracker at an analysis rate, the
way the pipeline samples frames (the first frame at or after every ``1/fps`` seconds). ``evaluate`` then
computes, for people:

- the MOTChallenge figures from ``motmetrics`` (IDF1, ID switches, fragmentations, MOTA, precision, recall),
  on the analysed frames only, a hypothesis matching a ground-truth box at IoU ≥ 0.5;
- the product's own: **sightings per real person** (confirmed person sightings that belong to someone, over
  the people who got at least one), **people missed** (no confirmed sighting), **false sightings** (confirmed
  sightings of no one: a person box on a rock, a label nobody could see there) and their rate per hour.

A sighting belongs to the ground-truth person most of its matched detections match; one whose detections
match no one is false. Labels in ``real_labels`` other than person (the parked cars and van of vtest) have no
ground truth: they are counted apart, never as false. The confirmation rule is a parameter
(``confirmed(detections of one track, in time order) -> bool``): this package does not import the search app
that owns it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import motmetrics as mm
import numpy as np

from analysis.decode import fit_to_square
from analysis.detectors.base import Detection
from analysis.tracker import Tracker, iou_matrix

Confirm = Callable[[Sequence["Tracked"]], bool]
GroundTruth = list[tuple[int, int, list[float]]]


@dataclass(frozen=True, slots=True)
class Tracked:
    frame: int
    track: int
    label: str
    score: float
    box: tuple[float, float, float, float]


def sampled_frames(offsets_ms: Sequence[int], fps: float) -> list[int]:
    """Indices of the frames the pipeline analyses at ``fps`` (as :class:`analysis.decode.FrameSampler`)."""
    step, due, picked = 1.0 / fps, 0.0, []
    for n, ms in enumerate(offsets_ms):
        t = ms / 1000
        if t + 1e-6 < due:
            continue
        due = (math.floor(t / step + 1e-6) + 1) * step
        picked.append(n)
    return picked


def model_inputs(video: Path, frames: Sequence[int], side: int, mode: str = "stretch") -> dict[int, np.ndarray]:
    wanted, out = set(frames), {}
    with av.open(str(video)) as container:
        for n, frame in enumerate(container.decode(container.streams.video[0])):
            if n in wanted:
                out[n] = fit_to_square(frame, side, mode)[0]
    return out


def track_dump(dump: dict, fps: float, tracker: object, *, low_score: float,
               images: dict[int, np.ndarray] | None = None, frames: Sequence[int] | None = None) -> list[Tracked]:
    """Every detection the tracker kept (an id), at the frames analysed at ``fps``."""
    labels = dump["labels"]
    offsets = [ms for ms, _ in dump["frames"]]
    out: list[Tracked] = []
    for n in frames if frames is not None else sampled_frames(offsets, fps):
        rows = [r for r in dump["frames"][n][1] if r[1] >= low_score]
        dets = [Detection(labels[r[0]], r[1], *r[2:6]) for r in rows]
        image = images.get(n) if images is not None and isinstance(tracker, Tracker) else None
        ids = tracker.update(offsets[n], dets, image) if image is not None else tracker.update(offsets[n], dets)  # type: ignore[attr-defined]
        for det, track in zip(dets, ids, strict=True):
            if track is not None:
                out.append(Tracked(n, int(track), det.label, det.confidence, (det.x1, det.y1, det.x2, det.y2)))
    return out


@dataclass
class Scores:
    frames: int
    seconds: float
    people: int
    idf1: float = 0.0
    id_switches: int = 0
    fragmentations: int = 0
    mota: float = 0.0
    precision: float = 0.0
    recall: float = 0.0
    tracks: int = 0
    sightings: int = 0
    person_sightings: int = 0
    people_seen: int = 0
    sightings_per_person: float = 0.0
    false_sightings: int = 0
    false_per_hour: float = 0.0
    other_real: int = 0
    false_labels: Counter = field(default_factory=Counter)

    def row(self) -> dict[str, object]:
        return {
            "IDF1": round(self.idf1, 3), "ID sw": self.id_switches, "frag": self.fragmentations,
            "MOTA": round(self.mota, 3), "prec": round(self.precision, 3), "recall": round(self.recall, 3),
            "tracks": self.tracks, "sightings": self.sightings, "person sightings": self.person_sightings,
            "people": f"{self.people_seen}/{self.people}", "sightings/person": round(self.sightings_per_person, 2),
            "false": self.false_sightings, "false/h": round(self.false_per_hour), "vehicles": self.other_real,
            "false labels": dict(self.false_labels),
        }


def evaluate(tracked: Sequence[Tracked], gt: GroundTruth, frames: Sequence[int], seconds: float, *,
             confirmed: Confirm, real_labels: frozenset[str] = frozenset({"person", "car", "truck", "bus"})) -> Scores:
    by_track: dict[int, list[Tracked]] = {}
    for t in tracked:
        by_track.setdefault(t.track, []).append(t)
    kept = {tid for tid, dets in by_track.items() if confirmed(dets)}
    gt_by_frame: dict[int, list[tuple[int, list[float]]]] = {}
    for f, pid, box in gt:
        gt_by_frame.setdefault(f, []).append((pid, box))
    acc = mm.MOTAccumulator(auto_id=True)
    votes: dict[int, Counter] = {tid: Counter() for tid in kept}
    hyp_by_frame: dict[int, list[Tracked]] = {}
    for t in tracked:
        if t.track in kept and t.label == "person":
            hyp_by_frame.setdefault(t.frame, []).append(t)
    for f in frames:
        truth = gt_by_frame.get(f, [])
        hyps = hyp_by_frame.get(f, [])
        if truth and hyps:
            iou = iou_matrix(np.array([b for _, b in truth]), np.array([h.box for h in hyps]))
            dist = np.where(iou >= 0.5, 1 - iou, np.nan)
        else:
            iou, dist = np.zeros((len(truth), len(hyps))), np.full((len(truth), len(hyps)), np.nan)
        acc.update([p for p, _ in truth], [h.track for h in hyps], dist)
        for j, h in enumerate(hyps):
            if truth and iou[:, j].max() >= 0.5:
                votes[h.track][truth[int(iou[:, j].argmax())][0]] += 1
    summary = mm.metrics.create().compute(
        acc, metrics=["idf1", "num_switches", "num_fragmentations", "mota", "precision", "recall"], name="x")
    people = len({pid for _, pid, _ in gt})
    scores = Scores(frames=len(frames), seconds=seconds, people=people, tracks=len(by_track), sightings=len(kept))
    row = summary.loc["x"]
    scores.idf1, scores.id_switches = float(row["idf1"]), int(row["num_switches"])
    scores.fragmentations, scores.mota = int(row["num_fragmentations"]), float(row["mota"])
    scores.precision, scores.recall = float(row["precision"]), float(row["recall"])
    owners: Counter = Counter()
    for tid in kept:
        label = by_track[tid][0].label
        if label == "person" and votes[tid]:
            scores.person_sightings += 1
            owners[votes[tid].most_common(1)[0][0]] += 1
        elif label != "person" and label in real_labels:
            scores.other_real += 1
        else:
            scores.false_sightings += 1
            scores.false_labels[label] += 1
    scores.people_seen = len(owners)
    scores.sightings_per_person = scores.person_sightings / max(scores.people_seen, 1)
    scores.false_per_hour = scores.false_sightings / (seconds / 3600)
    return scores
