"""The confirmation rule (``search/sightings.py``) and the database projection that applies it: a track is a
sighting only once confirmed; until then it waits in ``PendingTrack``, searched by nothing."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backend.cameras.models import TrackedObject
from backend.eventlog import projections
from backend.eventlog.log import EventLog
from backend.eventlog.models import Event
from search.backends.base import SearchQuery
from search.backends.database import DatabaseSearchBackend
from search.models import PendingTrack, Sighting
from search.projection import SightingProjection
from search.sightings import ConfirmationRule, RuleBook, SightingSummary, begin, confirmation_rule, fold
from tests.factories import T0, detection
from tests.search.confirmation import production_defaults, strict_defaults, track

RULE = ConfirmationRule(label="person", min_score=0.3, threshold=0.5, min_hits=3, min_area=0.0, max_area=1.0)


def rows(events):
    """Event rows with sequence numbers, as a projection reads them (no database needed)."""
    out = []
    for seq, new in enumerate(events, start=1):
        row = new.to_row()
        row.seq = seq
        out.append(row)
    return out


def folded(events, rule):
    """Fold the events one by one; the summary after each."""
    events = rows(events)
    summary = begin(SightingSummary, events[0].track, events[0])
    states = []
    for event in events:
        fold(summary, event, rule)
        states.append((summary.hits, list(summary.recent), summary.confirmed))
    return summary, states


# The rule ------------------------------------------------------------------------------------------------

def test_a_detection_qualifies_by_score_and_by_the_area_of_its_box():
    rule = ConfirmationRule(label="person", min_score=0.5, threshold=0.0, min_hits=99, min_area=0.05, max_area=0.5)
    cases = {
        (0.49, (0.1, 0.2, 0.3, 0.6)): False,  # score below min_score
        (0.5, (0.1, 0.2, 0.3, 0.6)): True,  # score at min_score, area 0.08
        (0.9, (0.0, 0.0, 0.2, 0.2)): False,  # area 0.04 < min_area
        (0.9, (0.0, 0.0, 0.8, 0.8)): False,  # area 0.64 > max_area
        (0.9, (0.0, 0.0, 0.5, 1.0)): True,  # area 0.5: bounds included
    }
    for (score, box), qualifies in cases.items():
        (event,) = rows([detection(1, 1, 1, 0, score, box=box)])
        assert rule.qualifies(event) is qualifies, (score, box)
    assert not rule.qualifies(rows([detection(1, 1, 1, 0, None)])[0])  # type: ignore[arg-type]


def test_confirmed_at_the_first_qualifying_detection_with_enough_hits_and_a_high_enough_median():
    # 0.2 does not qualify (min_score 0.3); the median of [0.9, 0.35, 0.35] is 0.35, of [0.9, 0.35, 0.35, 0.9]
    # it is 0.625.
    summary, states = folded(track(1, 1, 1, [0.9, 0.2, 0.35, 0.35, 0.9, 0.95]), RULE)
    assert states == [
        (1, [0.9], False), (1, [0.9], False), (2, [0.9, 0.35], False), (3, [0.9, 0.35, 0.35], False),
        (4, [0.9, 0.35, 0.35, 0.9], True), (5, [0.9, 0.35, 0.35, 0.9, 0.95], True),
    ]
    # Every detection folds into the span, the best and the count, qualifying or not.
    assert (summary.detections, summary.confidence, summary.end_ms - summary.start_ms) == (6, 0.95, 5000)


def test_confirmation_is_sticky_and_recent_keeps_the_last_ten():
    summary, states = folded(track(1, 1, 1, [0.9, 0.9, 0.9] + [0.31] * 12), RULE)
    assert [confirmed for _, _, confirmed in states] == [False, False] + [True] * 13
    assert summary.hits == 15 and summary.recent == [0.31] * 10


def test_small_boxes_and_low_scores_never_confirm_and_an_untracked_label_has_no_rule():
    tiny = ConfirmationRule(label="person", min_score=0.3, threshold=0.5, min_hits=1, min_area=0.1, max_area=1.0)
    summary, _ = folded(track(1, 1, 1, [0.9] * 5), tiny)  # area 0.08
    assert (summary.hits, summary.confirmed, summary.detections) == (0, False, 5)
    summary, _ = folded(track(1, 1, 1, [0.99] * 20, label="skis"), None)
    assert (summary.hits, summary.confirmed) == (0, False)


def test_rules_come_from_the_cameras_tracked_objects_else_the_site_defaults(cameras, settings):
    strict_defaults(settings)
    lobby, vault = cameras
    TrackedObject.objects.create(camera=lobby, label="dog", min_score=0.6, threshold=0.7, min_hits=2)
    assert confirmation_rule(lobby.pk, "dog") == ConfirmationRule("dog", 0.6, 0.7, 2, 0.0, 1.0)
    assert confirmation_rule(lobby.pk, "person") is None  # the lobby tracks dogs only
    assert confirmation_rule(vault.pk, "dog") is None  # not a default label
    assert confirmation_rule(vault.pk, "person") == ConfirmationRule("person", 0.3, 0.5, 3, 0.0, 1.0)
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"TRACKED_LABELS": ["*"]})
    assert RuleBook.load([vault.pk]).rule(vault.pk, "dog") is not None
    assert production_defaults()["TRACKED_LABELS"] == ["person", "bicycle", "car", "motorcycle", "bus", "truck"]


# The database projection ---------------------------------------------------------------------------------

def tables():
    """Both tables, as comparable values."""
    columns = ("id", "camera_id", "label", "confidence", "start_ms", "end_ms", "duration_ms", "detections",
               "best_ms", "best_seq", "best_clip_id", "best_offset_ms", "thumbnail", "hits")
    return (sorted(Sighting.objects.values_list(*columns)),
            sorted(PendingTrack.objects.values_list(*columns, "recent")))


def mixed_tracks(lobby: int, vault: int):
    """Tracks of every kind, interleaved in time: confirmed early, late, never; untracked; tiny boxes."""
    shapes = [
        (lobby, 1, "person", [0.9, 0.8, 0.95, 0.7]),  # confirmed at the third
        (lobby, 2, "person", [0.9, 0.35, 0.35, 0.9, 0.4]),  # confirmed at the fourth
        (lobby, 3, "car", [0.4, 0.45, 0.42, 0.41]),  # median below 0.5: never
        (vault, 4, "skis", [0.99, 0.99, 0.99]),  # not a tracked label
        (vault, 5, "person", [0.9, 0.9]),  # too few hits
        (vault, 6, "dog", [0.8, 0.9, 0.85]),  # tracked on the vault only by its own rule, below
    ]
    events = [e for camera, tid, label, scores in shapes
              for e in track(tid, camera, tid, scores, label=label, start_ms=tid * 300)]
    return sorted(events, key=lambda e: e.time)


@pytest.fixture
def strict(settings):
    strict_defaults(settings)


def test_how_the_log_is_cut_into_batches_changes_nothing(cameras, strict):
    lobby, vault = cameras
    # Appended one event at a time, as a live camera does.
    for event in mixed_tracks(lobby.pk, vault.pk):
        EventLog.append([event])
    one_by_one = tables()
    assert [row[0] for row in one_by_one[0]] == [1, 2]
    assert [row[0] for row in one_by_one[1]] == [3, 4, 5, 6]
    # The same log folded again in one batch, and in batches of two and three.
    projection = SightingProjection()
    events = list(Event.objects.order_by("seq").values_list(*projections.PROJECTED_FIELDS, named=True))
    for size in (len(events), 2, 3):
        projection.reset()
        for start in range(0, len(events), size):
            projection.apply(events[start:start + size])
        assert tables() == one_by_one, size


def test_unconfirmed_tracks_are_not_searched_not_counted_and_not_found(cameras, strict):
    lobby, vault = cameras
    backend = DatabaseSearchBackend()
    EventLog.append(mixed_tracks(lobby.pk, vault.pk))
    page = backend.search(SearchQuery())
    assert [h.id for h in page.results] == [1, 2]
    assert page.facets.tags == {"person": 2} and page.facets.cameras == {lobby.pk: 2}
    assert sum(n for _, n in page.facets.histogram.buckets) == 2
    assert backend.search(SearchQuery(tags=("skis", "car"))).results == []
    for hidden in (3, 4, 5, 6):
        assert backend.get(hidden) is None
    # Nothing was thrown away: the pending tracks keep their counts for when they go on.
    pending = {p.id: (p.detections, p.hits) for p in PendingTrack.objects.all()}
    assert pending == {3: (4, 4), 4: (3, 0), 5: (2, 2), 6: (3, 0)}


def test_a_track_confirmed_later_appears_with_all_its_detections(cameras, strict):
    lobby, _ = cameras
    backend = DatabaseSearchBackend()
    EventLog.append(track(1, lobby.pk, 7, [0.6, 0.95]))
    assert backend.get(7) is None and PendingTrack.objects.filter(id=7).exists()
    EventLog.append(track(1, lobby.pk, 7, [0.7], start_ms=5 * 1000, ordinal=1))
    hit = backend.get(7)
    assert hit is not None
    assert (hit.detections, hit.confidence, hit.end_ms - hit.start_ms, hit.best_offset_ms) == (3, 0.95, 5000, 1000)
    assert Sighting.objects.get(id=7).hits == 3
    assert not PendingTrack.objects.filter(id=7).exists()
    # It stays a sighting whatever follows (sticky), and goes on counting.
    EventLog.append(track(1, lobby.pk, 7, [0.31] * 10, start_ms=6 * 1000, ordinal=2))
    assert (backend.get(7).detections, Sighting.objects.get(id=7).hits) == (13, 13)  # type: ignore[union-attr]


def test_retention_removes_pending_tracks_with_their_best_clip(cameras, strict, own_media):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from backend.clips.models import Clip
    from backend.clips.retention import expire_by_age

    lobby, _ = cameras
    lobby.retention_days = 7
    lobby.save()
    now = T0 + timedelta(days=30)
    old, fresh = (Clip.objects.create(camera=lobby, started_at=start, status=Clip.Status.DONE,
                                      file=default_storage.save("clips/c.mp4", ContentFile(b"x")))
                  for start in (T0, now - timedelta(days=1)))
    EventLog.append(track(old.pk, lobby.pk, 1, [0.9]) + track(fresh.pk, lobby.pk, 2, [0.9], start_ms=0))
    assert set(PendingTrack.objects.values_list("id", flat=True)) == {1, 2}
    assert expire_by_age(now).expired == 1
    assert list(PendingTrack.objects.values_list("id", flat=True)) == [2]


# Re-projection after a change of rules -------------------------------------------------------------------

def visible(backend=None):  # type: ignore[no-untyped-def]
    return [h.id for h in (backend or DatabaseSearchBackend()).search(SearchQuery(sort="time")).results]


def test_changing_a_cameras_tracked_objects_re_projects_that_camera(cameras, strict,
                                                                    django_capture_on_commit_callbacks):
    lobby, vault = cameras
    EventLog.append(mixed_tracks(lobby.pk, vault.pk))
    assert visible() == [1, 2]
    untouched = sorted(Sighting.objects.filter(camera_id=lobby.pk).values_list())
    # GIVEN the vault tracks dogs (and nothing else) from now on
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        dog = TrackedObject.objects.create(camera=vault, label="dog", min_score=0.5, threshold=0.5, min_hits=3)
    assert len(callbacks) == 1
    # THEN the dog track hidden so far is a sighting, with all its detections
    assert visible() == [1, 2, 6] and Sighting.objects.get(id=6).detections == 3
    assert sorted(Sighting.objects.filter(camera_id=lobby.pk).values_list()) == untouched
    # AND a stricter rule hides it again (a person of the vault stays hidden: persons are not tracked there)
    with django_capture_on_commit_callbacks(execute=True):
        dog.min_hits = 4
        dog.save()
    assert visible() == [1, 2] and PendingTrack.objects.filter(id=6, hits=3).exists()
    # AND the lobby tracking cars from a low threshold shows the car and hides its persons
    with django_capture_on_commit_callbacks(execute=True):
        TrackedObject.objects.create(camera=lobby, label="car", min_score=0.3, threshold=0.4, min_hits=2)
    assert visible() == [3]
    # AND deleting its tracked objects gives the lobby the site defaults again
    with django_capture_on_commit_callbacks(execute=True):
        TrackedObject.objects.filter(camera=lobby).delete()
    assert visible() == [1, 2]
    # Detections appended after a change follow the new rules at once.
    with django_capture_on_commit_callbacks(execute=True):
        dog.min_hits = 1
        dog.save()
    EventLog.append(track(9, vault.pk, 9, [0.9], label="dog", start_ms=60_000))
    assert visible() == [1, 2, 6, 9]


def test_one_re_projection_per_transaction(cameras, strict, django_capture_on_commit_callbacks, monkeypatch):
    from search import reprojection

    lobby, vault = cameras
    calls: list[list[int]] = []
    real = reprojection.reproject_cameras

    def counted(camera_ids):  # type: ignore[no-untyped-def]
        calls.append(sorted(camera_ids))
        return real(camera_ids)

    monkeypatch.setattr(reprojection, "reproject_cameras", counted)
    with django_capture_on_commit_callbacks(execute=True):
        for label in ("dog", "cat", "horse"):
            TrackedObject.objects.create(camera=lobby, label=label)
        TrackedObject.objects.create(camera=vault, label="dog")
    assert calls == [[lobby.pk, vault.pk]]


def test_the_reproject_camera_command(cameras, strict):
    lobby, vault = cameras
    EventLog.append(mixed_tracks(lobby.pk, vault.pk))
    dog = TrackedObject.objects.create(camera=vault, label="dog", min_hits=1)  # no commit: nothing scheduled
    assert visible() == [1, 2]
    out = io.StringIO()
    call_command("reproject_camera", str(vault.pk), stdout=out)
    assert visible() == [1, 2, 6]
    assert f"camera {vault.pk}: 8 detections folded again" in out.getvalue()
    TrackedObject.objects.filter(pk=dog.pk).update(min_hits=9)  # no signal at all
    call_command("reproject_camera", str(vault.pk), str(lobby.pk), stdout=out)
    assert visible() == [1, 2]
    with pytest.raises(CommandError, match="no camera with id 999"):
        call_command("reproject_camera", "999")


def test_re_projection_folds_only_what_the_projection_has_read(cameras, strict, settings):
    """Events beyond the checkpoint (a projector running apart) are left to the live projection."""
    lobby, _ = cameras
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"PROJECT_INLINE": False})
    EventLog.append(track(1, lobby.pk, 1, [0.9, 0.9, 0.9]))
    projection = projections.get(SightingProjection.name)
    projections.catch_up(projection, limit=2)
    assert SightingProjection().reproject_camera(lobby.pk) == 2
    assert visible() == [] and PendingTrack.objects.get(id=1).detections == 2
    projections.catch_up(projection)
    assert visible() == [1] and Sighting.objects.get(id=1).detections == 3
