"""CenterNet (MobileNetV3 backbone) COCO detector, from the weights in the npm package ``@vladmandic/human``.

Why this shape: the package ships a TFJS graph whose signature fixes batch 1 and ends in a decoding tail
(3x3 max-pool peak picking, top-k, box assembly). The convolutional body is batchable, so the detector
runs N frames through the body (``tower_0/keypoints`` and ``tower_0/wh``) in one call and re-does the tail
per image in torch (:func:`decode_centernet`), computing exactly what the graph's tail computes.

On CUDA the body runs in fp16 with channels-last weights (``half`` and ``channels_last`` choose otherwise):
a batch crosses to the device once, as uint8 through a pinned buffer, and only the decoded top-k rows come
back, in one copy that is the call's only wait for the device. On a CPU it runs in fp32, as before.

Weights and labels are read from the same installed package, so they cannot drift apart. Nothing is
downloaded at run time: ``npm ci --prefix analysis/weights`` installs the pinned package beforehand.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from analysis.detectors.base import Detection
from analysis.detectors.tfjs import TfjsGraph, TfjsGraphModule, read_graph_model

__all__ = [
    "CenterNetDetector",
    "decode_centernet",
    "default_model_dir",
    "load_default_detector",
    "load_fp32_detector",
    "parse_labels",
]

PACKAGE = "@vladmandic/human"
MODEL_JSON = Path("models/centernet.json")
LABELS_TS = Path("src/object/labels.ts")
INPUT = "tower_0/images"
HEATMAP = "tower_0/keypoints"
BOX_GEOMETRY = "tower_0/wh"
DETECTIONS = "tower_0/detections"
MODEL_DIR_ENV = "SIGHTLINE_MODEL_DIR"
_REPO_ROOT = Path(__file__).resolve().parents[2]
_LABEL_RE = re.compile(r"\{\s*class:\s*(\d+)\s*,\s*label:\s*'([^']+)'\s*\}")


def default_model_dir() -> Path:
    """``$SIGHTLINE_MODEL_DIR`` if set, else the package installed under ``analysis/weights``."""
    env = os.environ.get(MODEL_DIR_ENV)
    if env:
        return Path(env)
    return _REPO_ROOT / "analysis" / "weights" / "node_modules" / "@vladmandic" / "human"


def parse_labels(labels_ts: Path) -> tuple[str, ...]:
    """COCO labels from the package's ``labels.ts``, in class-index order (``class`` n is index n - 1).

    Parsed at load time rather than copied into Python so that labels always come from the package the
    weights come from.
    """
    pairs = [(int(c), label) for c, label in _LABEL_RE.findall(labels_ts.read_text())]
    if not pairs or [c for c, _ in pairs] != list(range(1, len(pairs) + 1)):
        raise ValueError(f"{labels_ts}: expected entries {{ class: 1..N, label: '...' }} in order")
    return tuple(label for _, label in pairs)


def _max3x3(x: Tensor) -> Tensor:
    """3x3, stride-1, ``SAME`` max pool over dims 1 and 2 (cells outside the map are ignored, as in TF).

    Two separable passes of shifted maxima: exact like ``max_pool2d``, but several times faster on CPU,
    where ``max_pool2d`` also computes the indices it is never asked for.
    """
    out = x.clone()
    for dim in (1, 2):
        src = out.clone() if dim == 2 else x
        size = x.shape[dim]
        head, tail = out.narrow(dim, 0, size - 1), out.narrow(dim, 1, size - 1)
        torch.maximum(head, src.narrow(dim, 1, size - 1), out=head)
        torch.maximum(tail, src.narrow(dim, 0, size - 1), out=tail)
    return out


#: How many of a heat map's highest cells :func:`_peaks_top_k` looks at first, as a multiple of ``top_k``.
CANDIDATES = 8


def _dense_peaks_top_k(heatmap: Tensor, top_k: int, floor: float = 0.0) -> tuple[Tensor, Tensor]:
    """The graph's rule over the whole NxHxWxC map: a cell's score where it equals the 3x3 maximum around it
    (0 elsewhere), then the ``top_k`` highest with their flat indices, best first (every row exact, so a
    ``floor`` changes nothing)."""
    kept = heatmap * (heatmap == _max3x3(heatmap)).to(heatmap.dtype)
    return torch.topk(kept.reshape(len(heatmap), -1), top_k, dim=1, largest=True, sorted=True)


def _peaks_top_k(heatmap: Tensor, top_k: int, floor: float = 0.0) -> tuple[Tensor, Tensor]:
    """The ``top_k`` highest 3x3 peaks of each NxHxWxC heat map, with their flat indices, best first — what
    ``topk(heatmap * (heatmap == max3x3(heatmap)))`` gives — without a pass over the whole map per step.

    On a CPU that dense form costs more than the network's body (five passes over 1.3 M cells a frame). Here
    the map's highest ``CANDIDATES * top_k`` cells are taken (one top-k), and the peak test is made on them
    alone (their 3x3 neighbourhoods gathered); when fewer than ``top_k`` of them are peaks, four times as many
    are taken, up to the whole map. Exact: a peak outside the candidates is no higher than the lowest of
    them, so it could only tie with the last one chosen. Cells that are not peaks count as 0, as in the dense
    form; where a map has fewer than ``top_k`` peaks the rest of the rows are zero-score cells.

    ``floor`` > 0: only peaks scoring at least ``floor`` are wanted (the rows of the others are zero-score
    cells). The candidates are then the cells at or above it, found by one comparison over the map, which
    costs a twentieth of the top-k (on vtest, 356 cells of 1.3 M score 0.1 or more): exact for every row at
    or above the floor, which is all that :meth:`CenterNetDetector.detect` keeps.
    """
    n, h, w, c = heatmap.shape
    size = h * w * c
    if floor > 0.0:
        return _peaks_above(heatmap.reshape(n, size), top_k, floor, (h, w, c))
    scores, flats = [], []
    for image in heatmap.reshape(n, size):
        k = min(max(CANDIDATES * top_k, 1), size)
        while True:
            values, flat = torch.topk(image, k, sorted=True)
            kept = values * _is_peak(image, flat, values, h, w, c).to(values.dtype)
            if k == size or int(torch.count_nonzero(kept)) >= top_k:
                break
            k = min(4 * k, size)
        best, order = torch.topk(kept, top_k, sorted=True)
        scores.append(best)
        flats.append(flat[order])
    return torch.stack(scores), torch.stack(flats)


def _peaks_above(images: Tensor, top_k: int, floor: float, shape: tuple[int, int, int]) -> tuple[Tensor, Tensor]:
    """:func:`_peaks_top_k` with a ``floor``, for N flattened maps of ``shape`` (H, W, C)."""
    scores = torch.zeros((len(images), top_k), dtype=images.dtype)
    flats = torch.zeros((len(images), top_k), dtype=torch.int64)
    for row, image in enumerate(images):
        flat = torch.from_numpy(np.flatnonzero(image.numpy() >= floor))
        if not len(flat):
            continue
        values = image[flat]
        kept = values * _is_peak(image, flat, values, *shape).to(values.dtype)
        best, order = torch.topk(kept, min(top_k, len(kept)), sorted=True)
        scores[row, : len(best)] = best
        flats[row, : len(best)] = flat[order]
    return scores, flats


def _is_peak(image: Tensor, flat: Tensor, values: Tensor, h: int, w: int, c: int) -> Tensor:
    """Whether each cell ``flat`` of a flattened HxWxC map (value ``values``) equals the 3x3 maximum around
    it in its channel (cells outside the map ignored: a neighbour index is clamped back to the edge, which is
    in the neighbourhood anyway)."""
    cls = torch.remainder(flat, c)
    cell = torch.div(flat, c, rounding_mode="floor")
    y, x = torch.div(cell, w, rounding_mode="floor"), torch.remainder(cell, w)
    highest = values.clone()
    for dy in (-1, 0, 1):
        yy = (y + dy).clamp(0, h - 1) * w
        for dx in (-1, 0, 1):
            if dy or dx:
                around = image[((yy + (x + dx).clamp(0, w - 1)) * c) + cls]
                torch.maximum(highest, around, out=highest)
    return values == highest


def decode_centernet(heatmap: Tensor, wh: Tensor, top_k: int, stride: float, floor: float = 0.0) -> Tensor:
    """Batched re-implementation of the graph's decoding tail.

    ``heatmap`` is NxHxWxC class scores and ``wh`` NxHxWx4 box geometry (TF layout, as the graph outputs
    them). Like the graph: keep a cell's score only where it equals the 3x3 max around it, take the
    ``top_k`` highest over the flattened HxWxC scores, split each flat index into (y, x, class), and build
    ``x1 = x*stride - wh[0], y1 = y*stride - wh[1], x2 = x*stride + wh[2], y2 = y*stride + wh[3]``.
    Returns Nxtop_kx6 rows ``(x1, y1, x2, y2, score, class)`` in input pixels, best first, on the inputs'
    device. Peaks and top-k are taken in the heat map's own dtype (exact in fp16 too); the rows are built in
    fp32 at least, so box corners past 256 px keep sub-pixel precision when the body ran in fp16.
    ``floor``: rows scoring below it may be zero-score cells instead (:func:`_peaks_top_k`); on a GPU, where
    the whole-map pass is cheap, it changes nothing.
    """
    n, h, w, c = heatmap.shape
    dtype = torch.promote_types(wh.dtype, torch.float32)
    # On a GPU the whole-map pass is cheap and needs no round trip to the host; on a CPU it is not.
    scores, flat = (_dense_peaks_top_k if heatmap.is_cuda else _peaks_top_k)(heatmap, top_k, floor)
    cls = torch.remainder(flat, c)
    cell = torch.div(flat, c, rounding_mode="floor")
    x = torch.remainder(cell, w).to(dtype) * stride
    y = torch.div(cell, w, rounding_mode="floor").to(dtype) * stride
    geometry = torch.gather(wh.reshape(n, h * w, 4), 1, cell.unsqueeze(-1).expand(-1, -1, 4)).to(dtype)
    boxes = torch.stack(
        (x - geometry[..., 0], y - geometry[..., 1], x + geometry[..., 2], y + geometry[..., 3]), dim=-1
    )
    return torch.cat((boxes, scores.unsqueeze(-1).to(dtype), cls.unsqueeze(-1).to(dtype)), dim=-1)


def _graph_top_k(graph: TfjsGraph) -> int:
    """The ``k`` of the graph's own TopKV2, so the torch decode keeps as many candidates as the graph."""
    nodes = [n for n in graph.nodes.values() if n.op == "TopKV2"]
    if len(nodes) != 1:
        raise ValueError(f"expected one TopKV2 node in the CenterNet graph, found {len(nodes)}")
    return int(graph.constants[nodes[0].inputs[1].split(":")[0]].reshape(-1)[0])


