"""Video input with PyAV: probing uploads and sampling frames at a camera's analysis rate.

Every decode of a stored file goes through here: uploads and recorded segments are probed by
:func:`probe` (through ``backend.clips.services.store_upload``) and analysed through :class:`FrameSampler`.
(Live streams are opened by the recorder, which remuxes without decoding, and ``transcode`` re-encodes
footage for tests and the demo.) Decoding runs with FFmpeg's own threads; frames that are not
sampled are decoded (a codec cannot skip them) but never converted, which is where the cost would be.
Errors from FFmpeg may quote the input URL with its password, so every message that leaves this module has
been through :func:`backend.sightline.redaction.redact`. :class:`FrameSampler` may decode on a hardware
device (``hwaccel``, e.g. ``cuda`` for NVDEC) where one is asked for and usable, and in software otherwise.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np
from django.conf import settings

from backend.sightline.redaction import redact

_log = logging.getLogger(__name__)

class UnreadableVideo(ValueError):
    """The input is not a video we can decode; the message says why in words a user understands."""


@dataclass(frozen=True, slots=True)
class VideoInfo:
    duration_s: float | None
    width: int
    height: int
    codec: str
    fps: float | None
    #: The file's extension, chosen from its probed container and codec (never from the uploader's name).
    extension: str = ".mp4"
    #: A single picture (JPEG, PNG, WebP), probed with ``images=True`` (the synchronous analyse API only).
    image: bool = False
    #: When the file says it was recorded (its container's ``creation_time``), ISO 8601 in UTC; ``None`` when
    #: it does not say, or says something implausible (the 1904/1970 epoch of a muxer that wrote 0, the future).
    recorded_at: str | None = None


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """Caps checked from the headers, before anything is decoded."""

    max_pixels: int = 7680 * 4320
    max_side: int = 8192
    max_duration_s: float = 24 * 3600.0


#: Demuxers FFmpeg may use on a stored file (``format_whitelist``): no playlists (hls, concat), no image
#: sequences or single images, nothing that opens other files or URLs.
DEMUXERS = ("mov", "matroska", "avi", "mpegts")
#: Video codecs accepted in them.
VIDEO_CODECS = frozenset({"h264", "hevc", "mpeg4", "msmpeg4", "msmpeg4v1", "msmpeg4v2", "msmpeg4v3", "mjpeg",
                          "vp8", "vp9", "av1", "mpeg1video", "mpeg2video"})
ACCEPTED = "MP4/MOV, MKV/WebM, AVI or MPEG-TS"
_OPEN_OPTIONS = {"format_whitelist": ",".join(DEMUXERS), "protocol_whitelist": "file"}
#: Single-picture demuxers, allowed only where a caller asks for images (``images=True``: the synchronous
#: analyse API, never uploads). Each reads the picture from the file's own bytes; ``image2`` (sequences, file
#: name patterns that open other files) is not among them.
IMAGE_DEMUXERS = ("jpeg_pipe", "png_pipe", "webp_pipe")
#: The codec each image demuxer must carry.
IMAGE_CODECS = {"jpeg_pipe": "mjpeg", "png_pipe": "png", "webp_pipe": "webp"}
IMAGES_ACCEPTED = "JPEG, PNG or WebP"
_IMAGE_EXTENSIONS = {"mjpeg": ".jpg", "png": ".png", "webp": ".webp"}
_IMAGE_DEMUXER_FOR = {_IMAGE_EXTENSIONS[codec]: demuxer for demuxer, codec in IMAGE_CODECS.items()}
_OPEN_WITH_IMAGES = {"format_whitelist": ",".join(DEMUXERS + IMAGE_DEMUXERS), "protocol_whitelist": "file"}


def _extension(format_name: str, codec: str) -> str:
    names = set(format_name.split(","))
    if "mov" in names:
        return ".mp4"
    if "matroska" in names:
        return ".webm" if codec in {"vp8", "vp9", "av1"} else ".mkv"
    if "avi" in names:
        return ".avi"
    return ".ts"


def open_stored(path: str | Path, *, images: bool = False, hwaccel: Any = None) -> av.container.InputContainer:
    """Open a stored video with only the allow-listed demuxers and the ``file`` protocol; ``images`` allows
    the single-picture demuxers (:data:`IMAGE_DEMUXERS`) too; ``hwaccel``: a PyAV ``HWAccel`` to decode with."""
    options = _OPEN_WITH_IMAGES if images else _OPEN_OPTIONS
    extra: dict[str, Any] = {"hwaccel": hwaccel} if hwaccel is not None else {}
    if images:
        # A stored picture's extension (Sightline's own, from its probe) names its demuxer: left to probing,
        # FFmpeg would choose ``image2`` for it by the extension, which the allow-list refuses.
        extra["format"] = _IMAGE_DEMUXER_FOR.get(Path(path).suffix.lower())
    return av.open(str(path), options=dict(options), metadata_errors="ignore", **extra)


def _hw_options(kind: str) -> dict[str, object] | None:
    # CUDA: the device's primary context, the one torch uses too, rather than one more of its own.
    return {"primary_ctx": "1"} if kind == "cuda" else None


@functools.cache
def hw_decode_available(kind: str) -> bool:
    """Whether this process can decode on an FFmpeg hardware device of type ``kind`` (e.g. ``cuda``): PyAV
    has hardware decoding (14 and later), its FFmpeg was built with that device type, and such a device opens
    here. Checked once a process; a device that is not there is logged once, at INFO, and never raises."""
    try:
        from av.codec.hwaccel import HWAccel, hwdevices_available
    except ImportError:
        reason = f"PyAV {av.__version__} has no hardware decoding"
    else:
        built = hwdevices_available()
        if kind not in built:
            reason = f"this FFmpeg has no {kind!r} devices (it has: {', '.join(built) or 'none'})"
        else:
            try:
                HWAccel(kind, options=_hw_options(kind)).create(av.Codec("h264", "r"))  # opened, then closed
                return True
            except (av.error.FFmpegError, NotImplementedError, RuntimeError, ValueError) as exc:
                reason = _describe(exc)
    _log.info("hardware decoding on %r is not available (%s): decoding in software", kind, reason)
    return False


class SampledFrame:
    """One sampled frame: its time in the clip, the detector's input, and the source picture on demand."""

    __slots__ = ("_full", "_source", "model_rgb", "offset_ms", "scale")

    def __init__(self, offset_ms: int, model_rgb: np.ndarray, source: av.VideoFrame | np.ndarray,
                 scale: tuple[float, float] = (1.0, 1.0)) -> None:
        self.offset_ms = offset_ms
        #: uint8 S×S×3 RGB at the detector's input size.
        self.model_rgb = model_rgb
        #: Multiply a box normalised to ``model_rgb`` by these to normalise it to the frame (letterbox).
        self.scale = scale
        self._source = source
        self._full: np.ndarray | None = source if isinstance(source, np.ndarray) else None

    @property
    def width(self) -> int:
        """The source picture's width in pixels."""
        return self._source.width if isinstance(self._source, av.VideoFrame) else int(self._source.shape[1])

    @property
    def height(self) -> int:
        """The source picture's height in pixels."""
        return self._source.height if isinstance(self._source, av.VideoFrame) else int(self._source.shape[0])

    @property
    def full_rgb(self) -> np.ndarray:
        """uint8 H×W×3 RGB at the source size, converted only when a thumbnail needs it."""
        if self._full is None:
            assert isinstance(self._source, av.VideoFrame)
            self._full = self._source.to_ndarray(format="rgb24")
        return self._full


