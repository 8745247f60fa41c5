"""The footage of the synthetic sequences: vtest.avi's empty background, person cut-outs, scene objects.

The background is the per-pixel median of :data:`BACKGROUND_SAMPLES` frames spread over vtest.avi (the
pedestrians vanish). A sprite is one real person cut out of one vtest frame: inside a detector box, the pixels
that differ from the background (cleaned by morphology, largest component, holes filled, the cast shadow under
the feet removed). Scene objects (the lamp post, the tripod) are outlined by hand so that people behind them
are hidden by them. The camera model maps ground positions to the picture with perspective. Used by
:mod:`analysis.eval.synthetic`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

if TYPE_CHECKING:
    from .synthetic import Person

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
FPS = 10
WIDTH, HEIGHT = 768, 576
CRF = 18
#: Frames of vtest whose per-pixel median is the background.
BACKGROUND_SAMPLES = 60
#: A pixel is foreground where some channel differs from the background by more than this.
FOREGROUND_THRESHOLD = 30

# Camera: box height = HEIGHT_SLOPE * (feet_y - HORIZON_Y) for a person of stature 1 (fitted to vtest's
# detector boxes). With a focal length of FOCAL_PX and a reference person of PERSON_M metres, the camera is
# PERSON_M / HEIGHT_SLOPE = 7.6 m above the ground.
HEIGHT_SLOPE = 0.229
HORIZON_Y = -76.8
FOCAL_PX = 700.0
CENTRE_X = WIDTH / 2
PERSON_M = 1.75
CAMERA_M = PERSON_M / HEIGHT_SLOPE


@dataclass(frozen=True)
class SpriteSource:
    """Where a person is cut from: a vtest frame index and the person's box ``(x1, y1, x2, y2)`` there."""

    frame: int
    box: tuple[int, int, int, int]
    #: The way the person faces in the source frame: -1 left, +1 right (mirrored to walk the other way).
    facing: int
    description: str


#: The people (cut-outs chosen from the detector's boxes on vtest and checked by eye).
SPRITES: dict[str, SpriteSource] = {
    "striped": SpriteSource(150, (590, 225, 620, 314), -1, "man, navy striped jumper, light jeans"),
    "red_jacket": SpriteSource(441, (606, 255, 646, 353), -1, "woman, red jacket, long dark hair, jeans"),
    "puffer": SpriteSource(594, (382, 319, 427, 432), +1, "man, red and navy puffer jacket, dark trousers"),
    "black_coat": SpriteSource(669, (228, 345, 291, 467), -1, "woman, blonde curly hair, long black coat"),
    "dark_suit": SpriteSource(183, (603, 223, 648, 314), +1, "man, black jacket and trousers, paper in hand"),
    "bald": SpriteSource(359, (528, 192, 565, 284), +1, "balding man, dark jacket, blue jeans"),
    "standing": SpriteSource(548, (634, 299, 671, 410), -1, "man standing, all black, facing the camera"),
}


# --- footage: background and sprites ----------------------------------------------------------------


@dataclass(frozen=True)
class Sprite:
    """A person cut-out: colours (float32, bled beyond the mask) and the mask, cropped to the mask's box."""

    name: str
    rgb: np.ndarray
    mask: np.ndarray
    facing: int


@dataclass
class Footage:
    background: np.ndarray  # HxWx3 uint8
    sprites: dict[str, Sprite]
    background_frames: list[int]
    occluders: list[Layer] = field(default_factory=list)
    _scaled: dict[tuple[str, int, bool], ScaledSprite] = field(default_factory=dict, repr=False)

    def scaled(self, name: str, height: int, mirror: bool) -> ScaledSprite:
        key = (name, height, mirror)
        if key not in self._scaled:
            self._scaled[key] = scale_sprite(self.sprites[name], height, mirror)
        return self._scaled[key]


@dataclass(frozen=True)
class ScaledSprite:
    rgb: np.ndarray  # hxwx3 float32
    mask: np.ndarray  # hxw bool: the pixels that count for the box and the visibility
    alpha: np.ndarray  # hxwx1 float32: 1 inside, 0.5 on the mask's edge pixels


