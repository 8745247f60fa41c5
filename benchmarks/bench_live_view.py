"""Benchmark of the live view (backend/recorder/live.py): masked frames per second, delay, CPU.

A real RTSP server (scripts/services/rtsp_server.py, run by the system Python) streams footage with real
moving faces (``analysis.eval.faces``, a key frame every second) and a real supervisor records it. A viewer
fetches the live playlist through the API once a second, as a player does, for ``--seconds``; then the
admin does the same for the unmasked view. Reported for each variant, from the tap's own counters:

- frames produced per second of wall time, against the camera's rate; detections (faces are looked for on
  every frame the tap can afford) and their cost; GOPs dropped because the tap fell behind;
- delay: a segment's first frame's capture (the packets' arrival, see ``backend.recorder.live``) to the
  playlist listing the segment, i.e. when a player can fetch it (p50 / p95), and capture to the muxer for
  every frame. A player adds its buffer on top (hls.js and Safari start about three segments behind);
- CPU of this process (all threads: recorder, tap, the web requests) per second, with and without the view.

Run: ``python benchmarks/bench_live_view.py [--size 1280x720] [--seconds 30] [--masking persons]``
(``--masking``: the camera's; persons and faces_plates run the object detector live too). Never prints the password.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._django import machine, setup

USER, PASSWORD = "bench", "bench-secret-42"


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--input-side", type=int, default=None, help="LIVE_FACE_INPUT_SIDE (default: the setting)")
    parser.add_argument("--masking", choices=["faces", "persons", "faces_plates"], default="faces",
                        help="the camera's masking: faces (the real-face clip at --size), persons (8 s of "
                             "vtest.avi, 768x576) or faces_plates (the car with a plate, 960x540)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    setup("live-view")

    from django.conf import settings
    from django.test import Client

    from backend.cameras.models import Camera
    from backend.recorder.segmenter import RecorderSettings
    from backend.recorder.supervisor import Supervisor
    from tests.factories import UserFactory
    from tests.recorder.conftest import RtspServer
    from tests.recorder.test_live_view import face_footage, plates_footage, vtest_footage

    if args.input_side:
        settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"LIVE_FACE_INPUT_SIDE": args.input_side})
    folder = Path(tempfile.mkdtemp(prefix="bench-live-"))
    if args.masking == "persons":
        footage, (width, height) = vtest_footage(folder), (768, 576)
    elif args.masking == "faces_plates":
        footage, (width, height) = plates_footage(folder), (960, 540)
    else:
        footage = face_footage(folder, seconds=8, size=(width, height), fps=args.fps)
    server = RtspServer(footage, password=PASSWORD).start()
    try:
        camera = Camera(name="bench-live", stream_address=server.address, username="recorder",
                        privacy_mask=args.masking)
        camera.set_password(PASSWORD)
        camera.save()
        viewer = UserFactory(username="bench-viewer", role="viewer")
        camera.granted_users.add(viewer)
        root = UserFactory(username="bench-root", is_staff=True, is_superuser=True)
        recorder = RecorderSettings(segment_seconds=10.0, queue_analysis=False, poll_s=1.0)
        supervisor = Supervisor(owner="bench-live", settings=recorder).start()
        deadline = time.monotonic() + 30
        while not (camera.pk in supervisor.workers and supervisor.workers[camera.pk].connections):
            if time.monotonic() > deadline:
                raise SystemExit("the recorder did not connect")
            time.sleep(0.2)
        time.sleep(2.0)
        cpu0, wall0 = time.process_time(), time.monotonic()
        time.sleep(min(10.0, args.seconds))
        baseline = (time.process_time() - cpu0) / (time.monotonic() - wall0)
        worker = supervisor.workers[camera.pk]
        results = []
        for user, unmask in ((viewer, False), (root, True)):
            client = Client(HTTP_HOST="localhost")
            client.force_login(user)
            url = f"/api/v1/cameras/{camera.pk}/live/index.m3u8" + ("?unmask=1" if unmask else "")
            asked = time.monotonic()
            first_200 = None
            cpu0, wall0 = time.process_time(), time.monotonic()
            while time.monotonic() - asked < args.seconds:
                if client.get(url).status_code == 200 and first_200 is None:
                    first_200 = time.monotonic() - asked
                time.sleep(1.0)
            cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
            tap = worker.live.history[-1]
            results.append((tap, first_200, cpu))
            while worker.live.taps:  # let it stop (LIVE_IDLE_S) before the next variant
                time.sleep(0.5)
            time.sleep(1.0)
        supervisor.stop()
    finally:
        server.kill()

    print(f"machine: {machine()}")
    print(f"camera: {width}x{height} at {args.fps} fps, a key frame a second; live segments "
          f"{settings.SIGHTLINE.LIVE_SEGMENT_S:g} s; face input side {settings.SIGHTLINE.LIVE_FACE_INPUT_SIDE}")
    print(f"CPU, recording only: {baseline:.2f} s/s")
    for tap, first_200, cpu in results:
        s = tap.stats
        seg = list(s.segment_delays)
        frame = list(s.frame_delays)
        detect = f", {s.detections} detections of {s.frames_out} frames at {1000 * s.detect_s / s.detections:.0f} ms" \
            if s.detections else ""
        print(f"live {tap.variant}: {s.fps:.1f} fps produced{detect}; {s.dropped_gops} GOPs dropped; "
              f"first playlist after {first_200 if first_200 is None else round(first_200, 1)} s; "
              f"segment fetchable after capture p50 {percentile(seg, 0.5):.2f} s, p95 {percentile(seg, 0.95):.2f} s; "
              f"frame to muxer p50 {statistics.median(frame) if frame else float('nan'):.2f} s, "
              f"p95 {percentile(frame, 0.95):.2f} s; CPU {cpu:.2f} s/s")


if __name__ == "__main__":
    main()
