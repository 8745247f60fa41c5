"""Run the detector on every frame of a video and store what it found, for the evaluation.

The tracker and the confirmation rule are evaluated on these stored detections at any analysis rate (every
frame is here; 2 or 5 frames/s are subsets), so a tracking experiment costs seconds instead of a detector
run. ``--input`` chooses how a frame becomes the detector's square input: ``stretch`` (resize both sides to
the input size) or ``letterbox`` (keep the aspect ratio, pad the bottom or right with black).

Output: gzip JSON ``{"video", "model", "input", "fps", "size": [w, h], "labels": [...],
"frames": [[offset_ms, [[label_index, score, x1, y1, x2, y2], ...]], ...]}`` with boxes normalised to the
frame, scores >= ``--min-score``.

    python -m analysis.eval.dump VIDEO OUT.json.gz [--input stretch|letterbox] [--min-score 0.1]
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import av
import numpy as np

from analysis.decode import fit_to_square
from analysis.detectors.centernet import CenterNetDetector


def dump(video: Path, out: Path, *, mode: str, min_score: float) -> dict:
    detector = CenterNetDetector(threads=2)
    side = detector.input_size
    frames: list[list] = []
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        width, height = stream.codec_context.width, stream.codec_context.height
        for n, frame in enumerate(container.decode(stream)):
            square, scale_x, scale_y = fit_to_square(frame, side, mode)
            raw = detector.raw_detections(square[None])[0].numpy()
            rows = []
            for x1, y1, x2, y2, score, cls in raw:
                if score < min_score:
                    continue
                box = np.clip([x1 / side * scale_x, y1 / side * scale_y, x2 / side * scale_x, y2 / side * scale_y],
                              0.0, 1.0)
                if box[2] <= box[0] or box[3] <= box[1]:
                    continue
                rows.append([int(cls), round(float(score), 4), *(round(float(v), 5) for v in box)])
            frames.append([round(n * 1000 / fps), rows])
    doc = {"video": video.name, "model": detector.model_id, "input": mode, "fps": fps, "size": [width, height],
           "labels": list(detector.labels), "frames": frames}
    with gzip.open(out, "wt") as f:
        json.dump(doc, f, separators=(",", ":"))
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--input", choices=("stretch", "letterbox"), default="stretch")
    parser.add_argument("--min-score", type=float, default=0.1)
    args = parser.parse_args()
    doc = dump(args.video, args.out, mode=args.input, min_score=args.min_score)
    print(f"{len(doc['frames'])} frames, {sum(len(r) for _, r in doc['frames'])} detections -> {args.out}")


if __name__ == "__main__":
    main()
