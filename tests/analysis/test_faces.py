"""Faces: CenterFace on real photos, the privacy pass through the real pipeline, and faces kept out of search.

Faces are logged as tracked detections (so footage can be masked from the log) and never become sightings,
pending tracks, search results, facets, live-feed items or thumbnails.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from skimage import data

from analysis.decode import probe
from analysis.detectors.base import Detection
from analysis.eval.faces import SOURCES, _background, iou, make_face_clip, matched
from analysis.faces import FaceDetector, get_face_detector
from analysis.pipeline import TRACK_ID_BITS, ClipAnalysis
from analysis.privacy import PrivacyDetectors, privacy_for
from analysis.tasks import analyse
from analysis.tracker import Tracker
from backend.clips.models import Clip
from backend.clips.services import register_clip, storage_name_for
from backend.eventlog.log import EventLog
from backend.eventlog.models import Event, EventType
from backend.eventlog.schema import detection_key
from backend.live import feed
from backend.live.params import FeedParams
from search.models import PendingTrack, Sighting
from tests.conftest import client_for
from tests.factories import detection
from tests.search.confirmation import strict_defaults

START = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
ASTRONAUT = next(s for s in SOURCES if s.name == "astronaut")


@pytest.fixture(scope="module")
def faces() -> FaceDetector:
    return FaceDetector(input_side=640, min_confidence=0.4)


def _boxes(found):
    return [(d.x1, d.y1, d.x2, d.y2) for d in found]


# -- the detector ------------------------------------------------------------------------------------------

def test_centerface_finds_the_astronauts_face(faces):
    picture = data.astronaut()
    found = faces.detect(picture)
    truth = tuple(v / 512 for v in ASTRONAUT.face)
    assert len(found) == 1, found
    assert found[0].label == "face" and found[0].confidence >= 0.8
    assert iou(truth, _boxes(found)[0]) >= 0.6, (found, truth)


def test_boxes_are_normalised_to_the_frame_whatever_its_shape(faces):
    """The astronaut on the right half of a wide frame: the same face, at x + 0.5 and half as wide."""
    wide = np.zeros((512, 1024, 3), np.uint8)
    wide[:, 512:] = data.astronaut()
    (alone,) = faces.detect(data.astronaut())
    (found,) = faces.detect(wide)
    expected = (0.5 + alone.x1 / 2, alone.y1, 0.5 + alone.x2 / 2, alone.y2)
    assert iou(expected, (found.x1, found.y1, found.x2, found.y2)) >= 0.8, (found, expected)


def _small_people(face_px: int) -> tuple[np.ndarray, list[Detection], list[tuple[float, ...]]]:
    """A 768×576 CCTV-like frame (the brick wall) with the astronaut's head and shoulders pasted at three
    places, scaled so that her face is ``face_px`` pixels tall; the person boxes a detector would give (the
    picture, continued down to where the legs would end); the true face boxes (normalised)."""
    from PIL import Image

    width, height = 768, 576
    frame = _background(width, height).copy()
    crop_x1, crop_y1, crop_x2, crop_y2 = ASTRONAUT.crop
    fx1, fy1, fx2, fy2 = ASTRONAUT.face
    factor = face_px / (fy2 - fy1)
    bust = Image.fromarray(data.astronaut()[crop_y1:crop_y2, crop_x1:crop_x2])
    bw, bh = round((crop_x2 - crop_x1) * factor), round((crop_y2 - crop_y1) * factor)
    bust_rgb = np.asarray(bust.resize((bw, bh), Image.Resampling.BILINEAR))
    people, truth = [], []
    for x, y in ((100, 150), (380, 260), (600, 120)):
        frame[y:y + bh, x:x + bw] = bust_rgb
        tall = round(face_px / 0.14)  # a person's height, head to feet, is about 7 faces
        people.append(Detection("person", 0.7, x / width, y / height, (x + bw) / width, (y + tall) / height))
        truth.append(((x + (fx1 - crop_x1) * factor) / width, (y + (fy1 - crop_y1) * factor) / height,
                      (x + (fx2 - crop_x1) * factor) / width, (y + (fy2 - crop_y1) * factor) / height))
    return frame, people, truth


@pytest.mark.parametrize("face_px", [10, 14])
def test_small_faces_are_found_in_their_persons_head(faces, face_px):
    """Faces of 10 and 14 pixels in a 768×576 frame (vtest.avi's people), which the full-frame pass at 640
    does not find, are found by searching each person's head region enlarged."""
    frame, people, truth = _small_people(face_px)
    assert matched(tuple(truth), _boxes(faces.detect(frame))) == 0, "the full-frame pass alone misses them"
    found = faces.detect(frame, people=people)
    assert matched(tuple(truth), _boxes(found)) == 3, (found, truth)
    assert len(found) == 3


def test_frames_side_by_side_find_what_one_at_a_time_finds(faces):
    """``detect_many`` (a batch's frames at once, one core each) gives each frame what ``detect`` gives it,
    in order, with and without person boxes."""
    pictures, people = [], []
    for face_px in (10, 14, 60):
        frame, persons, _truth = _small_people(face_px)
        pictures.append(frame)
        people.append(persons)
    pictures.append(data.astronaut())
    people.append([])
    assert faces.streams >= 2  # this machine has 2 cores: the frames do run side by side
    one_at_a_time = [faces.detect(p, people=f) for p, f in zip(pictures, people, strict=True)]
    side_by_side = faces.detect_many(pictures, people)
    assert [len(found) for found in one_at_a_time] == [3, 3, 3, 1]
    assert len(side_by_side) == len(one_at_a_time)
    for want, got in zip(one_at_a_time, side_by_side, strict=True):
        assert [d.label for d in got] == [d.label for d in want]
        for a, b in zip(want, got, strict=True):
            assert abs(a.confidence - b.confidence) < 1e-4
            assert max(abs(a.x1 - b.x1), abs(a.y1 - b.y1), abs(a.x2 - b.x2), abs(a.y2 - b.y2)) < 1e-4


def test_large_people_are_not_searched_again(faces, monkeypatch):
    """A person whose face the full-frame pass can see costs no second search."""
    frame, people, _truth = _small_people(60)
    calls = []
    real = faces._session.run
    monkeypatch.setattr(faces, "_session", type("S", (), {"run": lambda self, *a: calls.append(a) or real(*a)})())
    found = faces.detect(frame, people=people)
    assert len(calls) == 1 and len(found) == 3


@pytest.mark.parametrize("picture", ["chelsea", "coffee", "wall"])
def test_centerface_finds_nothing_where_no_one_is(faces, picture):
    """A cat's face, a cup of coffee, and the face clip's brick wall: no human face, nothing found."""
    image = _background(960, 540) if picture == "wall" else getattr(data, picture)()
    assert faces.detect(image) == []


def test_one_detector_a_process_as_the_settings_say(settings):
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"FACE_DETECTION": True, "FACE_INPUT_SIDE": 480})
    first = get_face_detector()
    assert first is get_face_detector()
    assert first.input_side == 480 and first.model_id == "centerface"
    assert first.input_shape(1280, 720) == (480, 270, 480, 288)  # the longer side at 480, padded to 32


