"""Throughput of the whole analysis pipeline against the bare detector, on the same footage, in one run.

Bare detector: the sampled frames are decoded into memory first (untimed), then only ``detector.detect``
is timed over them in the pipeline's batch size. Pipeline: the analysis task end to end on the same clip:
decode, resize, detect, track, thumbnails, event-log appends and the sighting projection, at the camera's
analysis rate, on a camera that masks nothing (the object pipeline) and on one that masks faces (the default:
the face pass, a second network, runs on every analysed frame too). This machine's speed drifts from one
second to the next, so each round times the bare detector just before and just after each pipeline run and
divides by their mean; the medians of ``--rounds`` rounds are reported, with every round's figure.

Once, after the rounds, the object pipeline runs with the earlier tracker (``analysis.eval.baseline``: IoU
only, detections from ``DETECTION_MIN_CONFIDENCE``) swapped in for this measurement only, beside the
product's (Kalman + two rounds + appearance, the detector asked down to ``TRACK_LOW_CONFIDENCE``).

Usage: python -m benchmarks.bench_pipeline [--seconds 30] [--fps 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks._django import machine, setup

FOOTAGE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


@contextlib.contextmanager
def _earlier_tracker(settings):
    """Analysis as it was before the tracking evaluation: the IoU tracker, no low-score round."""
    from analysis.eval.baseline import IoUTracker
    from analysis.pipeline import ClipAnalysis, track_id_base

    class Earlier(IoUTracker):
        def update(self, offset_ms, detections, image=None):  # the image is not used
            return super().update(offset_ms, detections)

    saved_factory, saved_low = ClipAnalysis._tracker_for, settings.SIGHTLINE.TRACK_LOW_CONFIDENCE
    ClipAnalysis._tracker_for = lambda self, clip: Earlier(next_id=track_id_base(clip.pk) + 1)  # type: ignore[method-assign]
    object.__setattr__(settings.SIGHTLINE, "TRACK_LOW_CONFIDENCE", settings.SIGHTLINE.DETECTION_MIN_CONFIDENCE)
    try:
        yield
    finally:
        ClipAnalysis._tracker_for = saved_factory  # type: ignore[method-assign]
        object.__setattr__(settings.SIGHTLINE, "TRACK_LOW_CONFIDENCE", saved_low)


@contextlib.contextmanager
def _timed_colours():
    """Time spent naming colours during the block: ``[seconds, calls]`` (filled in as it runs)."""
    from analysis import colors

    spent = [0.0, 0]
    real = colors.describe

    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started
            spent[1] += 1

    colors.describe = timed  # type: ignore[assignment]
    try:
        yield spent
    finally:
        colors.describe = real  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--fps", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    setup("pipeline")
    import torch
    from django.conf import settings
    from django.db import transaction

    from analysis.decode import FrameSampler, probe
    from analysis.detectors.registry import get_detector
    from analysis.tasks import analyse, warm_up
    from analysis.transcode import transcode_to_h264
    from backend.cameras.models import Camera
    from backend.clips.services import register_clip

    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    footage = transcode_to_h264(FOOTAGE, media / "bench.mp4", max_seconds=args.seconds)
    warm_up()  # as a worker process does before its first task
    detector = get_detector(settings.SIGHTLINE.DETECTOR)
    batch = settings.SIGHTLINE.ANALYSIS_BATCH_SIZE
    min_conf = settings.SIGHTLINE.DETECTION_MIN_CONFIDENCE
    frames = np.stack([f.model_rgb for f in FrameSampler(footage, args.fps, detector.input_size)])
    detector.detect(frames[:batch], min_conf)  # warm-up

    def bare() -> float:
        started = time.perf_counter()
        for i in range(0, len(frames), batch):
            detector.detect(frames[i:i + batch], min_conf)
        return len(frames) / (time.perf_counter() - started)

    cameras = {mask: Camera.objects.create(name=f"bench {mask}", analysis_fps=args.fps, privacy_mask=mask)
               for mask in ("none", "faces")}
    runs = 0

    def pipeline(mask: str) -> float:
        nonlocal runs
        runs += 1
        name = f"bench-{runs}.mp4"
        shutil.copy(footage, media / name)
        with transaction.atomic():
            clip = register_clip(camera=cameras[mask], stored_name=name, info=probe(footage), queue=False,
                                 started_at=datetime(2026, 11, 1, tzinfo=UTC))
        started = time.perf_counter()
        status = analyse(clip.pk)
        assert status == "done", status
        return len(frames) / (time.perf_counter() - started)

    colour_s, product_s = [0.0, 0], 0.0  # naming colours: seconds and calls; the object pipeline's seconds

    def against_bare(mask: str) -> tuple[float, float, float]:
        """(pipeline frames/s, bare frames/s around it, their ratio)."""
        nonlocal product_s
        before = bare()
        with _timed_colours() as spent:
            fps = pipeline(mask)
        if mask == "none":
            colour_s[0], colour_s[1] = colour_s[0] + spent[0], colour_s[1] + spent[1]
            product_s += len(frames) / fps
        around = (before + bare()) / 2
        return fps, around, fps / around

    pipeline("none")  # the first clip's analysis warms what a worker warms on its first task
    rounds: dict[str, list[tuple[float, float, float]]] = {"none": [], "faces": []}
    for _ in range(args.rounds):
        for mask in rounds:
            rounds[mask].append(against_bare(mask))
    product_fps = pipeline("none")
    with _earlier_tracker(settings):
        earlier_fps = pipeline("none")

    def median(mask: str, i: int) -> float:
        return statistics.median(r[i] for r in rounds[mask])

    def each(mask: str, i: int) -> str:
        return ", ".join(f"{r[i]:.2f}" for r in rounds[mask])

    print(f"Machine: {machine()}; torch {torch.__version__} on {getattr(detector, 'device', 'cpu')}, "
          f"{torch.get_num_threads()} threads; {detector!r}; batch {batch}")
    print(f"Footage: {args.seconds:g} s of vtest.avi (768x576) as H.264, sampled at {args.fps:g} fps = "
          f"{len(frames)} frames; {args.rounds} rounds\n")
    print("| measure | median | rounds |")
    print("|---|---|---|")
    for mask, what in (("none", "a camera that masks nothing"), ("faces", "a camera that masks faces")):
        print(f"| bare detector around the pipeline on {what}, frames/s | {median(mask, 1):.2f} | "
              f"{each(mask, 1)} |")
        print(f"| whole pipeline on {what}, frames/s | {median(mask, 0):.2f} | {each(mask, 0)} |")
        print(f"| **pipeline ÷ bare detector**, {what} | **{median(mask, 2):.2f}** | {each(mask, 2)} |")
    print(f"| pipeline: product tracker ÷ earlier tracker (one run each, a camera that masks nothing) | "
          f"{product_fps / earlier_fps:.2f} | {product_fps:.2f} ÷ {earlier_fps:.2f} frames/s |")
    print(f"| naming colours (analysis.colors, {colour_s[1]} best detections): share of the pipeline's time, "
          f"a camera that masks nothing | {colour_s[0] / product_s:.1%} | |")


if __name__ == "__main__":
    main()
