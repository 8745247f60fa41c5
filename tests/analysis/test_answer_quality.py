"""Answer quality on the committed vtest.avi annotation: the issue's bar, and the detector dump kept honest.

The evaluation replays the committed detector output (every frame of vtest.avi) through the product's
tracker and the confirmation rule with the production defaults, as ``benchmarks/eval_tracking.py`` does,
and scores it against the hand-checked identities (``analysis/eval/groundtruth``).
"""

from __future__ import annotations

import av
import numpy as np
import pytest

from analysis.decode import fit_to_square
from analysis.detectors.centernet import load_default_detector
from analysis.eval.baseline import IoUTracker
from analysis.eval.formats import GROUND_TRUTH, load_dump, read_mot
from analysis.eval.score import evaluate, model_inputs, sampled_frames, track_dump
from analysis.tracker import Tracker, TrackerConfig
from benchmarks.eval_tracking import every_track, product_rule, production_defaults


@pytest.fixture(scope="module")
def vtest_eval(vtest_path):
    dump = load_dump(GROUND_TRUTH / "vtest-stretch.dump.json.gz")
    gt = read_mot(GROUND_TRUTH / "vtest.gt.txt", size=(768, 576))
    offsets = [ms for ms, _ in dump["frames"]]
    frames = sampled_frames(offsets, 2.0)  # the default analysis rate
    images = model_inputs(vtest_path, frames, 512)
    return dump, gt, frames, images, (offsets[-1] + 100) / 1000


def test_one_sighting_per_person_and_no_impossible_tags_at_the_defaults(vtest_eval):
    dump, gt, frames, images, seconds = vtest_eval
    conf = production_defaults()
    tracker = Tracker(TrackerConfig(high_score=conf.DETECTION_MIN_CONFIDENCE, low_score=conf.TRACK_LOW_CONFIDENCE))
    tracked = track_dump(dump, 2.0, tracker, low_score=conf.TRACK_LOW_CONFIDENCE, images=images, frames=frames)
    scores = evaluate(tracked, gt, frames, seconds, confirmed=product_rule(conf))
    assert scores.sightings_per_person <= 1.3, scores.row()
    assert scores.idf1 >= 0.8, scores.row()
    assert scores.false_sightings == 0, scores.row()
    assert scores.people_seen >= 0.8 * scores.people, scores.row()  # not bought by hiding people


def test_what_sightline_did_before_misses_that_bar(vtest_eval):
    """The check above can fail: the earlier IoU tracker, every track a sighting, fails each part of it."""
    dump, gt, frames, _, seconds = vtest_eval
    tracked = track_dump(dump, 2.0, IoUTracker(), low_score=0.3, frames=frames)
    scores = evaluate(tracked, gt, frames, seconds, confirmed=every_track)
    assert scores.sightings_per_person > 3 and scores.idf1 < 0.6 and scores.false_sightings > 20
    assert {"skis", "fire hydrant", "sports ball"} <= set(scores.false_labels)


def test_the_committed_detector_output_is_what_the_detector_gives(vtest_path):
    """The evaluation runs on stored detections: they must still be what the shipped detector finds."""
    dump = load_dump(GROUND_TRUTH / "vtest-stretch.dump.json.gz")
    detector = load_default_detector()
    assert dump["model"] == detector.model_id
    wanted = {0, 400, 794}
    with av.open(str(vtest_path)) as container:
        for n, frame in enumerate(container.decode(container.streams.video[0])):
            if n not in wanted:
                continue
            square, _, _ = fit_to_square(frame, detector.input_size, "stretch")
            found = detector.detect(square[None], 0.3)[0]
            stored = [r for r in dump["frames"][n][1] if r[1] >= 0.3]
            assert len(found) == len(stored)
            got = np.array([[d.confidence, d.x1, d.y1, d.x2, d.y2] for d in found])
            expected = np.array([r[1:6] for r in sorted(stored, key=lambda r: -r[1])])
            assert np.allclose(got, expected, atol=2e-3)
            assert [d.label for d in found] == [dump["labels"][r[0]] for r in sorted(stored, key=lambda r: -r[1])]