# -- which detectors a camera gets -------------------------------------------------------------------------

def test_privacy_for_follows_the_setting_and_the_cameras_mask(settings, cameras):
    lobby, _ = cameras
    assert privacy_for(lobby) is None  # FACE_DETECTION is off in the test settings
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"FACE_DETECTION": True})
    on = privacy_for(lobby)
    assert on is not None and on.faces is get_face_detector() and on.plates is None
    assert on.model_ids() == {"face": "centerface"}
    lobby.privacy_mask = "faces_plates"
    both = privacy_for(lobby)
    assert both is not None and both.faces is not None and both.plates is not None
    lobby.privacy_mask = "persons"
    persons = privacy_for(lobby)
    assert persons is not None and persons.faces is not None and persons.plates is None
    lobby.privacy_mask = "none"
    assert privacy_for(lobby) is None, "a camera that masks nothing pays for no face pass"


def test_the_plate_seam_is_called_only_when_given():
    calls = []

    class Plates:
        model_id = "test-plates"

        def find(self, rgb, vehicles):
            calls.append(len(vehicles))
            return []

    assert PrivacyDetectors(None, None).find(np.zeros((8, 8, 3), np.uint8), []) == []
    detectors = PrivacyDetectors(None, Plates())
    assert detectors.find(np.zeros((8, 8, 3), np.uint8), []) == [] and calls == [0]
    assert detectors.model_ids() == {"plate": "test-plates"}


# -- through the pipeline ----------------------------------------------------------------------------------

