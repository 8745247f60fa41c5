"""One clip's analysis: decode → batch → detect → track → append to the event log.

The detector runs in a thread of its own, one batch ahead (:func:`_detected_ahead`): while it works on batch
k + 1, the calling thread decodes batch k + 2 and tracks, describes and appends batch k. The detector's
runtimes release the GIL, so on a GPU the rest of the pipeline hides behind inference; on a CPU it takes what
the detector leaves idle, which on this project's 2 cores, where a batch's frames already keep both busy, is
little (pipeline ÷ bare detector in ``benchmarks/bench_pipeline.py``). On a GPU, decoding runs in its own
thread too and fills a bounded queue, so the detector is never starved by the decoder. At most two batches
are in flight, so memory stays bounded. Everything a batch produced is appended in one transaction with a
progress event; the appends are idempotent, so running the same clip twice appends nothing the second time.
After each batch the pipeline reports its progress through ``on_progress``.

The privacy pass (``analysis.privacy``, optional) runs on every analysed frame's source picture after the
object detector: faces (and plates) are tracked by a tracker of their own and appended as ``object.detected``
events with their own model id, without thumbnails; the projections never make them sightings.

This module writes only to the event log (and thumbnails to media storage): the job's ``Clip`` row belongs
to the task (``analysis.tasks``), search indices to the projections.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np

from backend.clips.models import Clip
from backend.eventlog.log import EventLog, NewEvent
from backend.eventlog.models import EventType
from backend.eventlog.schema import PRIVACY_LABELS, analysis_key, detection_key, thumbnail_name

from . import appearance, colors, thumbnails
from .decode import FrameSampler, SampledFrame
from .detectors.base import Detection, Detector, to_frame
from .privacy import PrivacyDetectors
from .tracker import Tracker, TrackerConfig

log = logging.getLogger(__name__)

#: Track ids are ``clip_id << TRACK_ID_BITS | n``: unique across clips, stable across re-runs, and below
#: 2**53 (exact in JSON and JavaScript) for clip ids under 2**33.
TRACK_ID_BITS = 20
#: The privacy pass's tracks are numbered from here in the clip's id space (its upper half), so that they never
#: take an id of the object tracker's.
PRIVACY_TRACK_OFFSET = 1 << (TRACK_ID_BITS - 1)
#: Where a clip's tracker state keeps the privacy tracker's (beside the object tracker's own keys).
PRIVACY_STATE = "privacy"
#: Every face or plate the privacy detectors report (each at its own threshold) starts or continues a track.
PRIVACY_TRACKING = TrackerConfig(high_score=0.0, low_score=0.0)
PROGRESS_STEP = 0.1


def track_id_base(clip_id: int) -> int:
    return clip_id << TRACK_ID_BITS


def _shift_ms(clip: Clip, previous: Clip) -> int:
    return round((clip.started_at - previous.started_at).total_seconds() * 1000)


def _resumed(state: dict[str, Any], shift_ms: int, first_id: int, config: TrackerConfig) -> Tracker:
    """The live tracks of a saved state, moved to a time origin ``shift_ms`` later; new ids from ``first_id``."""
    moved = {**state, "tracks": [{**t, "last_ms": t["last_ms"] - shift_ms} for t in state["tracks"]]}
    return Tracker.from_state(moved, next_id=first_id, config=config)


@dataclass
class AnalysisResult:
    frames: int = 0
    detections: int = 0
    tracks: set[int] = field(default_factory=set)
    #: Faces and plates appended (never sightings: not in ``detections`` or ``tracks``).
    privacy_detections: int = 0
    warning: str | None = None
    tracker_state: dict[str, Any] | None = None


@dataclass
class _Best:
    confidence: float
    thumbnail: str


_DONE = object()


def _prefetch(sampler: FrameSampler, depth: int) -> Iterator[SampledFrame]:
    """Run ``sampler`` in a thread, handing frames over through a bounded queue."""
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for frame in sampler:
                while not stop.is_set():
                    try:
                        handoff.put(frame, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            handoff.put(exc)

    thread = threading.Thread(target=produce, name="clip-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _batches(frames: Iterable[SampledFrame], size: int) -> Iterator[list[SampledFrame]]:
    batch: list[SampledFrame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _detected_ahead(detector: Detector, batches: Iterator[list[SampledFrame]], min_confidence: float,
                    ) -> Iterator[tuple[list[SampledFrame], list[list[Detection]]]]:
    """Each batch with its detections, in order, the detector working one batch ahead in its own thread.

    The next batch is taken from ``batches`` (decoded, in the caller's thread) and handed to the detector
    before the current one is yielded, so decoding it and everything the caller does with the current batch
    overlap the detector's work on it. An error of the detector is raised where its batch would have been
    yielded; when the caller stops early (an error of its own), the batch in flight is finished and dropped.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-detect") as detecting:
        def submit(batch: list[SampledFrame]) -> Future[list[list[Detection]]]:
            return detecting.submit(detector.detect, np.stack([f.model_rgb for f in batch]), min_confidence)

        current = next(batches, None)
        pending = submit(current) if current is not None else None
        while current is not None and pending is not None:
            following = next(batches, None)
            ahead = submit(following) if following is not None else None
            detections = pending.result()
            yield current, detections
            current, pending = following, ahead


class ClipAnalysis:
    def __init__(self, clip: Clip, detector: Detector, *, batch_size: int, min_confidence: float,
                 low_confidence: float | None = None, input_mode: str = "stretch",
                 on_progress: Callable[[float, AnalysisResult], None] | None = None,
                 privacy: PrivacyDetectors | None = None) -> None:
        """``min_confidence``: detections at or above it are stored and may start tracks; from
        ``low_confidence`` (default: the same) up to it, only those that continue a track are stored.
        ``privacy``: the privacy pass to run on every frame (``analysis.privacy.privacy_for``); ``None``: none."""
        self.clip = clip
        self.detector = detector
        self.batch_size = batch_size
        self.min_confidence = min_confidence
        self.low_confidence = min(low_confidence if low_confidence is not None else min_confidence, min_confidence)
        self.input_mode = input_mode
        self.on_progress = on_progress
        #: The previous segment whose tracker state this analysis resumed, if any.
        self.resumed_from: int | None = None
        self.privacy = privacy if privacy else None
        self._privacy_models = self.privacy.model_ids() if self.privacy else {}
        self.tracker = self._tracker_for(clip)
        self.privacy_tracker = self._privacy_tracker_for(clip) if self.privacy else None
        self._best: dict[int, _Best] = {}
        self._stale_thumbnails: list[str] = []
        self._next_progress = PROGRESS_STEP

    def _tracker_for(self, clip: Clip) -> Tracker:
        """A fresh tracker, or the previous segment's live tracks moved to this clip's time origin.

        New tracks are numbered in this clip's own id space either way, so ids never depend on how many
        segments came before, and re-running a clip gives the same ids.
        """
        first_id = track_id_base(clip.pk) + 1
        config = TrackerConfig(high_score=self.min_confidence, low_score=self.low_confidence)
        previous = clip.previous_segment()
        if previous is None or not previous.tracker_state:
            return Tracker(config, next_id=first_id)
        self.resumed_from = previous.pk
        return _resumed(previous.tracker_state, _shift_ms(clip, previous), first_id, config)

    def _privacy_tracker_for(self, clip: Clip) -> Tracker:
        """The privacy pass's own tracker (its thresholds are the detectors'), resumed like the object
        tracker from the state the previous segment saved under :data:`PRIVACY_STATE`; a state saved before
        there was a privacy pass has none, and the faces start fresh."""
        first_id = track_id_base(clip.pk) + PRIVACY_TRACK_OFFSET + 1
        previous = clip.previous_segment()
        state = (previous.tracker_state or {}).get(PRIVACY_STATE) if previous is not None else None
        if previous is None or not state:
            return Tracker(PRIVACY_TRACKING, next_id=first_id)
        self.resumed_from = previous.pk
        return _resumed(state, _shift_ms(clip, previous), first_id, PRIVACY_TRACKING)

    def run(self) -> AnalysisResult:
        clip, camera = self.clip, self.clip.camera
        sampler = FrameSampler(clip.file.path, camera.analysis_fps, self.detector.input_size, self.input_mode)
        expected = max(1, int((clip.duration_s or 0) * camera.analysis_fps) + 1)
        result = AnalysisResult()
        # On a GPU, decoding in a thread overlaps inference. On a CPU the detector already uses every core,
        # and a decoder thread beside it slows each of its parallel steps more than decoding in turn costs.
        on_gpu = getattr(getattr(self.detector, "device", None), "type", "cpu") != "cpu"
        frames = _prefetch(sampler, depth=2 * self.batch_size) if on_gpu else iter(sampler)
        for batch, per_frame in _detected_ahead(self.detector, _batches(frames, self.batch_size),
                                                self.low_confidence):
            self._process(batch, per_frame, result, expected)
        for name in self._stale_thumbnails:
            thumbnails.delete(name)
        result.warning = sampler.error or self._truncation(sampler)
        result.tracker_state = self.tracker.state()
        if self.privacy_tracker is not None:
            result.tracker_state[PRIVACY_STATE] = self.privacy_tracker.state()
        return result

    def _truncation(self, sampler: FrameSampler) -> str | None:
        """A file cut short often decodes cleanly up to its end: compare with the duration it declares."""
        declared = self.clip.duration_s
        if not declared or sampler.frames_decoded == 0:
            return None
        if sampler.last_time + 1.0 < declared * 0.98:
            return (f"the video ends at {sampler.last_time:.1f} s of the {declared:.1f} s it declares: "
                    "the file looks truncated; what it holds was analysed")
        return None

    def _process(self, batch: list[SampledFrame], per_frame: list[list[Detection]], result: AnalysisResult,
                 expected: int) -> None:
        events: list[NewEvent] = []
        clip = self.clip
        objects: list[list[Detection]] = []  # each frame's tracked objects, for the privacy pass
        for frame, found in zip(batch, per_frame, strict=True):
            detections = found if frame.scale == (1.0, 1.0) else [
                d for d in (to_frame(d, frame.scale) for d in found) if d.x2 > d.x1 and d.y2 > d.y1]
            track_ids = self.tracker.update(frame.offset_ms, detections, frame.model_rgb)
            at = clip.started_at + timedelta(milliseconds=frame.offset_ms)
            kept = [(d, t) for d, t in zip(detections, track_ids, strict=True) if t is not None]
            for ordinal, (det, track) in enumerate(kept):
                confidence = round(det.confidence, 5)
                appearance = self._keep_thumbnail_if_best(frame, det, confidence, track, ordinal)
                events.append(NewEvent(
                    key=detection_key(clip.pk, self.detector.model_id, frame.offset_ms, ordinal),
                    type=EventType.OBJECT_DETECTED, time=at, camera_id=clip.camera_id, clip_id=clip.pk,
                    label=det.label, confidence=confidence, x1=det.x1, y1=det.y1, x2=det.x2,
                    y2=det.y2, track=track, offset_ms=frame.offset_ms, model=self.detector.model_id,
                    data=appearance,
                ))
                result.tracks.add(track)
            result.detections += len(kept)
            objects.append([d for d, _ in kept])
        if self.privacy is not None:
            events += self._privacy_pass(batch, objects, result)
        result.frames += len(batch)
        progress = min(result.frames / expected, 0.99)
        if progress >= self._next_progress:
            step = int(progress / PROGRESS_STEP) * PROGRESS_STEP
            self._next_progress = step + PROGRESS_STEP
            events.append(NewEvent(
                key=analysis_key(f"progress{round(step * 100)}", clip.pk, self.detector.model_id),
                type=EventType.ANALYSIS_PROGRESS,
                time=clip.started_at, camera_id=clip.camera_id, clip_id=clip.pk,
                data={"progress": round(step, 2), "frames": result.frames},
            ))
        EventLog.append(events)
        if self.on_progress:
            self.on_progress(progress, result)

    def _privacy_pass(self, batch: list[SampledFrame], objects: list[list[Detection]],
                      result: AnalysisResult) -> list[NewEvent]:
        """The batch's faces (and plates) as tracked detection events; no thumbnails: they are never shown.
        The frames' faces are found side by side (``PrivacyDetectors.find_many``), then tracked in order."""
        assert self.privacy is not None and self.privacy_tracker is not None
        clip = self.clip
        per_frame = self.privacy.find_many([(frame.full_rgb, found) for frame, found in zip(batch, objects,
                                                                                             strict=True)])
        events: list[NewEvent] = []
        for frame, found_in_frame in zip(batch, per_frame, strict=True):
            found = [d for d in found_in_frame if d.x2 > d.x1 and d.y2 > d.y1]
            track_ids = self.privacy_tracker.update(frame.offset_ms, found, frame.full_rgb)
            at = clip.started_at + timedelta(milliseconds=frame.offset_ms)
            ordinals: dict[str, int] = {}
            for det, track in zip(found, track_ids, strict=True):
                model = self._privacy_models.get(det.label)
                if track is None or model is None:
                    continue
                ordinal = ordinals[model] = ordinals.get(model, -1) + 1
                events.append(NewEvent(
                    key=detection_key(clip.pk, model, frame.offset_ms, ordinal), type=EventType.OBJECT_DETECTED,
                    time=at, camera_id=clip.camera_id, clip_id=clip.pk, label=det.label,
                    confidence=round(det.confidence, 5), x1=det.x1, y1=det.y1, x2=det.x2, y2=det.y2,
                    track=track, offset_ms=frame.offset_ms, model=model,
                ))
        result.privacy_detections += len(events)
        return events

    def _keep_thumbnail_if_best(self, frame: SampledFrame, det: Detection, confidence: float, track: int,
                                ordinal: int) -> dict[str, Any]:
        """Write a thumbnail when a detection becomes its track's best in this clip (before its event), and
        name its colours (:mod:`analysis.colors`) and describe its appearance for "find similar": the event's
        data, which the sighting takes with its best detection. Other detections get neither (``{}``): only
        the best one's are ever shown or searched.

        ``confidence`` is the stored (rounded) value, so the choice matches the sighting projection's. None
        for the privacy labels (a detector that reported one): they are never shown.
        """
        if det.label in PRIVACY_LABELS:
            return {}
        best = self._best.get(track)
        if best is not None and confidence <= best.confidence:
            return {}
        name = thumbnail_name(self.clip.pk, frame.offset_ms, ordinal)
        thumbnails.save(name, thumbnails.crop(frame.full_rgb, det))
        if best is not None:
            self._stale_thumbnails.append(best.thumbnail)
        self._best[track] = _Best(confidence, name)
        box = (det.x1, det.y1, det.x2, det.y2)
        found: dict[str, Any] = colors.describe(frame.full_rgb, box, det.label).as_dict()
        # What "find similar" compares: the tracker's own appearance descriptor (``analysis.appearance``:
        # colour histograms of the upper and lower body), which tells people apart better than the
        # detector's features (README, "Answer quality"). Unit length, or left out when the crop is empty.
        embedding = appearance.describe(frame.full_rgb, box)
        if embedding.any():
            found["embedding"] = [round(float(v), 4) for v in embedding]
        return found
