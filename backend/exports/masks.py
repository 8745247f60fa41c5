"""What is drawn on exported frames: tracked boxes at any time, pixelated masks, burnt-in boxes with labels.

Detections are logged at the analysed frames only (2 per second by default), so a box is needed on frames
that were never analysed. :class:`TrackBoxes` answers "which boxes at time t" from the logged points of
each track: linearly interpolated between two points of a track that are at most ``max_gap_ms`` apart, and
held for ``hold_ms`` before a track's first point, after its last one, and on both sides of a gap longer
than ``max_gap_ms`` (where the track is taken for lost and found again, not interpolated). For masks the
boxes also cover the object's likely motion (``cover_motion``, on by default): carried on at its speed during
a hold, grown between two points by how far it could have strayed from the straight line.

Times are absolute epoch milliseconds: a clip's ``started_at`` in epoch ms (one conversion for both the
clip and its detections: ``backend.eventlog.schema.epoch_ms``) plus the
frame's ``offset_ms`` as :class:`analysis.decode.FrameSampler` computes it (relative to the file's first
frame). :mod:`backend.exports.render` computes every frame's time the same way, so a mask logged at a
sampled frame lands on that very frame.

Pixelation (:func:`pixelate`) replaces each padded box by a mosaic of mean colours: at most
:data:`MOSAIC_BLOCKS` blocks across the box's longer side (3 to 6) and never blocks under :data:`MIN_BLOCK`
pixels. The block size is rounded up to a power of two and the mosaic's grid is the image's (blocks start
at multiples of the block size, the region grows outwards to whole blocks): a box that jitters by a few
pixels from frame to frame then gives the same mosaic, so frames cannot be combined to recover detail
(a grid that moves with the box would sample the face at a new offset in every frame). Measured in
``benchmarks/bench_exports.py``: OpenCV's frontal-face cascade finds the faces of its sample pictures
before, and none after.

Nothing here imports Django; only numpy and Pillow.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: ``(track, label, x1, y1, x2, y2)``, the corners normalised to the frame (0..1).
Box = tuple[int, str, float, float, float, float]

#: At most about this many mosaic blocks across a box's longer side.
MOSAIC_BLOCKS = 6
#: A mosaic block is never smaller than this (pixels).
MIN_BLOCK = 8

@dataclass(frozen=True, slots=True)
class TrackPoint:
    """One logged detection."""

    #: Absolute epoch milliseconds of the frame (the clip's ``started_at`` in epoch ms + ``offset_ms``).
    t_ms: int
    track: int
    label: str
    x1: float
    y1: float
    x2: float
    y2: float


class _Run:
    """The points of one track with no gap over ``max_gap_ms`` between them; shown from ``start`` to ``end``."""

    __slots__ = ("coords", "cover_motion", "end", "labels", "speeds", "start", "times", "track")

    def __init__(self, track: int, points: Sequence[TrackPoint], hold_ms: int, cover_motion: bool) -> None:
        self.track = track
        self.times = [p.t_ms for p in points]
        self.coords = [(p.x1, p.y1, p.x2, p.y2) for p in points]
        self.labels = [p.label for p in points]
        self.start = self.times[0] - hold_ms
        self.end = self.times[-1] + hold_ms  # inclusive
        self.cover_motion = cover_motion
        #: Per segment (point i to i+1): the fastest any edge moved along x and along y (units per ms).
        self.speeds = [
            (max(abs(b[0] - a[0]), abs(b[2] - a[2])) / (t1 - t0), max(abs(b[1] - a[1]), abs(b[3] - a[3])) / (t1 - t0))
            for a, b, t0, t1 in zip(self.coords, self.coords[1:], self.times, self.times[1:], strict=False)
        ]

    def distance(self, t_ms: int) -> int:
        """How far ``t_ms`` is from this run's points (0 between its first and last)."""
        return max(0, self.times[0] - t_ms, t_ms - self.times[-1])

    def _held(self, index: int, other: int, dt: int) -> Box:
        """Point ``index`` held ``dt`` ms away from it; with ``cover_motion``, together with where it would
        be had it gone on as from point ``other`` (the union of both boxes)."""
        c = self.coords[index]
        label = self.labels[index]
        if not self.cover_motion or other < 0 or other >= len(self.times):
            return (self.track, label, *c)
        o = self.coords[other]
        f = dt / abs(self.times[index] - self.times[other])
        moved = [c[k] + (c[k] - o[k]) * f for k in range(4)]
        return (self.track, label, _clip(min(c[0], moved[0])), _clip(min(c[1], moved[1])),
                _clip(max(c[2], moved[2])), _clip(max(c[3], moved[3])))

    def at(self, t_ms: int) -> Box:
        i = bisect.bisect_right(self.times, t_ms) - 1
        if i < 0:
            return self._held(0, 1, self.times[0] - t_ms)
        if i >= len(self.times) - 1:
            return self._held(i, i - 1, t_ms - self.times[i])
        t0, t1 = self.times[i], self.times[i + 1]
        f = (t_ms - t0) / (t1 - t0)
        a, b = self.coords[i], self.coords[i + 1]
        box = [a[k] + (b[k] - a[k]) * f for k in range(4)]
        if self.cover_motion:
            # Between two points the object may have moved off the straight line (turned back, as a
            # walker does at a wall): as far as it could at the speed seen around here.
            near = self.speeds[max(0, i - 1):i + 2]
            reach = min(t_ms - t0, t1 - t_ms)
            mx, my = max(v[0] for v in near) * reach, max(v[1] for v in near) * reach
            box = [_clip(box[0] - mx), _clip(box[1] - my), _clip(box[2] + mx), _clip(box[3] + my)]
        return (self.track, self.labels[i], box[0], box[1], box[2], box[3])


