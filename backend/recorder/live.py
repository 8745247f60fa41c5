"""Live view: HLS made from the recorder's own connection while someone watches, faces masked.

Cameras accept few connections and the recorder already holds one, so a live view is a *tap* on the
recorder's packet loop (:class:`backend.recorder.segmenter.CameraWorker`), never a second connection.

Demand (:mod:`backend.recorder.models`): the web endpoint records who watches which camera in which variant
until when; each camera's :class:`LiveTaps` looks at it every ``LIVE_POLL_S`` (a query from the recording
thread, as cheap as its ``last_seen_at`` write), starts a tap for each variant wanted and stops it once none
is (``LIVE_IDLE_S`` after the last playlist fetch). A tap that fails is logged and started again after a
backoff (2, 4, … 60 s) while it is still wanted.

Variants, each a folder ``DATA_DIR/live/<camera>/<variant>/`` of its own (``index.m3u8`` and ``s<n>.ts``),
emptied when its tap starts and removed when it stops:

``faces`` (:class:`MaskedTap`): decode, detect faces (CenterFace, ``analysis.faces``, at
  ``LIVE_FACE_INPUT_SIDE``: 320 by default, about 50 ms a frame on one busy core of the 2-core test machine),
  pixelate them (``backend.exports.masks.pixelate_yuv420``, the exports' mosaic, padded by ``MASK_PADDING`` +
  ``LIVE_MASK_MOTION_PADDING``), encode H.264 (libx264, ``zerolatency``, an IDR forced every
  ``LIVE_SEGMENT_S`` so each segment starts with one) and write HLS (MPEG-TS segments: each decodes on its own,
  the simplest thing players and tests can read). The folder of this variant never holds an unmasked frame:
  frames are written only after they were masked.
``clear`` (:class:`ClearTap`): the camera's packets remuxed into HLS as they are (no decoding, no CPU to
  speak of), for cameras that mask nothing and for users who may unmask and ask for it. Segments are cut at
  the camera's own key frames, so they last its GOP (``hls_time`` is a minimum).

Which frames are detected: every frame the tap can afford. The cost of a detection and of the rest of a
frame are measured as it runs; detection runs on every ``n``-th frame where ``n`` is the smallest that keeps up
with the camera's frame rate, and never less often than every ``LIVE_DETECT_MAX_INTERVAL_S`` of video. The
frames between two detected frames wait (at most that interval, which adds to the delay) and are masked
with the boxes of both (a face that walks in between is masked from the detection that follows it, not
shown until then) and with the hull of each pair of overlapping boxes of the two (the path of a moving face).
Every box also stays masked ``LIVE_MASK_HOLD_S`` after it was detected (the detector misses a face now and
then: a turned head, motion blur). Faces are looked for from ``LIVE_FACE_MIN_CONFIDENCE`` (0.3), below the
analysis threshold (``FACE_MIN_CONFIDENCE``, 0.4): live masking errs towards masking. What it cannot do:
mask a face the detector never finds (a face too small for the input side: raise ``LIVE_FACE_INPUT_SIDE``).

``faces_plates`` and ``persons`` (:class:`PlatesTap`, :class:`PersonsTap`): the same, with the object
detector run live as well (:mod:`backend.recorder.live_finders`): plates in its vehicles, or its persons
whole. It costs several times the face detector, so fewer frames are detected and more wait between two
detections (measured: ``benchmarks/bench_live_view.py``).

Never blocking the recording: the recording thread hands each tap a copy of every video packet (its bytes
and timestamps: no PyAV object crosses threads) through a bounded queue (``LIVE_QUEUE_PACKETS``). A full
queue drops the packet and every packet after it up to the next key frame (a whole GOP, so that decoding
stays correct); a tap whose next packet is older than ``LIVE_MAX_BEHIND_S`` also skips to the next key frame.
Both are counted (:class:`TapStats`: ``dropped_packets``, ``dropped_gops``) and logged at most once a minute.
The output then jumps ahead in time (its timestamps follow the camera's), which players handle as a skip.

Delay, measured by each tap (:attr:`TapStats.segment_delays`, and ``benchmarks/bench_live_view.py``): from the
capture of a segment's first frame (estimated from the packets' arrival: the earliest arrival of a packet,
less its decoding timestamp, is taken for the capture clock) to the moment the playlist lists that segment, i.e.
when it can be fetched: one segment plus the processing. Players add their own buffer (about three segments
behind the live edge for hls.js and Safari).

Never log the stream URL (it carries the password); messages go through ``redact`` as in the segmenter.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import re
import shutil
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np
from django.conf import settings
from django.db import DatabaseError, connection

from backend.sightline.logs import bind_log_context
from backend.sightline.redaction import redact

from .live_finders import Norm, mask_boxes
from .models import LiveVariant, wanted_variants

log = logging.getLogger(__name__)

PLAYLIST = "index.m3u8"
#: The only names a live segment has (the HLS muxer's ``s%d.ts``); anything else is not served.
SEGMENT_NAME = re.compile(r"^s[0-9]{1,20}\.ts$")
#: A playlist not rewritten for this long (beyond a few segments) belongs to a tap that is gone.
STALE_AFTER_S = 5.0


def live_root() -> Path:
    return Path(settings.SIGHTLINE.DATA_DIR) / "live"


def live_dir(camera_id: int, variant: str) -> Path:
    if variant not in LiveVariant.values:
        raise ValueError(f"unknown live variant {variant!r}")
    return live_root() / str(int(camera_id)) / variant


@dataclass(frozen=True, slots=True)
class LiveSettings:
    segment_s: float
    list_size: int
    poll_s: float
    queue_packets: int
    max_behind_s: float
    face_input_side: int
    face_min_confidence: float
    object_min_confidence: float
    padding: float
    hold_s: float
    max_detect_interval_s: float
    max_height: int
    threads: int
    enabled: bool

    @classmethod
    def current(cls) -> LiveSettings:
        c = settings.SIGHTLINE
        return cls(segment_s=c.LIVE_SEGMENT_S, list_size=c.LIVE_LIST_SIZE, poll_s=c.LIVE_POLL_S,
                   queue_packets=c.LIVE_QUEUE_PACKETS, max_behind_s=c.LIVE_MAX_BEHIND_S,
                   face_input_side=c.LIVE_FACE_INPUT_SIDE, face_min_confidence=c.LIVE_FACE_MIN_CONFIDENCE,
                   object_min_confidence=c.LIVE_OBJECT_MIN_CONFIDENCE,
                   padding=c.MASK_PADDING + c.LIVE_MASK_MOTION_PADDING, hold_s=c.LIVE_MASK_HOLD_S,
                   max_detect_interval_s=c.LIVE_DETECT_MAX_INTERVAL_S, max_height=c.LIVE_MAX_HEIGHT,
                   threads=c.LIVE_THREADS, enabled=c.LIVE_VIEW)


def hls_options(folder: Path, conf: LiveSettings) -> dict[str, str]:
    """FFmpeg's HLS muxer: ~``segment_s`` MPEG-TS segments, a sliding playlist, old segments deleted, the
    playlist and each segment written to a temporary name and renamed (a reader never sees half of one),
    segment numbers from the clock (a restarted tap never reuses a number a player has seen)."""
    return {
        "hls_time": f"{conf.segment_s:g}",
        "hls_list_size": str(conf.list_size),
        "hls_flags": "delete_segments+independent_segments+temp_file",
        "hls_segment_type": "mpegts",
        "hls_segment_filename": str(folder / "s%d.ts"),
        "hls_start_number_source": "epoch",
    }


@dataclass(frozen=True, slots=True)
class Item:
    """One compressed video packet, copied out of the recording thread."""

    data: bytes
    pts: int
    dts: int
    duration: int
    key: bool
    #: ``time.time()`` when the recorder read it.
    arrived: float


_END = object()


@dataclass
class TapStats:
    """What a tap did; read by tests, the benchmark and the log (written by the tap's threads only)."""

    started: float = field(default_factory=time.time)
    packets: int = 0
    #: Dropped by the recording thread (the queue was full) and by the tap (it was too far behind).
    full_dropped_packets: int = 0
    full_dropped_gops: int = 0
    late_dropped_packets: int = 0
    late_dropped_gops: int = 0
    frames_out: int = 0
    first_out: float | None = None
    last_out: float | None = None
    detections: int = 0
    detect_s: float = 0.0
    #: Seconds from a segment's first frame's capture to the playlist listing it (the newest 200).
    segment_delays: deque[float] = field(default_factory=lambda: deque(maxlen=200))
    #: Seconds from a frame's capture to its encoded packet being written (the newest 2,000).
    frame_delays: deque[float] = field(default_factory=lambda: deque(maxlen=2000))

    @property
    def dropped_packets(self) -> int:
        return self.full_dropped_packets + self.late_dropped_packets

    @property
    def dropped_gops(self) -> int:
        return self.full_dropped_gops + self.late_dropped_gops

    @property
    def fps(self) -> float:
        if self.first_out is None or self.last_out is None or self.last_out <= self.first_out:
            return 0.0
        return (self.frames_out - 1) / (self.last_out - self.first_out)


class LiveTap(threading.Thread):
    """One variant of one camera: a queue fed by the recording thread, emptied by this thread."""

    variant: str = ""

    def __init__(self, camera_id: int, template: av.video.stream.VideoStream, conf: LiveSettings) -> None:
        super().__init__(name=f"live-{camera_id}-{self.variant}", daemon=True)
        self.camera_id, self.conf = camera_id, conf
        self.folder = live_dir(camera_id, self.variant)
        self.time_base: Fraction = template.time_base or Fraction(1, 90000)
        self.stats = TapStats()
        self.failed = False
        self._queue: queue.Queue[object] = queue.Queue(maxsize=conf.queue_packets)
        self._stop_event = threading.Event()
        self._dropping = False
        self._started_key = False
        self._skipping = False
        self._last_drop_log = 0.0
        #: Offset from media time (seconds) to the capture clock (``time.time()``); the smallest seen.
        self._clock: float | None = None
        self._playlist_mtime = 0
        self._key_captures: deque[float] = deque()

    # -- the recording thread's side: never blocks ------------------------------------------------------

    def offer(self, item: Item) -> None:
        if self._stop_event.is_set():
            return
        if not self._started_key:
            if not item.key:
                return  # nothing decodes before the first key frame
            self._started_key = True
        if self._dropping:
            if not item.key:
                self.stats.full_dropped_packets += 1
                return
            self._dropping = False
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._dropping = True
            self.stats.full_dropped_packets += 1
            self.stats.full_dropped_gops += 1
            self._say_dropped("its queue is full")

    def stop(self) -> None:
        self._stop_event.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_END)

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def _say_dropped(self, why: str) -> None:
        now = time.monotonic()
        if now - self._last_drop_log >= 60:
            self._last_drop_log = now
            log.warning("camera %s: live %s view falls behind (%s): dropped %d GOPs (%d packets) so far",
                        self.camera_id, self.variant, why, self.stats.dropped_gops, self.stats.dropped_packets)

    # -- this thread ------------------------------------------------------------------------------------

    def run(self) -> None:
        bind_log_context(camera_id=self.camera_id)  # on every record of this thread
        try:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True, exist_ok=True)
            log.info("camera %s: live %s view started", self.camera_id, self.variant)
            self.pipeline()
        except Exception:
            self.failed = True
            log.error("camera %s: live %s view failed: %s", self.camera_id, self.variant,
                      redact(traceback.format_exc(limit=4)))
        finally:
            self.close_output()
            shutil.rmtree(self.folder, ignore_errors=True)
            s = self.stats
            log.info("camera %s: live %s view stopped: %d frames at %.1f fps, %d GOPs dropped", self.camera_id,
                     self.variant, s.frames_out, s.fps, s.dropped_gops)

    def items(self) -> Any:
        """The queued packets, until :meth:`stop`; skips to the next key frame when too far behind."""
        while not self._stop_event.is_set():
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if item is _END:
                return
            assert isinstance(item, Item)
            self.stats.packets += 1
            offset = item.arrived - float(item.dts * self.time_base)  # packets come in decoding order
            self._clock = offset if self._clock is None else min(self._clock, offset)
            behind = time.time() - item.arrived > self.conf.max_behind_s
            if self._skipping and not item.key:
                self.stats.late_dropped_packets += 1
                continue
            if behind:
                self.stats.late_dropped_gops += 1
                self._skipping = True
                self.stats.late_dropped_packets += 1
                self._say_dropped(f"over {self.conf.max_behind_s:g} s behind")
                continue
            self._skipping = False
            yield item

    def capture_time(self, pts: int) -> float:
        """Estimated wall-clock capture time of the frame with this timestamp."""
        return (self._clock or 0.0) + float(pts * self.time_base)

    def written(self, packet: av.Packet, source_pts: int) -> None:
        """Bookkeeping after a packet went to the muxer: output rate and delays."""
        now = time.time()
        s = self.stats
        s.frames_out += 1
        s.first_out = now if s.first_out is None else s.first_out
        s.last_out = now
        captured = self.capture_time(source_pts)
        s.frame_delays.append(now - captured)
        if packet.is_keyframe:
            self._key_captures.append(captured)
        try:
            mtime = os.stat(self.folder / PLAYLIST).st_mtime_ns
        except FileNotFoundError:
            return
        if mtime != self._playlist_mtime:
            self._playlist_mtime = mtime
            # The muxer closes a segment (and lists it) when the next one's key frame comes.
            while len(self._key_captures) > 1:
                s.segment_delays.append(now - self._key_captures.popleft())

    def pipeline(self) -> None:
        raise NotImplementedError

    def close_output(self) -> None:
        raise NotImplementedError


