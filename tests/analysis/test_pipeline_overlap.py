"""The detector works one batch ahead of the rest of the pipeline, in a thread of its own
(``analysis.pipeline._detected_ahead``): the batches come back in order, each with its own detections, an
error of the detector fails the analysis where it happened, and the rest of a clip's analysis (tracking,
thumbnails, appends) runs while the detector works on the next batch."""

from __future__ import annotations

import os
import shutil
import threading
from datetime import UTC, datetime

import pytest
from django.core.files.storage import default_storage

from analysis.decode import probe
from analysis.detectors.base import Detection
from analysis.pipeline import ClipAnalysis
from backend.clips.services import register_clip, storage_name_for
from backend.eventlog import log as event_log
from backend.eventlog.models import Event, EventType

START = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


@pytest.fixture
def clip(cameras, footage_h264, own_media):
    lobby, _ = cameras
    name = storage_name_for(lobby, ".mp4")
    target = default_storage.path(name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy(footage_h264, target)
    return register_clip(camera=lobby, stored_name=name, info=probe(target), queue=False, started_at=START)


class Marking:
    """Sees one person per frame, placed by the frame's mean brightness (so each frame's box is its own), and
    records which batches it was given, in which thread."""

    model_id = "marking"
    input_size = 64
    labels = ("person",)

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[tuple[int, str]] = []
        self.started = [threading.Event() for _ in range(64)]
        self.fail_at = fail_at

    def detect(self, frames, min_confidence):
        batch = len(self.calls)
        self.calls.append((len(frames), threading.current_thread().name))
        self.started[batch].set()
        if batch == self.fail_at:
            raise RuntimeError("the detector broke")
        return [[Detection("person", 0.9, 0.1, 0.1, 0.3 + float(f.mean()) / 1000, 0.6)] for f in frames]


def _analysis(clip, detector) -> ClipAnalysis:
    return ClipAnalysis(clip, detector, batch_size=4, min_confidence=0.3)


def test_each_batch_comes_back_in_order_with_its_own_detections(clip, cameras):
    detector = Marking()
    result = _analysis(clip, detector).run()
    assert result.frames == 16 and [n for n, _ in detector.calls] == [4, 4, 4, 4]
    assert {thread for _, thread in detector.calls} != {threading.current_thread().name}
    rows = Event.objects.filter(clip_id=clip.pk, type=EventType.OBJECT_DETECTED).order_by("offset_ms")
    offsets = list(rows.values_list("offset_ms", flat=True))
    assert offsets == sorted(offsets) and len(offsets) == 16 and len(set(offsets)) == 16
    # The same frames, detected one at a time in this thread, give the boxes the pipeline stored for them.
    from analysis.decode import FrameSampler

    frames = list(FrameSampler(clip.file.path, clip.camera.analysis_fps, 64))
    expected = {f.offset_ms: Marking().detect(f.model_rgb[None], 0.3)[0][0].y2 for f in frames}
    assert {r.offset_ms: r.y2 for r in rows} == pytest.approx(expected)


def test_the_next_batch_is_detected_while_the_last_one_is_appended(clip, monkeypatch):
    """The first batch's append waits until the detector has started on the second: in a pipeline that
    detects and appends in turn, that never happens (and the wait times out)."""
    detector = Marking()
    real_append = event_log.EventLog.append
    overlapped: list[bool] = []

    def append(events, **kwargs):
        if not overlapped:
            overlapped.append(detector.started[1].wait(timeout=10))
        return real_append(events, **kwargs)

    monkeypatch.setattr(event_log.EventLog, "append", staticmethod(append))
    _analysis(clip, detector).run()
    assert overlapped == [True]


def test_an_error_of_the_detector_fails_the_analysis_after_what_came_before(clip):
    detector = Marking(fail_at=2)
    with pytest.raises(RuntimeError, match="the detector broke"):
        _analysis(clip, detector).run()
    stored = Event.objects.filter(clip_id=clip.pk, type=EventType.OBJECT_DETECTED).count()
    assert stored == 8  # the two batches before the error, and nothing after it
    assert len(detector.calls) <= 4  # at most the one batch already handed over after it: dropped
