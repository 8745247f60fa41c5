"""Evidence exports and masked playback renditions: one MP4 (H.264, faststart) from a camera's stored files.

A pure library: PyAV (FFmpeg), numpy and Pillow; no Django model. The job that calls :func:`render` owns the
database rows, the queue and the retries.

How an export always plays
    * It is written to a hidden temporary name in the output's folder and moved onto the final name
      (``os.replace``, after ``fsync``) only once the container has closed *and* :func:`verify` has decoded
      every frame of it. A process killed at any moment leaves at worst a ``*.export-part`` file (removed
      by :func:`remove_partials`), never a half file under the final name. Any failure removes the
      temporary file.
    * :func:`verify` checks what made earlier exports unplayable: a torn file, an index (``moov``) after the
      media, a first frame that is not a key frame, timestamps that do not increase, frames that do not
      decode, fewer frames than the index lists or than were written, a codec or pixel format a browser
      cannot play.
    * Copying (remux) falls back to re-encoding when the copied stream cannot be used: missing or backward
      timestamps, or an output that fails verification. The report says which mode was used.
    * Memory is bounded: frames and packets are streamed, never the clip. The most held is one group of
      pictures of compressed packets before the start (remux; capped at :data:`MAX_HEAD_BYTES`, past which
      it re-encodes) and the encoder's look-ahead.

Modes (:func:`plan_mode`)
    ``remux`` copies the compressed packets when nothing is drawn and every source is H.264 4:2:0 in
    MP4/MOV or Matroska with the same picture size and the same parameter sets (``extradata``): one MP4
    track has one set of them. It starts at the key frame at or before ``start_ms`` (the first frame must
    be a key frame; the report's ``first_ms`` is that frame's real time) and copies every frame up to
    ``end_ms``. It never drops a frame of the range: with B-frames, a reference frame that comes before a
    frame of the range in decoding order but is shown after ``end_ms`` is kept (at most the reordering
    depth: a frame or two; ``last_ms`` says so). ``encode`` decodes, pixelates the masks, burns the boxes
    (drawn on the yuv420p planes: no round trip through RGB) and encodes with libx264 (``veryfast``, CRF
    21, yuv420p, a key frame every 2 s); it writes exactly the frames with ``start_ms <= t <= end_ms``.

Exact cuts
    ``exact=True`` re-encodes the whole range (so the export holds exactly the frames of the range). Re-
    encoding only the head (up to the first key frame after ``start_ms``) and copying the rest is *not*
    done: libx264 cannot reproduce the camera's parameter sets, and one MP4 track with two sets of them (two
    sample descriptions, or in-band ``avc3``) is exactly the kind of file browsers play unreliably.

Time
    A frame's absolute time is ``source.started_at_ms + round(t * 1000)``, ``t`` its presentation time minus
    that of the file's first decoded frame, computed in floating point exactly as
    :class:`analysis.decode.FrameSampler` computes ``offset_ms``: masks keyed by logged detections land on
    the frames they were detected in. Timestamps are carried over (variable frame rate is kept), rebased to
    a 90 kHz clock that starts at 0 on the export's first frame.

Gaps between sources
    Consecutive sources keep their real spacing when the next file's first frame comes at most
    :data:`KEEP_GAP_MS` after the previous file's last frame. A longer gap (the camera was offline) is
    *closed*: the next file's first frame follows one frame interval after the previous last frame, so the
    export has no frozen frame lasting the outage and does not grow with it. The closed gaps (absolute ms)
    are in :attr:`RenderReport.gaps`, for the caption or the audit record. The export's time line is
    therefore wall-clock time minus the closed gaps.

Sources that cannot be read
    By default a source that cannot be opened is skipped like a gap (its clip id in
    :attr:`RenderReport.skipped`, the reason in ``warnings``), and one that breaks part-way contributes the
    frames before the break; ``strict=True`` raises :class:`SourceUnreadable` instead. Audio is not
    exported.

Every message that leaves the module is built here in words, without a server path, and passes through
:func:`backend.sightline.redaction.redact` (FFmpeg's own messages quote the file name, so only its
``strerror`` is ever used).
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import av.error
import numpy as np

from analysis.decode import open_stored

from .errors import (
    BrokenVideo,
    Cancelled,
    ExportError,
    NothingToExport,
    OutputFailed,
    SourceUnreadable,
    reason,
)
from .masks import TrackBoxes, burn_yuv420, pixelate_yuv420
from .verify import PLAYABLE_PIX_FMTS, Verification, verify, verify_counting

#: The renderer's API, with the errors (``errors.py``) and the verification (``verify.py``) it raises and runs.
__all__ = ["KEEP_GAP_MS", "PART_SUFFIX", "BrokenVideo", "Cancelled", "EncodeSettings", "ExportError",
           "NothingToExport", "OutputFailed", "Overlay", "RenderReport", "Source", "SourceUnreadable",
           "Verification", "partial_name", "plan_mode", "remove_partials", "render", "verify"]

#: The export's clock: 90 kHz, as MPEG uses.
TIME_BASE = Fraction(1, 90000)
_TICKS_PER_MS = 90
#: Spacing between two sources kept as it is, up to this; a longer gap is closed (see the docstring).
KEEP_GAP_MS = 1000
#: Containers whose H.264 is stored length-prefixed with its parameter sets in ``extradata`` (copyable
#: into MP4 as it is). MPEG-TS and AVI are re-encoded.
REMUX_CONTAINERS = frozenset({"mov", "matroska"})
#: At most this much compressed video is held before the start, waiting for the key frame's group to end.
MAX_HEAD_BYTES = 256 * 1024 * 1024
#: A source is seeked into (instead of read from its start) when the range starts this far into it.
SEEK_AFTER_MS = 20_000
PART_SUFFIX = ".export-part"


@dataclass(frozen=True, slots=True)
class EncodeSettings:
    preset: str = "veryfast"
    crf: int = 21
    #: A key frame at least this often (seconds): browsers seek to key frames.
    gop_s: float = 2.0
    #: FFmpeg threads for decoding and encoding; 0: as many as the machine has cores.
    threads: int = 0


@dataclass(frozen=True, slots=True)
class Source:
    path: Path
    #: Absolute epoch ms of the file's first frame (the clip's ``started_at``).
    started_at_ms: int
    clip_id: int


@dataclass(frozen=True, slots=True)
class Overlay:
    #: What to pixelate.
    masks: TrackBoxes | None = None
    mask_padding: float = 0.25
    #: What to burn in, with labels.
    boxes: TrackBoxes | None = None

    @property
    def draws(self) -> bool:
        return bool(self.masks) or bool(self.boxes)


@dataclass(frozen=True, slots=True)
class RenderReport:
    mode: str  # "remux" | "encode"
    frames: int
    #: Absolute epoch ms of the first and the last frame written (presentation order).
    first_ms: int
    last_ms: int
    #: Playing time of the export (gaps closed).
    duration_s: float
    width: int
    height: int
    #: Clip ids of the sources that gave at least one frame, in order.
    sources: list[int]
    #: Gaps closed between sources: (last frame before, first frame after), absolute epoch ms.
    gaps: list[tuple[int, int]] = field(default_factory=list)
    #: Clip ids of sources in the range that could not be read at all.
    skipped: list[int] = field(default_factory=list)
    #: What the export lacks or how it was made, in words (sources cut short, a fallback to re-encoding).
    warnings: list[str] = field(default_factory=list)
    size_bytes: int = 0


# -- errors ---------------------------------------------------------------------------------------------


class _CannotRemux(Exception):
    """The copied stream cannot make a valid MP4; re-encode instead."""


#: Errors of the disk, not of the video: the export failed to be written (retryable).
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EIO, errno.EDQUOT, errno.EROFS, errno.EACCES,
                           errno.EPERM})


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, _CannotRemux) else reason(exc)


# -- sources --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Probe:
    codec: str
    width: int
    height: int
    pix_fmt: str
    extradata: bytes | None
    container: frozenset[str]


def _probe(source: Source) -> _Probe:
    with open_stored(source.path) as container:
        if not container.streams.video:
            raise SourceUnreadable("it has no video stream")
        ctx = container.streams.video[0].codec_context
        return _Probe(codec=ctx.name, width=ctx.width, height=ctx.height, pix_fmt=ctx.pix_fmt or "",
                      extradata=ctx.extradata, container=frozenset(container.format.name.split(",")))


def _seconds(ts: int, time_base: Fraction) -> float:
    """``ts`` in seconds, computed as ``av.Frame.time`` computes it (so the same float, to the last bit)."""
    return float(ts) * time_base.numerator / time_base.denominator


class _Origin(NamedTuple):
    """Presentation time of a file's first decoded frame: what ``FrameSampler`` takes for 0."""

    #: As the float ``FrameSampler`` uses.
    seconds: float
    exact: Fraction
    #: False when the first frame has no timestamp (``FrameSampler`` then counts frames from 0).
    timed: bool


