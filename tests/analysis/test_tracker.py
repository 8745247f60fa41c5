from __future__ import annotations

from analysis.detectors.base import Detection
from analysis.tracker import IoUTracker


def box(x: float, label: str = "person", conf: float = 0.8) -> Detection:
    return Detection(label, conf, x, 0.2, x + 0.1, 0.6)


def test_a_walking_object_keeps_one_id():
    tracker = IoUTracker()
    ids = [tracker.update(t * 500, [box(0.1 + 0.02 * t)])[0] for t in range(20)]
    assert len(set(ids)) == 1


def test_two_objects_keep_their_ids_whatever_the_order():
    tracker = IoUTracker()
    a, b = tracker.update(0, [box(0.1), box(0.6)])
    b2, a2 = tracker.update(500, [box(0.61), box(0.11)])
    assert (a2, b2) == (a, b) and a != b


def test_labels_never_share_a_track():
    tracker = IoUTracker()
    person = tracker.update(0, [box(0.1)])[0]
    car = tracker.update(500, [box(0.1, label="car")])[0]
    assert car != person


def test_a_track_ends_after_the_gap():
    tracker = IoUTracker(max_gap_ms=1000)
    first = tracker.update(0, [box(0.1)])[0]
    assert tracker.update(900, [box(0.1)])[0] == first
    assert tracker.update(2500, [box(0.1)])[0] != first


def test_state_round_trip_continues_tracks_into_the_next_segment():
    tracker = IoUTracker(next_id=100)
    first = tracker.update(9500, [box(0.1)])[0]
    resumed = IoUTracker.from_state(tracker.state(shift_ms=10_000))
    assert resumed.update(200, [box(0.11), box(0.7)]) == [first, 101]
