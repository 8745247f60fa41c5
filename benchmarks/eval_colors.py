"""Colour attributes against hand labels (README, "Appearance"): how often the named colour is right.

On vtest.avi's ground truth (``analysis/eval/groundtruth``): every identity of ``vtest.gt.txt`` was labelled by
eye (``vtest.colors.json``: the upper and lower body colours a person would accept). Scored: every box of the
annotation that is unoccluded (visibility ≥ 0.9, no other box over 5 % of it) in every ``--every``-th frame,
named by :func:`analysis.colors.describe` on the detector's 512×512 input picture (what analysis names it
on). Reported per attribute: accuracy (named and among the accepted), coverage (named at all), accuracy
over the named ones, the confusion of the wrong ones, and the cost per box.

Vehicles have no boxes in the annotation; the two in vtest.avi are parked, so they are labelled by region
(``vehicles`` in the same file). Scored: every vehicle detection of the detector (``car``, ``truck``, ``bus``,
``motorcycle`` at ``DETECTION_MIN_CONFIDENCE``) in every ``--every``-th frame whose centre lies in a labelled
region, named by :func:`analysis.colors.describe` on the full decoded frame (as the pipeline names a best
detection).

    .venv/bin/python -m benchmarks.eval_colors [--every 5]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def _overlap(a: list[float], b: list[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=5, help="score every n-th frame (default 5)")
    args = parser.parse_args()

    import av

    from benchmarks._django import machine, setup

    setup("eval-colors")
    from django.conf import settings

    from analysis import colors
    from analysis.decode import FrameSampler, fit_to_square
    from analysis.detectors.registry import get_detector
    from analysis.eval.formats import GROUND_TRUTH, read_mot

    labelled = json.loads((GROUND_TRUTH / "vtest.colors.json").read_text())
    labels = labelled["people"]
    gt = read_mot(GROUND_TRUTH / "vtest.gt.txt", size=(768, 576), min_visibility=0.9)
    by_frame: dict[int, list[tuple[int, list[float]]]] = {}
    for frame, pid, box in gt:
        by_frame.setdefault(frame, []).append((pid, box))
    results: dict[str, list[tuple[str, str | None, list[str]]]] = {"upper": [], "lower": []}
    spent, boxes = 0.0, 0
    with av.open(str(VTEST)) as container:
        for n, frame in enumerate(container.decode(container.streams.video[0])):
            if n % args.every or n not in by_frame:
                continue
            picture, _, _ = fit_to_square(frame, 512)
            rows = by_frame[n]
            for pid, box in rows:
                if str(pid) not in labels:
                    continue
                area = (box[2] - box[0]) * (box[3] - box[1])
                if any(_overlap(box, other) > 0.05 * area for q, other in rows if q != pid):
                    continue
                t0 = time.perf_counter()
                named = colors.describe(picture, tuple(box), "person")  # type: ignore[arg-type]
                spent += time.perf_counter() - t0
                boxes += 1
                for attribute, value in (("upper", named.upper), ("lower", named.lower)):
                    results[attribute].append((str(pid), value, labels[str(pid)][attribute]))

    print(f"machine: {machine()}")
    print(f"boxes scored: {boxes} of {len({p for p, _, _ in results['upper']})} identities "
          f"(every {args.every}th frame, unoccluded)")
    for attribute, rows in results.items():
        right = sum(1 for _, v, ok in rows if v in ok)
        named = sum(1 for _, v, _ in rows if v)
        wrong = Counter((ok[0], v) for _, v, ok in rows if v not in ok)
        print(f"{attribute:6s} accuracy {right / len(rows):.1%}  coverage {named / len(rows):.1%}  "
              f"accuracy when named {right / max(named, 1):.1%}  (n={len(rows)})")
        print("        wrong (labelled → named): " + ", ".join(f"{a}→{b}: {c}" for (a, b), c in wrong.most_common(6)))
    vehicles = _vehicles(labelled["vehicles"], args.every, get_detector(settings.SIGHTLINE.DETECTOR),
                         settings.SIGHTLINE.DETECTION_MIN_CONFIDENCE, FrameSampler, colors)
    for name, rows in vehicles.items():
        right = sum(1 for v, ok in rows if v in ok)
        named = Counter(v for v, _ in rows)
        print(f"vehicle {name!r} ({'/'.join(labelled['vehicles'][name]['color'])}): {right} of {len(rows)} "
              f"detections right ({right / max(len(rows), 1):.1%}); named: "
              + ", ".join(f"{k or 'nothing'} {c}" for k, c in named.most_common()))
    every = [r for rows in vehicles.values() for r in rows]
    print(f"vehicles: body colour accuracy {sum(1 for v, ok in every if v in ok) / max(len(every), 1):.1%} "
          f"(n={len(every)} detections of {len(vehicles)} vehicles)")
    truth = Counter(ok[0] for rows in results.values() for _, _, ok in rows)
    print("labels: " + ", ".join(f"{k} {v}" for k, v in truth.most_common()))
    print(f"cost: {1000 * spent / max(boxes, 1):.2f} ms per person box (both regions)")


def _vehicles(regions, every, detector, min_confidence, sampler, colors):  # type: ignore[no-untyped-def]
    """Per labelled vehicle, ``(named colour, accepted colours)`` of each detection in its region."""
    rate = 10.0 / every  # vtest.avi is 10 frames/s
    found: dict[str, list[tuple[str | None, list[str]]]] = {name: [] for name in regions}
    for frame in sampler(VTEST, rate, detector.input_size):
        picture = frame.full_rgb
        height, width = picture.shape[:2]
        for det in detector.detect(frame.model_rgb[None], min_confidence)[0]:
            if det.label not in colors.VEHICLES:
                continue
            cx, cy = (det.x1 + det.x2) / 2 * width, (det.y1 + det.y2) / 2 * height
            for name, spec in regions.items():
                x1, y1, x2, y2 = spec["region"]
                if x1 <= cx < x2 and y1 <= cy < y2:
                    named = colors.describe(picture, (det.x1, det.y1, det.x2, det.y2), det.label).body
                    found[name].append((named, spec["color"]))
    return found


if __name__ == "__main__":
    main()
