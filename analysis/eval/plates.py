"""Test footage for the plate finder (``analysis.plates``): a real car with a rendered plate, exact truth.

**The car.** Debian opencv-doc's ``licenseplate_motion.jpg`` (600×482): a real saloon seen from behind,
filling the picture, its real plate smeared by motion blur past reading (the text detector finds nothing
there up to a limit side of 640). A plate is rendered over it where the real one is
(:data:`PLATE_IN_PHOTO`, a US plate's 2:1 outline measured by eye): a white rectangle with a thin dark
border and black characters in DejaVu Sans Condensed Bold (Debian ``fonts-dejavu-core``; Pillow's own
default font where it is missing), blurred by 0.7 px so its edges are no sharper than a camera's.
Without a plate text (``plate_text=None``) the real plate is painted over with the bumper's colour: a car
with no text on it.

**The scene** (:func:`plate_scene`): the first frame of opencv-doc's ``vtest.avi`` (a real CCTV plaza),
cut to 16:9 and scaled to the frame size, with the car pasted in the lower right (the photo scaled to
``car_width``, its plate with it, by Pillow's antialiased resampling) and a street sign outside the car
(:data:`SIGN_TEXT` on white: text that is not on a vehicle). Every box is exact by construction.

**The clip** (:func:`write_clip`): the car drives towards the camera over the plaza, growing from
:data:`CLIP_CAR_WIDTHS` ``[0]`` to ``[1]`` pixels wide, H.264 (yuv420p, crf :data:`CRF`), every frame
rendered, with the car's and the plate's box for every frame. H.264 at that quality softens the plate as
a real camera's encoder does.

**Scoring** (:func:`plate_found`): a plate counts as found when a candidate, grown by ``padding`` of its
size on every side as the mask will be (``settings.SIGHTLINE.MASK_PADDING``), overlaps the true plate by
IoU ≥ :data:`FOUND_IOU`, or the union of the grown candidates covers at least :data:`FOUND_COVERAGE` of it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from analysis.detectors.base import Detection
from analysis.eval.faces import iou

OPENCV_DATA = Path(os.environ.get("SIGHTLINE_OPENCV_DATA", "/usr/share/doc/opencv-doc/examples/data"))
CAR_PHOTO = OPENCV_DATA / "licenseplate_motion.jpg"
VTEST = OPENCV_DATA / "vtest.avi"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf")
#: The car's box in the photo (x1, y1, x2, y2 pixels): the whole width, from the roof down.
CAR_IN_PHOTO = (0, 35, 600, 482)
#: Where the real plate is in the photo, by eye: the rendered one covers it.
PLATE_IN_PHOTO = (230, 225, 360, 292)
#: A patch of the bumper below the plate (x1, y1, x2, y2), whose mean colour paints the real plate over.
BUMPER_SAMPLE = (230, 300, 360, 320)
PLATE_TEXT = "SGL 4821"
SIGN_TEXT = "NO PARKING"
FRAME_SIZE = (1280, 720)
FPS = 10
CRF = 23
CLIP_CAR_WIDTHS = (72, 560)
FOUND_IOU = 0.3
FOUND_COVERAGE = 0.9

Box = tuple[float, float, float, float]


def _require(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: install Debian's opencv-doc (or set SIGHTLINE_OPENCV_DATA)")
    return path


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if FONT.is_file():
        return ImageFont.truetype(str(FONT), size)
    return ImageFont.load_default(size=size)


def render_plate(width: int, height: int, text: str = PLATE_TEXT) -> Image.Image:
    """A plate of ``width`` × ``height`` pixels: white, a thin dark border, ``text`` in black, centred."""
    plate = Image.new("RGB", (width, height), (244, 244, 238))
    draw = ImageDraw.Draw(plate)
    draw.rectangle((0, 0, width - 1, height - 1), outline=(40, 40, 40), width=max(1, height // 25))
    font, size = _font(6), max(6, int(height * 0.6))
    while size > 6:  # the largest size whose text fits in 88 % of the width, 60 % of the height at most
        font = _font(size)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        if right - left <= 0.88 * width:
            break
        size -= 1
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = (width - (right - left)) / 2 - left
    y = (height - (bottom - top)) / 2 - top + 0.05 * height
    draw.text((x, y), text, font=font, fill=(15, 15, 20))
    return plate.filter(ImageFilter.GaussianBlur(0.7))


def render_sign(width: int, height: int, text: str = SIGN_TEXT) -> Image.Image:
    """A street sign: black text on white with a dark border."""
    sign = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(sign)
    draw.rectangle((0, 0, width - 1, height - 1), outline=(30, 30, 30), width=max(2, height // 15))
    font = _font(max(6, int(height * 0.5)))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    if right - left > 0.9 * width:
        font = _font(max(6, int(height * 0.5 * 0.9 * width / (right - left))))
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((width - (right - left)) / 2 - left, (height - (bottom - top)) / 2 - top), text, font=font,
              fill=(10, 10, 10))
    return sign.filter(ImageFilter.GaussianBlur(0.6))


def car_photo(plate_text: str | None = PLATE_TEXT) -> Image.Image:
    """The car photo with a rendered plate over the real one; ``None``: the plate painted over (no text)."""
    photo = Image.open(_require(CAR_PHOTO)).convert("RGB")
    x1, y1, x2, y2 = PLATE_IN_PHOTO
    if plate_text is None:
        sample = np.asarray(photo)[BUMPER_SAMPLE[1]:BUMPER_SAMPLE[3], BUMPER_SAMPLE[0]:BUMPER_SAMPLE[2]]
        colour = tuple(int(v) for v in sample.reshape(-1, 3).mean(axis=0))
        ImageDraw.Draw(photo).rectangle((x1 - 4, y1 - 4, x2 + 4, y2 + 4), fill=colour)
        blurred = photo.filter(ImageFilter.GaussianBlur(4))  # soften the painted patch's edge
        edge = Image.new("L", photo.size, 0)
        ImageDraw.Draw(edge).rectangle((x1 - 8, y1 - 8, x2 + 8, y2 + 8), fill=255)
        photo = Image.composite(blurred, photo, edge)
    else:
        photo.paste(render_plate(x2 - x1, y2 - y1, plate_text), (x1, y1))
    return photo


def background(size: tuple[int, int] = FRAME_SIZE) -> Image.Image:
    """The first frame of vtest.avi (a CCTV plaza), its middle cut to the aspect of ``size``, scaled."""
    with av.open(str(_require(VTEST))) as container:
        frame = next(container.decode(video=0)).to_image()
    width, height = frame.size
    cut_h = min(height, round(width * size[1] / size[0]))
    top = (height - cut_h) // 2
    return frame.crop((0, top, width, top + cut_h)).resize(size, Image.Resampling.BICUBIC)


@dataclass(frozen=True)
class PlateScene:
    """One frame and its truth, boxes normalised (x1, y1, x2, y2) to the frame."""

    frame: np.ndarray  # uint8 H×W×3 RGB
    car: Box
    plate: Box | None  # None: the car has no plate
    sign: Box

    def vehicle(self, label: str = "car", confidence: float = 0.9) -> Detection:
        """The car's box as the vehicle detector's detection."""
        return Detection(label, confidence, *self.car)


def _paste_car(canvas: Image.Image, photo: Image.Image, left: int, top: int, car_width: int,
               with_plate: bool) -> tuple[Box, Box | None]:
    """Paste the photo's car (scaled to ``car_width``) at (left, top); its boxes, normalised."""
    cx1, cy1, cx2, cy2 = CAR_IN_PHOTO
    scale = car_width / (cx2 - cx1)
    car = photo.crop(CAR_IN_PHOTO)
    size = (car_width, round((cy2 - cy1) * scale))
    canvas.paste(car.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0), (left, top))
    fw, fh = canvas.size

    def norm(x1: float, y1: float, x2: float, y2: float) -> Box:
        return (max(x1 / fw, 0.0), max(y1 / fh, 0.0), min(x2 / fw, 1.0), min(y2 / fh, 1.0))

    car_box = norm(left, top, left + size[0], top + size[1])
    if not with_plate:
        return car_box, None
    px1, py1, px2, py2 = PLATE_IN_PHOTO
    plate = norm(left + (px1 - cx1) * scale, top + (py1 - cy1) * scale, left + (px2 - cx1) * scale,
                 top + (py2 - cy1) * scale)
    return car_box, plate