def _clip(v: float) -> float:
    return min(1.0, max(0.0, v))


def _union(a: TrackPoint, b: TrackPoint) -> TrackPoint:
    return TrackPoint(a.t_ms, a.track, b.label, min(a.x1, b.x1), min(a.y1, b.y1), max(a.x2, b.x2),
                      max(a.y2, b.y2))


class TrackBoxes:
    """Boxes of tracks at any time (see the module's docstring).

    Between consecutive points of a track at most ``max_gap_ms`` apart the box is interpolated linearly;
    each point is held for ``hold_ms`` before a track's first point and after its last one (and on both
    sides of a longer gap). Two points of one track at the same time are merged into their union. The label
    shown between two points is the earlier point's. A track shows one box at a time: where the holds on
    both sides of a gap overlap, the box of the nearer point (the earlier one on a tie).

    ``cover_motion`` (on by default: what masks need) makes the box cover where the object may be rather than
    the one place it most likely is: during a hold, the held box together with the box carried on at the
    track's last (first) speed, so an object that walks on after its last detection stays covered; between
    two points, the interpolated box grown by how far the object could have strayed from the straight line
    (the fastest speed seen on that stretch and its neighbours, times the time to the nearer point), so one
    that turned back between two detections stays covered too. Off, it is plain interpolation and holding
    (what burnt-in boxes want: they should not swell).

    :meth:`at` costs two binary searches plus one per box returned: the time line is cut, once, at every
    run's start and end, and each piece lists the runs shown in it.
    """

    def __init__(self, points: Iterable[TrackPoint], *, max_gap_ms: int = 2500, hold_ms: int = 750,
                 cover_motion: bool = True) -> None:
        if max_gap_ms < 0 or hold_ms < 0:
            raise ValueError("max_gap_ms and hold_ms must not be negative")
        self.max_gap_ms, self.hold_ms = max_gap_ms, hold_ms
        by_track: dict[int, dict[int, TrackPoint]] = defaultdict(dict)
        for point in points:
            seen = by_track[point.track].get(point.t_ms)
            by_track[point.track][point.t_ms] = point if seen is None else _union(seen, point)
        runs: list[_Run] = []
        for track, at_time in by_track.items():
            ordered = [at_time[t] for t in sorted(at_time)]
            begin = 0
            for i in range(1, len(ordered) + 1):
                if i == len(ordered) or ordered[i].t_ms - ordered[i - 1].t_ms > max_gap_ms:
                    runs.append(_Run(track, ordered[begin:i], hold_ms, cover_motion))
                    begin = i
        self.points = sum(len(r.times) for r in runs)
        # Cut the time line at every run's start and just after its end; each piece's runs, by track.
        cuts = sorted({r.start for r in runs} | {r.end + 1 for r in runs})
        starting: dict[int, list[_Run]] = defaultdict(list)
        ending: dict[int, list[_Run]] = defaultdict(list)
        for run in runs:
            starting[run.start].append(run)
            ending[run.end + 1].append(run)
        active: dict[int, _Run] = {}
        pieces: list[tuple[_Run, ...]] = []
        for cut in cuts:
            for run in ending.get(cut, ()):
                del active[id(run)]
            for run in starting.get(cut, ()):
                active[id(run)] = run
            pieces.append(tuple(sorted(active.values(), key=lambda r: (r.track, r.start))))
        self._cuts = cuts
        self._pieces = pieces
        self.first_ms = min((r.start for r in runs), default=None)
        self.last_ms = max((r.end for r in runs), default=None)

    def __bool__(self) -> bool:
        return bool(self._cuts)

    def at(self, t_ms: int) -> list[Box]:
        """The boxes shown at ``t_ms`` (absolute epoch ms), by track."""
        i = bisect.bisect_right(self._cuts, t_ms) - 1
        if i < 0:
            return []
        runs = self._pieces[i]
        if len(runs) > 1 and len({r.track for r in runs}) < len(runs):
            nearest: dict[int, _Run] = {}
            for run in runs:  # by track, then start: the earlier run wins a tie
                kept = nearest.get(run.track)
                if kept is None or run.distance(t_ms) < kept.distance(t_ms):
                    nearest[run.track] = run
            runs = tuple(r for r in runs if nearest[r.track] is r)
        return [run.at(t_ms) for run in runs]