def _package_version(model_dir: Path) -> str:
    try:
        return str(json.loads((model_dir / "package.json").read_text())["version"])
    except (OSError, KeyError, ValueError):
        return "unknown"


class CenterNetDetector:
    """The :class:`~analysis.detectors.base.Detector` backed by CenterNet-MobileNetV3 (COCO, 80 classes).

    Input scaling: RGB 0-255, fed straight into the first convolution. That is what the model was trained
    on (the upstream trainer feeds uint8 RGB) and what ``@vladmandic/human`` feeds; on vtest.avi frames
    0-255 gives 4-10 persons per frame (best 0.6-0.73), while 0-1 and -1..1 give no person above 0.05.

    ``model_dir`` defaults to :func:`default_model_dir`; ``device`` to CUDA when available, else CPU;
    ``threads`` (if given) sets torch's process-wide intra-op thread count. ``half``: run the body in fp16
    (default: on CUDA, not on a CPU, where fp16 convolutions are far slower); the detections stay the fp32
    ones within a small tolerance (``tests/analysis/test_detector.py``). ``channels_last``: keep the
    convolution weights channels-last, the layout the body's activations already have and the one tensor
    cores want (default: on CUDA).
    """

    #: Frames per forward pass through the body. On a small CPU the time per frame grows with the batch
    #: (allocation and cache pressure), so CPU runs frame by frame; GPUs get real batches (for 64 frames at
    #: 512 px the live tensors, decoding included, add up to about 1.2 GiB in fp16 and 2.4 GiB in fp32; sizes
    #: summed on a CPU, not measured on a GPU: ``benchmarks/bench_gpu.py`` reports the peak).
    max_batch: int

    def __init__(
        self,
        model_dir: Path | None = None,
        device: str | None = None,
        threads: int | None = None,
        *,
        half: bool | None = None,
        channels_last: bool | None = None,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        model_json, labels_ts = self.model_dir / MODEL_JSON, self.model_dir / LABELS_TS
        for path in (model_json, model_json.with_suffix(".bin"), labels_ts):
            if not path.is_file():
                raise FileNotFoundError(
                    f"CenterNet model file missing: {path}. Install the pinned weights with "
                    f"`npm ci --prefix analysis/weights` (or point ${MODEL_DIR_ENV} at a {PACKAGE} package)."
                )
        if threads is not None:
            torch.set_num_threads(threads)  # process-wide: torch has no per-module thread pool
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        on_cuda = self.device.type == "cuda"
        self.max_batch = 64 if on_cuda else 1
        #: The body's floating-point type: fp16 where ``half``, else fp32.
        self.dtype: torch.dtype = torch.float16 if (on_cuda if half is None else half) else torch.float32
        self.channels_last: bool = on_cuda if channels_last is None else channels_last
        graph = read_graph_model(model_json)
        self.top_k = _graph_top_k(graph)
        self.labels: Sequence[str] = parse_labels(labels_ts)
        self.model_id: str = f"centernet-mnv3@human-{_package_version(self.model_dir)}"
        dims = graph.metadata["signature"]["inputs"][INPUT]["tensorShape"]["dim"]
        self.input_size: int = int(dims[1]["size"])
        heat_dims = graph.metadata["signature"]["outputs"][HEATMAP]["tensorShape"]["dim"]
        if int(heat_dims[3]["size"]) != len(self.labels):
            raise ValueError(
                f"{labels_ts} has {len(self.labels)} labels, the heat map {heat_dims[3]['size']}"
            )
        body = TfjsGraphModule(graph, [HEATMAP, BOX_GEOMETRY], [INPUT]).eval()
        body = body.to(device=self.device, dtype=self.dtype)  # floating-point buffers only
        if self.channels_last:
            # The body permutes its NHWC input to an NCHW view, which is channels-last in memory already;
            # weights in the same layout keep every convolution there, with no layout conversions between.
            body = body.to(memory_format=torch.channels_last)
        self.body = body
        # CUDA: a pinned host buffer the batch is staged in (grown on demand), the event that says the last
        # copy out of it has finished, and the lock that keeps two threads from filling it at once.
        self._staging: Tensor | None = None
        self._staged: torch.cuda.Event | None = None
        self._staging_lock = threading.Lock()

    def __repr__(self) -> str:
        precision = "" if self.dtype == torch.float32 else f", {str(self.dtype).removeprefix('torch.')}"
        return f"CenterNetDetector({self.model_id!r}, device={self.device}{precision})"

    def _check(self, frames: np.ndarray) -> None:
        side = self.input_size
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != (side, side, 3):
            raise ValueError(
                f"expected uint8 frames Nx{side}x{side}x3 (RGB), got {frames.dtype} {frames.shape}"
            )

    def _rows(self, frames: Tensor, floor: float = 0.0) -> Tensor:
        """Nxtop_kx6 decoded rows for uint8 NHWC ``frames`` already on the device, left there (``floor``: as
        :func:`decode_centernet`'s)."""
        out: list[Tensor] = []
        for start in range(0, len(frames), self.max_batch):
            batch = frames[start : start + self.max_batch].to(self.dtype)
            heatmap, wh = self.body(batch)  # RGB 0-255, NHWC: what the graph was trained on
            stride = self.input_size / heatmap.shape[1]
            out.append(decode_centernet(heatmap, wh, self.top_k, stride, floor))
        return out[0] if len(out) == 1 else torch.cat(out)

    def raw_detections(self, frames: np.ndarray, floor: float = 0.0) -> Tensor:
        """Nxtop_kx6 ``(x1, y1, x2, y2, score, class)`` in input pixels on CPU, exactly as the graph's tail
        would give them per frame (before any threshold or clipping). ``floor`` > 0: the rows scoring below
        it may be zero-score cells instead, which makes the decoding far cheaper on a CPU."""
        self._check(frames)
        if len(frames) == 0:
            return torch.zeros((0, self.top_k, 6))
        with torch.inference_mode():
            if self.device.type != "cuda":
                return self._rows(torch.from_numpy(frames).to(self.device), floor).float().cpu()
            with self._staging_lock:
                host = self._stage(frames)
                on_device = host.to(self.device, non_blocking=True)  # the batch's one host→device copy
                self._staged = torch.cuda.Event()
                self._staged.record()
                rows = self._rows(on_device, floor)
            return rows.float().cpu()  # the one device→host copy: N×top_k×6 floats, 2.4 kB a frame

    def _stage(self, frames: np.ndarray) -> Tensor:
        """``frames`` copied into the pinned staging buffer (the caller holds the lock)."""
        if self._staged is not None:
            self._staged.synchronize()  # the previous batch's copy out of the buffer is done
        if self._staging is None or len(self._staging) < len(frames):
            self._staging = torch.empty(frames.shape, dtype=torch.uint8, pin_memory=True)
        staging = self._staging[: len(frames)]
        staging.copy_(torch.from_numpy(frames))
        return staging

    def detect(self, frames: np.ndarray, min_confidence: float) -> list[list[Detection]]:
        """Boxes per frame, normalised and clipped to [0, 1], best first, score >= ``min_confidence``.

        Cells the peak test zeroed (score 0) are not detections and are never returned, and boxes that
        clipping leaves with no area are dropped.
        """
        raw = self.raw_detections(frames, min_confidence).numpy()
        side = float(self.input_size)
        scores = raw[..., 4]
        wanted = (scores > 0.0) & (scores >= min_confidence)
        # float64, as Python floats: the same clipping and area test the per-row loop did.
        corners = np.minimum(np.maximum(raw[..., :4].astype(np.float64) / side, 0.0), 1.0)
        wanted &= (corners[..., 2] > corners[..., 0]) & (corners[..., 3] > corners[..., 1])
        results: list[list[Detection]] = []
        for keep, rows, boxes in zip(wanted, raw, corners, strict=True):
            frame = [
                Detection(self.labels[int(cls)], score, x1, y1, x2, y2)
                for (x1, y1, x2, y2), score, cls in zip(
                    boxes[keep].tolist(), rows[keep, 4].tolist(), rows[keep, 5].tolist(), strict=True
                )
            ]
            frame.sort(key=lambda d: d.confidence, reverse=True)
            results.append(frame)
        return results


@functools.cache
def load_default_detector() -> CenterNetDetector:
    """The process-wide detector (default model dir and device), built on first use."""
    return CenterNetDetector()


@functools.cache
def load_fp32_detector() -> CenterNetDetector:
    """The process-wide detector in fp32 on every device (on a CPU, the same as the default one)."""
    return CenterNetDetector(half=False)
