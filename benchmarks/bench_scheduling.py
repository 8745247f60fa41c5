"""Live before backlog: a live camera's detection delay with and without an hour-long upload queued, the
synchronous analyse API's latency idle and under that load, and cameras per machine, on the embedded default.

A throw-away data directory (SQLite, the file-system broker) and one real ``celery worker`` (``--pool=solo``,
as the demo runs it). A recorder is played by this process: every ``--segment`` seconds it registers a
segment of real footage (vtest.avi as H.264) for a recording camera, through the outbox, as the recorder
does when it closes a segment. The **live detection delay** of a segment is from its registration (the
moment its last frame was recorded) to its analysis being done (its detections in the event log).

Phases, in one run: (1) idle: live segments only; (2) an hour of footage (vtest looped, remuxed) uploaded
first, so the worker is analysing it when the segments arrive; (3) the synchronous API
(``POST /api/v1/analyze/`` served in this process, answered by the worker) with one image, idle and while the
upload is analysed. Cameras per machine: the worker's measured frames/s (``AnalysisWorker``) over the
camera's 2 analysed frames/s.

Usage: python -m benchmarks.bench_scheduling [--segments 15] [--segment 4] [--sync 15]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import av

from benchmarks._django import machine, setup

REPO = Path(__file__).resolve().parents[1]
FOOTAGE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def loop_remux(src: Path, dst: Path, seconds: float) -> Path:
    """``src`` repeated (remuxed, not re-encoded) until it lasts ``seconds``."""
    with av.open(str(src)) as probe_in:
        stream = probe_in.streams.video[0]
        length = float(stream.duration * stream.time_base)
    with av.open(str(dst), "w", format="mp4") as out:
        with av.open(str(src)) as first:
            out_stream = out.add_stream_from_template(first.streams.video[0])
        t = 0.0
        while t < seconds:
            with av.open(str(src)) as inp:
                in_stream = inp.streams.video[0]
                shift = round(t / float(in_stream.time_base))
                for packet in inp.demux(in_stream):
                    if packet.dts is None:
                        continue
                    packet.pts += shift
                    packet.dts += shift
                    packet.stream = out_stream
                    out.mux(packet)
            t += length
    return dst


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", type=int, default=15, help="live segments per phase")
    parser.add_argument("--segment", type=float, default=4.0, help="segment length, s")
    parser.add_argument("--upload-hours", type=float, default=1.0)
    parser.add_argument("--sync", type=int, default=15, help="synchronous requests per phase")
    args = parser.parse_args()
    data_dir = setup("scheduling")
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.test import Client
    from django.utils import timezone

    from analysis.decode import probe
    from analysis.transcode import transcode_to_h264
    from backend.cameras.models import Camera
    from backend.clips.models import AnalysisWorker, Clip
    from backend.clips.services import register_clip

    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    segment = transcode_to_h264(FOOTAGE, media / "segment.mp4", max_seconds=args.segment, gop=10)
    whole = transcode_to_h264(FOOTAGE, media / "whole.mp4")
    hour = loop_remux(whole, media / "hour.mp4", args.upload_hours * 3600)
    segment_info, hour_info = probe(segment), probe(hour)
    with av.open(str(FOOTAGE)) as inp:
        picture = next(inp.decode(video=0)).to_image()
    jpeg = io.BytesIO()
    picture.save(jpeg, format="JPEG", quality=90)

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.sightline.settings", "SIGHTLINE_DATA_DIR": data_dir,
           "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
           "SIGHTLINE_SECRET_KEY": settings.SECRET_KEY, "SIGHTLINE_CELERY_ALWAYS_EAGER": "0"}
    for name in ("REDIS_URL", "ELASTICSEARCH_URL"):
        env.pop(name, None)
    log = open(Path(data_dir) / "worker.log", "a")  # noqa: SIM115 - open for the whole run
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "backend.sightline", "worker", "-Q",
                               "analysis", "-c", "1", "--pool=solo", "--loglevel=WARNING"], cwd=REPO, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    live = Camera.objects.create(name="Live gate", stream_address="rtsp://gate.invalid/stream")
    uploads = Camera.objects.create(name="Archive")
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "a-long-password-1")
    web = Client(HTTP_HOST="localhost")
    web.force_login(user)

    def wait_until(check, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.05)
        return False

    def live_phase() -> list[float]:
        ids = []
        for _ in range(args.segments):
            time.sleep(args.segment)
            with transaction.atomic():
                clip = register_clip(camera=live, stored_name="segment.mp4", info=segment_info,
                                     source=Clip.Source.RECORDING,
                                     started_at=timezone.now() - timedelta(seconds=args.segment))
            ids.append(clip.pk)
        assert wait_until(lambda: Clip.objects.filter(pk__in=ids, status__in=("done", "failed")).count() == len(ids),
                          600), "live segments not analysed"
        failed = list(Clip.objects.filter(pk__in=ids, status="failed").values_list("error", flat=True)[:1])
        assert not failed, f"a live segment failed: {failed}"
        return [(c.analysis_finished_at - c.created_at).total_seconds()
                for c in Clip.objects.filter(pk__in=ids)]

    def sync_phase() -> list[float]:
        latencies = []
        for _ in range(args.sync):
            started = time.perf_counter()
            response = web.post("/api/v1/analyze/", {"file": io.BytesIO(jpeg.getvalue())}, format="multipart")
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.content[:500]
            time.sleep(0.2)
        return latencies

    try:
        assert wait_until(lambda: AnalysisWorker.objects.exists(), 180), "the worker never started"
        # Warm: the first segment pays for nothing the others do not.
        live_phase_warm = args.segments
        args.segments = 2
        live_phase()
        args.segments = live_phase_warm
        idle_live = live_phase()
        idle_sync = sync_phase()
        with transaction.atomic():
            upload = register_clip(camera=uploads, stored_name="hour.mp4", info=hour_info,
                                   started_at=timezone.now() - timedelta(hours=args.upload_hours))
        assert wait_until(lambda: Clip.objects.filter(pk=upload.pk, frames_analysed__gt=0).exists(), 120)
        loaded_live = live_phase()
        loaded_sync = sync_phase()
        upload = Clip.objects.get(pk=upload.pk)
        fps = AnalysisWorker.objects.get().frames_per_s
    finally:
        worker.kill()  # it is in the middle of the upload: a warm shutdown would wait for all of it
        worker.wait(60)
        log.close()

    print(f"Machine: {machine()}; embedded default (SQLite, file-system broker), one worker --pool=solo")
    print(f"Live: a {args.segment:g} s segment every {args.segment:g} s at 2 analysed frames/s, {args.segments} "
          f"per phase; upload: {args.upload_hours:g} h of vtest.avi looped ({hour_info.duration_s:.0f} s), "
          f"{upload.progress:.0%} analysed by the end of the run\n")
    print("| measure | idle | an hour-long upload queued | change |")
    print("|---|---|---|---|")
    for name, idle, loaded in (("live detection delay p50", statistics.median(idle_live),
                                statistics.median(loaded_live)),
                               ("live detection delay p95", percentile(idle_live, 0.95),
                                percentile(loaded_live, 0.95)),
                               ("sync analyse, one image, p50", statistics.median(idle_sync),
                                statistics.median(loaded_sync)),
                               ("sync analyse, one image, p95", percentile(idle_sync, 0.95),
                                percentile(loaded_sync, 0.95))):
        print(f"| {name} | {idle:.2f} s | {loaded:.2f} s | {loaded - idle:+.2f} s |")
    print(f"\nWorker: {fps:.1f} frames/s measured → {fps / 2:.1f} cameras at 2 frames/s per worker "
          f"({os.cpu_count()} cores, one worker)")


if __name__ == "__main__":
    main()