def plate_scene(*, plate_text: str | None = PLATE_TEXT, size: tuple[int, int] = FRAME_SIZE,
                car_width: int = 480) -> PlateScene:
    """A frame with the car (lower right, ``car_width`` px wide) and a sign (upper left, not on a car)."""
    canvas = background(size)
    width, height = size
    car_h = round((CAR_IN_PHOTO[3] - CAR_IN_PHOTO[1]) * car_width / (CAR_IN_PHOTO[2] - CAR_IN_PHOTO[0]))
    left, top = width - car_width - width // 20, height - car_h - height // 30
    car, plate = _paste_car(canvas, car_photo(plate_text), left, top, car_width, plate_text is not None)
    sign_w, sign_h = width // 5, height // 10
    sx, sy = width // 16, height // 12
    canvas.paste(render_sign(sign_w, sign_h), (sx, sy))
    sign = (sx / width, sy / height, (sx + sign_w) / width, (sy + sign_h) / height)
    return PlateScene(np.asarray(canvas).copy(), car, plate, sign)


@dataclass(frozen=True)
class ClipFrame:
    """The truth of one frame of :func:`write_clip`'s clip (boxes normalised)."""

    index: int
    car: Box
    plate: Box


def clip_layout(frames: int, size: tuple[int, int] = FRAME_SIZE) -> list[tuple[int, int, int]]:
    """(left, top, car_width) per frame: the car comes nearer (wider, lower) from the far left to the
    near right, its width growing geometrically (constant speed towards a pinhole camera, roughly)."""
    width, height = size
    far, near = CLIP_CAR_WIDTHS
    out = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        car_w = round(far * (near / far) ** t)
        car_h = round((CAR_IN_PHOTO[3] - CAR_IN_PHOTO[1]) * car_w / (CAR_IN_PHOTO[2] - CAR_IN_PHOTO[0]))
        left = round(0.05 * width + t * (0.9 * width - car_w - 0.05 * width))
        bottom = round(0.55 * height + t * 0.43 * height)
        out.append((left, bottom - car_h, car_w))
    return out


