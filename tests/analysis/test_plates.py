"""The plate finder on the real PP-OCRv4 text detector and a real car with a rendered plate: no mocks.

Needs ``rapidocr-onnxruntime`` (the weights) and Debian's ``opencv-doc`` (``licenseplate_motion.jpg``,
``vtest.avi``); a missing file fails the test with what to install. Footage: ``analysis.eval.plates``.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from analysis import plates
from analysis.detectors.base import Detection
from analysis.eval import plates as footage
from analysis.plates import PlateFinder, TextBox, input_shape, plausible_plate, text_boxes

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scene() -> footage.PlateScene:
    return footage.plate_scene()


@pytest.fixture(scope="module")
def plain() -> footage.PlateScene:
    return footage.plate_scene(plate_text=None)


@pytest.fixture(scope="module")
def finder() -> PlateFinder:
    return PlateFinder()


def _inside(det: Detection, box: footage.Box, margin: float) -> bool:
    x1, y1, x2, y2 = footage.pad(box, margin)
    return x1 <= det.x1 < det.x2 <= x2 and y1 <= det.y1 < det.y2 <= y2


def test_finds_the_rendered_plate_inside_the_vehicle_box(scene, finder):
    """GIVEN a frame with a car carrying a plate and its vehicle box, WHEN the finder runs at the defaults,
    THEN a plate candidate holds the true plate (grown by the mask padding: IoU ≥ 0.3 or ≥ 90 % covered),
    in the whole frame's coordinates, inside the car's box and its crop margin, scored from the setting up."""
    found = finder.find(scene.frame, [scene.vehicle()])
    assert scene.plate is not None
    assert footage.plate_found(found, scene.plate, settings.SIGHTLINE.MASK_PADDING), found
    assert all(d.label == "plate" for d in found)
    assert all(d.confidence >= settings.SIGHTLINE.PLATE_MIN_CONFIDENCE for d in found)
    assert all(_inside(d, scene.car, plates.CROP_MARGIN) for d in found)
    best = found[0]
    assert footage.iou((best.x1, best.y1, best.x2, best.y2), scene.plate) >= 0.3  # the text is most of it


@pytest.mark.parametrize("label", ["car", "truck", "bus", "motorcycle"])
def test_every_vehicle_label_is_searched(scene, finder, label):
    found = finder.find(scene.frame, [scene.vehicle(label)])
    assert scene.plate is not None
    assert footage.plate_found(found, scene.plate)


def test_finds_nothing_on_a_car_without_text(plain, finder):
    """GIVEN the same car with its plate painted over (taillights, badge, a reflecting rear window, no
    text), THEN no candidate at the default limit side and at a smaller one.

    What is true beyond that: from a limit side of 640 up, the model fires on the blurred left taillight
    and rear window (one blob about half the car's height, score 0.95), which only the plate rule's height
    bound keeps out; that is why the test stops at the default."""
    assert plain.plate is None
    for limit in sorted({320, plates.DEFAULT_LIMIT_SIDE}):
        found = PlateFinder(limit_side=limit).find(plain.frame, [plain.vehicle()])
        assert found == [], (limit, found)


def test_ignores_text_outside_vehicle_boxes(scene, finder):
    """GIVEN a street sign whose text the detector does find when a vehicle box holds it, WHEN the only
    vehicle box is the car's, THEN nothing is found on the sign (nor anywhere outside the car)."""
    around_sign = Detection("car", 0.9, *footage.pad(scene.sign, 0.4))
    assert footage.plate_found(finder.find(scene.frame, [around_sign]), scene.sign)
    found = finder.find(scene.frame, [scene.vehicle()])
    assert found
    assert footage.overlapping(found, scene.sign) == []
    assert all(_inside(d, scene.car, plates.CROP_MARGIN) for d in found)


def test_returns_nothing_without_vehicles(scene, finder):
    """No vehicle box, or only boxes of other labels (a person over the plate), THEN nothing."""
    assert finder.find(scene.frame, []) == []
    over_plate = Detection("person", 0.9, *scene.car)
    assert finder.find(scene.frame, [over_plate]) == []


def test_min_confidence_comes_from_the_setting(scene, settings):
    """A threshold above the plate's score (about 0.9) leaves nothing; the explicit argument wins."""
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"PLATE_MIN_CONFIDENCE": 0.99})
    assert PlateFinder().find(scene.frame, [scene.vehicle()]) == []
    assert PlateFinder(min_confidence=0.5).find(scene.frame, [scene.vehicle()])


def test_model_id_names_the_weights(finder):
    assert finder.model_id == "ppocrv4-det@rapidocr-onnxruntime-" + importlib.metadata.version("rapidocr-onnxruntime")


def test_two_vehicle_boxes_of_one_car_give_one_candidate(scene, finder):
    """A "car" and a "truck" box over one vehicle: the plate once, not twice."""
    one = finder.find(scene.frame, [scene.vehicle("car")])
    both = finder.find(scene.frame, [scene.vehicle("car"), scene.vehicle("truck", 0.5)])
    assert len(both) == len(one)


