"""The plate finder (``analysis.plates``): time per vehicle crop and plate recall, by the crop's limit side.

Footage from ``analysis.eval.plates``: a real car (opencv-doc's ``licenseplate_motion.jpg``) with a
rendered plate, driving towards the camera across a real CCTV plaza (vtest.avi's first frame), 1280×720,
H.264, the car growing from 72 to 560 px wide (its plate from about 16×8 to 121×62 px), and the same car
without a plate for false candidates. Each decoded frame is searched in the car's true box (the finder
measured apart from the vehicle detector); with ``--detector``, in the CenterNet detector's own vehicle
boxes too (score ≥ 0.3, the frame stretched to 512×512 as the pipeline does), end to end.

A plate counts as found as ``tests/analysis/test_plates.py`` counts it (``analysis.eval.plates.plate_found``:
candidates grown by the mask padding, 0.25, IoU ≥ 0.3 with the plate or ≥ 90 % of it covered). False
candidates: candidates that do not overlap the plate at all. Scores from 0.5 up (the default
``PLATE_MIN_CONFIDENCE``). Time: the whole ``find`` call for one vehicle (crop, resize, model,
post-processing), median and 90th percentile over the clip's frames (crops of every size) after a warm-up
call (and the process's CPU time: all its threads, steadier than wall time on a shared machine), and the
median and the least of 10 calls on the nearest car's crop (the largest model input; the least is the one
a busy machine disturbed least); ONNX Runtime on ``--threads`` threads.

    python -m benchmarks.bench_plates [--frames 60] [--limits 320 480 640 960] [--max-upscale 4 6] [--threads 2]
        [--detector]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--limits", type=int, nargs="+", default=[320, 480, 640, 960])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-upscale", type=float, nargs="+", default=[4.0, 6.0])
    parser.add_argument("--min-confidence", type=float, default=0.5)
    parser.add_argument("--detector", action="store_true", help="also search CenterNet's vehicle boxes")
    args = parser.parse_args()

    from analysis.detectors.base import Detection
    from analysis.eval import plates as footage
    from analysis.plates import VEHICLE_LABELS, PlateFinder, crop_box, input_shape, load_text_detector
    from benchmarks._django import machine

    with tempfile.TemporaryDirectory(prefix="sightline-bench-plates-") as tmp:
        clip = Path(tmp) / "plates.mp4"
        truth = footage.write_clip(clip, frames=args.frames)
        frames = footage.read_clip(clip)
    if len(frames) != len(truth):
        raise SystemExit(f"decoded {len(frames)} frames of {len(truth)}")
    plain = footage.plate_scene(plate_text=None)
    height, width = frames[0].shape[:2]

    detected: list[list[Detection]] | None = None
    if args.detector:
        import av

        from analysis.decode import fit_to_square
        from analysis.detectors.centernet import CenterNetDetector

        detector = CenterNetDetector(device="cpu", threads=args.threads)
        detected = []
        for rgb in frames:
            square, _, _ = fit_to_square(av.VideoFrame.from_ndarray(rgb, format="rgb24"), detector.input_size)
            found = detector.detect(square[None], 0.3)[0]
            detected.append([d for d in found if d.label in VEHICLE_LABELS])

    session = load_text_detector(threads=args.threads)
    widths = [(t.car[2] - t.car[0]) * width for t in truth]
    bands = [("72-120", 0, 120), ("120-200", 120, 200), ("200-340", 200, 340), ("340-560", 340, 10_000)]
    print(f"Machine: {machine()}; ONNX Runtime, {args.threads} threads; {len(frames)} frames {width}x{height}, "
          f"min score {args.min_confidence}\n")
    header = ("| limit side, max upscale | ms / crop (median, p90) | CPU ms / crop (median) | recall "
              "| recall by car width "
              f"({', '.join(b[0] for b in bands)} px) | false candidates, plated car / plain car "
              "| ms, nearest car: median, min of 10 (input) |")
    if detected is not None:
        header += " recall in CenterNet's boxes |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for limit, upscale in itertools.product(args.limits, args.max_upscale):
        finder = PlateFinder(limit_side=limit, max_upscale=upscale, min_confidence=args.min_confidence,
                             session=session)
        finder.find(frames[0], [Detection("car", 0.9, *truth[0].car)])  # warm-up
        times, cpu, hits, false = [], [], [], 0
        for rgb, t in zip(frames, truth, strict=True):
            start, start_cpu = time.perf_counter(), time.process_time()
            found = finder.find(rgb, [Detection("car", 0.9, *t.car)])
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            hits.append(footage.plate_found(found, t.plate))
            false += sum(1 for d in found if footage.iou((d.x1, d.y1, d.x2, d.y2), t.plate) == 0.0)
        plain_false = len(finder.find(plain.frame, [plain.vehicle()]))
        nearest, near_box = frames[-1], [Detection("car", 0.9, *truth[-1].car)]
        repeat = []
        for _ in range(10):
            start = time.perf_counter()
            finder.find(nearest, near_box)
            repeat.append((time.perf_counter() - start) * 1000)
        left, top, right, bottom = crop_box(near_box[0], width, height)
        shape = input_shape(bottom - top, right - left, limit, upscale)
        by_band = []
        for _, lo, hi in bands:
            band = [h for h, w in zip(hits, widths, strict=True) if lo <= w < hi]
            by_band.append(f"{sum(band)}/{len(band)}")
        row = (f"| {limit}, {upscale:g} | {np.median(times):.0f}, {np.percentile(times, 90):.0f} | "
               f"{np.median(cpu):.0f} | "
               f"{sum(hits)}/{len(hits)} | {', '.join(by_band)} | {false} / {plain_false} | "
               f"{np.median(repeat):.0f}, {min(repeat):.0f} ({shape[1]}x{shape[0]}) |")
        if detected is not None:
            e2e = [footage.plate_found(finder.find(rgb, boxes), t.plate)
                   for rgb, boxes, t in zip(frames, detected, truth, strict=True)]
            seen = sum(1 for boxes in detected if boxes)
            row += f" {sum(e2e)}/{len(e2e)} (vehicle found in {seen}) |"
        print(row)


if __name__ == "__main__":
    main()
