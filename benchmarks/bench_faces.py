"""The face pass (``analysis.faces``, CenterFace) by input side, beside the object detector, on the same frames.

Footage: ``--seconds`` of vtest.avi (768×576, a real CCTV plaza whose pedestrians' faces are 8 to 15 px
tall) and the real-face clip of ``analysis.eval.faces`` (1280×720, four faces about a fifth of the frame
high, exact ground truth), both as H.264 and sampled at ``--fps`` as the pipeline samples them
(``FrameSampler``: the detector's input and the source picture of the same frames).

Time: milliseconds a frame after one warm-up call, wall clock (median over the frames) and the process's CPU
time (all its threads, mean: steadier than wall time on a shared machine, and what a worker's cores
pay). The object detector is the product's (``get_detector``, as a warm worker has it) fed in the
pipeline's batches of ``ANALYSIS_BATCH_SIZE``, timed before and after the face pass and averaged; the face
pass is
``FaceDetector.detect`` on the source picture, one frame a call (as the pipeline calls it), at each input
side (the longer side scaled to it, up or down, then padded to a multiple of 32). ONNX Runtime's threads:
``--threads`` (0: its default, one a physical core), as ``TORCH_THREADS`` sets them in a worker.

Quality: on the face clip, recall (true faces overlapped by a found box at IoU ≥ 0.5, and ≥ 0.3) and false
faces (found boxes matching no true face at IoU 0.3); on vtest, faces found per frame (no ground truth:
these are real but tiny faces, so more is better there), by the full-frame pass alone and with the head search
(``people``: each person the object detector found whose head is too small for the full-frame pass is
searched again, enlarged), and how many of the faces the full-frame pass finds at 1280 (a slow reference)
each finds (IoU ≥ 0.3).

    python -m benchmarks.bench_faces [--seconds 30] [--fps 2] [--sides 320 480 640 960] [--threads 0]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks._django import machine, setup

FOOTAGE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def _timed(call, items) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(median wall ms, mean process CPU ms) of ``call`` on each item, after a warm-up call."""
    call(items[0])  # warm-up (the session's first run at a new input shape allocates)
    times = []
    cpu = time.process_time()
    for item in items:
        started = time.perf_counter()
        call(item)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), (time.process_time() - cpu) * 1000 / len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--fps", type=float, default=2)
    parser.add_argument("--sides", type=int, nargs="+", default=[320, 480, 640, 960])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--min-confidence", type=float, default=None,
                        help="face score threshold (default: FACE_MIN_CONFIDENCE)")
    args = parser.parse_args()
    setup("faces")
    import onnxruntime
    import torch
    from django.conf import settings

    from analysis.decode import FrameSampler
    from analysis.detectors.registry import get_detector
    from analysis.eval.faces import make_face_clip, matched
    from analysis.faces import FaceDetector
    from analysis.transcode import transcode_to_h264

    conf = settings.SIGHTLINE
    threshold = conf.FACE_MIN_CONFIDENCE if args.min_confidence is None else args.min_confidence
    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    vtest = transcode_to_h264(FOOTAGE, media / "vtest.mp4", max_seconds=args.seconds)
    truth = make_face_clip(media / "faces.mp4", seconds=min(args.seconds, 20), fps=10, size=(1280, 720))
    detector = get_detector(conf.DETECTOR)
    batch = conf.ANALYSIS_BATCH_SIZE

    def sampled(path: Path) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
        frames = list(FrameSampler(path, args.fps, detector.input_size, conf.DETECTOR_INPUT))
        return (np.stack([f.model_rgb for f in frames]), [f.full_rgb for f in frames],
                [f.offset_ms for f in frames])

    footage = {"vtest.avi 768×576": sampled(vtest), "face clip 1280×720": sampled(media / "faces.mp4")}

    def detector_ms(model_rgb: np.ndarray) -> tuple[float, float]:
        batches = [model_rgb[i:i + batch] for i in range(0, len(model_rgb), batch)]
        wall, cpu = _timed(lambda b: detector.detect(b, conf.DETECTION_MIN_CONFIDENCE), batches)
        per_batch = len(model_rgb) / len(batches)
        return wall / per_batch, cpu / per_batch

    before = {name: detector_ms(model) for name, (model, _, _) in footage.items()}
    vt_model, vt_full, _ = footage["vtest.avi 768×576"]
    people = [dets for i in range(0, len(vt_model), batch)
              for dets in detector.detect(vt_model[i:i + batch], conf.DETECTION_MIN_CONFIDENCE)]
    reference_faces = FaceDetector(input_side=1280, min_confidence=threshold, threads=args.threads)
    reference = [tuple((d.x1, d.y1, d.x2, d.y2) for d in reference_faces.detect(f)) for f in vt_full]
    rows = []
    for side in args.sides:
        faces = FaceDetector(input_side=side, min_confidence=threshold, threads=args.threads)
        row: dict[str, object] = {"side": side}
        for name, (_, full, offsets) in footage.items():
            row[name] = _timed(faces.detect, full)
            found = [faces.detect(f) for f in full]
            boxes = [[(d.x1, d.y1, d.x2, d.y2) for d in dets] for dets in found]
            if name.startswith("face"):
                expected = [truth.at(ms) for ms in offsets]
                total = sum(len(t) for t in expected)
                row["recall50"] = sum(matched(t, b, 0.5) for t, b in zip(expected, boxes, strict=True)) / total
                row["recall30"] = sum(matched(t, b, 0.3) for t, b in zip(expected, boxes, strict=True)) / total
                row["false"] = sum(len(b) - matched(t, b, 0.3) for t, b in zip(expected, boxes, strict=True))
            else:
                row["vtest_faces"] = sum(map(len, boxes)) / len(boxes)
                row["vtest_ref"] = sum(matched(r, b) for r, b in zip(reference, boxes, strict=True))
        pairs = list(zip(vt_full, people, strict=True))
        row["heads"] = _timed(lambda pair, f=faces: f.detect(pair[0], people=pair[1]), pairs)
        headed = [[(d.x1, d.y1, d.x2, d.y2) for d in faces.detect(f, people=p)] for f, p in pairs]
        row["heads_faces"] = sum(map(len, headed)) / len(headed)
        row["heads_ref"] = sum(matched(r, b) for r, b in zip(reference, headed, strict=True))
        rows.append(row)
    after = {name: detector_ms(model) for name, (model, _, _) in footage.items()}
    object_ms = {name: ((before[name][0] + after[name][0]) / 2, (before[name][1] + after[name][1]) / 2)
                 for name in footage}

    threads = args.threads or "default"
    print(f"Machine: {machine()}; torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"onnxruntime {onnxruntime.__version__} (CPU, {threads} intra-op threads)")
    print(f"Object detector: {detector.model_id}, {detector.input_size}² input, batches of {batch}; "
          f"face score ≥ {threshold}")
    for name, (model, _, _) in footage.items():
        wall, cpu = object_ms[name]
        print(f"{name}: {len(model)} frames at {args.fps:g} fps; object detector {wall:.1f} ms/frame wall, "
              f"{cpu:.1f} CPU (before/after: {before[name][0]:.1f}/{before[name][1]:.1f}, "
              f"{after[name][0]:.1f}/{after[name][1]:.1f})")
    vt, fc = footage

    def cell(row: dict[str, object], name: str) -> str:
        wall, cpu = row[name]  # type: ignore[misc]
        base = object_ms[vt if name == "heads" else name]
        return f"{wall:.1f} / {cpu:.1f} ({wall / base[0]:.2f} / {cpu / base[1]:.2f})"

    total_ref = sum(map(len, reference))
    print(f"vtest: {sum(map(len, people)) / len(people):.1f} detections a frame; the 1280 reference finds "
          f"{total_ref} faces in {len(reference)} frames")
    print()
    print(f"| face input side | {vt}: ms/frame wall / CPU (× detector's) | faces/frame | of the reference | "
          f"with head search: ms/frame wall / CPU (× detector's) | faces/frame | of the reference | "
          f"{fc}: ms/frame wall / CPU (× detector's) | recall IoU≥0.5 | recall IoU≥0.3 | false faces |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['side']} | {cell(row, vt)} | {row['vtest_faces']:.2f} | {row['vtest_ref']}/{total_ref} | "
              f"{cell(row, 'heads')} | {row['heads_faces']:.2f} | {row['heads_ref']}/{total_ref} | "
              f"{cell(row, fc)} | {row['recall50']:.3f} | {row['recall30']:.3f} | {row['false']} |")


if __name__ == "__main__":
    main()
