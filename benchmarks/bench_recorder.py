"""Benchmark of the recorder: CPU cost per stream, and delay from camera to searchable detection.

(a) CPU per stream: the recorder (remux into segments, probe, store, register; no analysis) records 1 and
    then 4 streams from the real RTSP server (scripts/services/rtsp_server.py, run by the system Python)
    for ``--seconds``; we report this process's CPU time (all threads) per second of stream. Baseline in the
    same run: decoding the same stream (what any re-encode would cost at least).
(b) Delay: with analysis queued eagerly in the registrar thread (the embedded default's inline path, on
    this machine's detector device), each detection's delay is ``Event.recorded_at`` (the inline search
    projection commits with it, so it is searchable then) minus its time in the video (segment start,
    estimated from when the RTSP PLAY was sent, plus the frame's offset). p50/p95 over all detections.
    It is dominated by the segment length: a frame waits for the end of its segment.

Run: ``python benchmarks/bench_recorder.py`` (takes about two minutes). Never prints the stream password.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._django import machine, setup

REPO = Path(__file__).resolve().parents[1]
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
USER, PASSWORD = "bench", "bench-secret-42"


def start_server(footage: Path, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(["/usr/bin/python3", str(REPO / "scripts/services/rtsp_server.py"), "--port",
                             str(port), "--user", USER, "--password", PASSWORD, "--file", str(footage)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "READY":
        raise SystemExit("the RTSP server did not start")
    return proc


def cameras(n: int, port: int, prefix: str) -> list[int]:
    from backend.cameras.models import Camera

    ids = []
    for i in range(n):
        camera = Camera(name=f"{prefix}-{i}", stream_address=f"rtsp://127.0.0.1:{port}/stream", username=USER)
        camera.set_password(PASSWORD)
        camera.save()
        ids.append(camera.pk)
    return ids


def record(n: int, port: int, seconds: float, settings) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds of this process per stream-second while recording ``n`` streams."""
    from backend.cameras.models import Camera
    from backend.recorder.supervisor import Supervisor

    Camera.objects.update(enabled=False)
    cameras(n, port, f"cpu{n}")
    supervisor = Supervisor(owner=f"bench-{n}", settings=settings).start()
    deadline = time.monotonic() + 30
    while (len([w for w in supervisor.workers.values() if w.connections]) < n
           and time.monotonic() < deadline):
        time.sleep(0.1)
    time.sleep(1.0)  # past the connection burst (probing buffers a second of video)
    cpu0, wall0 = time.process_time(), time.monotonic()
    time.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    supervisor.stop()
    return cpu / (n * wall)


def decode_baseline(port: int, seconds: float) -> float:
    import av

    from backend.recorder.probe import rtsp_options

    url = f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{port}/stream"
    with av.open(url, options=rtsp_options(10), timeout=(10, 10)) as container:
        stream = container.streams.video[0]
        frames = container.decode(stream)
        for _ in range(15):  # past the connection burst
            next(frames)
        cpu0, wall0 = time.process_time(), time.monotonic()
        while time.monotonic() - wall0 < seconds:
            next(frames)
        return (time.process_time() - cpu0) / (time.monotonic() - wall0)


def latency(port: int, seconds: float, settings) -> list[float]:  # type: ignore[no-untyped-def]
    from backend.cameras.models import Camera
    from backend.eventlog.models import Event, EventType
    from backend.recorder.supervisor import Supervisor

    Camera.objects.update(enabled=False)
    (camera_id,) = cameras(1, port, "latency")
    supervisor = Supervisor(owner="bench-latency", settings=settings).start()
    time.sleep(seconds)
    supervisor.stop()
    rows = Event.objects.filter(camera_id=camera_id, type=EventType.OBJECT_DETECTED).values_list(
        "time", "recorded_at")
    return [(recorded - seen).total_seconds() for seen, recorded in rows]


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0, help="measuring time per CPU run")
    parser.add_argument("--latency-seconds", type=float, default=40.0)
    parser.add_argument("--segment-seconds", type=float, default=4.0)
    args = parser.parse_args()
    os.environ.setdefault("SIGHTLINE_CELERY_ALWAYS_EAGER", "1")
    setup("recorder")
    import dataclasses

    from analysis.transcode import transcode_to_h264
    from backend.recorder.segmenter import RecorderSettings
    from tests.recorder.conftest import free_port

    footage = transcode_to_h264(VTEST, Path(tempfile.mkdtemp()) / "vtest.mp4", max_seconds=30, gop=10)
    port = free_port()
    server = start_server(footage, port)
    try:
        settings = RecorderSettings(segment_seconds=args.segment_seconds, poll_s=0.5, lease_ttl_s=5,
                                    queue_analysis=False)
        decode = decode_baseline(port, args.seconds)
        one = record(1, port, args.seconds, settings)
        four = record(4, port, args.seconds, settings)
        delays = latency(port, args.latency_seconds, dataclasses.replace(settings, queue_analysis=True))
    finally:
        server.kill()

    print(f"\nMachine: {machine()}; stream: vtest.avi as H.264 768x576, 10 fps, key frame every 1 s, "
          f"RTSP/TCP on localhost; segments of {args.segment_seconds:g} s.\n")
    print("| measure | value | vs. decoding the same stream |")
    print("|---|---|---|")
    print(f"| decode baseline, CPU per stream-second | {decode * 100:.2f}% of a core | 1.00 |")
    print(f"| recorder, 1 stream, CPU per stream-second | {one * 100:.2f}% of a core | {one / decode:.2f} |")
    print(f"| recorder, 4 streams, CPU per stream-second | {four * 100:.2f}% of a core | {four / decode:.2f} |")
    if delays:
        print(f"| frame leaves camera -> searchable, p50 ({len(delays)} detections) | {pct(delays, 50):.1f} s | |")
        print(f"| frame leaves camera -> searchable, p95 | {pct(delays, 95):.1f} s | |")
    else:
        print("| frame leaves camera -> searchable | no detections recorded | |")


if __name__ == "__main__":
    main()
