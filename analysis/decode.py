"""Video input with PyAV: probing uploads and sampling frames at a camera's analysis rate.

Every decode of a stored file goes through here: uploads and recorded segments are probed by
:func:`probe` (through ``backend.clips.services.store_upload``) and analysed through :class:`FrameSampler`.
(Live streams are opened by the recorder, which remuxes without decoding, and ``transcode`` re-encodes
footage for tests and the demo.) Decoding runs with FFmpeg's own threads; frames that are not
sampled are decoded (a codec cannot skip them) but never converted, which is where the cost would be.
Errors from FFmpeg may quote the input URL with its password, so every message that leaves this module has
been through :func:`backend.sightline.redaction.redact`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import numpy as np

from backend.sightline.redaction import redact


class UnreadableVideo(ValueError):
    """The input is not a video we can decode; the message says why in words a user understands."""


@dataclass(frozen=True, slots=True)
class VideoInfo:
    duration_s: float | None
    width: int
    height: int
    codec: str
    fps: float | None


class SampledFrame:
    """One sampled frame: its time in the clip, the detector's input, and the source picture on demand."""

    __slots__ = ("_full", "_source", "model_rgb", "offset_ms")

    def __init__(self, offset_ms: int, model_rgb: np.ndarray, source: av.VideoFrame | np.ndarray) -> None:
        self.offset_ms = offset_ms
        #: uint8 S×S×3 RGB at the detector's input size.
        self.model_rgb = model_rgb
        self._source = source
        self._full: np.ndarray | None = source if isinstance(source, np.ndarray) else None

    @property
    def full_rgb(self) -> np.ndarray:
        """uint8 H×W×3 RGB at the source size, converted only when a thumbnail needs it."""
        if self._full is None:
            assert isinstance(self._source, av.VideoFrame)
            self._full = self._source.to_ndarray(format="rgb24")
        return self._full


def _describe(exc: BaseException) -> str:
    return redact(str(exc)) or exc.__class__.__name__


def probe(path: str | Path) -> VideoInfo:
    """Open ``path`` and decode its first video frame, or raise :class:`UnreadableVideo`."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                raise UnreadableVideo("the file has no video stream")
            stream = container.streams.video[0]
            first = next(container.decode(stream), None)
            if first is None:
                raise UnreadableVideo("the video stream holds no decodable frame")
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            fps = float(stream.average_rate) if stream.average_rate else None
            return VideoInfo(duration_s=duration, width=first.width, height=first.height,
                             codec=stream.codec_context.name, fps=fps)
    except UnreadableVideo:
        raise
    except (av.error.FFmpegError, OSError, StopIteration, ValueError) as exc:
        raise UnreadableVideo(f"not a readable video: {_describe(exc)}") from None


class FrameSampler:
    """Yields frames at ``fps`` (by presentation time) until the stream ends or breaks.

    A stream that breaks after some frames (a truncated file) ends the iteration; :attr:`error` then says
    why, so the caller can record that the clip was analysed only in part.
    """

    def __init__(self, path: str | Path, fps: float, size: int) -> None:
        self.path, self.fps, self.size = str(path), fps, size
        self.error: str | None = None
        self.frames_decoded = 0
        #: Presentation time of the last decoded frame, relative to the first (seconds).
        self.last_time = 0.0

    def __iter__(self) -> Iterator[SampledFrame]:
        try:
            container = av.open(self.path, metadata_errors="ignore")
        except (av.error.FFmpegError, OSError) as exc:
            raise UnreadableVideo(f"not a readable video: {_describe(exc)}") from None
        with container:
            if not container.streams.video:
                raise UnreadableVideo("the file has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            origin: float | None = None
            next_due = 0.0
            step = 1.0 / self.fps
            rate = float(stream.average_rate) if stream.average_rate else 25.0
            try:
                for frame in container.decode(stream):
                    self.frames_decoded += 1
                    t = frame.time if frame.time is not None else (self.frames_decoded - 1) / rate
                    if origin is None:
                        origin = t
                    t -= origin
                    self.last_time = t
                    if t + 1e-6 < next_due:
                        continue
                    next_due = (math.floor(t / step + 1e-6) + 1) * step
                    # AREA: a proper downscaling filter, and among swscale's fastest.
                    small = frame.reformat(width=self.size, height=self.size, format="rgb24",
                                           interpolation="AREA").to_ndarray()
                    yield SampledFrame(offset_ms=round(t * 1000), model_rgb=small, source=frame)
            except av.error.FFmpegError as exc:
                if self.frames_decoded == 0:
                    raise UnreadableVideo(f"not a readable video: {_describe(exc)}") from None
                self.error = f"decoding stopped after {self.frames_decoded} frames: {_describe(exc)}"
