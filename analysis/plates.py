"""Licence-plate candidates: text regions inside vehicle boxes, for privacy masking.

No licence-plate detector ships in a package, but a text detector does: PP-OCRv4's DB (differentiable
binarisation) detection model, whose ONNX weights ship inside the ``rapidocr-onnxruntime`` wheel
(Apache-2.0, ``rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx``). Only that file is used, run with
ONNX Runtime here; rapidocr's own pipeline (and its recogniser) is not. A plate is text on a vehicle, so a
text region inside a vehicle box whose shape could be a plate's is a plate candidate. This is for masking,
not reading: the rule errs towards masking text that is not a plate rather than missing one that is.

**The model.** Input: a BGR picture (PaddleOCR trains on OpenCV-decoded images), sides multiples of 32,
scaled to [0, 1] and normalised with mean 0.5 and std 0.5 on every channel (rapidocr's ``config.yaml``,
``Det.mean`` / ``Det.std``), N×3×H×W float32. Output: N×1×H×W, the probability that a pixel lies in the
*shrunk kernel* of a text line (DB trains on text polygons shrunk by ``D = A (1 - 0.4²) / L``, A the area
and L the perimeter), so neighbouring lines and words come out as separate blobs.

**Per vehicle** (labels :data:`VEHICLE_LABELS`): the box grown by :data:`CROP_MARGIN` of its size on every
side (a detector's box often cuts the bumper, and the plate with it) is cropped from the full-resolution
frame and scaled so that its longer side is ``limit_side`` (:data:`DEFAULT_LIMIT_SIDE`), at most
:data:`MAX_UPSCALE` times up, sides rounded to multiples of 32. A distant car's plate is a few pixels high
and needs the upscaling; the limit bounds the cost of a near one. Both defaults are measured in
``benchmarks/bench_plates.py``: from 480 up, and with upscaling to 6 rather than 4, more of the smallest
plates are found; 640 and 960 find no more and cost more. Crops go through the model one at a time (their
shapes differ).

**Post-processing** (DB's, written again with ``scipy.ndimage``): the map is binarised at
:data:`BINARY_THRESHOLD` and dilated by 2×2 (as PP-OCR does); each 8-connected component is a text kernel,
scored by the mean probability of its pixels, kept from ``min_confidence`` up
(``settings.SIGHTLINE.PLATE_MIN_CONFIDENCE`` by default). A kernel whose box has a side under
:data:`MIN_KERNEL_PX` map pixels is noise. The kernel's box (w × h) is grown back to the text's box by the
unclip distance ``d = w h r / (2 (w + h))`` on every side, ``r`` = :data:`UNCLIP_RATIO` (PP-OCR's 1.6).
Boxes are axis-aligned (the component's box, not DB's rotated rectangle): a tilted plate's box covers
more than the plate, never less. Text boxes of one line (the vertical overlap at least half the lower
one's height) less than one line height apart are merged: a plate's characters often come out as two or
three words.

**From text to plate** (every test in the crop's pixels, relative to the vehicle's box W × H):

* height at least :data:`MIN_PLATE_PX` pixels of the source frame (smaller text cannot be read anyway);
* aspect ratio (w / h) from :data:`MIN_ASPECT` to :data:`MAX_ASPECT`: one-line plates' text is about 3:1
  (US, 12×6 in) to 6:1 (EU, 520×110 mm); each line of a two-line plate (motorcycles, some trucks) is about
  2:1 to 4:1; a line broken into words or seen obliquely is narrower, down to one or two characters, so
  the floor is low and only tall, narrow marks (a vertical stripe, a column of letters) are left out;
* at most :data:`MAX_WIDTH_FRACTION` of the vehicle box's width and :data:`MAX_HEIGHT_FRACTION` of its
  height: a plate is a fifth to a third of a car's or motorcycle's width seen from the front or back and
  under a fifth of its height; the bounds leave room for boxes that cut the vehicle, and rule out only
  lettering as large as the vehicle's side.

Neither position nor colour is used: a plate may be anywhere on a vehicle that is seen from an angle, and
lettering on a van's side that passes the rule is masked too. The height bound also keeps out what the
model fires on without text: on the test car (``analysis.eval.plates``) with its plate painted over, a
blob over a blurred taillight and the rear window, about half the car's height, from a limit side of 640
up. Candidates from overlapping vehicle boxes
(a "car" and a "truck" for one vehicle) are merged by non-maximum suppression (IoU > :data:`NMS_IOU`).

ONNX Runtime and SciPy are imported when a finder first runs, never at import (a web process may import
this module; it must not load them). One ONNX session per process: :func:`load_text_detector`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from analysis.detectors.base import Detection

#: Detector labels whose boxes are searched for plates.
VEHICLE_LABELS = frozenset({"car", "truck", "bus", "motorcycle"})
#: The crop is the vehicle box grown by this fraction of its width / height on every side.
CROP_MARGIN = 0.08
#: Default longer side of the crop fed to the model (see ``benchmarks/bench_plates.py`` for the trade-off).
DEFAULT_LIMIT_SIDE = 480
#: A crop is scaled up at most this much to reach ``limit_side``.
MAX_UPSCALE = 6.0
#: PP-OCR's normalisation of the detection input (rapidocr ``config.yaml``: ``Det.mean``, ``Det.std``).
MEAN = 0.5
STD = 0.5
#: DB binarisation threshold of the probability map (PP-OCR ``thresh``).
BINARY_THRESHOLD = 0.3
#: DB unclip ratio (PP-OCR ``unclip_ratio``).
UNCLIP_RATIO = 1.6
#: Kernels whose box has a side under this many map pixels are dropped (PP-OCR ``min_size``).
MIN_KERNEL_PX = 3
#: Most kernels looked at in one crop, highest score first (PP-OCR ``max_candidates``).
MAX_CANDIDATES = 1000
#: The plate rule (see the module's docstring).
MIN_PLATE_PX = 3.0
MIN_ASPECT = 0.5
MAX_ASPECT = 15.0
MAX_WIDTH_FRACTION = 0.7
MAX_HEIGHT_FRACTION = 0.5
#: Candidates overlapping a better one by more than this IoU are the same plate.
NMS_IOU = 0.5
#: The label of every detection :meth:`PlateFinder.find` returns.
PLATE_LABEL = "plate"
#: The model, as named in a finder's ``model_id`` (with the wheel's version).
MODEL_ID = "ppocrv4-det"


def default_model_path() -> Path:
    """Where the PP-OCRv4 detection weights lie inside the installed ``rapidocr-onnxruntime``.

    Found from the distribution's metadata, without importing rapidocr (whose ``__init__`` builds its
    whole OCR pipeline's imports: OpenCV, Shapely, pyclipper).
    """
    from importlib import metadata

    try:
        files = metadata.files("rapidocr-onnxruntime") or []
    except metadata.PackageNotFoundError:
        raise FileNotFoundError(
            "rapidocr-onnxruntime is not installed: `pip install 'rapidocr-onnxruntime>=1.4,<2'`") from None
    for file in files:
        name = file.name
        if file.parent.name == "models" and "det" in name and name.endswith(".onnx"):
            return Path(str(file.locate())).resolve()
    raise FileNotFoundError("rapidocr-onnxruntime has no models/*det*.onnx")


def _model_id() -> str:
    from importlib import metadata

    try:
        return f"{MODEL_ID}@rapidocr-onnxruntime-{metadata.version('rapidocr-onnxruntime')}"
    except metadata.PackageNotFoundError:
        return MODEL_ID


def _threads() -> int:
    """``settings.SIGHTLINE.TORCH_THREADS`` where Django is configured and it is non-zero, else 0
    (ONNX Runtime decides)."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        return int(settings.SIGHTLINE.TORCH_THREADS)
    except ImproperlyConfigured:  # Django not configured (a benchmark, a script): let ONNX Runtime decide.
        return 0


