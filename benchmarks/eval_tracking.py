"""Answer quality: the tracker and the confirmation rule against ground truth (README, "Answer quality").

On the committed vtest.avi annotation (``analysis/eval/groundtruth``: detector output for every frame, and
who is who) and, with ``--synthetic DIR``, on the synthetic sequences of :mod:`analysis.eval.synthetic`
(rendered and run through the detector first). For each setting it prints the MOTChallenge figures
(motmetrics) and the product's: sightings per real person, people missed, false sightings (per hour), and
the tracker's cost per analysed frame (the detector's is apart: ``bench_pipeline.py``).

    .venv/bin/python -m benchmarks.eval_tracking [--fps 2 5] [--input stretch letterbox] [--synthetic DIR]

Settings compared: today's tracker (``baseline``: IoU, no confirmation — what Sightline did before) and
the product's (``Tracker`` + the confirmation rule with the production defaults of
``backend.sightline.config``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

from analysis.eval.baseline import IoUTracker
from analysis.eval.formats import GROUND_TRUTH, load_dump, read_mot
from analysis.eval.score import Scores, Tracked, evaluate, model_inputs, sampled_frames, track_dump
from analysis.tracker import Tracker, TrackerConfig
from backend.sightline.config import SightlineSettings
from benchmarks import _django

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def production_defaults() -> SimpleNamespace:
    """The settings' declared defaults of detection, tracking and confirmation (whatever this process's
    environment says)."""
    prefixes = ("CONFIRM_", "TRACKED_", "DETECTION_", "TRACK_")
    names = [n for n in SightlineSettings.model_fields if n.startswith(prefixes)]
    return SimpleNamespace(**SightlineSettings.declared_defaults(*names))


def product_rule(conf: SimpleNamespace):
    """Whether a track is confirmed, by the fold of ``search.sightings`` itself (the rule's one copy), with
    the site defaults ``conf``. Needs Django set up (the search app)."""
    from datetime import UTC, datetime, timedelta

    from search.sightings import SightingSummary, begin, fold, site_rule

    origin = datetime(2026, 1, 1, tzinfo=UTC)

    from backend.eventlog.models import EventType  # the models need Django set up (main does it first)

    def confirmed(dets: Sequence[Tracked]) -> bool:
        rule = site_rule(dets[0].label, conf)  # type: ignore[arg-type]
        summary = None
        for seq, d in enumerate(dets, start=1):
            event = SimpleNamespace(seq=seq, time=origin + timedelta(milliseconds=100 * d.frame), camera_id=1,
                                    clip_id=1, label=d.label, confidence=d.score, x1=d.box[0], y1=d.box[1],
                                    x2=d.box[2], y2=d.box[3], model="eval", track=d.track, offset_ms=100 * d.frame,
                                    key=f"eval:{seq}", type=EventType.OBJECT_DETECTED, data={})
            summary = summary or begin(SightingSummary, d.track, event)  # type: ignore[arg-type]
            fold(summary, event, rule)  # type: ignore[arg-type]
            if summary.confirmed:
                return True
        return False

    return confirmed


def every_track(dets: Sequence[Tracked]) -> bool:
    return True


def run(name: str, video: Path, dump: dict, gt: list, fps: float, mode: str) -> list[tuple[str, Scores, float]]:
    conf = production_defaults()
    offsets = [ms for ms, _ in dump["frames"]]
    seconds = (offsets[-1] + 1000 / dump["fps"]) / 1000
    frames = sampled_frames(offsets, fps)
    images = model_inputs(video, frames, 512, mode)
    out = []
    for setting, make, low, rule in (
        ("baseline (IoU, every track)", lambda: IoUTracker(), conf.DETECTION_MIN_CONFIDENCE, every_track),
        ("tracker, every track", lambda: Tracker(TrackerConfig(high_score=conf.DETECTION_MIN_CONFIDENCE,
                                                               low_score=conf.TRACK_LOW_CONFIDENCE)),
         conf.TRACK_LOW_CONFIDENCE, every_track),
        ("tracker + confirmation", lambda: Tracker(TrackerConfig(high_score=conf.DETECTION_MIN_CONFIDENCE,
                                                                 low_score=conf.TRACK_LOW_CONFIDENCE)),
         conf.TRACK_LOW_CONFIDENCE, product_rule(conf)),
    ):
        started = time.perf_counter()
        tracked = track_dump(dump, fps, make(), low_score=low, images=images, frames=frames)
        per_frame_ms = (time.perf_counter() - started) * 1000 / len(frames)
        out.append((setting, evaluate(tracked, gt, frames, seconds, confirmed=rule), per_frame_ms))
    for setting, scores, ms in out:
        print(json.dumps({"sequence": name, "input": mode, "fps": fps, "setting": setting,
                          **scores.row(), "tracker ms/frame": round(ms, 2)}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=float, nargs="+", default=[2.0, 5.0])
    parser.add_argument("--input", nargs="+", default=["stretch"], choices=["stretch", "letterbox"])
    parser.add_argument("--synthetic", type=Path, help="folder of analysis.eval.synthetic output with dumps")
    args = parser.parse_args()
    _django.setup("eval")
    print(f"# {_django.machine()}")
    gt = read_mot(GROUND_TRUTH / "vtest.gt.txt", size=(768, 576))
    for mode in args.input:
        dump = load_dump(GROUND_TRUTH / f"vtest-{mode}.dump.json.gz")
        for fps in args.fps:
            run("vtest", VTEST, dump, gt, fps, mode)
    if args.synthetic:
        for manifest in sorted(args.synthetic.glob("*.gt.txt")):
            name = manifest.name.removesuffix(".gt.txt")
            dump_path = args.synthetic / f"{name}.dump.json.gz"
            with gzip.open(dump_path, "rt") as f:
                dump = json.load(f)
            truth = read_mot(manifest, size=tuple(dump["size"]), min_visibility=0.25)
            for fps in args.fps:
                run(name, args.synthetic / f"{name}.mp4", dump, truth, fps, "stretch")


if __name__ == "__main__":
    main()
