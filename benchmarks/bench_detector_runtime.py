"""The detector's CPU paths on the same frames, in one run: torch (``centernet``) against ONNX Runtime
(``centernet-onnx``, the same weights exported), and whether they find the same thing; and ONNX Runtime with
the peak search of the decode made over the whole heat map (``onnx-dense``: the decode before it looked at
the map's highest cells only, ``analysis.detectors.centernet._peaks_top_k``), and torch so too
(``torch-dense``: the CPU path before this work, the baseline of the ONNX path); and ONNX Runtime fed the
pipeline's batches of ``ANALYSIS_BATCH_SIZE`` frames (``onnx-batch``: the frames of a batch side by side, one
core each, ``CenterNetOnnxDetector.streams``) against one frame a call on every core.

Frames: ``--seconds`` of vtest.avi sampled at ``--fps`` as the pipeline samples them (``FrameSampler``, the
detector's 512×512 input). Each path runs over all frames one at a time (``onnx-batch``: in batches) after a
warm-up, ``--rounds`` times alternately (torch, onnx, torch, onnx…), so that the machine's drift touches
both; reported: the median over rounds of each path's ms a frame (wall) and CPU ms a frame, their ratio, and
the detections each finds at ``DETECTION_MIN_CONFIDENCE`` with the largest box and score differences.

    python -m benchmarks.bench_detector_runtime [--seconds 30] [--fps 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks._django import machine, setup

FOOTAGE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--fps", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    setup("detector-runtime")
    import onnxruntime
    import torch
    from django.conf import settings

    from analysis.decode import FrameSampler
    from analysis.detectors.registry import get_detector

    conf = settings.SIGHTLINE
    from analysis.detectors import centernet

    paths = {"torch": get_detector("centernet-torch"), "onnx": get_detector("centernet-onnx")}
    paths["onnx-dense"] = paths["onnx"]
    paths["torch-dense"] = paths["torch"]  # the CPU path as it was when the detector ran torch only
    paths["onnx-batch"] = paths["onnx"]
    batch = conf.ANALYSIS_BATCH_SIZE

    def calls(name: str, frames: list) -> list:  # type: ignore[type-arg]
        """The detector's inputs: one frame a call, or the pipeline's batches for ``onnx-batch``."""
        if name != "onnx-batch":
            return frames
        return [np.concatenate(frames[i:i + batch]) for i in range(0, len(frames), batch)]

    @contextlib.contextmanager
    def decode_of(name: str):  # type: ignore[no-untyped-def]
        sparse = centernet._peaks_top_k
        if name.endswith("-dense"):
            centernet._peaks_top_k = centernet._dense_peaks_top_k  # type: ignore[assignment]
        try:
            yield
        finally:
            centernet._peaks_top_k = sparse  # type: ignore[assignment]

    frames = [f.model_rgb[None] for f in FrameSampler(FOOTAGE, args.fps, paths["torch"].input_size,
                                                      conf.DETECTOR_INPUT)]
    frames = frames[: int(args.seconds * args.fps)]
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    for _ in range(args.rounds):
        for name, detector in paths.items():
            with decode_of(name):
                inputs = calls(name, frames)
                detector.detect(inputs[0], conf.DETECTION_MIN_CONFIDENCE)
                wall, cpu = time.perf_counter(), time.process_time()
                for frame in inputs:
                    detector.detect(frame, conf.DETECTION_MIN_CONFIDENCE)
                timings[name].append(((time.perf_counter() - wall) * 1000 / len(frames),
                                      (time.process_time() - cpu) * 1000 / len(frames)))
    found = {}
    for name, d in paths.items():
        with decode_of(name):
            found[name] = [per for f in calls(name, frames) for per in d.detect(f, conf.DETECTION_MIN_CONFIDENCE)]
    box = score = 0.0
    for a_frame, b_frame in zip(found["torch"], found["onnx"], strict=True):
        for a, b in zip(a_frame, b_frame, strict=False):
            box = max(box, abs(a.x1 - b.x1), abs(a.y1 - b.y1), abs(a.x2 - b.x2), abs(a.y2 - b.y2))
            score = max(score, abs(a.confidence - b.confidence))
    median = {name: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
              for name, t in timings.items()}
    print(f"machine: {machine()}; torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"onnxruntime {onnxruntime.__version__}")
    print(f"{len(frames)} frames of vtest.avi at {args.fps:g} fps, {args.rounds} rounds, one frame a call")
    for name, (wall, cpu) in median.items():
        rounds = ", ".join(f"{w:.1f}" for w, _ in timings[name])
        print(f"  {name:10s}: {wall:6.1f} ms/frame wall ({1000 / wall:.1f} frames/s), {cpu:6.1f} CPU ms "
              f"(rounds: {rounds}); {sum(map(len, found[name]))} detections ≥ {conf.DETECTION_MIN_CONFIDENCE}")
    same = all([d.label for d in a] == [d.label for d in b]
               for a, b in zip(found["torch"], found["onnx"], strict=True))
    print(f"  torch ÷ onnx time: wall {median['torch'][0] / median['onnx'][0]:.2f}, "
          f"CPU {median['torch'][1] / median['onnx'][1]:.2f}; largest difference: box {box * 512:.3f} px, "
          f"score {score:.5f}; same labels per frame: {same}")
    dense_same = all([(d.label, d.confidence, d.x1, d.y1, d.x2, d.y2) for d in a]
                     == [(d.label, d.confidence, d.x1, d.y1, d.x2, d.y2) for d in b]
                     for a, b in zip(found["onnx"], found["onnx-dense"], strict=True))
    print(f"  torch-dense ÷ onnx time (the CPU path before ÷ now): wall "
          f"{median['torch-dense'][0] / median['onnx'][0]:.2f}, CPU {median['torch-dense'][1] / median['onnx'][1]:.2f}")
    print(f"  onnx-dense ÷ onnx time (the decode's peak search on candidates): wall "
          f"{median['onnx-dense'][0] / median['onnx'][0]:.2f}, CPU {median['onnx-dense'][1] / median['onnx'][1]:.2f}; "
          f"identical detections: {dense_same}")
    batch_same = all([(d.label, round(d.confidence, 4)) for d in a] == [(d.label, round(d.confidence, 4)) for d in b]
                     for a, b in zip(found["onnx"], found["onnx-batch"], strict=True))
    print(f"  onnx ÷ onnx-batch time (batches of {batch}, {paths['onnx'].streams} frames side by side): wall "  # type: ignore[attr-defined]
          f"{median['onnx'][0] / median['onnx-batch'][0]:.2f}, CPU {median['onnx'][1] / median['onnx-batch'][1]:.2f}; "
          f"same detections: {batch_same}")


if __name__ == "__main__":
    main()
