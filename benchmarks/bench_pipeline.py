"""Throughput of the whole analysis pipeline against the bare detector, on the same footage, in one run.

Bare detector: the sampled frames are decoded into memory first (untimed), then only ``detector.detect``
is timed over them in the pipeline's batch size. Pipeline: the analysis task end to end on the same clip:
decode, resize, detect, track, thumbnails, event-log appends and the sighting projection. Both at the
camera's analysis rate; the bare detector is measured before and after the pipeline and averaged.

The pipeline runs twice on the same clip: with the product's tracker (Kalman + two rounds + appearance, the
detector asked down to ``TRACK_LOW_CONFIDENCE``) and with the earlier one (``analysis.eval.baseline``: IoU only,
detections from ``DETECTION_MIN_CONFIDENCE``), swapped in for this measurement only.

Usage: python -m benchmarks.bench_pipeline [--seconds 30] [--fps 2]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
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

    bare_before = bare()
    camera = Camera.objects.create(name="bench", analysis_fps=args.fps)
    def pipeline(label: str) -> float:
        with transaction.atomic():
            clip = register_clip(camera=camera, stored_name=f"bench-{label}.mp4", info=probe(footage), queue=False,
                                 started_at=datetime(2026, 11, 1, tzinfo=UTC))
        started = time.perf_counter()
        status = analyse(clip.pk)
        assert status == "done", status
        return len(frames) / (time.perf_counter() - started)

    shutil.copy(footage, media / "bench-product.mp4")
    shutil.copy(footage, media / "bench-earlier.mp4")
    with _timed_colours() as colour_s:
        started = time.perf_counter()
        pipeline_fps = pipeline("product")
        product_s = time.perf_counter() - started
    with _earlier_tracker(settings):
        earlier_fps = pipeline("earlier")
    bare_after = bare()
    bare_fps = (bare_before + bare_after) / 2

    print(f"Machine: {machine()}; torch {torch.__version__} on {getattr(detector, 'device', 'cpu')}, "
          f"{torch.get_num_threads()} threads; {detector.model_id}; batch {batch}")
    print(f"Footage: {args.seconds:g} s of vtest.avi (768x576) as H.264, sampled at {args.fps:g} fps = "
          f"{len(frames)} frames\n")
    print("| measure | frames/s |")
    print("|---|---|")
    print(f"| bare detector (mean of before/after: {bare_before:.2f}, {bare_after:.2f}) | {bare_fps:.2f} |")
    print(f"| whole pipeline (decode → detect → track → thumbnails → event log → projection) | "
          f"{pipeline_fps:.2f} |")
    print(f"| pipeline / bare detector | {pipeline_fps / bare_fps:.2f} |")
    print(f"| whole pipeline with the earlier IoU tracker | {earlier_fps:.2f} |")
    print(f"| pipeline: product tracker / earlier tracker | {pipeline_fps / earlier_fps:.2f} |")
    print(f"| naming colours (analysis.colors, {colour_s[1]} best detections): share of the pipeline's time | "
          f"{colour_s[0] / product_s:.1%} |")


if __name__ == "__main__":
    main()