@functools.cache
def load_text_detector(model_path: str | None = None, threads: int | None = None) -> Any:
    """The process-wide ONNX Runtime session of the DB text detector (CPU), built on first use.

    ``threads``: intra-op threads; ``None`` reads ``settings.SIGHTLINE.TORCH_THREADS`` (0: ORT decides).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    count = _threads() if threads is None else threads
    if count:
        options.intra_op_num_threads = count
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: several sessions (objects, faces, plates) and the decoder share
        # a worker's cores, and a spinning pool takes their time.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    path = model_path or str(default_model_path())
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def _min_confidence() -> float:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        return float(settings.SIGHTLINE.PLATE_MIN_CONFIDENCE)
    except ImproperlyConfigured:  # Django not configured: the setting's declared default.
        return 0.5


@dataclass(frozen=True, slots=True)
class TextBox:
    """One text region of a crop, in the crop's pixels (x2, y2 exclusive)."""

    score: float
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


def input_shape(height: int, width: int, limit_side: int, max_upscale: float = MAX_UPSCALE) -> tuple[int, int]:
    """The model input's (height, width) for a crop: longer side scaled to ``limit_side`` (up by at most
    ``max_upscale``), each side rounded to a multiple of 32, at least 32."""
    scale = min(limit_side / max(height, width), max_upscale)
    return (max(32, round(height * scale / 32) * 32), max(32, round(width * scale / 32) * 32))


