"""Exports that always play: remux and encode of real H.264 footage, across recorded segments, with masks and
burnt-in boxes; what verify() refuses; and that a failed or cancelled render leaves nothing behind.

Footage is made here with PyAV: a synthetic picture (a gradient that drifts and a checkered patch that moves
in a straight line, so where the patch is on every frame is known), the recorder's own segment writer
(fragmented MP4, timestamps rebased per file, as from a camera), and vtest.avi (MS-MPEG4, which must be
re-encoded).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
import textwrap
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from analysis.decode import FrameSampler
from analysis.transcode import transcode_to_h264
from backend.exports.masks import TrackBoxes, TrackPoint, color_for
from backend.exports.render import (
    KEEP_GAP_MS,
    PART_SUFFIX,
    BrokenVideo,
    Cancelled,
    NothingToExport,
    OutputFailed,
    Overlay,
    Source,
    SourceUnreadable,
    plan_mode,
    remove_partials,
    render,
    verify,
)
from backend.recorder.segmenter import SegmentWriter

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 8, 0, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
W, H, RATE = 320, 240, 10
PATCH = 40  # the checkered patch: PATCH×PATCH px at (patch_x(i), PATCH_Y)
PATCH_Y = 60


def patch_x(i: int) -> int:
    """Where the patch is in frame ``i``: it moves 2 px a frame, and starts again every 100 frames."""
    return 20 + 2 * (i % 100)


def picture(i: int) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.empty((H, W, 3), np.uint8)
    img[..., 0] = (xx // 2 + i) % 256
    img[..., 1] = (yy + 2 * i) % 256
    img[..., 2] = 96
    x = patch_x(i)
    checks = ((xx[:PATCH, :PATCH] // 4 + yy[:PATCH, :PATCH] // 4) % 2 * 255).astype(np.uint8)
    img[PATCH_Y:PATCH_Y + PATCH, x:x + PATCH] = checks[..., None]
    return img


def make_footage(path: Path, frames: int = 100, *, gop: int = RATE, bframes: int = 0, faststart: bool = True,
                 size: tuple[int, int] = (W, H), fmt: str = "mp4") -> Path:
    """``frames`` frames at ``RATE`` fps of H.264 (a key frame every ``gop`` frames)."""
    options = {"movflags": "+faststart"} if faststart and fmt == "mp4" else {}
    with av.open(str(path), "w", format=fmt, options=options) as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.options = {"preset": "veryfast", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0",
                          "bf": str(bframes)}
        for i in range(frames):
            img = picture(i)
            if size != (W, H):
                img = np.ascontiguousarray(np.resize(img, (size[1], size[0], 3)))
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def packets(path: Path) -> list[tuple[float, bool]]:
    """(seconds from the first frame, key frame) of every packet, in presentation order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        raw = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.pts is not None]
        tb = stream.time_base
    first = min(p for p, _ in raw)
    return sorted((float((p - first) * tb), k) for p, k in raw)


def frames_of(path: Path) -> list[tuple[float, bool]]:
    """(pts seconds, key frame) of every decoded frame."""
    with av.open(str(path)) as container:
        return [(float(f.time), f.key_frame) for f in container.decode(video=0)]


def absolute_times(path: Path, first_ms: int) -> list[int]:
    return [first_ms + round(t * 1000) for t, _ in frames_of(path)]


def nothing_but(folder: Path, *names: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in names)


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    """10 s of the synthetic picture, no B-frames (what most cameras send), a key frame every second."""
    return make_footage(tmp_path_factory.mktemp("footage") / "plain.mp4")


@pytest.fixture(scope="module")
def footage_b(tmp_path_factory) -> Path:
    """The same with B-frames (pyramid: frames decoded out of presentation order)."""
    return make_footage(tmp_path_factory.mktemp("footage") / "bframes.mp4", bframes=3)