def pad(box: Box, fraction: float) -> Box:
    """``box`` grown by ``fraction`` of its width (height) on the left and right (top and bottom), clipped
    to the frame."""
    track, label, x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * fraction, (y2 - y1) * fraction
    return (track, label, min(1.0, max(0.0, x1 - dx)), min(1.0, max(0.0, y1 - dy)),
            min(1.0, max(0.0, x2 + dx)), min(1.0, max(0.0, y2 + dy)))


def _pixels(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """The box in pixels, rounded outwards (a mask covers at least its box), clipped to the picture."""
    _, _, x1, y1, x2, y2 = box
    left = max(0, min(width, math.floor(min(x1, x2) * width)))
    top = max(0, min(height, math.floor(min(y1, y2) * height)))
    right = max(0, min(width, math.ceil(max(x1, x2) * width)))
    bottom = max(0, min(height, math.ceil(max(y1, y2) * height)))
    return left, top, right, bottom


def block_size(width_px: int, height_px: int) -> int:
    """The mosaic block (pixels) for a box of this size: at most :data:`MOSAIC_BLOCKS` blocks across its
    longer side (so at least 3 once it is over ``3 * MIN_BLOCK``), at least :data:`MIN_BLOCK` pixels, and a
    power of two, so that a box whose size jitters keeps its block size."""
    wanted = max(MIN_BLOCK, math.ceil(max(width_px, height_px) / MOSAIC_BLOCKS))
    return 1 << (wanted - 1).bit_length()


def _mosaic_rects(boxes: Iterable[Box], padding: float, width: int,
                  height: int) -> Iterator[tuple[int, int, int, int, int]]:
    """``(left, top, right, bottom, block)`` of each padded box's mosaic, in whole blocks of the image's
    grid (clipped at the picture's edge)."""
    for box in boxes:
        left, top, right, bottom = _pixels(pad(box, padding), width, height)
        if right <= left or bottom <= top:
            continue
        block = block_size(right - left, bottom - top)
        left, top = left // block * block, top // block * block
        right, bottom = min(width, -(-right // block) * block), min(height, -(-bottom // block) * block)
        yield left, top, right, bottom, block


def _mosaic(region: np.ndarray, block: int) -> None:
    """Each ``block``×``block`` tile of ``region`` (H×W or H×W×C, uint8, in place) becomes its mean."""
    tall_px, wide_px = region.shape[:2]
    rows = np.arange(0, tall_px, block)
    cols = np.arange(0, wide_px, block)
    sums = np.add.reduceat(np.add.reduceat(region, rows, axis=0, dtype=np.uint32), cols, axis=1)
    tall = np.diff(np.append(rows, tall_px))
    wide = np.diff(np.append(cols, wide_px))
    counts = tall[:, None] * wide[None, :]
    if region.ndim == 3:
        counts = counts[..., None]
    means = ((sums + counts // 2) // counts).astype(np.uint8)
    region[...] = np.repeat(np.repeat(means, tall, axis=0), wide, axis=1)


def pixelate(rgb: np.ndarray, boxes: Iterable[Box], padding: float = 0.25) -> None:
    """Replace each box of ``rgb`` (uint8 H×W×3, changed in place), grown by ``padding``, by a mosaic of
    mean colours on the image's grid (see the module's docstring)."""
    height, width = rgb.shape[:2]
    for left, top, right, bottom, block in _mosaic_rects(boxes, padding, width, height):
        _mosaic(rgb[top:bottom, left:right], block)


def yuv420_planes(yuv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y, U and V planes of a ``yuv420p`` picture as PyAV's ``to_ndarray`` gives it (the
    planes stacked: (H·3/2)×W, H and W even)."""
    height, width = yuv.shape[0] * 2 // 3, yuv.shape[1]
    if yuv.ndim != 2 or height % 2 or width % 2 or yuv.shape[0] != height * 3 // 2:
        raise ValueError("not an even-sized yuv420p picture")
    chroma = yuv[height:].reshape(2, height // 2, width // 2)
    return yuv[:height], chroma[0], chroma[1]


def pixelate_yuv420(yuv: np.ndarray, boxes: Iterable[Box], padding: float = 0.25) -> None:
    """:func:`pixelate` on a ``yuv420p`` picture (see :func:`yuv420_planes`), in place: the same mosaic
    (blocks are even and on the grid, so each covers whole chroma samples), without converting the picture
    to RGB and back (which costs ten times the mosaic). The mean of each block is taken in YUV, a linear
    function of RGB: the same colour."""
    y, u, v = yuv420_planes(yuv)
    height, width = y.shape
    for left, top, right, bottom, block in _mosaic_rects(boxes, padding, width, height):
        _mosaic(y[top:bottom, left:right], block)
        half = (slice(top // 2, bottom // 2), slice(left // 2, right // 2))
        _mosaic(u[half], block // 2)
        _mosaic(v[half], block // 2)


#: Bright colours, each readable against the black outline drawn around it.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 59, 48), (52, 199, 89), (0, 122, 255), (255, 204, 0), (175, 82, 222), (255, 149, 0),
    (90, 200, 250), (255, 45, 85), (0, 199, 190), (162, 132, 94),
)
_OUTLINE = (0, 0, 0)


def color_for(track: int) -> tuple[int, int, int]:
    """The colour a track's box is drawn in (the same in every frame and every export)."""
    return PALETTE[track % len(PALETTE)]


def line_width(width: int, height: int) -> int:
    """Thickness of a burnt-in box's coloured line for a picture of this size (pixels): at least 3, so
    that after 4:2:0 chroma subsampling (2×2 pixels share a colour) the line keeps its colour."""
    return max(3, round(min(width, height) / 180))


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ValueError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


@functools.lru_cache(maxsize=512)
def _label_patch(text: str, color: tuple[int, int, int], size: int) -> np.ndarray:
    """The label's tab: black text on the track's colour, with a black border (uint8 h×w×3)."""
    font = _font(size)
    bbox = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), text, font=font)
    left, top, right, bottom = (math.floor(bbox[0]), math.floor(bbox[1]), math.ceil(bbox[2]), math.ceil(bbox[3]))
    margin = max(2, size // 5)
    image = Image.new("RGB", (right - left + 2 * margin + 2, bottom - top + 2 * margin + 2), _OUTLINE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((1, 1, image.width - 2, image.height - 2), fill=color)
    draw.text((margin + 1 - left, margin + 1 - top), text, fill=_OUTLINE, font=font)
    patch = np.asarray(image, dtype=np.uint8)
    patch.setflags(write=False)
    return patch


def _rectangle(rgb: np.ndarray, left: int, top: int, right: int, bottom: int, thickness: int,
               color: tuple[int, int, int] | int) -> None:
    """The outline of ``[left, right) × [top, bottom)``, ``thickness`` pixels inwards, clipped (an RGB
    picture and a colour, or a plane and a value)."""
    height, width = rgb.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(width, right), min(height, bottom)
    if x1 <= x0 or y1 <= y0:
        return
    k = thickness
    rgb[y0:min(y1, top + k), x0:x1] = color
    rgb[max(y0, bottom - k):y1, x0:x1] = color
    rgb[y0:y1, x0:min(x1, left + k)] = color
    rgb[y0:y1, max(x0, right - k):x1] = color


class _Layout:
    """Where a burnt-in box's lines and label go on a picture of a given size."""

    __slots__ = ("height", "k", "text_size", "width")

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.k = line_width(width, height)
        self.text_size = max(11, round(height / 36))

    def lines(self, box: Box) -> tuple[tuple[int, int, int, int, int], tuple[int, int, int, int, int]]:
        """The black band and the coloured line inside it: ``(left, top, right, bottom, thickness)``. The
        coloured line runs along the box's edge, with one black pixel on each side of it."""
        left, top, right, bottom = _pixels(box, self.width, self.height)
        k, a, b = self.k, self.k // 2, self.k - self.k // 2
        return ((left - a - 1, top - a - 1, right + b + 1, bottom + b + 1, k + 2),
                (left - a, top - a, right + b, bottom + b, k))

    def label_at(self, box: Box, patch_w: int, patch_h: int, *, even: bool = False) -> tuple[int, int]:
        """Top-left corner of the label's tab: above the box's top-left corner, or inside it when there is
        no room above; kept in the picture."""
        left, top, _, _ = _pixels(box, self.width, self.height)
        k = self.k
        x = min(max(0, left - k // 2 - 1), max(0, self.width - patch_w))
        y = top - k // 2 - 1 - patch_h
        if y < 0:
            y = min(max(0, top + k), max(0, self.height - patch_h))
        if even:
            x, y = x - x % 2, y - y % 2
        return x, y


def _paste(plane: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    h, w = min(patch.shape[0], plane.shape[0] - y), min(patch.shape[1], plane.shape[1] - x)
    if h > 0 and w > 0:
        plane[y:y + h, x:x + w] = patch[:h, :w]


def burn(rgb: np.ndarray, boxes: Iterable[Box]) -> None:
    """Draw each box on ``rgb`` (uint8 H×W×3, in place): a line in the track's colour (:func:`color_for`)
    between two black lines, and a tab ``"label #track"`` (black on the colour) above its top-left corner
    (inside the box when there is no room above). Readable on any background: the black edges show on
    light pictures, the colour on dark ones."""
    layout = _Layout(rgb.shape[1], rgb.shape[0])
    for box in boxes:
        color = color_for(box[0])
        band, line = layout.lines(box)
        _rectangle(rgb, *band, _OUTLINE)
        _rectangle(rgb, *line, color)
        patch = _label_patch(f"{box[1]} #{box[0]}", color, layout.text_size)
        _paste(rgb, patch, *layout.label_at(box, patch.shape[1], patch.shape[0]))


def rgb_to_yuv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited-range Y, U, V of RGB (what FFmpeg's ``yuv420p`` conversion uses), float arrays."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return y, u, v


def _yuv_color(color: tuple[int, int, int]) -> tuple[int, int, int]:
    y, u, v = rgb_to_yuv(np.array(color, dtype=np.uint8))
    return round(float(y)), round(float(u)), round(float(v))


@functools.lru_cache(maxsize=512)
def _label_patch_yuv(text: str, color: tuple[int, int, int], size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The label's tab as Y (even-sized) and half-size U and V planes."""
    rgb = _label_patch(text, color, size)
    h, w = rgb.shape[:2]
    even = np.zeros((h + h % 2, w + w % 2, 3), np.uint8)
    even[:h, :w] = rgb
    even[h:, :] = even[h - 1:h, :]
    even[:, w:] = even[:, w - 1:w]
    y, u, v = rgb_to_yuv(even)

    def half(c: np.ndarray) -> np.ndarray:
        return c.reshape(c.shape[0] // 2, 2, c.shape[1] // 2, 2).mean(axis=(1, 3))

    planes = tuple(np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, half(u), half(v)))
    for p in planes:
        p.setflags(write=False)
    return planes[0], planes[1], planes[2]


def _half(rect: tuple[int, int, int, int, int]) -> tuple[int, int, int, int, int]:
    """A rectangle of the Y plane on the half-size chroma planes (rounded outwards)."""
    left, top, right, bottom, k = rect
    return left // 2, top // 2, -(-right // 2), -(-bottom // 2), -(-k // 2)


def burn_yuv420(yuv: np.ndarray, boxes: Iterable[Box]) -> None:
    """:func:`burn` on a ``yuv420p`` picture (see :func:`yuv420_planes`), in place, without converting it
    to RGB and back: the same lines and labels, each plane drawn directly (the chroma of the coloured line
    is rounded outwards to whole chroma samples, so it keeps its colour after subsampling)."""
    y, u, v = yuv420_planes(yuv)
    layout = _Layout(y.shape[1], y.shape[0])
    black = _yuv_color(_OUTLINE)
    for box in boxes:
        color = color_for(box[0])
        yc, uc, vc = _yuv_color(color)
        band, line = layout.lines(box)
        _rectangle(y, *band, black[0])
        _rectangle(u, *_half(band), black[1])
        _rectangle(v, *_half(band), black[2])
        _rectangle(y, *line, yc)
        _rectangle(u, *_half(line), uc)
        _rectangle(v, *_half(line), vc)
        py, pu, pv = _label_patch_yuv(f"{box[1]} #{box[0]}", color, layout.text_size)
        x0, y0 = layout.label_at(box, py.shape[1], py.shape[0], even=True)
        _paste(y, py, x0, y0)
        _paste(u, pu, x0 // 2, y0 // 2)
        _paste(v, pv, x0 // 2, y0 // 2)
