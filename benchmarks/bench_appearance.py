"""Which appearance tells people apart better: colour histograms, or the detector's own features?

On vtest.avi's ground truth (``analysis/eval/groundtruth``), at the default 2 analysed frames a second: every
confident person detection (score ≥ 0.3) that matches a ground-truth person (IoU ≥ 0.5) gets two descriptors,

- ``colour``: what the tracker uses (:mod:`analysis.appearance`: RGB histograms of the upper and lower body);
- ``detector``: the CenterNet head's last feature map before its outputs (``tower_0/CenternetHead/mul``,
  stride 4), averaged over the inner part of the box and L2-normalised: no second model.

Then for pairs of detections 0.5–5 s apart, the question a tracker asks when it re-links: same person or
not? Reported: ROC AUC of each similarity (1.0: always tells them apart; 0.5: chance), over all such pairs
and over the hard ones (the other person's box is within 2 box heights).

    python -m benchmarks.bench_appearance
"""

from __future__ import annotations

import numpy as np


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a random same-person pair is more similar than a random different-person pair."""
    scores = np.concatenate([positive, negative])
    ranks = scores.argsort().argsort() + 1
    r_pos = ranks[: len(positive)].sum()
    return float((r_pos - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative)))


def main() -> None:
    from pathlib import Path

    import av
    import torch

    from analysis import appearance
    from analysis.decode import fit_to_square
    from analysis.detectors.centernet import INPUT, MODEL_JSON, CenterNetDetector
    from analysis.detectors.tfjs import TfjsGraphModule, read_graph_model
    from analysis.eval.formats import GROUND_TRUTH, load_dump, read_mot
    from analysis.eval.score import sampled_frames
    from analysis.tracker import iou_matrix
    from benchmarks._django import machine

    video = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
    dump = load_dump(GROUND_TRUTH / "vtest-stretch.dump.json.gz")
    gt = read_mot(GROUND_TRUTH / "vtest.gt.txt", size=(768, 576))
    frames = set(sampled_frames([ms for ms, _ in dump["frames"]], 2.0))
    detector = CenterNetDetector(threads=2)
    body = TfjsGraphModule(read_graph_model(detector.model_dir / MODEL_JSON), ["tower_0/CenternetHead/mul"],
                           [INPUT]).eval()
    person = dump["labels"].index("person")
    truth: dict[int, list[tuple[int, list[float]]]] = {}
    for f, pid, box in gt:
        truth.setdefault(f, []).append((pid, box))
    rows = []  # (frame, pid, box, colour, detector)
    with av.open(str(video)) as container, torch.inference_mode():
        for n, frame in enumerate(container.decode(container.streams.video[0])):
            if n not in frames or n not in truth:
                continue
            square, _, _ = fit_to_square(frame, detector.input_size)
            boxes = [r[2:6] for r in dump["frames"][n][1] if r[0] == person and r[1] >= 0.3]
            if not boxes:
                continue
            iou = iou_matrix(np.array(boxes), np.array([b for _, b in truth[n]]))
            fmap = body(torch.from_numpy(square[None]).float())[0][0].numpy()  # H×W×C
            h, w = fmap.shape[:2]
            for k, box in enumerate(boxes):
                j = int(iou[k].argmax())
                if iou[k, j] < 0.5:
                    continue
                x1, y1, x2, y2 = box
                bw, bh = x2 - x1, y2 - y1
                cx1, cx2 = int((x1 + 0.2 * bw) * w), max(int((x2 - 0.2 * bw) * w), int((x1 + 0.2 * bw) * w) + 1)
                cy1, cy2 = int((y1 + 0.1 * bh) * h), max(int((y2 - 0.1 * bh) * h), int((y1 + 0.1 * bh) * h) + 1)
                pooled = fmap[cy1:cy2, cx1:cx2].reshape(-1, fmap.shape[2]).mean(axis=0)
                pooled /= max(float(np.linalg.norm(pooled)), 1e-9)
                rows.append((n, truth[n][j][0], box, appearance.describe(square, tuple(box)), pooled))
    same: dict[str, list[float]] = {"colour": [], "detector": []}
    other: dict[str, list[float]] = {"colour": [], "detector": []}
    hard_other: dict[str, list[float]] = {"colour": [], "detector": []}
    for i, (fa, pa, ba, ca, da) in enumerate(rows):
        for fb, pb, bb, cb, db in rows[i + 1:]:
            if not 5 <= fb - fa <= 50:
                continue
            sims = {"colour": float(ca @ cb), "detector": float(da @ db)}
            height = ba[3] - ba[1]
            near = np.hypot((ba[0] + ba[2] - bb[0] - bb[2]) / 2, (ba[1] + ba[3] - bb[1] - bb[3]) / 2) <= 2 * height
            for kind, value in sims.items():
                if pa == pb:
                    same[kind].append(value)
                else:
                    other[kind].append(value)
                    if near:
                        hard_other[kind].append(value)
    print(f"Machine: {machine()}; {len(rows)} person detections matched to the ground truth, "
          f"{len(same['colour'])} same-person and {len(other['colour'])} different-person pairs "
          f"({len(hard_other['colour'])} of them near each other)\n")
    print("| descriptor | AUC, all pairs | AUC, nearby different people |")
    print("|---|---|---|")
    for kind in ("colour", "detector"):
        pos = np.array(same[kind])
        print(f"| {kind} | {auc(pos, np.array(other[kind])):.3f} | {auc(pos, np.array(hard_other[kind])):.3f} |")


if __name__ == "__main__":
    main()