def preprocess(crop: np.ndarray, limit_side: int, max_upscale: float = MAX_UPSCALE) -> np.ndarray:
    """An RGB uint8 crop as the model's input: 1×3×H×W float32, BGR, normalised."""
    height, width = input_shape(crop.shape[0], crop.shape[1], limit_side, max_upscale)
    resized = np.asarray(Image.fromarray(crop).resize((width, height), Image.Resampling.BILINEAR))
    pixels = resized[:, :, ::-1].astype(np.float32) * (1.0 / 255.0)
    pixels = (pixels - MEAN) / STD
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])


def _merge_lines(boxes: list[TextBox]) -> list[TextBox]:
    """Boxes of one text line (vertical overlap ≥ half the lower box's height) and less than one line
    height apart, merged; the score is the area-weighted mean."""
    merged = sorted(boxes, key=lambda b: b.x1)
    changed = True
    while changed:
        changed = False
        out: list[TextBox] = []
        for box in merged:
            for i, other in enumerate(out):
                overlap = min(box.y2, other.y2) - max(box.y1, other.y1)
                gap = max(box.x1, other.x1) - min(box.x2, other.x2)
                if overlap >= 0.5 * min(box.height, other.height) and gap <= max(box.height, other.height):
                    a, b = box.width * box.height, other.width * other.height
                    out[i] = TextBox((box.score * a + other.score * b) / (a + b), min(box.x1, other.x1),
                                     min(box.y1, other.y1), max(box.x2, other.x2), max(box.y2, other.y2))
                    changed = True
                    break
            else:
                out.append(box)
        merged = out
    return merged


def text_boxes(probability: np.ndarray, crop_shape: tuple[int, int], min_confidence: float) -> list[TextBox]:
    """DB post-processing of one probability map (H×W, the model input's size): text boxes in the pixels
    of the crop of ``crop_shape`` (height, width), score ≥ ``min_confidence``, lines merged."""
    from scipy import ndimage

    mask = probability > BINARY_THRESHOLD
    mask = ndimage.binary_dilation(mask, structure=np.ones((2, 2), bool))  # PP-OCR's use_dilation
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count == 0:
        return []
    index = np.arange(1, count + 1)
    scores = np.asarray(ndimage.mean(probability, labels, index))
    slices = ndimage.find_objects(labels)
    map_h, map_w = probability.shape
    sy, sx = crop_shape[0] / map_h, crop_shape[1] / map_w
    boxes: list[TextBox] = []
    for k in np.argsort(-scores)[:MAX_CANDIDATES]:
        score = float(scores[k])
        if score < min_confidence:
            break
        rows, cols = slices[k]
        h, w = rows.stop - rows.start, cols.stop - cols.start
        if min(h, w) < MIN_KERNEL_PX:
            continue
        d = w * h * UNCLIP_RATIO / (2.0 * (w + h))
        x1, x2 = max(cols.start - d, 0.0), min(cols.stop + d, map_w)
        y1, y2 = max(rows.start - d, 0.0), min(rows.stop + d, map_h)
        boxes.append(TextBox(score, x1 * sx, y1 * sy, x2 * sx, y2 * sy))
    return _merge_lines(boxes)


def plausible_plate(box: TextBox, vehicle_w: float, vehicle_h: float) -> bool:
    """The plate rule of the module's docstring: ``box`` and the vehicle box's size in source pixels."""
    if box.height < MIN_PLATE_PX or box.width <= 0:
        return False
    aspect = box.width / box.height
    return (MIN_ASPECT <= aspect <= MAX_ASPECT and box.width <= MAX_WIDTH_FRACTION * vehicle_w
            and box.height <= MAX_HEIGHT_FRACTION * vehicle_h)