def render_clip(frames: int = 40, size: tuple[int, int] = FRAME_SIZE,
                plate_text: str = PLATE_TEXT) -> list[tuple[np.ndarray, ClipFrame]]:
    """The clip's frames (RGB, before encoding) with their truth."""
    base = background(size)
    photo = car_photo(plate_text)
    out = []
    for index, (left, top, car_w) in enumerate(clip_layout(frames, size)):
        canvas = base.copy()
        car, plate = _paste_car(canvas, photo, left, top, car_w, True)
        assert plate is not None
        out.append((np.asarray(canvas).copy(), ClipFrame(index, car, plate)))
    return out


def write_clip(path: Path, frames: int = 40, size: tuple[int, int] = FRAME_SIZE,
               plate_text: str = PLATE_TEXT) -> list[ClipFrame]:
    """Write the moving-car clip to ``path`` (MP4, H.264) and return the truth of every frame."""
    truth = []
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"crf": str(CRF), "preset": "veryfast"}
        stream.time_base = Fraction(1, FPS)
        for rgb, frame_truth in render_clip(frames, size, plate_text):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = frame_truth.index
            container.mux(stream.encode(frame))
            truth.append(frame_truth)
        container.mux(stream.encode(None))
    return truth


def read_clip(path: Path) -> list[np.ndarray]:
    """Every frame of ``path``, decoded, RGB."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def pad(box: Box, padding: float) -> Box:
    """``box`` grown by ``padding`` of its width / height on every side (not clipped)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    return (x1 - padding * w, y1 - padding * h, x2 + padding * w, y2 + padding * h)


def coverage(truth: Box, boxes: Sequence[Box], samples: int = 64) -> float:
    """The fraction of ``truth`` inside the union of ``boxes`` (on a ``samples`` × ``samples`` grid)."""
    x1, y1, x2, y2 = truth
    xs = x1 + (np.arange(samples) + 0.5) * (x2 - x1) / samples
    ys = y1 + (np.arange(samples) + 0.5) * (y2 - y1) / samples
    gx, gy = np.meshgrid(xs, ys)
    inside = np.zeros(gx.shape, bool)
    for bx1, by1, bx2, by2 in boxes:
        inside |= (gx >= bx1) & (gx <= bx2) & (gy >= by1) & (gy <= by2)
    return float(inside.mean())


def _box(det: Detection) -> Box:
    return (det.x1, det.y1, det.x2, det.y2)


def plate_found(found: Sequence[Detection], truth: Box, padding: float = 0.25) -> bool:
    """Whether ``found`` (grown by ``padding``) holds the plate ``truth``: IoU ≥ :data:`FOUND_IOU` with one
    of them, or their union covering :data:`FOUND_COVERAGE` of it."""
    grown = [pad(_box(d), padding) for d in found]
    return any(iou(g, truth) >= FOUND_IOU for g in grown) or (
        bool(grown) and coverage(truth, grown) >= FOUND_COVERAGE)


def overlapping(found: Sequence[Detection], region: Box) -> list[Detection]:
    """The detections of ``found`` that overlap ``region`` at all."""
    return [d for d in found if iou(_box(d), region) > 0.0]
