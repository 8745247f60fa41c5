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

OPSET = 17


class CenterNetOnnxDetector(CenterNetDetector):
    """:class:`CenterNetDetector` whose body runs in ONNX Runtime (CPU)."""

    def __init__(self, model_dir: Path | None = None, threads: int | None = None) -> None:
        super().__init__(model_dir, device="cpu", threads=threads)
        self._session = _session(self.body, self.input_size, threads)
        self.max_batch = 1  # as the torch path on a CPU: per-frame time grows with the batch

    def __repr__(self) -> str:
        return f"CenterNetOnnxDetector({self.model_id!r})"

    def raw_detections(self, frames: np.ndarray, floor: float = 0.0) -> Tensor:
        self._check(frames)
        out: list[Tensor] = []
        with torch.inference_mode():
            for start in range(0, len(frames), self.max_batch):
                batch = np.ascontiguousarray(frames[start : start + self.max_batch], dtype=np.float32)
                heatmap, wh = (torch.from_numpy(a) for a in self._session.run(None, {"images": batch}))
                stride = self.input_size / heatmap.shape[1]
                out.append(decode_centernet(heatmap, wh, self.top_k, stride, floor).float())
        return torch.cat(out) if out else torch.zeros((0, self.top_k, 6))


def _session(body: torch.nn.Module, side: int, threads: int | None) -> Any:
    import onnxruntime

    example = torch.zeros((1, side, side, 3))
    with tempfile.TemporaryDirectory(prefix="sightline-onnx-") as folder:
        path = Path(folder) / "centernet.onnx"
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on the graph's shape arithmetic (constants here)
            torch.onnx.export(body, (example,), path, input_names=["images"], output_names=["heatmap", "wh"],
                              dynamic_axes={"images": {0: "n"}, "heatmap": {0: "n"}, "wh": {0: "n"}},
                              opset_version=OPSET, dynamo=False)
        model = path.read_bytes()
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
