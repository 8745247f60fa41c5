"""Chaos: analyses with their worker SIGKILLed at a random moment, on the embedded default; lost, doubled and
stuck counts, and the time to recover.

A throw-away data directory (SQLite, the file-system broker) gets 8 s of vtest.avi as H.264. One clean
analysis by a real ``celery worker`` gives the reference: its detections. Then, ``--runs`` times, the same
footage is registered as a new clip (its own camera), its job sent through the outbox, and the worker is
SIGKILLed at a random moment while it analyses (after its first progress, before it finishes); a new worker
is started at once. Per clip:

- **lost**: a detection of the reference missing from the clip (compared by frame, label, box, confidence);
- **doubled**: a detection more than the reference, or more than one ``analysis.completed`` event;
- **stuck**: not ``done`` within ``--stuck-after`` seconds of the kill;
- **recovery**: from the kill to the clip being ``done`` (the heartbeat timeout, the sweep, the re-run).

Baseline in the same run: the clean analysis's duration (a re-run cannot recover faster than a full
analysis plus the heartbeat timeout). Goal 0/0/0.

Usage: python -m benchmarks.chaos [--runs 20] [--heartbeat-timeout 4]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._django import machine, setup

REPO = Path(__file__).resolve().parents[1]
FOOTAGE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8.0, help="footage length per clip")
    parser.add_argument("--heartbeat-timeout", type=float, default=4.0)
    parser.add_argument("--stuck-after", type=float, default=180.0)
    args = parser.parse_args()
    data_dir = setup("chaos")
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from analysis.decode import probe
    from analysis.transcode import transcode_to_h264
    from backend.cameras.models import Camera
    from backend.clips import jobs
    from backend.clips.models import Clip
    from backend.clips.services import register_clip
    from backend.eventlog.models import Event, EventType

    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    footage = transcode_to_h264(FOOTAGE, media / "chaos.mp4", max_seconds=args.seconds)
    info = probe(footage)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.sightline.settings", "SIGHTLINE_DATA_DIR": data_dir,
           "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
           "SIGHTLINE_SECRET_KEY": settings.SECRET_KEY, "SIGHTLINE_CELERY_ALWAYS_EAGER": "0",
           "SIGHTLINE_ANALYSIS_HEARTBEAT_TIMEOUT_S": str(args.heartbeat_timeout), "SIGHTLINE_JOB_SWEEP_EVERY_S": "1",
           "SIGHTLINE_ANALYSIS_MAX_ATTEMPTS": "5"}
    for name in ("REDIS_URL", "ELASTICSEARCH_URL"):
        env.pop(name, None)
    log = open(Path(data_dir) / "workers.log", "a")  # noqa: SIM115 - open for the whole run

    def worker() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "celery", "-A", "backend.sightline", "worker", "-Q",
                                 "analysis", "-c", "1", "--pool=solo", "--loglevel=WARNING"], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT)

    def new_clip(n: int) -> Clip:
        camera = Camera.objects.create(name=f"chaos {n}")
        with transaction.atomic():
            clip = register_clip(camera=camera, stored_name="chaos.mp4", info=info, queue=False,
                                 started_at=timezone.now())
        jobs.dispatch(clip.pk)
        return clip

    def wait(clip_id: int, statuses: set[str], timeout: float, **extra: object) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if Clip.objects.filter(pk=clip_id, status__in=statuses, **extra).exists():
                return True
            time.sleep(0.05)
        return False

    def detections(clip_id: int) -> list[tuple]:
        return sorted((e.offset_ms, e.label, e.confidence, e.x1, e.y1, e.x2, e.y2) for e in
                      Event.objects.filter(clip_id=clip_id, type=EventType.OBJECT_DETECTED))

    process = worker()
    try:
        reference_clip = new_clip(0)
        assert wait(reference_clip.pk, {"analysing"}, 120), "the worker never started"
        started = time.monotonic()
        assert wait(reference_clip.pk, {"done"}, 300), "the clean analysis did not finish"
        clean_s = time.monotonic() - started
        reference = detections(reference_clip.pk)
        rnd = random.Random(7)
        lost = doubled = stuck = mid_clip = 0
        recoveries: list[float] = []
        for n in range(1, args.runs + 1):
            clip = new_clip(n)
            if not wait(clip.pk, {"analysing"}, 120, frames_analysed__gt=0):
                stuck += 1
                continue
            time.sleep(rnd.uniform(0, 0.8 * clean_s))
            mid_clip += Clip.objects.filter(pk=clip.pk, status="analysing").exists()
            process.send_signal(signal.SIGKILL)
            process.wait()
            killed = time.monotonic()
            process = worker()
            if not wait(clip.pk, {"done"}, args.stuck_after):
                stuck += 1
                continue
            recoveries.append(time.monotonic() - killed)
            got = detections(clip.pk)
            lost += len(set(reference) - set(got))
            doubled += max(0, len(got) - len(reference))
            doubled += max(0, Event.objects.filter(clip_id=clip.pk, type=EventType.ANALYSIS_COMPLETED).count() - 1)
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    print(f"Machine: {machine()}; embedded default (SQLite, file-system broker), worker --pool=solo")
    print(f"Footage: {args.seconds:g} s of vtest.avi (H.264), {len(reference)} detections per clean analysis; "
          f"heartbeat timeout {args.heartbeat_timeout:g} s, sweep every 1 s\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| analyses with their worker SIGKILLed (while analysing) | {args.runs} ({mid_clip}) |")
    print(f"| lost / doubled / stuck | {lost} / {doubled} / {stuck} |")
    if recoveries:
        print(f"| kill → clip done, p50 / max | {statistics.median(recoveries):.1f} s / {max(recoveries):.1f} s |")
        print(f"| baseline: one clean analysis | {clean_s:.1f} s |")
        print(f"| recovery p50 / (clean analysis + heartbeat timeout) | "
              f"{statistics.median(recoveries) / (clean_s + args.heartbeat_timeout):.2f} |")


if __name__ == "__main__":
    main()