def test_finds_the_plate_in_the_moving_clip_once_the_car_is_near(tmp_path, finder):
    """GIVEN the H.264 clip of the car coming nearer, decoded, THEN the plate is found in every frame where
    the car is at least 200 px wide (its plate 43 px wide and more)."""
    truth = footage.write_clip(tmp_path / "plates.mp4", frames=8)
    frames = footage.read_clip(tmp_path / "plates.mp4")
    assert len(frames) == len(truth) == 8
    assert frames[0].shape == (footage.FRAME_SIZE[1], footage.FRAME_SIZE[0], 3)
    near = [(rgb, t) for rgb, t in zip(frames, truth, strict=True)
            if (t.car[2] - t.car[0]) * footage.FRAME_SIZE[0] >= 200]
    assert len(near) >= 3
    for rgb, t in near:
        assert footage.plate_found(finder.find(rgb, [Detection("car", 0.9, *t.car)]), t.plate), t


# The post-processing and the rule on their own, with probability maps made by hand.


def test_text_boxes_unclip_score_and_tiny_kernels():
    """One kernel of 40×10 map pixels at probability 0.8 becomes one box grown by the DB unclip distance
    d = w h r / (2 (w + h)) on every side, scored 0.8, scaled to the crop; a 2-pixel speck is dropped."""
    prob = np.zeros((64, 128), np.float32)
    prob[20:30, 40:80] = 0.8
    prob[50:52, 10:12] = 0.9  # a speck: under MIN_KERNEL_PX even after the 2x2 dilation
    boxes = text_boxes(prob, (128, 256), 0.5)  # the crop is twice the map's size
    assert len(boxes) == 1
    (box,) = boxes
    w, h = 41, 11  # the 2x2 dilation grows the kernel by one pixel
    d = w * h * plates.UNCLIP_RATIO / (2 * (w + h))
    assert box.score == pytest.approx(float(prob[prob > 0.3].mean()), abs=0.1)
    assert box.score > 0.5
    assert box.width == pytest.approx(2 * (w + 2 * d), abs=2.5)
    assert box.height == pytest.approx(2 * (h + 2 * d), abs=2.5)
    assert text_boxes(prob, (128, 256), 0.95) == []
    assert text_boxes(np.zeros((32, 32), np.float32), (32, 32), 0.1) == []


def test_words_of_one_line_merge_and_lines_apart_do_not():
    prob = np.zeros((96, 160), np.float32)
    prob[20:30, 20:50] = 0.9  # "SGL"
    prob[20:30, 56:100] = 0.9  # "4821": a word gap of 6 px < one line height
    prob[70:80, 20:100] = 0.9  # a line far below
    boxes = sorted(text_boxes(prob, (96, 160), 0.5), key=lambda b: b.y1)
    assert len(boxes) == 2
    assert boxes[0].x1 < 20 and boxes[0].x2 > 100


def test_plate_rule():
    """Aspect 0.5-15, at most 70 % of the vehicle's width and 50 % of its height, at least 3 px tall."""
    car_w, car_h = 400.0, 300.0
    assert plausible_plate(TextBox(0.9, 100, 200, 220, 240), car_w, car_h)  # 3:1, a US plate's text
    assert plausible_plate(TextBox(0.9, 100, 200, 120, 215), car_w, car_h)  # a word of two characters
    assert not plausible_plate(TextBox(0.9, 100, 50, 110, 200), car_w, car_h)  # a vertical stripe
    assert not plausible_plate(TextBox(0.9, 10, 100, 390, 140), car_w, car_h)  # lettering across the side
    assert not plausible_plate(TextBox(0.9, 100, 10, 250, 200), car_w, car_h)  # over half the height
    assert not plausible_plate(TextBox(0.9, 100, 100, 104, 102), car_w, car_h)  # 2 px tall


def test_input_shape_is_a_multiple_of_32_within_the_limit():
    assert input_shape(447, 600, 640) == (480, 640)
    assert input_shape(100, 120, 640, max_upscale=4.0) == (384, 480)  # scaled up by 4 at most
    assert input_shape(100, 120, 640) == (544, 640)  # the default cap (6) is not reached
    assert input_shape(100, 120, 640, max_upscale=1.0) == (96, 128)
    assert input_shape(5, 7, 640) == (32, 32)
    for h, w in ((333, 517), (720, 1280), (50, 900)):
        sh, sw = input_shape(h, w, 480)
        assert sh % 32 == 0 and sw % 32 == 0 and max(sh, sw) <= 480 + 16


def test_threads_come_from_the_setting(settings):
    """TORCH_THREADS (non-zero) sets the session's intra-op threads; the process-wide session is cached."""
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"TORCH_THREADS": 1})
    model = str(plates.default_model_path())
    session = plates.load_text_detector(model)  # its own cache entry: the process-wide one is untouched
    try:
        assert session.get_session_options().intra_op_num_threads == 1
        assert plates.load_text_detector(model) is session
    finally:
        plates.load_text_detector.cache_clear()


def test_importing_the_module_loads_neither_onnxruntime_nor_scipy():
    code = ("import json, sys; import analysis.plates, analysis.eval.plates; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'onnxruntime', 'scipy', 'torch'})))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