def background_frame_indices(n_frames: int, samples: int = BACKGROUND_SAMPLES) -> list[int]:
    return sorted({round(v) for v in np.linspace(0, n_frames - 1, samples)})


def load_footage(video: Path = VTEST, sprites: dict[str, SpriteSource] = SPRITES) -> Footage:
    """Decode ``video`` once: the median background and the sprite cut-outs."""
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        n_frames = stream.frames or sum(1 for _ in container.decode(stream))
    wanted_bg = background_frame_indices(n_frames)
    wanted = set(wanted_bg) | {s.frame for s in sprites.values()}
    decoded: dict[int, np.ndarray] = {}
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for n, frame in enumerate(container.decode(stream)):
            if n in wanted:
                decoded[n] = frame.to_ndarray(format="rgb24")
            if n >= max(wanted):
                break
    missing = wanted - decoded.keys()
    if missing:
        raise ValueError(f"{video}: frames {sorted(missing)[:5]} not decoded")
    stack = np.stack([decoded[n] for n in wanted_bg])
    background = np.median(stack, axis=0).round().astype(np.uint8)
    cut = {name: cut_sprite(name, decoded[src.frame], background, src) for name, src in sprites.items()}
    return Footage(background, cut, wanted_bg, scene_occluders(background))


def foreground_mask(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Pixels that differ from the background and are not the cast shadow of someone, cleaned."""
    f = frame.astype(np.float32)
    g = background.astype(np.float32)
    fg = np.abs(f - g).max(axis=2) > FOREGROUND_THRESHOLD
    f_sum, g_sum = f.sum(axis=2) + 1, g.sum(axis=2) + 1
    darker = f_sum / g_sum
    chroma = np.abs(f / f_sum[..., None] - g / g_sum[..., None]).max(axis=2)
    shadow = (darker > 0.45) & (darker < 0.92) & (chroma < 0.03)
    mask = ndi.binary_opening(fg & ~shadow)
    mask = ndi.binary_closing(mask, structure=np.ones((3, 3), bool), iterations=2)
    labels, count = ndi.label(mask)
    if count == 0:
        return mask
    sizes = ndi.sum(mask, labels, range(1, count + 1))
    return ndi.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))


def cut_sprite(name: str, frame: np.ndarray, background: np.ndarray, src: SpriteSource) -> Sprite:
    x1, y1, x2, y2 = src.box
    w, h = x2 - x1, y2 - y1
    cx1, cy1 = max(0, round(x1 - 0.3 * w)), max(0, round(y1 - 0.12 * h))
    cx2, cy2 = min(frame.shape[1], round(x2 + 0.3 * w)), min(frame.shape[0], round(y2 + 0.12 * h))
    mask = foreground_mask(frame[cy1:cy2, cx1:cx2], background[cy1:cy2, cx1:cx2])
    ys, xs = np.nonzero(mask)
    if len(ys) < 200:
        raise ValueError(f"sprite {name}: no person found in frame {src.frame} at {src.box}")
    if ys.min() == 0 or xs.min() == 0 or ys.max() == mask.shape[0] - 1 or xs.max() == mask.shape[1] - 1:
        raise ValueError(f"sprite {name}: the person's mask touches its crop (cut off) in frame {src.frame}")
    # Crop to the mask with a 1-px border, and bleed colours outward from the nearest mask pixel.
    r0, r1, c0, c1 = ys.min() - 1, ys.max() + 2, xs.min() - 1, xs.max() + 2
    mask = mask[r0:r1, c0:c1]
    rgb = frame[cy1 + r0:cy1 + r1, cx1 + c0:cx1 + c1].astype(np.float32)
    _, (iy, ix) = ndi.distance_transform_edt(~mask, return_indices=True)
    return Sprite(name, rgb[iy, ix], mask, src.facing)


def scale_sprite(sprite: Sprite, height: int, mirror: bool) -> ScaledSprite:
    """The sprite resized so that its mask is ``height`` px tall (±1), cropped to the mask."""
    mask_rows = np.nonzero(sprite.mask.any(axis=1))[0]
    factor = height / (mask_rows[-1] - mask_rows[0] + 1)
    h, w = sprite.mask.shape
    size = (max(3, round(w * factor)), max(3, round(h * factor)))
    channels = [np.asarray(Image.fromarray(sprite.rgb[..., c]).resize(size, Image.Resampling.BICUBIC))
                for c in range(3)]
    rgb = np.clip(np.stack(channels, axis=2), 0, 255)
    soft = np.asarray(Image.fromarray(sprite.mask.astype(np.float32)).resize(size, Image.Resampling.BILINEAR))
    mask = soft > 0.5
    labels, count = ndi.label(mask)
    if count > 1:  # resampling can leave specks apart from the body
        sizes = ndi.sum(mask, labels, range(1, count + 1))
        mask = labels == 1 + int(np.argmax(sizes))
    ys, xs = np.nonzero(mask)
    rows, cols = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
    mask, rgb = mask[rows, cols], rgb[rows, cols]
    if mirror:
        mask, rgb = mask[:, ::-1], rgb[:, ::-1]
    inner = ndi.binary_erosion(mask, border_value=0)
    alpha = (mask.astype(np.float32) + inner) / 2
    return ScaledSprite(np.ascontiguousarray(rgb), np.ascontiguousarray(mask),
                        np.ascontiguousarray(alpha[..., None]))


@dataclass(frozen=True)
class SceneObject:
    """A fixed object of the plaza that people can walk behind, outlined by hand on the background.

    ``polygons`` and ``lines`` (``(points, width)``) are in image pixels; ``base_y`` is the row where it stands
    on the ground: people whose feet are above that row are behind it.
    """

    name: str
    base_y: float
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    lines: tuple[tuple[tuple[tuple[float, float], ...], int], ...] = ()


#: The lamp post (with its sign) and the tripod in front of the plaza; the rest of vtest's fixed objects
#: (cones, bollards, the far sign) are off every path.
SCENE_OBJECTS = (
    SceneObject("lamp_post", 392.0, polygons=(
        ((423.5, 95), (423.5, 195), (428, 285), (428.5, 392), (437.5, 392), (437.5, 385), (434.5, 280),
         (431.5, 200), (428, 95)),
        ((414.5, 202.5), (441.5, 202.5), (441.5, 242.5), (414.5, 242.5)),
    )),
    SceneObject("tripod", 467.0, polygons=(((503, 336), (512, 336), (512, 352), (503, 352)),), lines=(
        (((507, 350), (506, 380)), 3),
        (((505, 378), (460, 469)), 3),
        (((506, 380), (508, 450)), 3),
        (((508, 388), (524, 481)), 3),
    )),
)




@dataclass(frozen=True)
class Layer:
    """Something drawn in a frame: a person's sprite or a scene object, at ``depth`` (its feet or base row)."""

    sprite: ScaledSprite
    left: int
    top: int
    depth: float
    person: Person | None = None  # None: a scene object


def scene_occluders(background: np.ndarray, objects: Sequence[SceneObject] = SCENE_OBJECTS) -> list[Layer]:
    """The scene objects as layers drawn from the background itself (feathered like the sprites)."""
    layers = []
    for obj in objects:
        canvas = Image.new("L", (WIDTH, HEIGHT), 0)
        pen = ImageDraw.Draw(canvas)
        for polygon in obj.polygons:
            pen.polygon(list(polygon), fill=1)
        for points, width in obj.lines:
            pen.line(list(points), fill=1, width=width)
        mask = np.asarray(canvas, bool)
        ys, xs = np.nonzero(mask)
        rows, cols = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
        crop = mask[rows, cols]
        alpha = (crop.astype(np.float32) + ndi.binary_erosion(crop, border_value=0))[..., None] / 2
        sprite = ScaledSprite(background[rows, cols].astype(np.float32), crop, alpha)
        layers.append(Layer(sprite, int(xs.min()), int(ys.min()), obj.base_y))
    return layers


# --- geometry and paths -----------------------------------------------------------------------------
