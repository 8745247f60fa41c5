"""The detector and the clip pipeline on one GPU: frames/s by batch size and precision, the pipeline against the
bare detector on the same frames, and the GPU's memory peak; one JSON summary on stdout.

Frames: vtest.avi (``--video``, ``$SIGHTLINE_VTEST_AVI`` or Debian's opencv-doc copy), else a video a test or
demo run left under ``test-artifacts/`` or ``var/``, else a synthetic H.264 clip generated here (moving shapes
on noise: timings hold, detections mean nothing; the summary says which). Sampled at ``--fps`` and resized to
the detector's 512×512 input as the pipeline samples them (``FrameSampler``), looped to ``--frames``.

Bare detector: for fp32 and fp16 and each ``--batches`` size, ``max_batch`` set to the batch, a warm-up, then
``torch.cuda.synchronize()``-bracketed passes over the frames for at least ``--min-seconds``: once through
``raw_detections`` (body + decoding on the device, the top-k rows copied back) and once through ``detect``
(the same plus the boxes as ``Detection`` objects at ``TRACK_LOW_CONFIDENCE``, what the pipeline asks for).
Also: fp16 against fp32 detections on the first frames (matched by label and nearest box, as
``tests/analysis/test_detector.py`` matches them). Pipeline: ``ClipAnalysis.run`` on ``--pipeline-seconds`` of
the footage as H.264 at ``--pipeline-fps`` on a camera that masks nothing (decode in a thread → detect →
track → thumbnails → event log; the default detector: fp16 on CUDA), for each ``--pipeline-batches`` size,
with NVDEC decoding too where PyAV can open a CUDA device; divided by the bare ``detect`` frames/s at the same
batch and precision. ``--faces`` adds a run with the face pass (a camera that masks faces, the default).

    python -m benchmarks.bench_gpu [--smoke] [--device cuda|cpu] [--out gpu.json]   (benchmarks/gpu.sh runs it)

``--smoke``: tiny counts, any device (the CPU included: fp16 convolutions run there, slowly), to check that
the script runs; its numbers mean nothing. Progress goes to stderr, the JSON to stdout and to ``$OUT/gpu.json``
when ``$OUT`` is set.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._django import machine, setup

REPO = Path(__file__).resolve().parents[1]
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".ts")


def log(message: str) -> None:
    print(f"[bench_gpu {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def find_footage(explicit: str | None) -> tuple[Path | None, str]:
    """The video to measure on and what it is: ``vtest``, ``found`` (left by a test or demo run) or none."""
    for candidate, kind in ((explicit, "given"), (os.environ.get("SIGHTLINE_VTEST_AVI"), "vtest"),
                            (str(VTEST), "vtest")):
        if candidate and Path(candidate).is_file():
            return Path(candidate), kind
    if explicit:
        raise SystemExit(f"bench_gpu: --video {explicit} is not a file")
    for folder in (REPO / "test-artifacts", REPO / "var"):
        if folder.is_dir():
            found = sorted((p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()),
                           key=lambda p: -p.stat().st_size)
            if found:
                return found[0], "found"
    return None, "none"


def synthesize(path: Path, seconds: float, fps: int = 10, width: int = 768, height: int = 576) -> Path:
    """A clip with something to decode and to track: bright boxes walking over a fixed noise background."""
    import av

    rng = np.random.default_rng(20261203)
    background = rng.integers(40, 120, size=(height, width, 3), dtype=np.uint8)
    walkers = [(rng.integers(0, width - 60), rng.integers(0, height - 150), rng.integers(-6, 7),
                rng.integers(-3, 4), rng.integers(120, 256, size=3)) for _ in range(8)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for n in range(round(seconds * fps)):
            picture = background.copy()
            for x, y, dx, dy, colour in walkers:
                px, py = int(x + dx * n) % (width - 60), int(y + dy * n) % (height - 150)
                picture[py : py + 150, px : px + 60] = colour
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def device_info(torch: Any, device: str) -> dict[str, Any]:
    info: dict[str, Any] = {"type": device, "torch": torch.__version__, "cuda": torch.version.cuda}
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info.update(name=torch.cuda.get_device_name(0), capability=f"{props.major}.{props.minor}",
                    memory_gib=round(props.total_memory / 2**30, 1), multiprocessors=props.multi_processor_count,
                    cudnn=torch.backends.cudnn.version())
    else:
        info["name"] = platform.processor() or platform.machine()
    if shutil.which("nvidia-smi"):
        query = "name,driver_version,memory.total,power.limit,clocks.max.sm,pcie.link.gen.max"
        try:
            answer = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                                    capture_output=True, text=True, timeout=30, check=False)
            info["nvidia_smi"] = (answer.stdout.strip() or answer.stderr.strip())
        except (OSError, subprocess.SubprocessError) as exc:
            info["nvidia_smi"] = f"failed: {exc}"
    else:
        info["nvidia_smi"] = None
    return info


class Timer:
    def __init__(self, torch: Any, device: str) -> None:
        self.torch, self.cuda = torch, device == "cuda"

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def reset_peak(self) -> None:
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float | None:
        return round(self.torch.cuda.max_memory_allocated() / 2**30, 3) if self.cuda else None


def frames_per_second(call: Any, frames: np.ndarray, batch: int, min_seconds: float, timer: Timer) -> float:
    """Whole batches of ``frames`` through ``call`` for at least ``min_seconds`` (and at least one pass)."""
    starts = list(range(0, len(frames) - batch + 1, batch)) or [0]
    timer.sync()
    started, done, passes = time.perf_counter(), 0, 0
    while True:
        for start in starts:
            call(frames[start : start + batch])
            done += len(frames[start : start + batch])
        passes += 1
        timer.sync()
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return done / elapsed


def bare(detector: Any, frames: np.ndarray, batches: list[int], args: argparse.Namespace, timer: Timer,
         min_conf: float, precision: str) -> list[dict[str, Any]]:
    rows = []
    for batch in batches:
        detector.max_batch = batch
        timer.reset_peak()
        for _ in range(args.warmup):  # cuDNN's first calls at a shape, the allocator's first blocks
            detector.detect(frames[:batch], min_conf)
        raw = frames_per_second(detector.raw_detections, frames, batch, args.min_seconds, timer)
        full = frames_per_second(lambda f: detector.detect(f, min_conf), frames, batch, args.min_seconds, timer)
        row = {"precision": precision, "batch": batch, "raw_fps": round(raw, 1), "detect_fps": round(full, 1),
               "detect_ms_per_frame": round(1000 / full, 3), "peak_gib": timer.peak_gib()}
        log(f"bare {precision} batch {batch}: raw {raw:.1f} frames/s, detect {full:.1f} frames/s, "
            f"peak {row['peak_gib']} GiB")
        rows.append(row)
    return rows


def agreement(reference: Any, other: Any, frames: np.ndarray, threshold: float = 0.3, margin: float = 0.02,
              side: int = 512) -> dict[str, Any]:
    """``other``'s detections against ``reference``'s: counterparts by label and nearest box (both ways)."""
    want, got = reference.detect(frames, threshold - margin), other.detect(frames, threshold - margin)

    def box_px(a: Any, b: Any) -> float:
        return max(abs(a.x1 - b.x1), abs(a.y1 - b.y1), abs(a.x2 - b.x2), abs(a.y2 - b.y2)) * side

    matched = unmatched = 0
    worst_box = worst_score = 0.0
    for ours_frame, theirs_frame in zip(want, got, strict=True):
        for ours, theirs in ((ours_frame, theirs_frame), (theirs_frame, ours_frame)):
            left = list(theirs)
            for a in ours:
                if a.confidence < threshold:
                    continue
                same = [b for b in left if b.label == a.label]
                if not same:
                    unmatched += 1
                    continue
                b = min(same, key=lambda b, a=a: box_px(a, b))
                worst_box = max(worst_box, box_px(a, b))
                worst_score = max(worst_score, abs(a.confidence - b.confidence))
                left.remove(b)
                matched += 1
    def clear(found: list[Any]) -> list[str]:
        return [d.label for d in found if d.confidence >= threshold]

    labels_same = sum(clear(a) == clear(b) for a, b in zip(want, got, strict=True))
    return {"frames": len(frames), "threshold": threshold, "matched_both_ways": matched, "unmatched": unmatched,
            "largest_box_px": round(worst_box, 3), "largest_score": round(worst_score, 5),
            "frames_with_the_same_label_order": labels_same}


@contextlib.contextmanager
def decode_on(kind: str):
    """Analysis decodes on ``kind`` (``SIGHTLINE.DECODE_HWACCEL``) inside the block."""
    from django.conf import settings

    saved = settings.SIGHTLINE
    settings.SIGHTLINE = saved.model_copy(update={"DECODE_HWACCEL": kind})
    try:
        yield
    finally:
        settings.SIGHTLINE = saved


def pipeline_run(detector: Any, footage: Path, camera: Any, batch: int, label: str, privacy: Any = None) -> dict:
    from django.conf import settings
    from django.db import transaction

    from analysis.decode import probe
    from analysis.pipeline import ClipAnalysis
    from backend.clips.services import register_clip

    conf = settings.SIGHTLINE
    name = f"bench-gpu-{label}-{time.monotonic_ns()}.mp4"
    shutil.copy(footage, Path(settings.MEDIA_ROOT) / name)
    with transaction.atomic():
        clip = register_clip(camera=camera, stored_name=name, info=probe(footage), queue=False,
                             started_at=datetime(2026, 12, 1, tzinfo=UTC))
    clip.refresh_from_db()
    analysis = ClipAnalysis(clip, detector, batch_size=batch, min_confidence=conf.DETECTION_MIN_CONFIDENCE,
                            low_confidence=conf.TRACK_LOW_CONFIDENCE, input_mode=conf.DETECTOR_INPUT,
                            privacy=privacy)
    started = time.perf_counter()
    result = analysis.run()
    elapsed = time.perf_counter() - started
    return {"frames": result.frames, "seconds": round(elapsed, 3), "fps": round(result.frames / elapsed, 1),
            "detections": result.detections, "sightings": len(result.tracks), "warning": result.warning}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny counts on any device: does it run?")
    parser.add_argument("--device", choices=["cuda", "cpu"], default=None)
    parser.add_argument("--video", default=None, help="footage (default: vtest.avi)")
    parser.add_argument("--fps", type=float, default=10.0, help="sampling rate of the bare detector's frames")
    parser.add_argument("--frames", type=int, default=512)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 64, 128])
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--pipeline-seconds", type=float, default=60.0)
    parser.add_argument("--pipeline-fps", type=float, default=10.0)
    parser.add_argument("--pipeline-batches", type=int, nargs="+", default=None,
                        help="default: ANALYSIS_BATCH_SIZE and 32")
    parser.add_argument("--rounds", type=int, default=2, help="pipeline runs per configuration")
    parser.add_argument("--faces", action="store_true", help="also a pipeline run with the face pass")
    parser.add_argument("--budget-seconds", type=float, default=400.0,
                        help="optional stages are skipped once the run has taken this long")
    parser.add_argument("--out", default=None, help="also write the JSON here (default: $OUT/gpu.json)")
    args = parser.parse_args()
    if args.smoke:
        args.frames, args.batches, args.min_seconds, args.warmup = 2, [2], 0.0, 0
        args.pipeline_seconds, args.pipeline_fps, args.rounds = 2.0, 2.0, 1
        args.pipeline_batches = args.pipeline_batches or [2]
    began = time.perf_counter()
    skipped: list[str] = []

    def over_budget(stage: str) -> bool:
        if time.perf_counter() - began > args.budget_seconds:
            skipped.append(stage)
            log(f"over the {args.budget_seconds:g} s budget: {stage} skipped")
            return True
        return False

    data_dir = setup("gpu")
    import av
    import torch
    from django.conf import settings

    from analysis.decode import FrameSampler, hw_decode_available, probe
    from analysis.detectors.centernet import CenterNetDetector
    from analysis.transcode import transcode_to_h264
    from backend.cameras.models import Camera

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_gpu: --device cuda, but torch sees no CUDA device "
                         f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})")
    if device == "cpu" and not args.smoke:
        raise SystemExit("bench_gpu: no CUDA device; this benchmark is for a GPU (use --smoke to check that it "
                         "runs here)")
    info = device_info(torch, device)
    log(f"device: {info.get('name')} (nvidia-smi: {info.get('nvidia_smi')}); torch {torch.__version__}")
    timer = Timer(torch, device)
    conf = settings.SIGHTLINE
    min_conf = conf.TRACK_LOW_CONFIDENCE  # what the pipeline asks the detector for

    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    source, kind = find_footage(args.video)
    if source is None:
        log("no vtest.avi (Debian's opencv-doc) and no video left by a test run: generating synthetic footage")
        try:
            source = synthesize(media / "synthetic.mp4", args.pipeline_seconds)
        except Exception as exc:
            raise SystemExit(f"bench_gpu: no footage: vtest.avi missing ({VTEST}; install opencv-doc or set "
                             f"SIGHTLINE_VTEST_AVI) and generating a clip failed: {exc}") from exc
        kind = "synthetic"
    log(f"footage: {source} ({kind})")

    fp32 = CenterNetDetector(device=device, half=False)
    fp16 = CenterNetDetector(device=device, half=True)
    default_max_batch = fp16.max_batch  # the same for both: set by the device
    sampled = [f.model_rgb for f in FrameSampler(source, args.fps, fp32.input_size, conf.DETECTOR_INPUT,
                                                 hwaccel="")]
    if not sampled:
        raise SystemExit(f"bench_gpu: {source} gave no frames")
    frames = np.stack([sampled[i % len(sampled)] for i in range(args.frames)])
    log(f"{len(frames)} frames at {fp32.input_size} px ({len(sampled)} distinct)")

    pipeline_batches = args.pipeline_batches or sorted({conf.ANALYSIS_BATCH_SIZE, 32})
    batches = sorted(set(args.batches) | set(pipeline_batches))
    results: list[dict[str, Any]] = []
    for precision, detector in (("fp32", fp32), ("fp16", fp16)):
        results += bare(detector, frames, batches, args, timer, min_conf, precision)
    compare = agreement(fp32, fp16, frames[: min(len(frames), 64 if device == "cuda" else 2)])
    log(f"fp16 against fp32: {compare}")
    # The pipeline with the default detector: fp16 on CUDA, fp32 on a CPU (smoke only).
    pipeline_detector, pipeline_precision = (fp16, "fp16") if device == "cuda" else (fp32, "fp32")
    pipeline_detector.max_batch = default_max_batch
    del fp32, fp16
    if device == "cuda":
        torch.cuda.empty_cache()

    info_source = probe(source)
    if info_source.codec == "h264" and source.suffix == ".mp4":
        # Already what cameras send; used whole (transcode_to_h264 loses an MP4 source's timestamps).
        clip = source
    else:
        clip = transcode_to_h264(source, media / "bench-gpu.mp4", max_seconds=args.pipeline_seconds)
    camera = Camera.objects.create(name="bench-gpu", analysis_fps=args.pipeline_fps,
                                   privacy_mask=Camera.Masking.NONE)
    decoders = ["software"] + (["cuda"] if hw_decode_available("cuda") else [])
    if "cuda" not in decoders:
        log("NVDEC: not available here (analysis.decode.hw_decode_available('cuda') is false)")
    bare_detect = {(r["precision"], r["batch"]): r["detect_fps"] for r in results}
    pipeline: list[dict[str, Any]] = []
    timer.reset_peak()
    for decoder in decoders:
        for batch in pipeline_batches:
            if pipeline and over_budget(f"pipeline batch {batch} decode {decoder}"):
                continue
            for round_ in range(args.rounds):
                with decode_on("" if decoder == "software" else decoder):
                    run = pipeline_run(pipeline_detector, clip, camera, batch, f"{decoder}-{batch}-{round_}")
                reference = bare_detect[(pipeline_precision, batch)]
                run.update(batch=batch, decode=decoder, precision=pipeline_precision, round=round_ + 1, faces=False,
                           bare_detect_fps=reference, pipeline_over_bare=round(run["fps"] / reference, 3))
                log(f"pipeline batch {batch} decode {decoder} round {round_ + 1}: {run['fps']} frames/s "
                    f"({run['frames']} frames), ÷ bare {run['pipeline_over_bare']}")
                pipeline.append(run)
    if args.faces and not over_budget("pipeline with the face pass"):
        try:
            from analysis.privacy import privacy_for

            masked = Camera.objects.create(name="bench-gpu-faces", analysis_fps=args.pipeline_fps,
                                           privacy_mask=Camera.Masking.FACES)
            batch = pipeline_batches[0]
            run = pipeline_run(pipeline_detector, clip, masked, batch, "faces", privacy=privacy_for(masked))
            reference = bare_detect[(pipeline_precision, batch)]
            run.update(batch=batch, decode="software", precision=pipeline_precision, round=1, faces=True,
                       bare_detect_fps=reference, pipeline_over_bare=round(run["fps"] / reference, 3))
            log(f"pipeline with faces, batch {batch}: {run['fps']} frames/s")
            pipeline.append(run)
        except Exception as exc:  # a benchmark extra: say why, keep the rest
            skipped.append(f"pipeline with the face pass: {type(exc).__name__}: {exc}")
    pipeline_peak = timer.peak_gib()

    peaks = [r["peak_gib"] for r in results if r["peak_gib"] is not None]
    summary = {
        "benchmark": "benchmarks/bench_gpu.py", "smoke": args.smoke, "machine": machine(),
        "device": info, "pyav": av.__version__, "nvdec_usable": "cuda" in decoders,
        "model_id": pipeline_detector.model_id, "input_size": pipeline_detector.input_size,
        "footage": {"path": str(source), "kind": kind, "sampled_fps": args.fps, "frames": len(frames),
                    "distinct_frames": len(sampled)},
        "min_confidence": min_conf, "min_seconds_per_measure": args.min_seconds,
        "bare": results, "fp16_vs_fp32": compare,
        "pipeline": pipeline,
        "gpu_memory_peak_gib": {"bare": max(peaks) if peaks else None, "pipeline": pipeline_peak},
        "skipped": skipped, "elapsed_s": round(time.perf_counter() - began, 1),
    }
    text = json.dumps(summary, indent=2)
    print(text)
    out = args.out or (str(Path(os.environ["OUT"]) / "gpu.json") if os.environ.get("OUT") else None)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
        log(f"written to {out}")
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