def _origin(path: Path) -> _Origin:
    with open_stored(path) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.pts is None or frame.time_base is None:
                return _Origin(0.0, Fraction(0), False)
            return _Origin(_seconds(frame.pts, frame.time_base), Fraction(frame.pts) * frame.time_base, True)
    raise SourceUnreadable("it holds no decodable frame")


def plan_mode(sources: Sequence[Source], overlay: Overlay | None) -> str:
    """``"remux"`` when nothing is drawn and every source is H.264 4:2:0 in MP4/MOV or Matroska with one
    picture size and one set of parameter sets (playable in browsers as it is, in one MP4 track);
    ``"encode"`` otherwise (also when a source cannot be probed: the encoder then reports it)."""
    if (overlay is not None and overlay.draws) or not sources:
        return "encode"
    seen: set[tuple[int, int, bytes | None]] = set()
    for source in sources:
        try:
            probe = _probe(source)
        except (ExportError, av.error.FFmpegError, OSError, IndexError, ValueError):
            return "encode"
        if (probe.codec != "h264" or probe.pix_fmt not in PLAYABLE_PIX_FMTS
                or not probe.container & REMUX_CONTAINERS or not probe.extradata):
            return "encode"
        seen.add((probe.width, probe.height, probe.extradata))
    return "remux" if len(seen) == 1 else "encode"