def record_segments(source: Path, folder: Path, seconds: float) -> list[Source]:
    """``source`` cut into segments of ``seconds`` by the recorder's own writer (fragmented MP4, cut at key
    frames, timestamps rebased to each file's first packet); each segment's start is the camera's time of
    its first packet, as the recorder takes it."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        writer: SegmentWriter | None = None
        anchor: int | None = None
        for packet in container.demux(stream):
            if packet.dts is None or packet.pts is None:
                continue
            if anchor is None:
                anchor = packet.pts
            if packet.is_keyframe and (writer is None or writer.elapsed_s(packet.dts) >= seconds):
                if writer is not None:
                    writer.close()
                started = T0 + timedelta(seconds=float((packet.pts - anchor) * tb))
                writer = SegmentWriter(stream, folder, 1, started, packet.dts)
                sources.append(Source(writer.path, int(started.timestamp() * 1000), clip_id=len(sources) + 1))
            assert writer is not None
            writer.mux(packet)
        assert writer is not None
        writer.close()
    return sources


@pytest.fixture(scope="module")
def segments(footage_b, tmp_path_factory) -> list[Source]:
    """Three consecutive 3-s recorded segments (and the rest) of the B-frame footage."""
    return record_segments(footage_b, tmp_path_factory.mktemp("segments"), 3.0)


# -- remux ----------------------------------------------------------------------------------------------


def test_remux_of_the_middle_of_one_file(footage, tmp_path):
    start, end = T0_MS + 2550, T0_MS + 6250
    out = tmp_path / "export.mp4"
    progress: list[float] = []
    report = render([Source(footage, T0_MS, 7)], start, end, out, on_progress=progress.append)
    assert report.mode == "remux" and report.sources == [7]
    # Expected from the packets: from the key frame at or before the start to the last frame at the end.
    times = packets(footage)
    key = max(t for t, k in times if k and T0_MS + round(t * 1000) <= start)
    expected = [t for t, _ in times if key <= t and T0_MS + round(t * 1000) <= end]
    assert abs(report.frames - len(expected)) <= 1
    assert report.first_ms == T0_MS + round(key * 1000) == T0_MS + 2000, "starts at the key frame before"
    assert report.last_ms == T0_MS + 6200
    assert (report.width, report.height) == (W, H)
    checked = verify(out, expected_frames=len(expected))
    assert checked.frames == report.frames and checked.first_pts_s == 0.0
    assert absolute_times(out, report.first_ms) == [T0_MS + round(t * 1000) for t in expected]
    assert frames_of(out)[0][1], "the first frame is a key frame"
    assert progress and progress[-1] == 1.0 and progress == sorted(progress)
    assert nothing_but(tmp_path, "export.mp4") == [], "no temporary file is left"


def test_remux_with_b_frames_keeps_every_frame_of_the_range(footage_b, tmp_path):
    start, end = T0_MS + 3050, T0_MS + 5150
    out = tmp_path / "export.mp4"
    report = render([Source(footage_b, T0_MS, 1)], start, end, out)
    assert report.mode == "remux"
    got = absolute_times(out, report.first_ms)
    assert got == sorted(got) and got[0] == T0_MS + 3000
    wanted = set(range(T0_MS + 3000, end + 1, 100))
    assert wanted <= set(got), "no frame of the range is lost"
    extra = [t for t in got if t > end]
    assert len(extra) <= 2 and report.last_ms == max(got), "at most the reordering depth past the end"
    verify(out, expected_frames=report.frames, tolerance=0)


def test_remux_across_three_recorded_segments(segments, tmp_path):
    assert len(segments) >= 3
    first, second, third = segments[:3]
    start, end = first.started_at_ms + 1500, third.started_at_ms + 1500
    out = tmp_path / "export.mp4"
    report = render(segments, start, end, out)
    assert report.mode == "remux" and report.sources == [1, 2, 3] and report.gaps == []
    got = absolute_times(out, report.first_ms)
    assert got[0] == first.started_at_ms + 1000, "from the key frame before the start"
    # Every frame of the three files between the key frame and the end, each at its recorded time.
    recorded = []
    for source in (first, second, third):
        recorded += [source.started_at_ms + f.offset_ms for f in FrameSampler(source.path, fps=1000, size=16)]
    assert set(t for t in recorded if got[0] <= t <= end) <= set(got)
    assert set(got) <= set(recorded) and got == sorted(got)
    assert max(got) - end <= 200
    assert np.diff(got).max() == 100, "the files join without a gap or a repeated frame"
    verify(out, expected_frames=report.frames, tolerance=0)


def test_a_gap_between_sources_is_closed_and_reported(segments, tmp_path):
    first, _, third = segments[:3]
    later = Source(third.path, third.started_at_ms + 60_000, third.clip_id)  # the camera was offline a minute
    out = tmp_path / "export.mp4"
    report = render([first, later], first.started_at_ms, later.started_at_ms + 2000, out)
    assert report.sources == [1, 3]
    assert len(report.gaps) == 1
    before, after = report.gaps[0]
    assert after == later.started_at_ms and after - before > KEEP_GAP_MS
    times = [t for t, _ in frames_of(out)]
    assert np.diff(times).max() == pytest.approx(0.1, abs=0.002), "no frozen frame for the outage"
    assert report.duration_s == pytest.approx(len(times) * 0.1, abs=0.01)
    assert later.started_at_ms + 2000 <= report.last_ms <= later.started_at_ms + 2200
    verify(out, expected_frames=report.frames, tolerance=0)


def test_a_range_in_a_gap_or_outside_the_footage_has_nothing_to_export(segments, tmp_path):
    first = segments[0]
    alone = [first, Source(segments[1].path, first.started_at_ms + 60_000, 2)]
    with pytest.raises(NothingToExport) as caught:
        render(alone, first.started_at_ms + 10_000, first.started_at_ms + 20_000, tmp_path / "x.mp4")
    assert str(tmp_path) not in str(caught.value)
    with pytest.raises(NothingToExport):
        render(segments, T0_MS - 10_000, T0_MS - 5_000, tmp_path / "x.mp4")
    assert nothing_but(tmp_path) == []


def test_plan_mode(footage, footage_b, vtest_path, tmp_path):
    one = Source(footage, T0_MS, 1)
    assert plan_mode([one, Source(footage_b, T0_MS + 10_000, 2)], None) == "encode", "different parameter sets"
    assert plan_mode([one], Overlay(masks=TrackBoxes([TrackPoint(T0_MS, 1, "face", 0, 0, 0.1, 0.1)]))) == "encode"
    assert plan_mode([one], Overlay(masks=TrackBoxes([]))) == "remux", "nothing to draw"
    assert plan_mode([Source(vtest_path, T0_MS, 3)], None) == "encode", "MS-MPEG4"
    other = make_footage(tmp_path / "small.mp4", frames=20, size=(160, 120))
    assert plan_mode([one, Source(other, T0_MS + 10_000, 4)], None) == "encode"
    mkv = make_footage(tmp_path / "a.mkv", frames=20, fmt="matroska")
    assert plan_mode([Source(mkv, T0_MS, 5)], None) == "remux"


# -- encode ---------------------------------------------------------------------------------------------


def _detections(source: Source, sample_fps: float = 2.0) -> list[TrackPoint]:
    """Where the patch is, at the frames the analysis samples (``FrameSampler`` at ``sample_fps``), as
    logged detections: absolute time = clip start + ``offset_ms``."""
    points = []
    for frame in FrameSampler(source.path, fps=sample_fps, size=16):
        i = round((source.started_at_ms + frame.offset_ms - T0_MS) / 100)  # the frame of the footage
        x = patch_x(i)
        points.append(TrackPoint(source.started_at_ms + frame.offset_ms, 1, "face", x / W, PATCH_Y / H,
                                 (x + PATCH) / W, (PATCH_Y + PATCH) / H))
    return points


def _edge_energy(a: np.ndarray) -> float:
    g = a.astype(np.float64).mean(axis=2)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


def test_encode_pixelates_the_masks_on_every_frame(footage, tmp_path):
    source = Source(footage, T0_MS, 1)
    start, end = T0_MS + 1000, T0_MS + 4000
    masks = TrackBoxes(_detections(source))  # 2 a second: the frames between are interpolated
    masked, plain = tmp_path / "masked.mp4", tmp_path / "plain.mp4"
    report = render([source], start, end, masked, overlay=Overlay(masks=masks, mask_padding=0.25))
    assert report.mode == "encode" and report.frames == 31
    assert (report.first_ms, report.last_ms) == (start, end), "exactly the frames of the range"
    render([source], start, end, plain, exact=True)
    verify(masked, expected_frames=31, tolerance=0)
    with av.open(str(masked)) as a, av.open(str(plain)) as b:
        pairs = zip(a.decode(video=0), b.decode(video=0), strict=True)
        for n, (fa, fb) in enumerate(pairs):
            i = 10 + n  # the source frame
            x = patch_x(i)
            got, ref = fa.to_ndarray(format="rgb24"), fb.to_ndarray(format="rgb24")
            inside = (slice(PATCH_Y + 2, PATCH_Y + PATCH - 2), slice(x + 2, x + PATCH - 2))
            assert _edge_energy(got[inside]) < _edge_energy(ref[inside]) / 8, f"frame {i}: detail is left"
            # Outside the padded box, rounded out to whole 16-px blocks: as without masks.
            keep = np.ones((H, W), bool)
            keep[max(0, PATCH_Y - 10 - 16):PATCH_Y + PATCH + 10 + 16, max(0, x - 10 - 16):x + PATCH + 10 + 16] = False
            diff = np.abs(got.astype(int) - ref.astype(int))[keep]
            assert diff.mean() < 2.0, f"frame {i}: the rest of the picture changed"


def test_encode_burns_the_boxes(footage, tmp_path):
    source = Source(footage, T0_MS, 1)
    boxes = TrackBoxes([TrackPoint(T0_MS, 5, "person", 0.5, 0.5, 0.9, 0.9),
                        TrackPoint(T0_MS + 3000, 5, "person", 0.5, 0.5, 0.9, 0.9)])
    out = tmp_path / "boxes.mp4"
    report = render([source], T0_MS + 500, T0_MS + 2500, out, overlay=Overlay(boxes=boxes))
    assert report.mode == "encode"
    verify(out, expected_frames=report.frames, tolerance=0)
    with av.open(str(out)) as container:
        frame = next(iter(container.decode(video=0))).to_ndarray(format="rgb24").astype(int)
    color = np.array(color_for(5))
    left, top, right, bottom = 160, 120, 288, 216
    for edge in (frame[top, left + 10:right - 10], frame[bottom, left + 10:right - 10],
                 frame[top + 10:bottom - 10, left], frame[top + 10:bottom - 10, right]):
        close = np.abs(edge - color).max(axis=1) < 48
        assert close.mean() > 0.9, "the box's colour along its edges"


def test_encode_of_an_ms_mpeg4_upload(vtest_path, tmp_path):
    out = tmp_path / "vtest.mp4"
    report = render([Source(vtest_path, T0_MS, 9)], T0_MS + 3000, T0_MS + 4900, out)
    assert report.mode == "encode" and report.frames == 20 and (report.width, report.height) == (768, 576)
    checked = verify(out, expected_frames=20, tolerance=0)
    assert (checked.codec, checked.pix_fmt) == ("h264", "yuv420p")
    assert checked.keyframes >= 1 and frames_of(out)[0][1]


def test_encode_across_segments_lines_masks_up_with_the_frames(segments, tmp_path):
    """The masks come from detections at sampled frames of each segment; every exported frame of every
    segment is masked where the patch is."""
    chosen = segments[:3]
    points = [p for s in chosen for p in _detections(s, sample_fps=2.0)]
    out = tmp_path / "masked.mp4"
    start, end = chosen[0].started_at_ms + 2000, chosen[2].started_at_ms + 1000
    report = render(segments, start, end, out, overlay=Overlay(masks=TrackBoxes(points)))
    assert report.sources == [1, 2, 3] and report.frames == (end - start) // 100 + 1
    verify(out, expected_frames=report.frames, tolerance=0)
    with av.open(str(out)) as container:
        for n, frame in enumerate(container.decode(video=0)):
            i = 20 + n
            x = patch_x(i)
            rgb = frame.to_ndarray(format="rgb24")
            inside = rgb[PATCH_Y + 2:PATCH_Y + PATCH - 2, x + 2:x + PATCH - 2]
            assert _edge_energy(inside) < 6, f"frame {i}: the patch shows"


def test_odd_picture_sizes_are_made_even(tmp_path):
    odd = tmp_path / "odd.mkv"
    with av.open(str(odd), "w") as out:
        stream = out.add_stream("mpeg4", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = 161, 121, "yuv420p"
        for i in range(12):
            img = np.ascontiguousarray(picture(i)[:121, :161])
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))
    report = render([Source(odd, T0_MS, 1)], T0_MS, T0_MS + 5000, tmp_path / "even.mp4")
    assert (report.width, report.height) == (160, 120) and report.frames == 12
    verify(tmp_path / "even.mp4", expected_frames=12, tolerance=0)


# -- verify ---------------------------------------------------------------------------------------------


def test_verify_refuses_a_truncated_file(footage, tmp_path):
    data = footage.read_bytes()
    for fraction in (0.2, 0.6, 0.99):
        torn = tmp_path / "torn.mp4"
        torn.write_bytes(data[:int(len(data) * fraction)])
        with pytest.raises(BrokenVideo, match="truncated") as caught:
            verify(torn)
        assert str(tmp_path) not in str(caught.value)


def test_verify_refuses_decreasing_timestamps(tmp_path):
    plain = make_footage(tmp_path / "plain.mp4", frames=30)
    bad = tmp_path / "bad.mp4"
    with av.open(str(plain)) as inp, av.open(str(bad), "w", options={"movflags": "+faststart"}) as out:
        stream = inp.streams.video[0]
        copy = out.add_stream_from_template(stream)
        step = 1024
        for i, packet in enumerate(p for p in inp.demux(stream) if p.size):
            packet.dts = (i - 2) * step
            packet.pts = {12: 13, 13: 12}.get(i, i) * step  # two frames shown in the wrong order
            packet.stream = copy
            out.mux(packet)
    with pytest.raises(BrokenVideo, match="timestamps do not increase"):
        verify(bad)


def test_verify_refuses_a_file_without_faststart(tmp_path):
    slow = make_footage(tmp_path / "slow.mp4", frames=20, faststart=False)
    with pytest.raises(BrokenVideo, match="faststart"):
        verify(slow)
    assert verify(make_footage(tmp_path / "fast.mp4", frames=20)).frames == 20


def test_verify_refuses_damage_other_codecs_and_wrong_counts(footage, vtest_path, tmp_path):
    data = bytearray(footage.read_bytes())
    data[len(data) // 2:len(data) // 2 + 4000] = bytes(4000)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    with pytest.raises(BrokenVideo, match=r"decoded|damaged"):
        verify(damaged)
    with pytest.raises(BrokenVideo, match="not an MP4"):
        verify(vtest_path)
    mpeg4 = tmp_path / "mpeg4.mp4"
    with av.open(str(mpeg4), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("mpeg4", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(5):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture(i), format="rgb24")))
        out.mux(stream.encode(None))
    with pytest.raises(BrokenVideo, match=r"not H\.264"):
        verify(mpeg4)
    with pytest.raises(BrokenVideo, match="expected"):
        verify(footage, expected_frames=98)
    assert verify(footage, expected_frames=99).frames == 100
    with pytest.raises(BrokenVideo, match="cannot be read"):
        verify(tmp_path / "missing.mp4")


# -- failures leave nothing behind ------------------------------------------------------------------------


_CHILD = textwrap.dedent("""
    import json, os, resource, signal, sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from backend.exports.render import ExportError, Source, render
    mode, source, out, limit = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    if mode == "nobody":
        os.setgid(65534)
        os.setuid(65534)
    else:  # a disk that fills up part-way: every write past ``limit`` bytes fails (EFBIG)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        render([Source(source, 0, 1)], 0, 10_000, out, exact=mode == "full")
    except ExportError as exc:
        print(json.dumps({{"error": type(exc).__name__, "message": str(exc), "retryable": exc.retryable}}))
    else:
        print(json.dumps({{"error": None}}))