#: How a frame becomes the detector's square input: ``stretch`` resizes both sides to the input size (what
#: ``@vladmandic/human`` does with this model); ``letterbox`` keeps the aspect ratio and pads the bottom or
#: right edge with black. Measured on the tracking evaluation (README, "Answer quality").
INPUT_MODES = ("stretch", "letterbox")


def fit_to_square(frame: av.VideoFrame, side: int, mode: str = "stretch") -> tuple[np.ndarray, float, float]:
    """The detector's ``side``×``side`` RGB input for ``frame``, and the factors that map a box normalised to
    that input back to the frame (``x_frame = x_input * scale_x``)."""
    if mode == "stretch":
        # AREA: a proper downscaling filter, and among swscale's fastest.
        return frame.reformat(width=side, height=side, format="rgb24", interpolation="AREA").to_ndarray(), 1.0, 1.0
    if mode != "letterbox":
        raise ValueError(f"unknown input mode {mode!r}; known: {', '.join(INPUT_MODES)}")
    ratio = frame.width / frame.height
    width, height = (side, max(1, round(side / ratio))) if ratio >= 1 else (max(1, round(side * ratio)), side)
    content = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()
    square = np.zeros((side, side, 3), dtype=np.uint8)
    square[:height, :width] = content
    return square, side / width, side / height