def _in_range(sources: Sequence[Source], start_ms: int, end_ms: int) -> list[Source]:
    """The sources that may hold frames of the range: sorted by start; one that the next source starts at
    or before ``start_ms`` ends before the range (consecutive files of one camera do not overlap)."""
    ordered = sorted(sources, key=lambda s: s.started_at_ms)
    chosen = []
    for i, source in enumerate(ordered):
        if source.started_at_ms > end_ms:
            break
        if i + 1 < len(ordered) and ordered[i + 1].started_at_ms <= start_ms:
            continue
        chosen.append(source)
    return chosen


# -- the export's time line, progress and output --------------------------------------------------------


class _Timeline:
    """Places each source's frames on the export's 90 kHz clock, closing long gaps (see the docstring)."""

    def __init__(self) -> None:
        self.first_abs: int | None = None
        self.last_abs: int | None = None
        self.max_pts: int | None = None
        self.min_pts: int | None = None
        self.last_dts: int | None = None
        self.gaps: list[tuple[int, int]] = []
        self.frames = 0

    def shift_for(self, first_abs_ms: int, first_ticks: int, interval_ticks: int) -> int:
        """The offset that puts a source's first frame (``first_ticks`` into the file) on the clock."""
        if self.max_pts is None or self.last_abs is None:
            return -first_ticks
        delta = (first_abs_ms - self.last_abs) * _TICKS_PER_MS
        if delta > KEEP_GAP_MS * _TICKS_PER_MS:
            self.gaps.append((self.last_abs, first_abs_ms))
            delta = interval_ticks
        elif delta < interval_ticks // 2:  # overlapping files, or clocks a little apart
            delta = interval_ticks
        return self.max_pts + delta - first_ticks

    def wrote(self, abs_ms: int, pts: int, dts: int | None = None) -> None:
        self.frames += 1
        self.first_abs = abs_ms if self.first_abs is None else min(self.first_abs, abs_ms)
        self.last_abs = abs_ms if self.last_abs is None else max(self.last_abs, abs_ms)
        self.max_pts = pts if self.max_pts is None else max(self.max_pts, pts)
        self.min_pts = pts if self.min_pts is None else min(self.min_pts, pts)
        if dts is not None:
            self.last_dts = dts

    def duration_s(self, interval_ticks: int) -> float:
        if self.max_pts is None or self.min_pts is None:
            return 0.0
        return float((self.max_pts - self.min_pts + interval_ticks) * TIME_BASE)


