"""Detector backends by name, so the pipeline can be pointed at other weights without code changes there.

A backend is a zero-argument factory returning a warm :class:`~analysis.detectors.base.Detector`; the
factories cache per process, so asking twice does not load the weights twice.
"""

from __future__ import annotations

from collections.abc import Callable

from analysis.detectors.base import Detector
from analysis.detectors.centernet import load_default_detector, load_fp32_detector


def _load_onnx() -> Detector:
    from analysis.detectors.centernet_onnx import load_onnx_detector  # needs the onnx package to export

    return load_onnx_detector()


def _load_centernet() -> Detector:
    """CenterNet on the fastest path here: torch on CUDA, ONNX Runtime on a CPU (2.3× torch's speed on
    this project's 2-core machine, the same detections: ``benchmarks/bench_detector_runtime.py``)."""
    import torch

    return load_default_detector() if torch.cuda.is_available() else _load_onnx()


_BACKENDS: dict[str, Callable[[], Detector]] = {
    "centernet": _load_centernet,
    "centernet-torch": load_default_detector,  # fp16 on CUDA
    "centernet-torch-fp32": load_fp32_detector,
    "centernet-onnx": _load_onnx,
}


def known_detectors() -> list[str]:
    """Names :func:`get_detector` accepts."""
    return sorted(_BACKENDS)


def get_detector(name: str = "centernet") -> Detector:
    """The process-wide detector called ``name``; unknown names raise :class:`ValueError`."""
    try:
        factory = _BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"unknown detector {name!r}; known detectors: {', '.join(known_detectors())}"
        ) from None
    return factory()
