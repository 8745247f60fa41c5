"""Test footage with real faces and exact ground truth, for the face pass (``analysis.faces``).

Made only of pictures that ship with an installed package (scikit-image), so it builds anywhere the project
does: the astronaut (Eileen Collins, NASA, public domain), the cameraman, and two faces of the Labeled Faces
in the Wild subset (``skimage/data/lfw_subset.npy``: 25×25 grey crops, its first 100 images are faces),
moving over a real background (scikit-image's brick wall). Each picture is pasted whole (a rectangle, like
a poster carried across the frame) and never overlaps another, so every face is fully visible in every
frame and its box is known by construction: the face boxes of the astronaut and the cameraman were drawn
by eye on the source photos (:data:`SOURCES`, forehead to chin, cheek or ear to cheek or nose); an LFW crop
is a face from edge to edge, so its box is the whole crop.

Sizes were chosen with the detector: the LFW crops, small and cut tight, are found reliably (score ≥ 0.75
wherever they are) only from about 130 px tall in a 1280×720 frame analysed at 640, and 18 of 100 fall
under 0.4 at half that size, so only two of the reliable ones are used, at about a fifth of the frame's
height; the two photos give scores over 0.85. Faces scale with the frame's height, so a smaller clip has
the same faces, smaller.

Layout: four lanes (the frame's quarters); each picture moves across its lane and bounces at its edges,
about 0.15 frame widths a second, with a small vertical sway: at an analysis rate of 2 frames a second a
face moves about half its own width between two analysed frames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class FaceSource:
    name: str
    #: Crop of the source picture (x1, y1, x2, y2 pixels) that is pasted, and the face inside it (the same).
    crop: tuple[int, int, int, int]
    face: tuple[int, int, int, int]
    #: The face's height in the clip, as a fraction of the frame's height.
    height: float


SOURCES = (
    FaceSource("astronaut", crop=(130, 20, 320, 230), face=(176, 60, 272, 184), height=0.21),
    FaceSource("camera", crop=(150, 80, 300, 230), face=(180, 118, 258, 198), height=0.19),
    FaceSource("lfw-33", crop=(0, 0, 25, 25), face=(0, 0, 25, 25), height=0.2),
    FaceSource("lfw-92", crop=(0, 0, 25, 25), face=(0, 0, 25, 25), height=0.21),
)
SPEED = 0.15  # frame widths a second
CRF = 20


@dataclass(frozen=True)
class FaceClipTruth:
    """Where every face is in every frame of a clip made by :func:`make_face_clip`."""

    size: tuple[int, int]
    fps: int
    #: Per frame, one box per face (normalised x1, y1, x2, y2), in :data:`SOURCES` order.
    frames: tuple[tuple[Box, ...], ...]
    names: tuple[str, ...]

    @property
    def faces(self) -> int:
        return len(self.names)

    def at(self, offset_ms: int) -> tuple[Box, ...]:
        """The boxes of the frame shown at ``offset_ms`` from the start."""
        index = min(max(round(offset_ms * self.fps / 1000), 0), len(self.frames) - 1)
        return self.frames[index]


def iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def matched(truth: tuple[Box, ...], found: list[Box], min_iou: float = 0.3) -> int:
    """How many of the true boxes a found box overlaps by ``min_iou`` (each found box used once, best pairs
    first)."""
    pairs = sorted(((iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)), reverse=True)
    used_t: set[int] = set()
    used_f: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < min_iou:
            break
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
    return len(used_t)


def _pictures() -> list[np.ndarray]:
    import skimage
    from skimage import data

    lfw = np.load(os.path.join(os.path.dirname(skimage.__file__), "data", "lfw_subset.npy"))
    photos = {"astronaut": data.astronaut(), "camera": data.camera()}
    out = []
    for source in SOURCES:
        if source.name.startswith("lfw-"):
            picture = (lfw[int(source.name[4:])] * 255).round().astype(np.uint8)
        else:
            picture = photos[source.name]
        if picture.ndim == 2:
            picture = np.repeat(picture[:, :, None], 3, axis=2)
        x1, y1, x2, y2 = source.crop
        out.append(np.ascontiguousarray(picture[y1:y2, x1:x2]))
    return out


def _background(width: int, height: int) -> np.ndarray:
    from skimage import data

    wall = Image.fromarray(data.brick())
    side = max(width, height)
    wall = wall.resize((side, side), Image.Resampling.BILINEAR).crop((0, 0, width, height))
    grey = np.asarray(wall, dtype=np.float32)[:, :, None]
    tint = np.array([1.0, 0.9, 0.8], np.float32)  # a warm wall, not a grey test card
    return np.clip(grey * tint, 0, 255).astype(np.uint8)


def make_face_clip(path: str | Path, *, seconds: float, fps: int, size: tuple[int, int] = (1280, 720),
                   codec: str = "h264", start_s: float = 0.0) -> FaceClipTruth:
    """Write the clip to ``path`` (MP4, yuv420p; ``codec`` ``h264`` is libx264) and return its ground truth.

    ``start_s``: the scene's time at the clip's first frame; two clips made with ``start_s`` 0 and ``seconds``
    are consecutive segments of one camera."""
    width, height = size
    if width % 2 or height % 2:
        raise ValueError(f"yuv420p needs even sides, not {width}×{height}")
    background = _background(width, height)
    sprites: list[tuple[np.ndarray, Box]] = []
    for source, picture in zip(SOURCES, _pictures(), strict=True):
        fx1, fy1, fx2, fy2 = source.face
        cx1, cy1 = source.crop[:2]
        factor = source.height * height / (fy2 - fy1)
        w, h = max(1, round(picture.shape[1] * factor)), max(1, round(picture.shape[0] * factor))
        scaled = np.asarray(Image.fromarray(picture).resize((w, h), Image.Resampling.BICUBIC))
        face = ((fx1 - cx1) / picture.shape[1], (fy1 - cy1) / picture.shape[0],
                (fx2 - cx1) / picture.shape[1], (fy2 - cy1) / picture.shape[0])
        sprites.append((scaled, face))
    frames: list[tuple[Box, ...]] = []
    n_frames = max(1, round(seconds * fps))
    lane_w, lane_h = width // 2, height // 2
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264" if codec == "h264" else codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        if codec == "h264":
            stream.options = {"crf": str(CRF), "preset": "veryfast"}
        for n in range(n_frames):
            t = start_s + n / fps
            image = background.copy()
            boxes: list[Box] = []
            for k, (sprite, face) in enumerate(sprites):
                h, w = sprite.shape[:2]
                lane_x, lane_y = (k % 2) * lane_w, (k // 2) * lane_h
                travel, room = max(lane_w - w, 0), max(lane_h - h, 0)
                # Back and forth across the lane (a triangle wave), each lane with its own phase and sway.
                phase = (SPEED * width * t / max(travel, 1) + 0.37 * k) % 2.0
                x = lane_x + round(travel * (phase if phase <= 1 else 2 - phase))
                y = lane_y + round(room * (0.5 + 0.4 * np.sin(2 * np.pi * (0.25 * t + 0.2 * k))))
                x, y = min(max(x, 0), width - w), min(max(y, 0), height - h)
                image[y:y + h, x:x + w] = sprite[: height - y, : width - x]
                boxes.append(((x + face[0] * w) / width, (y + face[1] * h) / height,
                              (x + face[2] * w) / width, (y + face[3] * h) / height))
            frames.append(tuple(boxes))
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            frame.pts = n
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return FaceClipTruth(size=size, fps=fps, frames=tuple(frames), names=tuple(s.name for s in SOURCES))
