"""The synthetic sequences: deterministic, boxes inside the frame and on people, the crossing's full occlusion."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from analysis.eval import synthetic

FRAMES = 12  # the rendered scenario is cut short: the test checks the machinery, not the whole story


@pytest.fixture(scope="module")
def footage(vtest_path):
    return synthetic.load_footage(vtest_path)


def _rows(text: str) -> list[list[float]]:
    return [[float(v) for v in line.split(",")] for line in text.splitlines()]


def test_generating_a_scenario_twice_gives_the_same_ground_truth(footage, vtest_path, tmp_path):
    manifest = synthetic.generate(tmp_path / "a", ["pause"], video=vtest_path, frames=FRAMES)  # loads afresh
    entry = synthetic.write_scenario(synthetic.SCENARIOS["pause"](), footage, tmp_path / "b", frames=FRAMES)

    gt_a = (tmp_path / "a" / "pause.gt.txt").read_bytes()
    assert gt_a == (tmp_path / "b" / "pause.gt.txt").read_bytes()
    assert len(gt_a.splitlines()) == FRAMES * 2  # two people in every frame
    assert manifest["scenarios"] == [entry]
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["scenarios"][0]["frames"] == FRAMES


def test_video_is_h264_at_10_fps_and_visible_boxes_hold_a_person(footage, tmp_path):
    scenario = synthetic.SCENARIOS["crossing"]()
    synthetic.write_scenario(scenario, footage, tmp_path, frames=FRAMES)
    rows = _rows((tmp_path / "crossing.gt.txt").read_text())

    with av.open(str(tmp_path / "crossing.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert float(stream.average_rate) == synthetic.FPS
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == FRAMES
    assert frames[0].shape == (synthetic.HEIGHT, synthetic.WIDTH, 3)

    background = footage.background.astype(np.int16)
    checked = 0
    for frame, _id, x, y, w, h, _, _, visibility in rows:
        if visibility < 1:
            continue
        x, y, w, h = int(x), int(y), int(w), int(h)
        box = (slice(y, y + h), slice(x, x + w))
        changed = np.abs(frames[int(frame) - 1][box].astype(np.int16) - background[box]).max(axis=2) > 30
        assert changed.mean() > 0.25, f"frame {frame}: box {x, y, w, h} looks like the empty background"
        # ...and the person is what changed: outside every box, the frame is the background (up to coding).
        checked += 1
    assert checked >= FRAMES
    outside = np.ones((synthetic.HEIGHT, synthetic.WIDTH), bool)
    for frame, _id, x, y, w, h, *_ in rows:
        if frame == 1:
            outside[int(y) - 2:int(y + h) + 2, int(x) - 2:int(x + w) + 2] = False
    diff = np.abs(frames[0].astype(np.int16) - background).max(axis=2)
    assert np.percentile(diff[outside], 99) < 20


@pytest.mark.parametrize("name", list(synthetic.SCENARIOS))
def test_ground_truth_boxes_lie_inside_the_frame(footage, name):
    scenario = synthetic.SCENARIOS[name]()
    rows = synthetic.ground_truth(scenario, footage)

    assert len(rows) == scenario.n_frames * len(scenario.persons)
    for r in rows:
        assert r.x >= 0 and r.y >= 0 and r.x + r.w <= synthetic.WIDTH and r.y + r.h <= synthetic.HEIGHT, r
        assert r.w > 5 and r.h > 30, r
        assert 0.0 <= r.visibility <= 1.0


def test_crossing_hides_one_person_completely_and_shows_them_again(footage):
    rows = synthetic.ground_truth(synthetic.SCENARIOS["crossing"](), footage)
    by_id: dict[int, list[float]] = {}
    for r in rows:
        by_id.setdefault(r.id, []).append(r.visibility)

    hidden = [pid for pid, vis in by_id.items() if 0.0 in vis]
    assert hidden, {pid: min(vis) for pid, vis in by_id.items()}
    vis = by_id[hidden[0]]
    first_zero, last_zero = vis.index(0.0), len(vis) - 1 - vis[::-1].index(0.0)
    assert 1.0 in vis[:first_zero] and 1.0 in vis[last_zero:]
    # A gap long enough to matter for a tracker: under half visible for about a second or more.
    assert sum(v < 0.5 for v in vis) >= synthetic.FPS


def test_a_still_person_stays_within_a_pixel(footage):
    rows = synthetic.ground_truth(synthetic.SCENARIOS["still"](), footage)
    boxes = np.array([(r.x, r.y, r.w, r.h) for r in rows if r.id == 1])

    assert (boxes.max(axis=0) - boxes.min(axis=0) <= [2, 1, 0, 0]).all()