""")


def _render_in_child(mode: str, source: Path, out: Path, limit: int = 0) -> dict:
    import json

    script = _CHILD.format(repo=str(REPO))
    result = subprocess.run([sys.executable, "-c", script, mode, str(source), str(out), str(limit)],
                            capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_an_unwritable_folder_leaves_nothing_behind(footage, tmp_path):
    with tempfile.TemporaryDirectory(prefix="sightline-export-") as name:
        folder = Path(name)
        folder.chmod(0o755)
        source = folder / "source.mp4"
        source.write_bytes(footage.read_bytes())
        source.chmod(0o644)
        target = folder / "exports"
        target.mkdir(mode=0o555)
        target.chmod(0o555)
        out = target / "export.mp4"
        if os.geteuid() == 0:  # root writes anywhere: the export runs as nobody
            got = _render_in_child("nobody", source, out)
        else:
            try:
                render([Source(source, 0, 1)], 0, 10_000, out)
            except OutputFailed as exc:
                got = {"error": "OutputFailed", "message": str(exc), "retryable": exc.retryable}
            else:
                got = {"error": None}
        assert got["error"] == "OutputFailed" and got["retryable"] is True
        assert "cannot be written" in got["message"] and name not in got["message"]
        assert list(target.iterdir()) == []
        target.chmod(0o755)


@pytest.mark.parametrize("mode", ["remux", "full"])
def test_a_disk_that_fills_up_part_way_leaves_nothing_behind(footage, tmp_path, mode):
    out = tmp_path / "export.mp4"
    got = _render_in_child(mode, footage, out, limit=footage.stat().st_size // 2)
    assert got["error"] == "OutputFailed" and got["retryable"] is True, got
    assert str(tmp_path) not in got["message"]
    assert list(tmp_path.iterdir()) == []


def test_a_cancelled_render_leaves_nothing_behind(footage, tmp_path):
    calls: list[int] = []

    def stop() -> bool:
        calls.append(1)
        return True

    with pytest.raises(Cancelled):
        render([Source(footage, T0_MS, 1)], T0_MS, T0_MS + 9000, tmp_path / "x.mp4", should_stop=stop,
               exact=True)
    assert calls and list(tmp_path.iterdir()) == []


def test_an_output_that_does_not_verify_is_re_encoded_or_removed(footage, tmp_path, monkeypatch):
    import backend.exports.render as module

    real = module.verify_counting
    seen: list[str] = []

    def failing_once(path, *args, **kwargs):
        seen.append(path.name)
        if len(seen) == 1:
            raise BrokenVideo("made to fail")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(module, "verify_counting", failing_once)
    out = tmp_path / "export.mp4"
    report = render([Source(footage, T0_MS, 1)], T0_MS + 1000, T0_MS + 3000, out)
    assert report.mode == "encode" and "re-encoded" in report.warnings[0]
    assert all(name.endswith(PART_SUFFIX) for name in seen), "verified before it takes the final name"
    assert nothing_but(tmp_path, "export.mp4") == []
    verify(out, expected_frames=report.frames, tolerance=0)

    monkeypatch.setattr(module, "verify_counting", lambda *a, **k: (_ for _ in ()).throw(BrokenVideo("always")))
    with pytest.raises(BrokenVideo):
        render([Source(footage, T0_MS, 1)], T0_MS, T0_MS + 1000, tmp_path / "never.mp4")
    assert nothing_but(tmp_path, "export.mp4") == []


def test_unreadable_sources_are_skipped_or_refused(footage, tmp_path):
    missing = Source(tmp_path / "gone.mp4", T0_MS, 1)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00" * 5000)
    broken = Source(garbage, T0_MS + 10_000, 2)
    good = Source(footage, T0_MS + 20_000, 3)
    out = tmp_path / "export.mp4"
    report = render([missing, broken, good], T0_MS, T0_MS + 25_000, out)
    assert report.sources == [3] and report.skipped == [1, 2]
    assert all(str(tmp_path) not in w for w in report.warnings) and len(report.warnings) == 2
    with pytest.raises(SourceUnreadable) as caught:
        render([missing, good], T0_MS, T0_MS + 25_000, tmp_path / "strict.mp4", strict=True)
    assert "clip 1" in str(caught.value) and str(tmp_path) not in str(caught.value)


def test_a_segment_torn_by_a_crash_gives_the_frames_before_the_tear(segments, tmp_path):
    first, second = segments[:2]
    torn = tmp_path / "torn.mp4"
    data = second.path.read_bytes()
    torn.write_bytes(data[: len(data) * 2 // 3])
    sources = [first, Source(torn, second.started_at_ms, 2)]
    out = tmp_path / "export.mp4"
    report = render(sources, first.started_at_ms, second.started_at_ms + 2900, out)
    assert report.sources == [1, 2] and report.frames > 30
    verify(out, expected_frames=report.frames, tolerance=0)


def test_a_long_file_is_entered_by_seeking(tmp_path):
    long = make_footage(tmp_path / "long.mp4", frames=400)  # 40 s
    for exact in (False, True):
        out = tmp_path / f"tail-{exact}.mp4"
        report = render([Source(long, T0_MS, 1)], T0_MS + 31_050, T0_MS + 33_000, out, exact=exact)
        got = absolute_times(out, report.first_ms)
        assert got[0] == T0_MS + (31_000 if not exact else 31_100) and got[-1] == T0_MS + 33_000
        verify(out, expected_frames=report.frames, tolerance=0)


def test_remove_partials(tmp_path):
    old, fresh, other = tmp_path / f".a.mp4.1-x{PART_SUFFIX}", tmp_path / f".b.mp4.1-y{PART_SUFFIX}", tmp_path / "c.mp4"
    for p in (old, fresh, other):
        p.write_bytes(b"x")
    os.utime(old, (1, 1))
    assert remove_partials(tmp_path, older_than_s=60) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, other.name])


def test_timestamps_follow_the_source_at_a_variable_rate(tmp_path):
    """A camera whose frame rate varies: its timestamps are kept, by remux and by encode."""
    vfr = tmp_path / "vfr.mp4"
    offsets = [0, 100, 200, 400, 450, 500, 800, 900, 1000, 1100, 1500, 1600]
    with av.open(str(vfr), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"bf": "0", "g": "100"}
        for i, ms in enumerate(offsets):
            frame = av.VideoFrame.from_ndarray(picture(i), format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    for exact in (False, True):
        out = tmp_path / f"out-{exact}.mp4"
        report = render([Source(vfr, T0_MS, 1)], T0_MS, T0_MS + 2000, out, exact=exact)
        assert absolute_times(out, report.first_ms) == [T0_MS + ms for ms in offsets]


@pytest.fixture(scope="module")
def vtest_h264(vtest_path, tmp_path_factory) -> Path:
    return transcode_to_h264(vtest_path, tmp_path_factory.mktemp("vtest") / "vtest-6s.mp4", max_seconds=6)


def test_remux_of_transcoded_vtest_matches_frame_sampler(vtest_h264, tmp_path):
    """The export's frame times are the analysis's: FrameSampler's offset_ms + the clip's start."""
    source = Source(vtest_h264, T0_MS + 123, 4)
    out = tmp_path / "export.mp4"
    report = render([source], T0_MS, T0_MS + 10_000, out)
    sampled = [source.started_at_ms + f.offset_ms for f in FrameSampler(vtest_h264, fps=1000, size=16)]
    assert absolute_times(out, report.first_ms) == sampled
    assert report.frames == len(sampled) == 60


def test_memory_that_runs_out_fails_the_export_instead_of_shortening_it(footage, tmp_path, monkeypatch):
    import backend.exports.render as module

    calls = [0]

    def out_of_memory(self, *args, **kwargs):
        calls[0] += 1
        raise av.error.MemoryError(12, "Cannot allocate memory")

    monkeypatch.setattr(module._Export, "_transcode", out_of_memory)
    with pytest.raises(OutputFailed, match="out of memory") as caught:
        render([Source(footage, T0_MS, 1)], T0_MS, T0_MS + 2000, tmp_path / "x.mp4", exact=True)
    assert caught.value.retryable and calls[0] == 1 and list(tmp_path.iterdir()) == []


# -- under load --------------------------------------------------------------------------------------------

def _spin() -> None:
    while True:
        pass


def _hold_memory(megabytes: int) -> None:
    """Hold ``megabytes`` of memory and keep touching it (the memory pressure a busy host puts on exports)."""
    block = bytearray(megabytes * 1024 * 1024)
    while True:
        for i in range(0, len(block), 4096):
            block[i] = (block[i] + 1) % 256


def _export_in_a_process(job: tuple[str, list[Source], int, int, str]) -> tuple[str, int, str]:
    kind, sources, start, end, out = job
    masks = TrackBoxes([TrackPoint(t, 1, "face", 0.2, 0.2, 0.4, 0.5) for t in range(start - 1000, end + 1000, 500)])
    boxes = TrackBoxes([TrackPoint(t, 2, "person", 0.5, 0.3, 0.8, 0.9) for t in range(start - 1000, end + 1000, 500)])
    overlay = {"remux": None, "masks": Overlay(masks=masks), "boxes": Overlay(masks=masks, boxes=boxes)}[kind]
    report = render(sources, start, end, Path(out), overlay=overlay)
    return report.mode, report.frames, out


def test_exports_made_in_parallel_beside_cpu_and_memory_hogs_all_play(footage, tmp_path):
    """Six exports at once, each in its own process, over two or three recorded segments, while every core
    is kept busy and a quarter of the free memory is held and touched: every one is decoded frame by frame
    afterwards (a key frame first, timestamps increasing, the frames of its range ± 1)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    segments = record_segments(footage, tmp_path / "segments", 2.0)
    assert len(segments) >= 4
    with open("/proc/meminfo") as fh:
        available_mb = next(int(line.split()[1]) for line in fh if line.startswith("MemAvailable")) // 1024
    ctx = multiprocessing.get_context("fork")
    hogs = [ctx.Process(target=_spin, daemon=True) for _ in range(os.cpu_count() or 1)]
    hogs.append(ctx.Process(target=_hold_memory, args=(min(available_mb // 4, 4096),), daemon=True))
    jobs = []
    for i, kind in enumerate(["remux", "masks", "boxes"] * 2):
        first = i % (len(segments) - 2)
        chosen = segments[first:first + 2 + i % 2]
        start = chosen[0].started_at_ms + 300 * i
        end = chosen[-1].started_at_ms + 1200
        jobs.append((kind, chosen, start, end, str(tmp_path / f"export-{i}.mp4")))
    for hog in hogs:
        hog.start()
    try:
        with ProcessPoolExecutor(max_workers=len(jobs), mp_context=ctx) as pool:
            results = list(pool.map(_export_in_a_process, jobs))
    finally:
        for hog in hogs:
            hog.kill()
    for (kind, _sources, start, end, _out), (mode, frames, out) in zip(jobs, results, strict=True):
        assert mode == ("remux" if kind == "remux" else "encode"), (kind, mode)
        decoded = []
        with av.open(out) as container:
            for frame in container.decode(video=0):
                decoded.append((float(frame.time), frame.key_frame))
        in_range = (end - start) // (1000 // RATE) + 1
        assert abs(len(decoded) - frames) <= 1, (out, len(decoded), frames)
        if kind == "remux":  # from the key frame at or before the start
            assert in_range - 1 <= len(decoded) <= in_range + RATE, (out, len(decoded), in_range)
        else:
            assert abs(len(decoded) - in_range) <= 1, (out, len(decoded), in_range)
        assert decoded[0][1], f"{out}: the first frame is a key frame"
        assert all(a[0] < b[0] for a, b in itertools.pairwise(decoded)), f"{out}: timestamps increase"