class _Progress:
    """Throttled ``on_progress`` / ``should_stop``: each called at most every few hundred milliseconds."""

    def __init__(self, on_progress: Callable[[float], None] | None, should_stop: Callable[[], bool] | None,
                 start_ms: int, end_ms: int) -> None:
        self.on_progress, self.should_stop = on_progress, should_stop
        self.start_ms, self.span = start_ms, max(1, end_ms - start_ms)
        self.low, self.high = 0.0, 1.0
        self._stop_at = self._report_at = 0.0
        self._last = -1.0

    def phase(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def check(self) -> None:
        if self.should_stop is None:
            return
        now = time.monotonic()
        if now >= self._stop_at:
            self._stop_at = now + 0.25
            if self.should_stop():
                raise Cancelled("the export was cancelled")

    def at(self, fraction: float, *, force: bool = False) -> None:
        self.check()
        if self.on_progress is None:
            return
        now = time.monotonic()
        value = self.low + (self.high - self.low) * min(1.0, max(0.0, fraction))
        if force or (now >= self._report_at and value - self._last >= 0.005):
            self._report_at = now + 0.5
            self._last = value
            self.on_progress(round(value, 4))

    def at_ms(self, abs_ms: int) -> None:
        self.at((abs_ms - self.start_ms) / self.span)


def partial_name(out: Path) -> Path:
    """A hidden temporary name beside ``out``, unique to this attempt."""
    return out.with_name(f".{out.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}{PART_SUFFIX}")


def remove_partials(folder: Path, *, older_than_s: float = 3600.0) -> int:
    """Remove temporary files that killed exports left in ``folder`` (older than ``older_than_s``, so that
    running exports keep theirs); return how many."""
    removed = 0
    limit = time.time() - older_than_s
    for path in Path(folder).glob(f".*{PART_SUFFIX}"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
    return removed


def _fsync(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Export:
    """One attempt at writing the export (remux or encode) into a temporary file."""

    def __init__(self, sources: list[Source], start_ms: int, end_ms: int, overlay: Overlay,
                 progress: _Progress, settings: EncodeSettings, strict: bool) -> None:
        self.sources, self.start_ms, self.end_ms = sources, start_ms, end_ms
        self.overlay, self.progress, self.settings, self.strict = overlay, progress, settings, strict
        self.timeline = _Timeline()
        self.used: list[int] = []
        self.skipped: list[int] = []
        self.warnings: list[str] = []
        self.interval_ticks = 3600  # 25 frames/s until a source says otherwise
        self.width = self.height = 0
        self.done = False
        self.output: av.container.OutputContainer | None = None
        self.stream: av.video.stream.VideoStream | None = None

    # -- shared -------------------------------------------------------------------------------------------

    def _use(self, source: Source) -> None:
        if not self.used or self.used[-1] != source.clip_id:
            self.used.append(source.clip_id)

    @staticmethod
    def _out_of_memory(exc: BaseException) -> None:
        """Memory that ran out is this machine's state, not the footage's: fail (retryable), never export
        less."""
        if isinstance(exc, MemoryError) or getattr(exc, "errno", None) == errno.ENOMEM:
            raise OutputFailed("the export ran out of memory") from None

    def _unreadable(self, source: Source, exc: BaseException) -> None:
        self._out_of_memory(exc)
        reason = _reason(exc)
        if self.strict:
            raise SourceUnreadable(f"clip {source.clip_id} cannot be read: {reason}")
        self.skipped.append(source.clip_id)
        self.warnings.append(f"clip {source.clip_id} was skipped: it cannot be read ({reason})")

    def _cut_short(self, source: Source, exc: BaseException) -> None:
        self._out_of_memory(exc)
        reason = _reason(exc)
        if self.strict:
            raise SourceUnreadable(f"clip {source.clip_id} breaks off: {reason}")
        self.warnings.append(f"clip {source.clip_id} breaks off part-way ({reason}); the export holds what "
                             "came before")

    def _rate_interval(self, stream: av.video.stream.VideoStream) -> None:
        rate = stream.average_rate or stream.guessed_rate
        if rate and 1 <= float(rate) <= 1000:
            self.interval_ticks = max(1, round(90000 / rate))

    def _mux(self, packets: Sequence[av.Packet] | av.Packet) -> None:
        assert self.output is not None
        try:
            self.output.mux(packets)
        except (av.error.FFmpegError, OSError) as exc:
            self._out_of_memory(exc)
            if getattr(exc, "errno", None) in _WRITE_ERRNOS or not isinstance(exc, av.error.FFmpegError):
                raise OutputFailed(f"the export cannot be written: {_reason(exc)}") from None
            raise _CannotRemux(f"the muxer refused a frame: {_reason(exc)}") from None

    def run(self, mode: str, out: av.container.OutputContainer) -> None:
        self.output = out
        for source in self.sources:
            if self.done:
                break
            self.progress.check()
            try:
                origin = _origin(source.path)
            except (ExportError, av.error.FFmpegError, OSError, IndexError, ValueError) as exc:
                self._unreadable(source, exc)
                continue
            if mode == "remux":
                self._remux_source(source, origin)
            else:
                self._encode_source(source, origin)
        if mode == "encode" and self.stream is not None:
            self._encode_frame(None)

    def _open(self, source: Source) -> av.container.InputContainer | None:
        try:
            return open_stored(source.path)
        except (av.error.FFmpegError, OSError) as exc:
            self._unreadable(source, exc)
            return None

    def _seek_target(self, source: Source, stream: av.video.stream.VideoStream, origin: Fraction) -> int | None:
        """Where to seek ``stream`` (its time base) to reach the range quickly, or None: read from the start."""
        into_ms = self.start_ms - source.started_at_ms
        if into_ms <= SEEK_AFTER_MS or stream.time_base is None:
            return None
        return math.floor((origin + Fraction(into_ms - 2000, 1000)) / stream.time_base)

    # -- remux --------------------------------------------------------------------------------------------

    def _remux_source(self, source: Source, origin: _Origin) -> None:
        container = self._open(source)
        if container is None:
            return
        with container:
            stream = container.streams.video[0]
            target = self._seek_target(source, stream, origin.exact) if origin.timed else None
            if target is not None and not self.timeline.frames:
                try:
                    container.seek(target, stream=stream, backward=True, any_frame=False)
                except av.error.FFmpegError:
                    target = None
            packets = container.demux(stream)
            try:
                self._copy(source, stream, packets, origin, seeked=target is not None)
            except _Reopen:
                pass
            else:
                return
        # The seek landed after the start: read the file from its beginning instead.
        container = self._open(source)
        if container is None:
            return
        with container:
            stream = container.streams.video[0]
            self._copy(source, stream, container.demux(stream), origin, seeked=False)

    def _copy(self, source: Source, stream: av.video.stream.VideoStream, packets: Iterator[av.Packet],
              origin: _Origin, *, seeked: bool) -> None:
        tb = stream.time_base
        if tb is None:
            raise _CannotRemux("the stream has no time base")
        self._rate_interval(stream)
        origin_s, origin_exact = origin.seconds, origin.exact
        started_at, start_ms, end_ms = source.started_at_ms, self.start_ms, self.end_ms
        head: list[tuple[av.Packet, int, int]] = []
        head_bytes = 0
        pending: list[tuple[av.Packet, int, int]] = []
        shift: int | None = None
        key_pts: int | None = None  # pts of this source's first copied key frame
        first_seen = True

        def ticks(ts: int) -> int:
            return round((Fraction(ts) * tb - origin_exact) * 90000)

        def write(packet: av.Packet, abs_ms: int) -> None:
            nonlocal shift, key_pts
            assert packet.pts is not None and packet.dts is not None and self.stream is not None
            if key_pts is None:
                if not packet.is_keyframe:
                    return
                key_pts = packet.pts
            elif packet.pts < key_pts:
                return  # a leading picture of an open group: it refers to frames before the cut
            pts, dts = ticks(packet.pts), ticks(packet.dts)
            if shift is None:
                shift = self.timeline.shift_for(abs_ms, pts, self.interval_ticks)
                last = self.timeline.last_dts
                if last is not None and shift + dts <= last:
                    shift += last - (shift + dts) + 1
            pts, dts = pts + shift, dts + shift
            if self.timeline.last_dts is not None and dts <= self.timeline.last_dts:
                raise _CannotRemux("decoding timestamps go backwards")
            if pts < dts:
                raise _CannotRemux("a frame is shown before it is decoded")
            duration = packet.duration
            packet.pts, packet.dts = pts, dts
            packet.duration = round(Fraction(duration) * tb * 90000) if duration else 0
            packet.time_base = TIME_BASE
            packet.stream = self.stream
            self._mux(packet)
            self.timeline.wrote(abs_ms, pts, dts)
            self._use(source)
            self.progress.at_ms(abs_ms)

        def take(packet: av.Packet, abs_ms: int, dabs_ms: int) -> None:
            if abs_ms <= end_ms:
                for held, held_abs, _ in pending:
                    write(held, held_abs)
                pending.clear()
                write(packet, abs_ms)
            elif dabs_ms > end_ms:
                self.done = True  # every later packet is shown after the end
            else:
                pending.append((packet, abs_ms, dabs_ms))

        try:
            for packet in packets:
                self.progress.check()
                if packet.pts is None and packet.dts is None and not packet.size:
                    continue  # the demuxer's flush packet
                if packet.pts is None or packet.dts is None:
                    raise _CannotRemux("a packet has no timestamp")
                if packet.is_corrupt:
                    self._cut_short(source, ValueError("a damaged packet"))
                    break
                abs_ms = started_at + round((_seconds(packet.pts, tb) - origin_s) * 1000)
                dabs_ms = started_at + round((_seconds(packet.dts, tb) - origin_s) * 1000)
                if first_seen:
                    first_seen = False
                    if seeked and (not packet.is_keyframe or abs_ms > start_ms):
                        raise _Reopen
                if self.stream is None:
                    self._start_remux(stream)
                if self.timeline.frames == 0 and key_pts is None:
                    # Before the export's first frame: find the key frame at or before the start.
                    if packet.is_keyframe and abs_ms <= start_ms:
                        head, head_bytes = [(packet, abs_ms, dabs_ms)], packet.size
                        continue
                    if head and not packet.is_keyframe and dabs_ms <= start_ms:
                        head.append((packet, abs_ms, dabs_ms))
                        head_bytes += packet.size
                        if head_bytes > MAX_HEAD_BYTES:
                            raise _CannotRemux("the group of pictures before the start is too long to copy")
                        continue
                    if not head and not packet.is_keyframe:
                        continue  # nothing decodes before the first key frame
                    for held in head:
                        take(*held)
                    head = []
                take(packet, abs_ms, dabs_ms)
                if self.done:
                    break
        except av.error.FFmpegError as exc:
            self._cut_short(source, exc)
        if head and not self.done and max(a for _, a, _ in head) >= start_ms:
            for held in head:  # the range starts in this file's last group of pictures
                take(*held)
        # Frames after the end that nothing of the range needs are dropped with ``pending``.

    def _start_remux(self, template: av.video.stream.VideoStream) -> None:
        assert self.output is not None
        self.stream = self.output.add_stream_from_template(template)
        self.stream.time_base = TIME_BASE
        self.width, self.height = template.codec_context.width, template.codec_context.height

    # -- encode -------------------------------------------------------------------------------------------

    def _start_encode(self, stream: av.video.stream.VideoStream, width: int, height: int) -> None:
        assert self.output is not None
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        if not 1 <= float(rate) <= 1000:
            rate = Fraction(25)
        rate = Fraction(rate).limit_denominator(1001)
        self.width, self.height = max(2, width - width % 2), max(2, height - height % 2)
        out = self.output.add_stream("libx264", rate=rate)
        out.width, out.height, out.pix_fmt = self.width, self.height, "yuv420p"
        out.time_base = TIME_BASE
        out.codec_context.time_base = TIME_BASE
        out.codec_context.gop_size = max(1, round(self.settings.gop_s * float(rate)))
        out.codec_context.thread_count = self.settings.threads
        out.options = {"preset": self.settings.preset, "crf": str(self.settings.crf)}
        self.stream = out

    def _encode_frame(self, frame: av.VideoFrame | None) -> None:
        assert self.stream is not None
        try:
            packets = self.stream.encode(frame)
        except av.error.FFmpegError as exc:
            self._out_of_memory(exc)
            raise OutputFailed(f"the encoder failed: {_reason(exc)}") from None
        if packets:
            self._mux(packets)

    def _draw(self, frame: av.VideoFrame, abs_ms: int) -> av.VideoFrame:
        """The frame as yuv420p at the export's size, with its masks and boxes drawn (on the planes: no
        round trip through RGB)."""
        overlay = self.overlay
        masks = overlay.masks.at(abs_ms) if overlay.masks else []
        boxes = overlay.boxes.at(abs_ms) if overlay.boxes else []
        picture = frame.reformat(width=self.width, height=self.height, format="yuv420p")
        if not masks and not boxes:
            return picture
        yuv: np.ndarray = picture.to_ndarray(format="yuv420p")
        if not yuv.flags.writeable:
            yuv = np.array(yuv)
        if masks:
            pixelate_yuv420(yuv, masks, overlay.mask_padding)
        if boxes:
            burn_yuv420(yuv, boxes)
        return av.VideoFrame.from_ndarray(yuv, format="yuv420p")

    def _encode_source(self, source: Source, origin: _Origin) -> None:
        container = self._open(source)
        if container is None:
            return
        reopen = False
        with container:
            stream = container.streams.video[0]
            target = self._seek_target(source, stream, origin.exact) if origin.timed else None
            if target is not None:
                try:
                    container.seek(target, stream=stream, backward=True, any_frame=False)
                except av.error.FFmpegError:
                    target = None
            try:
                self._transcode(source, container, stream, origin, seeked=target is not None)
            except _Reopen:
                reopen = True
        if reopen:
            container = self._open(source)
            if container is None:
                return
            with container:
                stream = container.streams.video[0]
                self._transcode(source, container, stream, origin, seeked=False)

    def _transcode(self, source: Source, container: av.container.InputContainer,
                   stream: av.video.stream.VideoStream, origin: _Origin, *, seeked: bool) -> None:
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.settings.threads
        self._rate_interval(stream)
        rate = float(stream.average_rate) if stream.average_rate else 25.0  # as FrameSampler
        origin_s, origin_exact = origin.seconds, origin.exact
        started_at, start_ms, end_ms = source.started_at_ms, self.start_ms, self.end_ms
        shift: int | None = None
        decoded = 0
        dropped = 0
        try:
            for frame in container.decode(stream):
                decoded += 1
                self.progress.check()
                if frame.time is not None:
                    t = frame.time - origin_s
                elif seeked:
                    # A frame without a timestamp is placed by its index, unknown after a seek.
                    if decoded == 1:
                        raise _Reopen
                    dropped += 1
                    continue
                else:
                    t = (decoded - 1) / rate - origin_s
                abs_ms = started_at + round(t * 1000)
                if decoded == 1 and seeked and abs_ms > start_ms:
                    raise _Reopen
                if abs_ms < start_ms:
                    continue
                if abs_ms > end_ms:
                    self.done = True
                    break
                if frame.pts is not None and frame.time_base is not None:
                    ticks = round((Fraction(frame.pts) * frame.time_base - origin_exact) * 90000)
                else:
                    ticks = round(t * 90000)
                if shift is None:
                    shift = self.timeline.shift_for(abs_ms, ticks, self.interval_ticks)
                pts = shift + ticks
                if self.timeline.max_pts is not None and pts <= self.timeline.max_pts:
                    dropped += 1  # a repeated or backward timestamp in the source
                    continue
                if self.stream is None:
                    self._start_encode(stream, frame.width, frame.height)
                picture = self._draw(frame, abs_ms)
                picture.pts, picture.time_base = pts, TIME_BASE
                self._encode_frame(picture)
                self.timeline.wrote(abs_ms, pts)
                self._use(source)
                self.progress.at_ms(abs_ms)
        except av.error.FFmpegError as exc:
            if decoded <= 1 and not self.timeline.frames:
                self._unreadable(source, exc)
            else:
                self._cut_short(source, exc)
        if dropped:
            self.warnings.append(f"clip {source.clip_id}: {dropped} frames with repeated or backward "
                                 "timestamps were left out")


class _Reopen(Exception):
    """A seek landed after the range's start: read the file from its beginning."""


def _attempt(mode: str, sources: list[Source], start_ms: int, end_ms: int, out: Path, overlay: Overlay,
             progress: _Progress, settings: EncodeSettings, strict: bool, verify_output: bool,
             warnings: list[str]) -> RenderReport:
    """One export into a temporary file, verified, then moved onto ``out``; the temporary file never
    survives a failure."""
    if not out.parent.is_dir():
        raise OutputFailed("the export folder does not exist")
    tmp = partial_name(out)
    job = _Export(sources, start_ms, end_ms, overlay, progress, settings, strict)
    progress.phase(0.0, 0.5 if mode == "remux" else 0.85)
    try:
        try:
            output = av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputFailed(f"the export folder cannot be written: {_reason(exc)}") from None
        try:
            job.run(mode, output)
        except BaseException:
            with contextlib.suppress(av.error.FFmpegError, OSError, ValueError):
                output.close()
            raise
        try:
            output.close()
        except (av.error.FFmpegError, OSError) as exc:
            if job.timeline.frames:
                raise OutputFailed(f"the export could not be finished: {_reason(exc)}") from None
        if not job.timeline.frames or job.timeline.first_abs is None or job.timeline.last_abs is None:
            why = "; ".join(job.warnings)
            raise NothingToExport("no frame of the recordings lies in the asked time" + (f" ({why})" if why else ""))
        if verify_output:
            progress.phase(progress.high, 1.0)
            counter = [0]

            def tick() -> None:
                counter[0] += 1
                progress.at(counter[0] / job.timeline.frames)

            verify_counting(tmp, job.timeline.frames, 0, tick)
        try:
            _fsync(tmp)
            os.replace(tmp, out)
        except OSError as exc:
            raise OutputFailed(f"the export could not be moved into place: {_reason(exc)}") from None
        with contextlib.suppress(OSError):
            _fsync(out.parent, directory=True)
        progress.at(1.0, force=True)
        return RenderReport(
            mode=mode, frames=job.timeline.frames, first_ms=job.timeline.first_abs,
            last_ms=job.timeline.last_abs, duration_s=round(job.timeline.duration_s(job.interval_ticks), 3),
            width=job.width, height=job.height, sources=job.used, gaps=job.timeline.gaps, skipped=job.skipped,
            warnings=[*warnings, *job.warnings], size_bytes=out.stat().st_size)
    except MemoryError:
        raise OutputFailed("the export ran out of memory") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def render(sources: list[Source], start_ms: int, end_ms: int, out: Path, *, overlay: Overlay | None = None,
           on_progress: Callable[[float], None] | None = None, should_stop: Callable[[], bool] | None = None,
           exact: bool = False, settings: EncodeSettings | None = None, verify_output: bool = True,
           strict: bool = False) -> RenderReport:
    """Export ``[start_ms, end_ms]`` (absolute epoch ms, both included) of ``sources`` into the MP4 ``out``.

    ``sources``: consecutive files of one camera (any order; sorted by start). ``overlay``: masks to
    pixelate and boxes to burn in (either makes it an encode). ``on_progress(fraction)`` is called at most
    twice a second, with 1.0 at the end; ``should_stop()`` at most four times a second, and when it says
    True the export stops with :class:`Cancelled`. ``exact``: exactly the frames of the range (an encode;
    a remux starts at the key frame before). ``verify_output``: decode the whole result before it takes the
    final name (on by default; it is what makes "always plays" a promise).

    Raises :class:`ExportError` subclasses only (their ``retryable`` says whether to try again):
    :class:`NothingToExport`, :class:`OutputFailed`, :class:`Cancelled`, :class:`BrokenVideo` (the result
    failed verification: nothing written), :class:`SourceUnreadable` (``strict`` only).
    """
    out = Path(out)
    if end_ms < start_ms:
        raise ValueError("end_ms is before start_ms")
    overlay = overlay or Overlay()
    settings = settings or EncodeSettings()
    chosen = _in_range(sources, start_ms, end_ms)
    if not chosen:
        raise NothingToExport("no recording covers the asked time")
    progress = _Progress(on_progress, should_stop, start_ms, end_ms)
    mode = "encode" if exact else plan_mode(chosen, overlay)
    warnings: list[str] = []
    if mode == "remux":
        try:
            return _attempt("remux", chosen, start_ms, end_ms, out, overlay, progress, settings, strict,
                            verify_output, warnings)
        except (_CannotRemux, BrokenVideo) as exc:
            warnings.append(f"the recorded video could not be copied as it is ({_reason(exc)}); it was "
                            "re-encoded")
    try:
        return _attempt("encode", chosen, start_ms, end_ms, out, overlay, progress, settings, strict,
                        verify_output, warnings)
    except _CannotRemux as exc:  # the muxer refused an encoded frame: not expected, but never unnamed
        raise BrokenVideo(f"the encoded video could not be written: {_reason(exc)}") from None
