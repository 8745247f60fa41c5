"""Does an MP4 play everywhere? :func:`verify` decodes every frame of it and says why not.

What it refuses is what made earlier exports unplayable (see :mod:`backend.exports.render`): a torn file, an
index (``moov``) after the media, a first frame that is not a key frame, timestamps that do not increase,
frames that do not decode, fewer frames than the index lists or than were written, a codec or pixel format
a browser cannot play. Every export and rendition passes it before its job is done.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av.error

from analysis.decode import open_stored

from .errors import BrokenVideo, reason

#: Pixel formats of H.264 that browsers play (``yuvj420p``: full range, what many IP cameras send).
PLAYABLE_PIX_FMTS = frozenset({"yuv420p", "yuvj420p"})


@dataclass(frozen=True, slots=True)
class Verification:
    frames: int
    duration_s: float
    first_pts_s: float
    last_pts_s: float
    codec: str
    width: int
    height: int
    pix_fmt: str = ""
    keyframes: int = 0
    size_bytes: int = 0


_BOX = struct.Struct(">I4s")


def _top_level_boxes(path: Path) -> list[tuple[bytes, int, int]]:
    """``(type, offset, size)`` of the file's top-level MP4 boxes; raises :class:`BrokenVideo` when the
    last one runs past the end of the file (a torn file)."""
    boxes: list[tuple[bytes, int, int]] = []
    size = path.stat().st_size
    offset = 0
    with path.open("rb") as fh:
        while offset < size:
            fh.seek(offset)
            head = fh.read(_BOX.size)
            if len(head) < _BOX.size:
                raise BrokenVideo("the file is truncated (it ends inside a box header)")
            length, kind = _BOX.unpack(head)
            if length == 1:
                raw = fh.read(8)
                if len(raw) < 8:
                    raise BrokenVideo("the file is truncated (it ends inside a box header)")
                length = struct.unpack(">Q", raw)[0]
            elif length == 0:
                length = size - offset
            if not boxes and kind != b"ftyp":
                raise BrokenVideo("not an MP4 file")
            if length < _BOX.size or offset + length > size:
                raise BrokenVideo(f"the file is truncated (its {kind.decode('latin-1')!r} box is incomplete)")
            boxes.append((kind, offset, length))
            offset += length
    if not boxes:
        raise BrokenVideo("the file is empty")
    return boxes


def verify(path: Path, *, expected_frames: int | None = None, tolerance: int = 1) -> Verification:
    """Decode every frame of the MP4 at ``path``; raise :class:`BrokenVideo` unless it plays everywhere.

    Refused: a file that cannot be opened or decoded, a torn file (a box past its end, fewer frames than
    its index lists), an index (``moov``) after the media (no faststart: a browser must fetch the whole
    file before it plays), a first frame that is not a key frame, presentation timestamps that do not
    strictly increase, a damaged frame, a codec other than H.264 or pixels other than 4:2:0 8-bit
    (``yuv420p``, or ``yuvj420p``: full range, which browsers play too), and a frame count more than
    ``tolerance`` away from ``expected_frames``.
    """
    return verify_counting(Path(path), expected_frames, tolerance, None)


def verify_counting(path: Path, expected_frames: int | None, tolerance: int,
            tick: Callable[[], None] | None) -> Verification:
    try:
        size_bytes = path.stat().st_size
        kinds = [kind for kind, _, _ in _top_level_boxes(path)]
    except OSError as exc:
        raise BrokenVideo(f"the file cannot be read: {reason(exc)}") from None
    if b"moov" not in kinds:
        raise BrokenVideo("the file has no index (moov box): it was not closed")
    if b"mdat" not in kinds:
        raise BrokenVideo("the file holds no media data")
    if kinds.index(b"moov") > kinds.index(b"mdat"):
        raise BrokenVideo("the file's index (moov) comes after its media (not faststart): a browser must "
                          "download all of it before it plays")
    try:
        with open_stored(path) as container:
            if not container.streams.video:
                raise BrokenVideo("the file has no video stream")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            codec, pix_fmt = ctx.name, ctx.pix_fmt or ""
            if codec != "h264":
                raise BrokenVideo(f"the video is {codec}, not H.264")
            if pix_fmt not in PLAYABLE_PIX_FMTS:
                raise BrokenVideo(f"the video's pixels are {pix_fmt or 'unknown'}, not 4:2:0 8-bit")
            width, height = ctx.width, ctx.height
            listed = stream.frames
            stream.thread_type = "AUTO"
            frames = keyframes = 0
            first_pts = last_pts = None
            first_packet = True
            for packet in container.demux(stream):
                if first_packet and packet.size:
                    if not packet.is_keyframe:
                        raise BrokenVideo("the first frame is not a key frame")
                    first_packet = False
                if packet.is_corrupt:
                    raise BrokenVideo(f"the packet after frame {frames} is damaged")
                for frame in packet.decode():
                    if tick is not None:
                        tick()
                    if frames == 0 and not frame.key_frame:
                        raise BrokenVideo("the first frame is not a key frame")
                    if frame.is_corrupt:
                        raise BrokenVideo(f"frame {frames + 1} is damaged")
                    t = frame.time
                    if t is None:
                        raise BrokenVideo(f"frame {frames + 1} has no timestamp")
                    if last_pts is not None and t <= last_pts:
                        raise BrokenVideo(f"timestamps do not increase at frame {frames + 1} "
                                          f"({t:.3f} s after {last_pts:.3f} s)")
                    if (frame.width, frame.height) != (width, height):
                        raise BrokenVideo(f"frame {frames + 1} is {frame.width}×{frame.height}, the stream "
                                          f"says {width}×{height}")
                    if first_pts is None:
                        first_pts = t
                    last_pts = t
                    frames += 1
                    keyframes += frame.key_frame
    except BrokenVideo:
        raise
    except (av.error.FFmpegError, OSError) as exc:
        raise BrokenVideo(f"the file cannot be decoded: {reason(exc)}") from None
    except (IndexError, ValueError, MemoryError) as exc:
        raise BrokenVideo(f"the file cannot be decoded: {reason(exc)}") from None
    if frames == 0 or first_pts is None or last_pts is None:
        raise BrokenVideo("the file holds no decodable frame")
    if listed and frames != listed:
        raise BrokenVideo(f"only {frames} of the {listed} frames its index lists could be decoded")
    if expected_frames is not None and abs(frames - expected_frames) > tolerance:
        raise BrokenVideo(f"it holds {frames} frames where {expected_frames} were expected")
    step = (last_pts - first_pts) / (frames - 1) if frames > 1 else 0.0
    return Verification(frames=frames, duration_s=last_pts - first_pts + step, first_pts_s=first_pts,
                        last_pts_s=last_pts, codec=codec, width=width, height=height, pix_fmt=pix_fmt,
                        keyframes=keyframes, size_bytes=size_bytes)