def _describe(exc: BaseException) -> str:
    if isinstance(exc, av.error.FFmpegError) and exc.strerror:
        return exc.strerror.lower()  # str(exc) would quote the file's path (or a URL with its password)
    return redact(str(exc)) or exc.__class__.__name__


#: Creation times before this are a muxer's zero, not a recording's time.
_EARLIEST_RECORDING = datetime(1995, 1, 1, tzinfo=UTC)


def recorded_at(value: object, now: datetime | None = None) -> str | None:
    """A container's ``creation_time`` tag as ISO 8601 UTC, or ``None`` when absent or implausible."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:  # MP4's mvhd and Matroska's DateUTC are UTC; FFmpeg writes them without a zone
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    if when < _EARLIEST_RECORDING or when > now + timedelta(days=1):
        return None
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def probe(path: str | Path, limits: VideoLimits | None = None, *, images: bool = False) -> VideoInfo:
    """Check ``path`` and decode its first video frame, or raise :class:`UnreadableVideo`.

    Refused before any decoding: a container outside :data:`DEMUXERS` (playlists, images), a codec outside
    :data:`VIDEO_CODECS`, a picture or a duration beyond ``limits``. With ``images``, a single JPEG, PNG or
    WebP picture (:data:`IMAGE_DEMUXERS`, each with its own codec) is accepted too, as ``VideoInfo.image``.
    Untrusted files are probed in a limited child process (:mod:`analysis.probe_sandbox`), not in the caller.
    """
    limits = limits or VideoLimits()
    try:
        with open_stored(path, images=images) as container:
            if not container.streams.video:
                raise UnreadableVideo("the file has no video stream")
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            image_codec = IMAGE_CODECS.get(container.format.name)
            if image_codec is not None and codec != image_codec:
                raise UnreadableVideo(f"the image codec {codec!r} is not accepted")
            if image_codec is None and codec not in VIDEO_CODECS:
                raise UnreadableVideo(f"the video codec {codec!r} is not accepted")
            width, height = stream.codec_context.width, stream.codec_context.height
            if width <= 0 or height <= 0:
                raise UnreadableVideo("the video stream does not say its picture size")
            if max(width, height) > limits.max_side or width * height > limits.max_pixels:
                raise UnreadableVideo(f"the picture is {width}×{height}: larger than accepted")
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            if duration is not None and duration > limits.max_duration_s:
                raise UnreadableVideo(f"the video lasts {duration:.0f} s: longer than accepted")
            stream.codec_context.thread_count = 1
            first = next(container.decode(stream), None)
            if first is None:
                raise UnreadableVideo("the video stream holds no decodable frame")
            if (first.width, first.height) != (width, height):
                raise UnreadableVideo("the video's frames do not have the size its header says")
            if image_codec is not None:
                return VideoInfo(duration_s=None, width=width, height=height, codec=codec, fps=None,
                                 extension=_IMAGE_EXTENSIONS[codec], image=True)
            fps = float(stream.average_rate) if stream.average_rate else None
            return VideoInfo(duration_s=duration, width=width, height=height, codec=codec, fps=fps,
                             extension=_extension(container.format.name, codec),
                             recorded_at=recorded_at(container.metadata.get("creation_time")))
    except UnreadableVideo:
        raise
    except av.error.ArgumentError:
        # What FFmpeg answers when no allow-listed demuxer recognises the file.
        if images:
            raise UnreadableVideo(f"not an image ({IMAGES_ACCEPTED}) or a video in a container Sightline "
                                  f"accepts ({ACCEPTED})") from None
        raise UnreadableVideo(f"not a video in a container Sightline accepts ({ACCEPTED})") from None
    except av.error.FFmpegError as exc:
        # ``strerror`` and not ``str(exc)``: the latter quotes the server's path of the file.
        raise UnreadableVideo(f"{_unreadable(images)}: {_describe(exc)}") from None
    except (OSError, StopIteration, ValueError) as exc:
        raise UnreadableVideo(f"{_unreadable(images)}: {type(exc).__name__}") from None


def _unreadable(images: bool) -> str:
    return f"not a readable image ({IMAGES_ACCEPTED}) or video" if images else "not a readable video"


class FrameSampler:
    """Yields frames at ``fps`` (by presentation time) until the stream ends or breaks.

    A stream that breaks after some frames (a truncated file) ends the iteration; :attr:`error` then says
    why, so the caller can record that the clip was analysed only in part.
    """

    def __init__(self, path: str | Path, fps: float, size: int, mode: str = "stretch", *,
                 images: bool = False, hwaccel: str | None = None) -> None:
        """``images``: the file may be a single picture (:func:`open_stored`), which yields one frame at 0 ms.
        ``hwaccel``: the FFmpeg hardware device type to decode on (``cuda``: NVDEC), used where
        :func:`hw_decode_available` says so and the stream's codec has a decoder there, else software; ``None``:
        ``SIGHTLINE.DECODE_HWACCEL`` (``SIGHTLINE_DECODE_HWACCEL``); ``""``: software."""
        self.path, self.fps, self.size, self.mode, self.images = str(path), fps, size, mode, images
        self.hwaccel = settings.SIGHTLINE.DECODE_HWACCEL if hwaccel is None else hwaccel
        #: Whether the video stream is decoded on :attr:`hwaccel`'s device (known once iteration started).
        self.hardware = False
        self.error: str | None = None
        self.frames_decoded = 0
        #: Presentation time of the last decoded frame, relative to the first (seconds).
        self.last_time = 0.0

    def _open(self) -> av.container.InputContainer:
        """The file, opened to decode on the :attr:`hwaccel` device where that is usable, else in software."""
        self.hardware = False
        if self.hwaccel and hw_decode_available(self.hwaccel):
            from av.codec.hwaccel import HWAccel

            try:
                container = open_stored(self.path, images=self.images, hwaccel=HWAccel(
                    self.hwaccel, allow_software_fallback=True, options=_hw_options(self.hwaccel)))
            except (av.error.FFmpegError, RuntimeError):
                pass  # opened again in software below, which says what is wrong with the file if anything is
            else:
                video = container.streams.video
                self.hardware = bool(video) and bool(video[0].codec_context.is_hwaccel)
                return container
        return open_stored(self.path, images=self.images)

    def __iter__(self) -> Iterator[SampledFrame]:
        try:
            container = self._open()
        except (av.error.FFmpegError, OSError) as exc:
            raise UnreadableVideo(f"not a readable video: {_describe(exc)}") from None
        with container:
            if not container.streams.video:
                raise UnreadableVideo("the file has no video stream")
            stream = container.streams.video[0]
            if not self.hardware:  # the device decodes on its own; frame threads would only hold more surfaces
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
                    small, scale_x, scale_y = fit_to_square(frame, self.size, self.mode)
                    yield SampledFrame(offset_ms=round(t * 1000), model_rgb=small, source=frame,
                                       scale=(scale_x, scale_y))
            except av.error.FFmpegError as exc:
                if self.frames_decoded == 0:
                    raise UnreadableVideo(f"not a readable video: {_describe(exc)}") from None
                self.error = f"decoding stopped after {self.frames_decoded} frames: {_describe(exc)}"