class ClearTap(LiveTap):
    """The camera's packets remuxed, unchanged, into HLS (for cameras that mask nothing and for unmasking)."""

    variant = LiveVariant.CLEAR

    def __init__(self, camera_id: int, template: av.video.stream.VideoStream, conf: LiveSettings) -> None:
        super().__init__(camera_id, template, conf)
        # Made here, in the recording thread that owns ``template``; nothing is written before the first mux.
        self._out = av.open(str(self.folder / PLAYLIST), "w", format="hls",
                            options=hls_options(self.folder, conf))
        self._stream = self._out.add_stream_from_template(template)

    def pipeline(self) -> None:
        first_dts: int | None = None
        last_dts: int | None = None
        for item in self.items():
            if first_dts is None:
                first_dts = item.dts
            if last_dts is not None and item.dts <= last_dts:
                continue  # timestamps that go back (camera clock reset): not muxable
            last_dts = item.dts
            packet = av.Packet(item.data)
            packet.pts, packet.dts = item.pts - first_dts, item.dts - first_dts
            packet.duration = item.duration
            packet.time_base = self.time_base
            packet.is_keyframe = item.key
            packet.stream = self._stream
            self._out.mux(packet)
            self.written(packet, item.dts)  # when the camera sent it: reordered frames are not captured later

    def close_output(self) -> None:
        with contextlib.suppress(av.error.FFmpegError, OSError, ValueError):
            self._out.close()


