"""Named colours of what was seen: a person's upper and lower body, a vehicle's body.

What an officer asks for ("red jacket", "white van") is a colour name, so that is what analysis stores: one of
:data:`PALETTE` per attribute, or nothing when the crop does not say clearly. Computed on the frame analysis
already has, from the detection's box:

- **Regions**: a person's box is split like :mod:`analysis.appearance` does it (upper body 12–50 % of its
  height, lower body 50–90 %, the outer fifth of each side left out: mostly background); a vehicle keeps the
  middle of its box (windows, wheels and road are at its edges).
- **Background suppressed**: pixels close (CIELAB ΔE < :data:`BACKGROUND_DE`) to the median of a thin ring just
  outside the box are dropped — what is around the object is not its colour. When that would leave too little,
  all pixels count.
- **Perceptual naming**: each pixel is named in CIELAB by lightness, chroma and hue angle (:func:`name_lab`),
  with very dark pixels black whatever their hue (shadowed dark clothing), and the region's colour is the name
  with most pixels, when it holds at least :data:`MIN_SHARE` of them. Chromatic names win ties against the
  achromatic ones by :data:`CHROMA_WEIGHT`: a blue pair of jeans has grey highlights and black folds, but is
  blue.

The thresholds were chosen on vtest.avi's people and are measured there (``benchmarks/eval_colors.py``, figures
in the README): a hand-labelled identity per ground-truth track, every unoccluded box scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.eventlog.schema import COLOR_PALETTE

PALETTE = COLOR_PALETTE
#: Labels whose colour attribute is ``color`` (the body); a person has ``upper_color`` and ``lower_color``.
VEHICLES = frozenset({"car", "truck", "bus", "motorcycle"})
PERSON = "person"

BACKGROUND_DE = 12.0
#: Chroma from which a pixel has a hue (denim is faint: chroma 8–10); under it, black, grey or white.
CHROMATIC = 7.0
#: Lightness under which a pixel of moderate chroma is black: dark clothing in shadow.
DARK = 22.0
MIN_SHARE = 0.3
CHROMA_WEIGHT = 1.6
#: Under this many pixels a region says nothing; over this many, a regular sample of them is named.
MIN_PIXELS = 24
MAX_PIXELS = 6000


@dataclass(frozen=True, slots=True)
class Colours:
    upper: str | None = None
    lower: str | None = None
    body: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The attributes that were named, by their API names."""
        out = {"upper_color": self.upper, "lower_color": self.lower, "color": self.body}
        return {k: v for k, v in out.items() if v}


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """N×3 uint8 sRGB → N×3 float CIELAB (D65)."""
    c = rgb.astype(np.float64) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ np.array([[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]])
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


_INDEX = {name: i for i, name in enumerate(PALETTE)}


def name_lab(lab: np.ndarray) -> np.ndarray:
    """Palette index of each CIELAB pixel (N×3 → N)."""
    lightness, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    chroma = np.hypot(a, b)
    hue = np.degrees(np.arctan2(b, a)) % 360
    out = np.full(len(lab), _INDEX["grey"])

    def put(mask: np.ndarray, name: str) -> None:
        out[mask] = _INDEX[name]

    chromatic = chroma >= CHROMATIC
    # Hue families (CIELAB hue angle): red ~40°, orange ~60°, yellow ~95°, green ~135°, blue ~300°, purple ~325°.
    red = chromatic & ((hue >= 350) | (hue < 48))
    orange = chromatic & (hue >= 48) & (hue < 75)
    yellow = chromatic & (hue >= 75) & (hue < 108)
    green = chromatic & (hue >= 108) & (hue < 200)
    blue = chromatic & (hue >= 200) & (hue < 305)
    purple = chromatic & (hue >= 305) & (hue < 350)
    warm = red | orange | yellow
    put(red, "red")
    put(orange, "orange")
    put(yellow, "yellow")
    put(green, "green")
    put(blue, "blue")
    put(purple, "purple")
    put((red | purple) & (lightness >= 68) & (chroma < 45), "pink")
    put(warm & (hue >= 35) & (lightness < 48) & (chroma < 45), "brown")
    put((orange | yellow) & (lightness >= 65) & (chroma < 30), "beige")
    achromatic = ~chromatic
    put(achromatic & (lightness >= 82), "white")
    put(achromatic & (lightness < 30), "black")
    put((lightness < DARK) & (chroma < 18), "black")
    return out


def _dominant(lab: np.ndarray, background: np.ndarray | None) -> str | None:
    if len(lab) < MIN_PIXELS:
        return None
    if background is not None:
        keep = np.linalg.norm(lab - background, axis=1) >= BACKGROUND_DE
        if keep.sum() >= max(MIN_PIXELS, 0.25 * len(lab)):
            lab = lab[keep]
    names = name_lab(lab)
    counts = np.bincount(names, minlength=len(PALETTE)).astype(np.float64)
    share = counts / counts.sum()
    weighted = counts.copy()
    weighted[[_INDEX[n] for n in PALETTE[3:]]] *= CHROMA_WEIGHT
    best = int(weighted.argmax())
    return PALETTE[best] if share[best] >= MIN_SHARE or weighted[best] >= MIN_SHARE * counts.sum() else None


def _pixels(image: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    return image[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)].reshape(-1, 3)


def _ring(image: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray | None:
    """Median CIELAB of a band just outside the box (its width a tenth of the box's), or ``None``."""
    height, width = image.shape[:2]
    band = max(2, (x2 - x1) // 10)
    parts = [
        _pixels(image, x1 - band, y1, x1, y2), _pixels(image, x2, y1, min(x2 + band, width), y2),
        _pixels(image, x1, y1 - band, x2, y1), _pixels(image, x1, y2, x2, min(y2 + band, height)),
    ]
    ring = np.concatenate([p for p in parts if p.size] or [np.zeros((0, 3), np.uint8)])
    if len(ring) < MIN_PIXELS:
        return None
    return np.median(srgb_to_lab(ring), axis=0)


def describe(image: np.ndarray, box: tuple[float, float, float, float], label: str) -> Colours:
    """The named colours of a ``label`` detection at ``box`` (normalised x1, y1, x2, y2) in ``image`` (uint8
    H×W×3 RGB). Labels other than a person or a vehicle have none."""
    if label != PERSON and label not in VEHICLES:
        return Colours()
    height, width = image.shape[:2]
    bx1, by1, bx2, by2 = (round(v * s) for v, s in zip(box, (width, height, width, height), strict=True))
    bx1, by1 = max(bx1, 0), max(by1, 0)
    bx2, by2 = min(bx2, width), min(by2, height)
    if bx2 - bx1 < 4 or by2 - by1 < 4:
        return Colours()
    background = _ring(image, bx1, by1, bx2, by2)
    w, h = bx2 - bx1, by2 - by1

    def region(top: float, bottom: float, side: float) -> str | None:
        left, right = bx1 + int(side * w), bx2 - int(side * w)
        pixels = _pixels(image, left, by1 + int(top * h), right, by1 + int(bottom * h))
        if len(pixels) > MAX_PIXELS:  # a large box (a near object, a 4K camera): a regular sample is as good
            pixels = pixels[:: len(pixels) // MAX_PIXELS + 1]
        return _dominant(srgb_to_lab(pixels), background) if len(pixels) else None

    if label == PERSON:
        return Colours(upper=region(0.12, 0.5, 0.2), lower=region(0.5, 0.9, 0.2))
    return Colours(body=region(0.2, 0.8, 0.2))
