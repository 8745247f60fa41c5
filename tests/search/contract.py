"""The search contract: every backend's test class inherits these tests and must give the same answers.

A backend test class provides two fixtures: ``backend`` (the SearchBackend under test) and ``indexed``
(appends the events given to the log and returns once the backend can search them). A feature one backend
lacks is skipped there with the reason written out.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from backend.eventlog.log import NewEvent
from backend.eventlog.models import Event, EventType
from backend.eventlog.schema import EMBEDDING_DIMS, appearance_key
from search.backends.base import InvalidCursor, SearchQuery, SimilarQuery
from tests.factories import T0, detection

MINUTE = 60_000


def dataset(lobby: int, vault: int):
    """Six sightings: tracks 1-4 in the lobby, 5-6 in the vault, at known times and confidences."""
    return [
        # track 1: person, 3 detections, best 0.9, minutes 0-2
        detection(1, lobby, 1, 0, 0.5), detection(1, lobby, 1, MINUTE, 0.9), detection(1, lobby, 1, 2 * MINUTE, 0.7),
        # track 2: person, best 0.6, minute 10
        detection(1, lobby, 2, 10 * MINUTE, 0.6, ordinal=1),
        # track 3: car, best 0.8, minute 20-21
        detection(1, lobby, 3, 20 * MINUTE, 0.8, label="car", ordinal=2),
        detection(1, lobby, 3, 21 * MINUTE, 0.4, label="car", ordinal=2),
        # track 4: bicycle, 0.35, minute 30
        detection(1, lobby, 4, 30 * MINUTE, 0.35, label="bicycle", ordinal=3),
        # track 5: person in the vault, 0.95, minute 40
        detection(2, vault, 5, 40 * MINUTE, 0.95),
        # track 6: person in the vault, 0.6 (ties with track 2), minute 50
        detection(2, vault, 6, 50 * MINUTE, 0.6, ordinal=1),
    ]


def appearance(track: int, detection_seq: int, camera_id: int, **named: str) -> NewEvent:
    """Colours named afterwards (``manage.py compute_appearance``) for detection ``detection_seq``."""
    return NewEvent(key=appearance_key(track, detection_seq), type=EventType.OBJECT_APPEARANCE, time=T0,
                    camera_id=camera_id, track=track, label="person", data={"detection_seq": detection_seq, **named})


def unit(first: float, other: int | None = None) -> list[float]:
    """A unit appearance descriptor whose dot product with ``unit(1.0)`` is ``first``."""
    values = [0.0] * EMBEDDING_DIMS
    values[0] = first
    if other is not None:
        values[other] = math.sqrt(1 - first * first)
    return values


class SearchBackendContract:
    @pytest.fixture
    def data(self, cameras, indexed):
        lobby, vault = cameras
        indexed(dataset(lobby.pk, vault.pk))
        return lobby.pk, vault.pk

    def ids(self, page):
        return [h.id for h in page.results]

    def test_ranked_by_confidence_with_ties_broken_by_id(self, backend, data):
        page = backend.search(SearchQuery())
        assert self.ids(page) == [5, 1, 3, 6, 2, 4]
        assert page.next_cursor is None

    def test_one_result_per_track_with_its_best_detection(self, backend, data):
        hit = backend.get(1)
        assert hit is not None
        assert (hit.confidence, hit.detections, hit.best_offset_ms) == (0.9, 3, MINUTE)
        assert hit.end_ms - hit.start_ms == 2 * MINUTE

    def test_filter_by_tag_repeatable(self, backend, data):
        assert self.ids(backend.search(SearchQuery(tags=("person",)))) == [5, 1, 6, 2]
        assert self.ids(backend.search(SearchQuery(tags=("car", "bicycle")))) == [3, 4]
        assert self.ids(backend.search(SearchQuery(tags=("dog",)))) == []

    def test_filter_by_camera_and_visibility(self, backend, data):
        lobby, vault = data
        assert self.ids(backend.search(SearchQuery(cameras=(vault,)))) == [5, 6]
        assert self.ids(backend.search(SearchQuery(visible_cameras=frozenset({lobby})))) == [1, 3, 2, 4]
        # Asking for a camera you may not see gives nothing, not an error that reveals it.
        assert self.ids(backend.search(SearchQuery(cameras=(vault,), visible_cameras=frozenset({lobby})))) == []
        assert self.ids(backend.search(SearchQuery(visible_cameras=frozenset()))) == []

    def test_filter_by_min_confidence(self, backend, data):
        assert self.ids(backend.search(SearchQuery(min_confidence=0.6))) == [5, 1, 3, 6, 2]
        assert self.ids(backend.search(SearchQuery(min_confidence=0.91))) == [5]

    def test_filter_by_time_range_overlap(self, backend, data):
        # Track 1 spans minutes 0-2: a range starting at minute 1 still overlaps it.
        query = SearchQuery(start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=20))
        assert self.ids(backend.search(query)) == [1, 2]
        query = SearchQuery(start=T0 + timedelta(minutes=20), end=T0 + timedelta(minutes=20, seconds=1))
        assert self.ids(backend.search(query)) == [3]

    def test_sort_by_time(self, backend, data):
        assert self.ids(backend.search(SearchQuery(sort="time"))) == [1, 2, 3, 4, 5, 6]
        assert self.ids(backend.search(SearchQuery(sort="-time"))) == [6, 5, 4, 3, 2, 1]

    @pytest.mark.parametrize("sort", ["-confidence", "time", "-time"])
    def test_cursor_pagination_walks_everything_once(self, backend, data, sort):
        everything = self.ids(backend.search(SearchQuery(sort=sort, page_size=50)))
        seen, cursor = [], None
        while True:
            page = backend.search(SearchQuery(sort=sort, page_size=2, cursor=cursor), facets=False)
            seen += self.ids(page)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == everything

    def test_cursor_of_another_sort_is_rejected(self, backend, data):
        cursor = backend.search(SearchQuery(page_size=1)).next_cursor
        with pytest.raises(InvalidCursor):
            backend.search(SearchQuery(sort="time", cursor=cursor))
        with pytest.raises(InvalidCursor):
            backend.search(SearchQuery(cursor="not-a-cursor"))

    def test_facets(self, backend, data):
        lobby, vault = data
        facets = backend.search(SearchQuery(tags=("person",))).facets
        # Tag counts ignore the tag filter; camera counts and the histogram apply it.
        assert facets.tags == {"person": 4, "car": 1, "bicycle": 1}
        assert facets.cameras == {lobby: 2, vault: 2}
        assert sum(n for _, n in facets.histogram.buckets) == 4
        starts = [s for s, _ in facets.histogram.buckets]
        assert starts == sorted(starts)
        assert all(s % facets.histogram.interval_ms == 0 for s in starts)

    def test_facets_respect_visibility(self, backend, data):
        lobby, _ = data
        facets = backend.search(SearchQuery(visible_cameras=frozenset({lobby}))).facets
        assert facets.cameras == {lobby: 4}
        assert facets.tags == {"person": 2, "car": 1, "bicycle": 1}

    def test_more_detections_raise_the_best_confidence(self, backend, data, indexed, cameras):
        indexed([detection(1, cameras[0].pk, 2, 11 * MINUTE, 0.99, ordinal=1)])
        assert self.ids(backend.search(SearchQuery(tags=("person",), page_size=1))) == [2]

    def test_faces_and_plates_are_never_searched(self, backend, data, indexed, cameras):
        """Privacy labels are in the log for masking only: confident, long tracks of them change no answer."""
        lobby = cameras[0].pk
        before = backend.search(SearchQuery())
        indexed([detection(3, lobby, 7, n * 1000, 0.99, label="face", model="centerface") for n in range(5)]
                + [detection(3, lobby, 8, n * 1000, 0.99, label="plate", model="test-plates", ordinal=1)
                   for n in range(5)])
        after = backend.search(SearchQuery())
        assert self.ids(after) == self.ids(before) and after.facets == before.facets
        assert self.ids(backend.search(SearchQuery(tags=("face", "plate")))) == []
        assert backend.get(7) is None and backend.get(8) is None

    def test_colours_are_the_best_detections_and_filter_each_attribute(self, backend, cameras, indexed):
        lobby, vault = cameras[0].pk, cameras[1].pk
        indexed([
            # track 11: a person whose best detection (0.9) says red over blue; the weaker one said black.
            detection(4, lobby, 11, 0, 0.5, colors={"upper_color": "black", "lower_color": "blue"}),
            detection(4, lobby, 11, 1000, 0.9, colors={"upper_color": "red", "lower_color": "blue"}),
            detection(4, lobby, 11, 2000, 0.7),  # not a new best: no colours, changes nothing
            # track 12: red over black; track 13: upper not named; track 14: a white car; 15: in the vault.
            detection(4, lobby, 12, 3000, 0.8, ordinal=1, colors={"upper_color": "red", "lower_color": "black"}),
            detection(4, lobby, 13, 4000, 0.7, ordinal=2, colors={"lower_color": "blue"}),
            detection(4, lobby, 14, 5000, 0.85, label="car", ordinal=3, colors={"color": "white"}),
            detection(5, vault, 15, 6000, 0.6, colors={"upper_color": "red", "lower_color": "blue"}),
        ])
        hit = backend.get(11)
        assert hit is not None and hit.colors() == {"upper_color": "red", "lower_color": "blue"}
        assert backend.get(13).colors() == {"lower_color": "blue"}
        assert backend.get(14).colors() == {"color": "white"}
        red = backend.search(SearchQuery(upper_colors=("red",)))
        assert sorted(self.ids(red)) == [11, 12, 15]
        # Attributes AND, values of one attribute OR; with every other filter.
        assert sorted(self.ids(backend.search(SearchQuery(upper_colors=("red",), lower_colors=("blue",))))) == [11, 15]
        assert sorted(self.ids(backend.search(SearchQuery(lower_colors=("black", "blue"))))) == [11, 12, 13, 15]
        assert self.ids(backend.search(SearchQuery(colors=("white",), tags=("car",)))) == [14]
        assert self.ids(backend.search(SearchQuery(upper_colors=("red",), visible_cameras=frozenset({lobby}),
                                                   min_confidence=0.85))) == [11]
        # Facets: each colour's counts ignore its own filter, apply the others; visibility always.
        facets = backend.search(SearchQuery(upper_colors=("red",), visible_cameras=frozenset({lobby}))).facets
        assert facets.colors["upper_color"] == {"red": 2}
        assert facets.colors["lower_color"] == {"blue": 1, "black": 1}
        assert facets.colors["color"] == {}
        assert facets.tags == {"person": 2}
        assert sum(n for _, n in facets.histogram.buckets) == 2
        everything = backend.search(SearchQuery(lower_colors=("blue",))).facets
        assert everything.colors["lower_color"] == {"blue": 3, "black": 1}
        assert everything.colors["upper_color"] == {"red": 2}
        assert everything.colors["color"] == {}

    def test_colours_named_afterwards_apply_to_the_best_detection_only(self, backend, cameras, indexed):
        lobby = cameras[0].pk
        indexed([detection(6, lobby, 31, 0, 0.6), detection(6, lobby, 31, 1000, 0.8)])
        best = Event.objects.get(key=detection(6, lobby, 31, 1000, 0.8).key).seq
        weaker = Event.objects.get(key=detection(6, lobby, 31, 0, 0.6).key).seq
        indexed([
            appearance(31, weaker, lobby, upper_color="green"),  # not the best detection: ignored
            appearance(31, best, lobby, upper_color="red", lower_color="blue"),
            appearance(99, best, lobby, upper_color="red"),  # a track the backend does not have: nothing
        ])
        assert backend.get(31).colors() == {"upper_color": "red", "lower_color": "blue"}
        assert backend.get(99) is None
        assert self.ids(backend.search(SearchQuery(upper_colors=("red",)))) == [31]
        # A better detection later: the sighting takes its colours (none named here), not the old ones.
        indexed([detection(6, lobby, 31, 2000, 0.9)])
        assert backend.get(31).colors() == {}

    def test_find_similar_ranks_by_appearance_within_label_cameras_time_and_visibility(self, backend, cameras,
                                                                                        indexed):
        lobby, vault = cameras[0].pk, cameras[1].pk
        indexed([
            detection(7, lobby, 41, 0, 0.9, colors={"embedding": unit(1.0)}),  # the one asked about
            detection(7, lobby, 42, 60_000, 0.8, ordinal=1, colors={"embedding": unit(0.9, 1)}),
            detection(8, vault, 43, 120_000, 0.7, colors={"embedding": unit(0.8, 2)}),
            detection(7, lobby, 44, 180_000, 0.6, ordinal=2, colors={"embedding": unit(0.1, 3)}),
            detection(7, lobby, 45, 0, 0.9, ordinal=3, label="car", colors={"embedding": unit(1.0)}),  # not a person
            detection(7, lobby, 46, 0, 0.9, ordinal=4),  # no descriptor
        ])
        found = backend.similar(SimilarQuery(of=41))
        assert [f.hit.id for f in found] == [42, 43, 44]
        assert [f.similarity for f in found] == pytest.approx([0.9, 0.8, 0.1], abs=1e-3)
        # Visibility is a filter, not a mask on the answer; cameras asked for narrow it further.
        assert [f.hit.id for f in backend.similar(SimilarQuery(of=41, visible_cameras=frozenset({lobby})))] == [42, 44]
        assert [f.hit.id for f in backend.similar(SimilarQuery(of=41, cameras=(vault,)))] == [43]
        assert [f.hit.id for f in backend.similar(SimilarQuery(of=41, limit=1))] == [42]
        window = SimilarQuery(of=41, start=T0 + timedelta(seconds=90), end=T0 + timedelta(seconds=150))
        assert [f.hit.id for f in backend.similar(window)] == [43]
        assert backend.similar(SimilarQuery(of=46)) == []
        assert backend.similar(SimilarQuery(of=999)) == []
        # A later, weaker detection of a track keeps its descriptor (the summary is read back whole).
        indexed([detection(7, lobby, 42, 61_000, 0.5, ordinal=1)])
        assert [f.hit.id for f in backend.similar(SimilarQuery(of=41, limit=1))] == [42]

