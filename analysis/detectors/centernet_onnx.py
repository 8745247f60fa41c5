"""CenterNet on the CPU through ONNX Runtime: the same weights and the same decoding as
:class:`~analysis.detectors.centernet.CenterNetDetector`, about twice as fast here.

The torch module built from the TFJS graph is exported once per process, in memory, to ONNX (TorchScript
exporter, opset 17, a dynamic batch) and run by an ONNX Runtime CPU session; the decoding tail stays the torch
one (:func:`~analysis.detectors.centernet.decode_centernet`), so only the convolutional body changes runtime.
The export takes a few seconds at a worker's start, through a temporary file; nothing is downloaded.

Same detections: ``tests/analysis/test_detector_onnx.py`` compares both on real frames (boxes within half a
pixel, scores within 1e-3). The model id is the torch detector's (same weights), so a clip analysed by one
and re-analysed by the other appends nothing twice. ``centernet`` (the default detector) is this on a CPU and
the torch detector on CUDA; ``centernet-onnx`` and ``centernet-torch`` choose one.

Frames side by side: a batch of several frames runs one frame per core, each in a single-threaded session
(``streams``), instead of one frame at a time spread over every core. A convolution split over two cores
waits at every layer for the slower half; two frames computed whole on one core each do not, and on this
project's 2-core machine a batch of frames goes about 1.35 times as fast that way, for less CPU time a frame
(``benchmarks/bench_detector_runtime.py``). A lone frame (the synchronous API, a live view) still runs on
every core, for its latency.
"""

from __future__ import annotations

import functools
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from analysis.detectors.centernet import CenterNetDetector, decode_centernet
from analysis.side_by_side import SideBySide, usable_cores

OPSET = 17


class CenterNetOnnxDetector(CenterNetDetector):
    """:class:`CenterNetDetector` whose body runs in ONNX Runtime (CPU).

    ``threads``: the cores it may use (default: the process's CPU affinity); ``streams``: how many frames of
    a batch run side by side, each on ``threads // streams`` cores (default: ``threads``, one core a frame);
    1 runs every frame on all the cores in turn.
    """

    def __init__(self, model_dir: Path | None = None, threads: int | None = None,
                 streams: int | None = None) -> None:
        super().__init__(model_dir, device="cpu", threads=threads)
        cores = usable_cores(threads)
        self.streams = max(1, min(streams or cores, cores))
        model = _export(self.body, self.input_size)
        self._session = _open(model, threads)
        self._stream_session = _open(model, cores // self.streams) if self.streams > 1 else self._session
        self._side_by_side = SideBySide(self.streams, "detector-stream")
        self.max_batch = 1  # as the torch path on a CPU: per-frame time grows with the batch

    def __repr__(self) -> str:
        return f"CenterNetOnnxDetector({self.model_id!r}, streams={self.streams})"

    def raw_detections(self, frames: np.ndarray, floor: float = 0.0) -> Tensor:
        self._check(frames)
        if len(frames) == 0:
            return torch.zeros((0, self.top_k, 6))
        session = self._session if len(frames) == 1 else self._stream_session
        return torch.cat(self._side_by_side.map(lambda frame: self._rows_of(session, frame, floor), list(frames)))

    def _rows_of(self, session: Any, frame: np.ndarray, floor: float) -> Tensor:
        """1×top_k×6 decoded rows of one uint8 HWC frame through ``session``."""
        batch = np.ascontiguousarray(frame[None], dtype=np.float32)
        with torch.inference_mode():
            heatmap, wh = (torch.from_numpy(a) for a in session.run(None, {"images": batch}))
            stride = self.input_size / heatmap.shape[1]
            return decode_centernet(heatmap, wh, self.top_k, stride, floor).float()


def _export(body: torch.nn.Module, side: int) -> bytes:
    """The ONNX model of ``body`` (NHWC ``side``² input, a dynamic batch), exported through a temporary file."""
    example = torch.zeros((1, side, side, 3))
    with tempfile.TemporaryDirectory(prefix="sightline-onnx-") as folder:
        path = Path(folder) / "centernet.onnx"
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on the graph's shape arithmetic (constants here)
            torch.onnx.export(body, (example,), path, input_names=["images"], output_names=["heatmap", "wh"],
                              dynamic_axes={"images": {0: "n"}, "heatmap": {0: "n"}, "wh": {0: "n"}},
                              opset_version=OPSET, dynamo=False)
        return path.read_bytes()


def _open(model: bytes, threads: int | None) -> Any:
    """An ONNX Runtime CPU session of ``model`` with ``threads`` intra-op threads (``None``: ORT's default)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning: several sessions (objects, faces, plates) and the decoder share
    # a worker's cores, and a spinning pool takes their time.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


@functools.cache
def load_onnx_detector() -> CenterNetOnnxDetector:
    """The process-wide ONNX Runtime detector (default model dir), built on first use."""
    return CenterNetOnnxDetector()