def _store(camera, path: Path, started_at: datetime, source=Clip.Source.UPLOAD) -> Clip:
    name = storage_name_for(camera, ".mp4")
    target = default_storage.path(name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.move(path, target)
    return register_clip(camera=camera, stored_name=name, info=probe(target), queue=False, source=source,
                         started_at=started_at)


class NoObjects:
    """An object detector that sees nothing: the face pass alone, fast."""

    model_id = "no-objects"
    input_size = 64
    labels = ("person",)

    def detect(self, frames, min_confidence):
        return [[] for _ in frames]


def _face_events(clip: Clip):
    return Event.objects.filter(clip_id=clip.pk, type=EventType.OBJECT_DETECTED, label="face").order_by("seq")


def _recall(clip: Clip, truth) -> float:
    by_offset: dict[int, list] = {}
    for e in _face_events(clip):
        by_offset.setdefault(e.offset_ms, []).append((e.x1, e.y1, e.x2, e.y2))
    offsets = sorted(set(Event.objects.filter(clip_id=clip.pk, type=EventType.OBJECT_DETECTED)
                         .values_list("offset_ms", flat=True)) | set(by_offset))
    frames = clip.frames_analysed or len(offsets)
    hits = sum(matched(truth.at(ms), by_offset.get(ms, [])) for ms in offsets)
    return hits / (truth.faces * frames)


@pytest.fixture
def face_clip(cameras, tmp_path, own_media):
    lobby, _ = cameras
    truth = make_face_clip(tmp_path / "faces.mp4", seconds=4, fps=10, size=(960, 540))
    return _store(lobby, tmp_path / "faces.mp4", START), truth


@pytest.mark.slow
def test_faces_become_tracked_events_and_never_sightings(face_clip, settings, personas):
    """GIVEN a clip of four real faces moving, analysed by the worker's task with face detection on, THEN
    every face is logged in (nearly) every analysed frame, as a few tracks per face at most, with the
    CenterFace model; and none of it reaches the sightings, pending tracks, search, facets, live feed or
    thumbnails."""
    clip, truth = face_clip
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"FACE_DETECTION": True})
    assert analyse(clip.pk) == Clip.Status.DONE
    clip.refresh_from_db()

    events = list(_face_events(clip))
    assert clip.frames_analysed == 8
    assert _recall(clip, truth) >= 0.9
    assert {e.model for e in events} == {"centerface"}
    assert all(e.track is not None and e.track >> TRACK_ID_BITS == clip.pk for e in events)
    per_frame = Counter(e.offset_ms for e in events)
    assert {e.key for e in events} == {detection_key(clip.pk, "centerface", e.offset_ms, n)
                                       for e in events for n in range(per_frame[e.offset_ms])}
    # One track per face (a face lost for a frame may come back as a second): never one per frame.
    tracks = {e.track for e in events}
    assert truth.faces <= len(tracks) <= truth.faces + 2, Counter(e.track for e in events)
    objects = set(Event.objects.filter(clip_id=clip.pk, type=EventType.OBJECT_DETECTED)
                  .exclude(label="face").values_list("track", flat=True))
    assert not tracks & objects
    assert clip.privacy_labels == ["face"]
    assert clip.tracker_state["privacy"]["tracks"]
    completed = Event.objects.get(clip_id=clip.pk, type=EventType.ANALYSIS_COMPLETED)
    assert completed.data["privacy_detections"] == len(events)

    assert not Sighting.objects.filter(label="face").exists()
    assert not Sighting.objects.filter(id__in=tracks).exists()
    assert not PendingTrack.objects.filter(id__in=tracks).exists()
    # Thumbnails: one per sighting, as without faces (the posters' clothes may be "person"s, or nothing).
    thumbnails = f"thumbnails/{clip.pk}"
    stored = default_storage.listdir(thumbnails)[1] if default_storage.exists(thumbnails) else []
    assert len(stored) == Sighting.objects.count()
    body = client_for(personas["admin"]).get("/api/v1/search/", {"tag": "face"}).json()
    assert body["results"] == [] and "face" not in body["facets"]["tags"]
    body = client_for(personas["admin"]).get("/api/v1/search/").json()
    assert all(r["tag"] != "face" for r in body["results"])
    batch = feed.read_batch(FeedParams(), None, 0)
    assert all(m.get("sighting", {}).get("tag") != "face" for m in batch.messages)
    assert not {m["sighting"]["id"] for m in batch.messages if m["type"] == "sighting"} & tracks


@pytest.mark.slow
def test_a_rerun_appends_no_face_twice(face_clip, settings):
    clip, _ = face_clip
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"FACE_DETECTION": True})
    assert analyse(clip.pk) == Clip.Status.DONE
    before = list(Event.objects.order_by("seq").values_list("key", "seq"))
    assert any(":centerface:" in key for key, _ in before)
    stale = timezone.now() - timedelta(seconds=settings.SIGHTLINE.ANALYSIS_HEARTBEAT_TIMEOUT_S + 1)
    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.ANALYSING, heartbeat_at=stale)
    assert analyse(clip.pk) == Clip.Status.DONE
    assert list(Event.objects.order_by("seq").values_list("key", "seq")) == before


def _segments(camera, tmp_path, seconds=3):
    clips, truths = [], []
    for n in range(2):
        path = tmp_path / f"segment{n}.mp4"
        truths.append(make_face_clip(path, seconds=seconds, fps=10, size=(640, 360), start_s=n * seconds))
        clips.append(_store(camera, path, START + timedelta(seconds=n * seconds), source=Clip.Source.RECORDING))
    assert clips[1].previous_segment() == clips[0]
    return clips, truths


