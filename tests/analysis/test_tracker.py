from __future__ import annotations

import numpy as np

from analysis.detectors.base import Detection
from analysis.eval.baseline import IoUTracker
from analysis.tracker import Tracker, TrackerConfig


def box(x: float, label: str = "person", conf: float = 0.8, y: float = 0.2, w: float = 0.1,
        h: float = 0.4) -> Detection:
    return Detection(label, conf, x, y, x + w, y + h)


def test_a_walking_object_keeps_one_id():
    tracker = Tracker()
    ids = [tracker.update(t * 500, [box(0.1 + 0.02 * t)])[0] for t in range(20)]
    assert len(set(ids)) == 1


def test_a_pedestrian_moving_more_than_their_width_per_analysed_frame_keeps_one_id():
    # At 2 frames/s a walker moves 1.3 box widths between frames: the boxes never overlap.
    steps = [box(0.05 + 0.13 * t, w=0.1) for t in range(7)]
    tracker = Tracker()
    ids = [tracker.update(t * 500, [d])[0] for t, d in enumerate(steps)]
    assert len(set(ids)) == 1
    baseline = IoUTracker()  # what Sightline did before: a new sighting at every step
    assert len({baseline.update(t * 500, [d])[0] for t, d in enumerate(steps)}) == len(steps)


def test_two_objects_keep_their_ids_whatever_the_order():
    tracker = Tracker()
    a, b = tracker.update(0, [box(0.1), box(0.6)])
    b2, a2 = tracker.update(500, [box(0.61), box(0.11)])
    assert (a2, b2) == (a, b) and a != b


def _picture(people: list[tuple[Detection, tuple[int, int, int]]]) -> np.ndarray:
    image = np.full((200, 400, 3), 128, dtype=np.uint8)
    for det, colour in people:
        image[int(det.y1 * 200):int(det.y2 * 200), int(det.x1 * 400):int(det.x2 * 400)] = colour
    return image


def test_people_who_meet_and_turn_back_keep_their_identity_by_appearance():
    """Red walks right, blue walks left; they meet and both turn back. Motion alone predicts each where the
    other now is; the colours of their clothes tell them apart."""
    red, blue = (200, 30, 30), (30, 30, 200)
    xs = [0.2, 0.25, 0.3, 0.35, 0.4, 0.35, 0.3, 0.25, 0.2]
    seen: dict[str, set[int | None]] = {"red": set(), "blue": set()}
    for config, expect_kept in ((TrackerConfig(), True), (TrackerConfig(appearance_weight=0.0), False)):
        tracker = Tracker(config)
        seen = {"red": set(), "blue": set()}
        for t, x in enumerate(xs):
            frame = [(box(x), red), (box(0.75 - x), blue)]
            ids = tracker.update(t * 500, [d for d, _ in frame], _picture(frame))
            seen["red"].add(ids[0])
            seen["blue"].add(ids[1])
        kept = len(seen["red"]) == 1 and len(seen["blue"]) == 1 and seen["red"] != seen["blue"]
        assert kept is expect_kept, config


def test_low_score_detections_continue_tracks_but_never_start_one():
    tracker = Tracker(TrackerConfig(high_score=0.3, low_score=0.1))
    assert tracker.update(0, [box(0.5, conf=0.15)]) == [None]  # nothing to continue: dropped
    first = tracker.update(500, [box(0.1)])[0]
    # Half hidden: the detector is unsure, the track goes on.
    assert tracker.update(1000, [box(0.11, conf=0.15), box(0.7, conf=0.12)]) == [first, None]
    assert tracker.update(1500, [box(0.12)]) == [first]


def test_labels_never_share_a_track():
    tracker = Tracker()
    person = tracker.update(0, [box(0.1)])[0]
    car = tracker.update(500, [box(0.1, label="car")])[0]
    assert car != person


def test_a_track_ends_after_the_gap():
    tracker = Tracker(TrackerConfig(max_lost_ms=1000))
    first = tracker.update(0, [box(0.1)])[0]
    assert tracker.update(900, [box(0.1)])[0] == first
    assert tracker.update(2500, [box(0.5)])[0] != first


def test_a_still_object_missed_for_a_long_while_stays_one_track():
    tracker = Tracker(TrackerConfig(max_lost_ms=2000, still_max_lost_ms=60_000))
    parked = box(0.6, label="car", w=0.2, h=0.15)
    ids = {tracker.update(t * 500, [parked])[0] for t in range(6)}
    ids.add(tracker.update(3000 + 25_000, [parked])[0])  # 25 s without a detection
    assert len(ids) == 1


def test_state_round_trip_continues_tracks_into_the_next_segment():
    tracker = Tracker(next_id=100)
    first = tracker.update(9000, [box(0.1)])[0]
    assert tracker.update(9500, [box(0.1)])[0] == first
    resumed = Tracker.from_state(tracker.state(shift_ms=10_000))
    assert resumed.update(200, [box(0.11), box(0.7)]) == [first, 101]


def test_a_state_saved_by_the_earlier_tracker_resumes():
    old = IoUTracker(next_id=7)
    first = old.update(9500, [box(0.1)])[0]
    resumed = Tracker.from_state(old.state(shift_ms=10_000))
    assert resumed.update(200, [box(0.105)]) == [first]


def test_someone_who_turns_sharply_keeps_their_track_by_appearance():
    """A runner turns back: the new position is far outside the motion gate, the clothes are the same."""
    green = (30, 180, 60)
    xs = [0.1, 0.2, 0.3, 0.4, 0.5, 0.35, 0.2]
    for config, expected in ((TrackerConfig(), 1), (TrackerConfig(look_alike=1.01), 2)):
        tracker = Tracker(config)
        ids = {tracker.update(t * 500, [box(x)], _picture([(box(x), green)]))[0] for t, x in enumerate(xs)}
        assert len(ids) >= expected and (expected == 1) == (len(ids) == 1), (config, ids)
