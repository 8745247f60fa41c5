"""The detector's CPU paths on the same frames, in one run: torch (``centernet``) against ONNX Runtime
(``centernet-onnx``, the same weights exported), and whether they find the same thing.

Frames: ``--seconds`` of vtest.avi sampled at ``--fps`` as the pipeline samples them (``FrameSampler``, the
detector's 512×512 input). Each path runs over all frames one at a time (as a CPU worker does) after a
warm-up, ``--rounds`` times alternately (torch, onnx, torch, onnx…), so that the machine's drift touches
both; reported: the median over rounds of each path's ms a frame (wall) and CPU ms a frame, their ratio, and
the detections each finds at ``DETECTION_MIN_CONFIDENCE`` with the largest box and score differences.

    python -m benchmarks.bench_detector_runtime [--seconds 30] [--fps 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

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
    paths = {"torch": get_detector("centernet-torch"), "onnx": get_detector("centernet-onnx")}
    frames = [f.model_rgb[None] for f in FrameSampler(FOOTAGE, args.fps, paths["torch"].input_size,
                                                      conf.DETECTOR_INPUT)]
    frames = frames[: int(args.seconds * args.fps)]
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    for _ in range(args.rounds):
        for name, detector in paths.items():
            detector.detect(frames[0], conf.DETECTION_MIN_CONFIDENCE)
            wall, cpu = time.perf_counter(), time.process_time()
            for frame in frames:
                detector.detect(frame, conf.DETECTION_MIN_CONFIDENCE)
            timings[name].append(((time.perf_counter() - wall) * 1000 / len(frames),
                                  (time.process_time() - cpu) * 1000 / len(frames)))
    found = {name: [d.detect(f, conf.DETECTION_MIN_CONFIDENCE)[0] for f in frames] for name, d in paths.items()}
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
        print(f"  {name:5s}: {wall:6.1f} ms/frame wall ({1000 / wall:.1f} frames/s), {cpu:6.1f} CPU ms "
              f"(rounds: {rounds}); {sum(map(len, found[name]))} detections ≥ {conf.DETECTION_MIN_CONFIDENCE}")
    same = all([d.label for d in a] == [d.label for d in b]
               for a, b in zip(found["torch"], found["onnx"], strict=True))
    print(f"  torch ÷ onnx time: wall {median['torch'][0] / median['onnx'][0]:.2f}, "
          f"CPU {median['torch'][1] / median['onnx'][1]:.2f}; largest difference: box {box * 512:.3f} px, "
          f"score {score:.5f}; same labels per frame: {same}")


if __name__ == "__main__":
    main()