def _analyse(clip: Clip, privacy: PrivacyDetectors | None) -> None:
    analysis = ClipAnalysis(clip, NoObjects(), batch_size=4, min_confidence=0.3, privacy=privacy)
    result = analysis.run()
    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.DONE, tracker_state=result.tracker_state,
                                           frames_analysed=result.frames)
    clip.refresh_from_db()


def test_faces_keep_their_tracks_across_a_cameras_segments(cameras, tmp_path, faces, own_media):
    lobby, _ = cameras
    clips, truths = _segments(lobby, tmp_path)
    privacy = PrivacyDetectors(faces, face_min_confidence=0.4)
    for clip, truth in zip(clips, truths, strict=True):
        _analyse(clip, privacy)
        assert _recall(clip, truth) >= 0.9
    first = {e.track for e in _face_events(clips[0])}
    second = {e.track for e in _face_events(clips[1])}
    carried = {t for t in second if t >> TRACK_ID_BITS == clips[0].pk}
    assert carried <= first
    assert len(carried) >= truths[0].faces - 1, (first, second)


def test_a_state_saved_before_faces_were_tracked_still_loads(cameras, tmp_path, faces, own_media):
    """A previous segment whose state has no privacy tracker (analysed before this pass existed): its objects'
    tracks resume, the faces start fresh tracks in the new clip's id space."""
    lobby, _ = cameras
    clips, _ = _segments(lobby, tmp_path, seconds=2)
    objects = Tracker(next_id=5)
    objects.update(1500, [Detection("person", 0.9, 0.45, 0.4, 0.55, 0.6)])
    old_state = objects.state()
    assert set(old_state) == {"version", "next_id", "tracks"}
    Clip.objects.filter(pk=clips[0].pk).update(status=Clip.Status.DONE, tracker_state=old_state)
    analysis = ClipAnalysis(clips[1], NoObjects(), batch_size=4, min_confidence=0.3,
                            privacy=PrivacyDetectors(faces))
    assert analysis.resumed_from == clips[0].pk
    assert [t["id"] for t in analysis.tracker.state()["tracks"]] == [5]
    assert analysis.privacy_tracker is not None and analysis.privacy_tracker.state()["tracks"] == []
    result = analysis.run()
    assert result.privacy_detections > 0
    assert {t["id"] >> TRACK_ID_BITS for t in result.tracker_state["privacy"]["tracks"]} == {clips[1].pk}


def test_without_the_pass_nothing_changes(face_clip):
    """``ClipAnalysis`` without privacy detectors (the default): no face event, no privacy state."""
    clip, _ = face_clip
    analysis = ClipAnalysis(clip, NoObjects(), batch_size=4, min_confidence=0.3)
    result = analysis.run()
    assert result.privacy_detections == 0 and "privacy" not in result.tracker_state
    assert not _face_events(clip).exists()


# -- the projections ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("strict", [False, True], ids=["every-track", "production-rule"])
def test_face_and_plate_events_never_reach_search(cameras, personas, settings, strict):
    """Face and plate detections, confident and many (they would confirm under any rule), beside a person:
    only the person is a sighting, under the test settings (every track a sighting) and the production rule;
    nothing of them is pending, searched, counted in facets or sent by the live feed."""
    if strict:
        strict_defaults(settings)
        settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"TRACKED_LABELS": ["*"]})
    lobby, _ = cameras
    events = []
    for n in range(5):
        ms = n * 500
        events += [detection(1, lobby.pk, 10, ms, 0.9),
                   detection(1, lobby.pk, 11, ms, 0.95, label="face", model="centerface",
                             box=(0.15, 0.2, 0.2, 0.28)),
                   detection(1, lobby.pk, 12, ms, 0.9, label="plate", model="test-plates",
                             box=(0.6, 0.7, 0.7, 0.74))]
    EventLog.append(events)

    assert list(Sighting.objects.values_list("id", "label")) == [(10, "person")]
    assert not PendingTrack.objects.exists()
    admin = client_for(personas["admin"])
    body = admin.get("/api/v1/search/").json()
    assert [r["id"] for r in body["results"]] == [10]
    assert body["facets"]["tags"] == {"person": 1}
    assert admin.get("/api/v1/search/", {"tag": ["face", "plate"]}).json()["results"] == []
    batch = feed.read_batch(FeedParams(), None, 0)
    assert {m["sighting"]["id"] for m in batch.messages if m["type"] == "sighting"} == {10}
    # Nor do they take room in the feed's batches: three events read are the person's three detections.
    assert len(feed.read_batch(FeedParams(), None, 0, limit=3).messages) == 3
    # The log keeps them, for masking.
    assert Event.objects.filter(label__in=["face", "plate"]).count() == 10