@dataclass(slots=True)
class _Frame:
    pts: int
    t: float
    yuv: np.ndarray


class MaskedTap(LiveTap):
    """Decode, detect faces (or what the variant masks), pixelate, encode: no frame leaves unmasked (see the
    module's docstring)."""

    variant = LiveVariant.FACES

    def __init__(self, camera_id: int, template: av.video.stream.VideoStream, conf: LiveSettings) -> None:
        super().__init__(camera_id, template, conf)
        # Copied here, in the recording thread; the decoder is made in the tap's thread.
        self._codec = template.codec_context.name
        self._extradata = template.codec_context.extradata
        self._rate = float(template.average_rate or template.guessed_rate or 0) or None
        self._out: Any = None
        self._stream: Any = None

    def pipeline(self) -> None:
        from backend.exports.masks import pixelate_yuv420

        from .live_finders import finder_for

        self._pixelate = pixelate_yuv420
        self._find = finder_for(self.variant, self.conf)
        decoder = av.CodecContext.create(self._codec, "r")
        if self._extradata:
            decoder.extradata = self._extradata
        decoder.thread_count = self.conf.threads
        self._pending: list[_Frame] = []
        #: (time, boxes) of the recent detections, oldest first.
        self._detected: deque[tuple[float, list[Norm]]] = deque()
        self._last_t: float | None = None
        self._first_pts: int | None = None
        self._next_key = 0.0
        self._size: tuple[int, int] | None = None
        self._detect_cost = 0.0  # running means, seconds
        self._frame_cost = 0.0
        self._interval = 1 / self._rate if self._rate else 0.1
        for item in self.items():
            packet = av.Packet(item.data)
            packet.pts, packet.dts, packet.time_base = item.pts, item.dts, self.time_base
            packet.is_keyframe = item.key
            try:
                frames = decoder.decode(packet)
            except av.error.FFmpegError as exc:
                log.debug("camera %s: live decode error: %s", self.camera_id, redact(str(exc)))
                continue
            for frame in frames:
                self._frame(frame)

    # -- per frame --------------------------------------------------------------------------------------

    def _frame(self, frame: av.VideoFrame) -> None:
        if frame.pts is None:
            return
        started = time.perf_counter()
        t = float(frame.pts * self.time_base)
        if self._last_t is not None:
            if t <= self._last_t:
                return  # timestamps that go back: dropped, the output stays monotonic
            self._interval += (min(t - self._last_t, 1.0) - self._interval) * 0.1
        self._last_t = t
        if self._size is None:
            self._size = self._output_size(frame.width, frame.height)
        width, height = self._size
        yuv = frame.reformat(width=width, height=height, format="yuv420p").to_ndarray()
        self._pending.append(_Frame(frame.pts, t, yuv))
        due = (len(self._pending) >= self._stride()
               or t - self._pending[0].t >= self.conf.max_detect_interval_s)
        if due:
            before = time.perf_counter()
            found = self._find(frame)
            spent = time.perf_counter() - before
            self.stats.detections += 1
            self.stats.detect_s += spent
            self._detect_cost += (spent - self._detect_cost) * (0.2 if self.stats.detections > 1 else 1.0)
            self._flush(found)
        else:
            spent = 0.0
        cost = time.perf_counter() - started - spent
        self._frame_cost += (cost - self._frame_cost) * 0.1

    def _stride(self) -> int:
        """Detect every n-th frame: the smallest n that keeps up with the camera (see the module's docstring)."""
        budget = self._interval * 0.9 - self._frame_cost
        if budget <= 0:
            return 1_000_000  # cannot keep up anyway: only the interval bounds it, GOPs will be dropped
        return max(1, math.ceil(self._detect_cost / budget))

    def _output_size(self, width: int, height: int) -> tuple[int, int]:
        if height > self.conf.max_height:
            width, height = round(width * self.conf.max_height / height), self.conf.max_height
        return max(2, width // 2 * 2), max(2, height // 2 * 2)

    def _flush(self, found: list[Norm]) -> None:
        """The pending frames, up to the one just detected, masked and encoded."""
        last = self._pending[-1].t
        before = self._detected[-1][1] if self._detected else []
        self._detected.append((last, found))
        hold = self.conf.hold_s
        for frame in self._pending:
            while self._detected and self._detected[0][0] < frame.t - hold - self.conf.max_detect_interval_s:
                self._detected.popleft()
            held = [b for when, boxes in self._detected if frame.t - hold <= when <= frame.t for b in boxes]
            boxes = mask_boxes(held, before, found, self.conf.padding)
            self._pixelate(frame.yuv, [(0, "face", *b) for b in boxes], self.conf.padding)
            self._encode(frame)
        self._pending.clear()

    def _encode(self, frame: _Frame) -> None:
        if self._out is None:
            self._open(*self._size)  # type: ignore[misc]
            self._first_pts = frame.pts
        assert self._first_pts is not None
        out = av.VideoFrame.from_ndarray(frame.yuv, format="yuv420p")
        out.pts = frame.pts - self._first_pts
        out.time_base = self.time_base
        t = float(out.pts * self.time_base)
        if t >= self._next_key:
            out.pict_type = av.video.frame.PictureType.I  # an IDR (forced-idr): a segment starts here
            self._next_key = t + self.conf.segment_s - 1e-3
        for packet in self._stream.encode(out):
            # The packet's pts is in the encoder's time base (the camera's); muxing rescales it in place.
            source_pts = frame.pts if packet.pts is None else packet.pts + self._first_pts
            self._out.mux(packet)
            self.written(packet, source_pts)

    def _open(self, width: int, height: int) -> None:
        self._out = av.open(str(self.folder / PLAYLIST), "w", format="hls", options=hls_options(self.folder, self.conf))
        rate = Fraction(self._rate).limit_denominator(1001) if self._rate else Fraction(25)
        stream = self._out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        stream.codec_context.thread_count = self.conf.threads
        stream.options = {"preset": "veryfast", "tune": "zerolatency", "crf": "23", "forced-idr": "1",
                          "x264-params": "scenecut=0"}
        self._stream = stream

    def close_output(self) -> None:
        if self._out is not None:
            with contextlib.suppress(av.error.FFmpegError, OSError, ValueError):
                self._out.close()


class PlatesTap(MaskedTap):
    """Faces and plates masked (the object detector runs live too: see :mod:`.live_finders`)."""

    variant = LiveVariant.FACES_PLATES


class PersonsTap(MaskedTap):
    """Persons masked whole, and faces (the object detector runs live too: see :mod:`.live_finders`)."""

    variant = LiveVariant.PERSONS


TAPS: dict[str, type[LiveTap]] = {LiveVariant.FACES: MaskedTap, LiveVariant.FACES_PLATES: PlatesTap,
                                  LiveVariant.PERSONS: PersonsTap, LiveVariant.CLEAR: ClearTap}


class LiveTaps:
    """The live taps of one camera's worker: started and stopped as demand says, fed by its packet loop."""

    def __init__(self, camera_id: int) -> None:
        self.camera_id = camera_id
        self.taps: dict[str, LiveTap] = {}
        #: Every tap started, newest last (tests and the benchmark read their stats); the last 20.
        self.history: deque[LiveTap] = deque(maxlen=20)
        self._retiring: list[LiveTap] = []
        self._template: av.video.stream.VideoStream | None = None
        self._conf = LiveSettings.current()
        self._next_poll = 0.0
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}

    def attach(self, stream: av.video.stream.VideoStream) -> None:
        """A connection's video stream: taps may start (at the next poll)."""
        self._template = stream
        self._conf = LiveSettings.current()
        self._next_poll = 0.0

    def detach(self) -> None:
        """The connection ended: every tap stops (a new connection starts them again if still wanted)."""
        self.detach_taps()
        self._template = None

    def shutdown(self, timeout: float = 10.0) -> None:
        self.detach()
        deadline = time.monotonic() + timeout
        for tap in self._retiring:
            tap.join(max(0.0, deadline - time.monotonic()))
        self._retiring = [t for t in self._retiring if t.is_alive()]

    def offer(self, packet: av.Packet) -> None:
        """One packet of the recorded stream (called before the segmenter rewrites its timestamps); never
        raises: whatever goes wrong with a live view must not touch the recording."""
        try:
            now = time.monotonic()
            if now >= self._next_poll:
                self._next_poll = now + self._conf.poll_s
                self.reconcile()
            if not self.taps or packet.pts is None or packet.dts is None:
                return
            item = Item(bytes(packet), packet.pts, packet.dts, packet.duration or 0, packet.is_keyframe,
                        time.time())
            for tap in self.taps.values():
                tap.offer(item)
        except Exception:
            log.error("camera %s: live view hand-off failed: %s", self.camera_id,
                      redact(traceback.format_exc(limit=4)))
            self._next_poll = time.monotonic() + 60.0
            self.detach_taps()

    def detach_taps(self) -> None:
        for variant in list(self.taps):
            self._retire(variant)

    def reconcile(self) -> None:
        """Start the taps wanted, stop those no longer wanted (or dead)."""
        if self._template is None:
            return
        try:
            wanted = wanted_variants(self.camera_id) if self._conf.enabled else set()
        except DatabaseError as exc:
            # The database is away: leave the taps as they are; the next poll asks again.
            log.debug("camera %s: live demand unknown: %s", self.camera_id, redact(str(exc)))
            with contextlib.suppress(DatabaseError):
                connection.close()
            return
        now = time.monotonic()
        for variant, tap in list(self.taps.items()):
            if not tap.is_alive():
                self.taps.pop(variant)
                if tap.failed:
                    fails = self._failures[variant] = self._failures.get(variant, 0) + 1
                    self._retry_at[variant] = now + min(60.0, 2.0 ** fails)
            elif variant not in wanted:
                self._retire(variant)
        self._retiring = [t for t in self._retiring if t.is_alive()]
        for variant in sorted(wanted - set(self.taps)):
            if variant not in TAPS or any(t.variant == variant for t in self._retiring):
                continue  # the previous tap of this variant is still cleaning its folder
            if now < self._retry_at.get(variant, 0.0):
                continue
            try:
                tap = TAPS[variant](self.camera_id, self._template, self._conf)
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                log.error("camera %s: live %s view cannot start: %s", self.camera_id, variant, redact(str(exc)))
                fails = self._failures[variant] = self._failures.get(variant, 0) + 1
                self._retry_at[variant] = now + min(60.0, 2.0 ** fails)
                continue
            self.taps[variant] = tap
            self.history.append(tap)
            tap.start()

    def _retire(self, variant: str) -> None:
        tap = self.taps.pop(variant)
        tap.stop()
        self._retiring.append(tap)
        if not tap.failed:
            self._failures.pop(variant, None)
