""""Find similar" against the identity annotation (README, "Appearance"): same-person retrieval in a camera.

vtest.avi's people each make one passage (``analysis/eval/groundtruth/vtest.identities``), so the tracker
gives about one sighting each; to ask "which other sightings are this person?" the passages are cut into
pieces standing in for sightings of the same person at other times: every ``--every``-th frame where the
person's box is unoccluded (visibility ≥ 0.9, no other box over 5 % of it) is one piece, described as analysis
describes a best detection (:func:`analysis.appearance.describe` on the decoded frame). For each piece, every
other piece is ranked by similarity (the dot product, what ``GET /sightings/{id}/similar/`` ranks by),
leaving out the pieces of the same person closer than ``--apart`` seconds (they would be the same sighting).
The right answers are the same person's remaining pieces.

The same pieces are described a second way, as ``manage.py compute_appearance`` does for footage analysed
before descriptors: from the detection's thumbnail (the crop scaled to 256 pixels, JPEG quality 85,
:mod:`analysis.thumbnails`), decoded again.

Reported: mean average precision, recall@5 (of the right answers a query has, up to 5, the share in its top
5) and rank-1/rank-5 (a right answer first / in the top 5), with a random ranking's figures beside them.

    .venv/bin/python -m benchmarks.eval_similar [--every 10] [--apart 4]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def _overlap(a: list[float], b: list[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def scores(similarity: np.ndarray, who: np.ndarray, frame: np.ndarray, apart: int) -> dict[str, float]:
    """Retrieval figures of a similarity matrix (pieces × pieces) against identities ``who``."""
    aps, recalls, rank1, rank5 = [], [], [], []
    for q in range(len(who)):
        keep = (np.abs(frame - frame[q]) >= apart) | (who != who[q])
        keep[q] = False
        right = (who == who[q]) & keep
        if not right.any():
            continue
        candidates = np.flatnonzero(keep)
        order = candidates[np.argsort(-similarity[q, candidates], kind="stable")]
        hits = right[order]
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        aps.append(float((precision * hits).sum() / hits.sum()))
        recalls.append(float(hits[:5].sum() / min(5, hits.sum())))
        rank1.append(float(hits[0]))
        rank5.append(float(hits[:5].any()))
    return {"queries": len(aps), "mAP": float(np.mean(aps)), "recall@5": float(np.mean(recalls)),
            "rank-1": float(np.mean(rank1)), "rank-5": float(np.mean(rank5))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=10, help="a piece every n-th frame (default 10: 1 s)")
    parser.add_argument("--apart", type=float, default=4.0, help="seconds between a query and its answers")
    args = parser.parse_args()

    import av
    from PIL import Image

    from analysis import appearance, thumbnails
    from analysis.eval.formats import GROUND_TRUTH, read_mot
    from backend.eventlog.schema import box_in_thumbnail, crop_bounds
    from benchmarks._django import machine

    gt = read_mot(GROUND_TRUTH / "vtest.gt.txt", size=(768, 576), min_visibility=0.9)
    by_frame: dict[int, list[tuple[int, list[float]]]] = {}
    for f, pid, box in gt:
        by_frame.setdefault(f, []).append((pid, box))
    who, frames, descriptors, from_thumbnails = [], [], [], []
    with av.open(str(VTEST)) as container:
        rate = float(container.streams.video[0].average_rate or 10)
        for n, frame in enumerate(container.decode(container.streams.video[0])):
            if n % args.every or n not in by_frame:
                continue
            picture = frame.to_ndarray(format="rgb24")
            rows = by_frame[n]
            for pid, box in rows:
                area = (box[2] - box[0]) * (box[3] - box[1])
                if any(_overlap(box, other) > 0.05 * area for q, other in rows if q != pid):
                    continue
                descriptor = appearance.describe(picture, tuple(box))  # type: ignore[arg-type]
                if descriptor.any():
                    who.append(pid)
                    frames.append(n)
                    descriptors.append(descriptor)
                    x1, y1, x2, y2 = crop_bounds(tuple(box), frame.width, frame.height)  # type: ignore[arg-type]
                    jpeg = thumbnails.encode_jpeg(picture[y1:y2, x1:x2].copy())
                    small = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
                    inner = box_in_thumbnail(tuple(box), (frame.width, frame.height))  # type: ignore[arg-type]
                    from_thumbnails.append(appearance.describe(small, inner))  # type: ignore[arg-type]
    vectors = np.stack(descriptors)
    ids, at = np.asarray(who), np.asarray(frames)
    apart = round(args.apart * rate)
    ours = scores(vectors @ vectors.T, ids, at, apart)
    backfilled = np.stack(from_thumbnails)
    late = scores(backfilled @ backfilled.T, ids, at, apart)
    agreement = np.einsum("ij,ij->i", vectors, backfilled)
    rng = np.random.default_rng(0)
    chance = scores(rng.random((len(ids), len(ids))), ids, at, apart)
    print(f"machine: {machine()}")
    print(f"pieces: {len(ids)} of {len(set(who))} people (every {args.every}th frame, unoccluded); answers at "
          f"least {args.apart:g} s from the query; {ours['queries']} queries with a right answer")
    print("| ranking | mAP | recall@5 | rank-1 | rank-5 |")
    print("|---|---|---|---|---|")
    rows = (("appearance descriptor (find similar)", ours),
            ("the same from the thumbnail (compute_appearance)", late), ("random", chance))
    for name, s in rows:
        print(f"| {name} | {s['mAP']:.3f} | {s['recall@5']:.3f} | {s['rank-1']:.3f} | {s['rank-5']:.3f} |")
    print(f"thumbnail's descriptor · frame's, per piece: median {np.median(agreement):.3f}, "
          f"5th percentile {np.percentile(agreement, 5):.3f}")


if __name__ == "__main__":
    main()