def crop_box(vehicle: Detection, frame_w: int, frame_h: int) -> tuple[int, int, int, int]:
    """The pixels (left, top, right, bottom; right and bottom exclusive) cropped for ``vehicle``: its box
    grown by :data:`CROP_MARGIN` on every side, inside the frame."""
    vx1, vy1, vx2, vy2 = vehicle.x1 * frame_w, vehicle.y1 * frame_h, vehicle.x2 * frame_w, vehicle.y2 * frame_h
    vw, vh = vx2 - vx1, vy2 - vy1
    return (max(int(np.floor(vx1 - CROP_MARGIN * vw)), 0), max(int(np.floor(vy1 - CROP_MARGIN * vh)), 0),
            min(int(np.ceil(vx2 + CROP_MARGIN * vw)), frame_w), min(int(np.ceil(vy2 + CROP_MARGIN * vh)), frame_h))


def _iou(a: Detection, b: Detection) -> float:
    w = min(a.x2, b.x2) - max(a.x1, b.x1)
    h = min(a.y2, b.y2) - max(a.y1, b.y1)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter)


def _suppress(found: Iterable[Detection]) -> list[Detection]:
    kept: list[Detection] = []
    for det in sorted(found, key=lambda d: d.confidence, reverse=True):
        if all(_iou(det, k) <= NMS_IOU for k in kept):
            kept.append(det)
    return kept


class PlateFinder:
    """Finds plate candidates inside vehicle boxes of full-resolution frames (see the module's docstring).

    ``limit_side``: the crop's longer side fed to the model, ``max_upscale``: the most a crop is scaled up to
    reach it. ``min_confidence``: the least text score
    kept; ``None`` reads ``settings.SIGHTLINE.PLATE_MIN_CONFIDENCE`` at each call. ``session``: an ONNX
    Runtime session of a DB text detector; ``None`` takes the process-wide one (:func:`load_text_detector`)
    on first use. Not thread-safe beyond what ONNX Runtime's ``run`` is (it is).
    """

    def __init__(self, *, limit_side: int = DEFAULT_LIMIT_SIDE, max_upscale: float = MAX_UPSCALE,
                 min_confidence: float | None = None, session: Any = None) -> None:
        if limit_side < 32 or max_upscale < 1.0:
            raise ValueError("limit_side must be at least 32 and max_upscale at least 1")
        self.limit_side = limit_side
        self.max_upscale = max_upscale
        #: Stable identifier stored with the plates found (``analysis.privacy`` puts it in event keys).
        self.model_id = _model_id()
        self.min_confidence = min_confidence
        self._session = session

    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = load_text_detector()
        return self._session

    def probability_map(self, crop: np.ndarray) -> np.ndarray:
        """The model's text probability (H×W float32, the model input's size) for an RGB uint8 crop."""
        session = self.session
        inputs = {session.get_inputs()[0].name: preprocess(crop, self.limit_side, self.max_upscale)}
        return np.asarray(session.run(None, inputs)[0])[0, 0]

    def find(self, rgb: np.ndarray, vehicles: Sequence[Detection]) -> list[Detection]:
        """Plate candidates in ``rgb`` (uint8 H×W×3, full resolution) inside the boxes of ``vehicles``
        (normalised, any labels: only :data:`VEHICLE_LABELS` are searched). Returns ``plate`` detections
        normalised to the whole frame, highest confidence first."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected uint8 H×W×3, got {rgb.dtype} {rgb.shape}")
        threshold = _min_confidence() if self.min_confidence is None else self.min_confidence
        frame_h, frame_w = rgb.shape[:2]
        found: list[Detection] = []
        for vehicle in vehicles:
            if vehicle.label not in VEHICLE_LABELS:
                continue
            vw, vh = (vehicle.x2 - vehicle.x1) * frame_w, (vehicle.y2 - vehicle.y1) * frame_h
            left, top, right, bottom = crop_box(vehicle, frame_w, frame_h)
            if right - left < 8 or bottom - top < 8:
                continue
            crop = rgb[top:bottom, left:right]
            probability = self.probability_map(crop)
            for box in text_boxes(probability, crop.shape[:2], threshold):
                if not plausible_plate(box, vw, vh):
                    continue
                found.append(Detection(
                    PLATE_LABEL, box.score,
                    min(max((left + box.x1) / frame_w, 0.0), 1.0), min(max((top + box.y1) / frame_h, 0.0), 1.0),
                    min(max((left + box.x2) / frame_w, 0.0), 1.0), min(max((top + box.y2) / frame_h, 0.0), 1.0)))
        return _suppress(found)


@functools.cache
def get_plate_finder() -> PlateFinder:
    """The process-wide finder at the defaults (its session is :func:`load_text_detector`'s)."""
    return PlateFinder()


