"""The confirmation rule on Elasticsearch (a real one, as in test_elasticsearch_backend.py): unconfirmed
summaries are indexed but never searched, counted or found; a change of a camera's rules rebuilds the index."""

from __future__ import annotations

import pytest

from backend.cameras.models import TrackedObject
from backend.eventlog import projections
from backend.eventlog.log import EventLog
from backend.eventlog.models import Event, ProjectionCheckpoint
from search.backends.base import SearchQuery
from search.backends.elasticsearch import ElasticsearchProjection, indices, rebuild_index
from search.backends.elasticsearch.client import month_of_ms
from search.sightings import SightingSummary
from tests.factories import T0
from tests.search.confirmation import strict_defaults, track
from tests.search.test_confirmation import mixed_tracks


@pytest.fixture
def strict(es_settings, settings):
    strict_defaults(settings)


def summaries(backend):
    """Every summary document of the live generation, confirmed or not (without the search filter)."""
    backend.client.indices.refresh(index=backend.names.sightings_alias)
    found = backend.client.search(index=backend.names.sightings_alias, size=100, sort=[{"id": "asc"}])
    return {h["_source"]["id"]: h["_source"] for h in found["hits"]["hits"]}


def visible(backend):
    return [h.id for h in backend.search(SearchQuery(sort="time")).results]


def test_unconfirmed_summaries_are_not_searched_counted_or_found(backend, indexed, cameras, strict):
    lobby, vault = cameras
    indexed(mixed_tracks(lobby.pk, vault.pk))
    page = backend.search(SearchQuery())
    assert [h.id for h in page.results] == [1, 2]
    assert page.facets.tags == {"person": 2} and page.facets.cameras == {lobby.pk: 2}
    assert sum(n for _, n in page.facets.histogram.buckets) == 2
    both = backend.search(SearchQuery(start=T0, end=T0.replace(hour=9)))  # both bounds: the other histogram path
    assert sum(n for _, n in both.facets.histogram.buckets) == 2
    assert backend.search(SearchQuery(tags=("skis", "car"))).results == []
    for hidden in (3, 4, 5, 6):
        assert backend.get(hidden) is None
    # They are indexed, with the rule's state, for when they go on.
    docs = summaries(backend)
    assert {i: (d["confirmed"], d["hits"], d["detections"]) for i, d in docs.items()} == {
        1: (True, 4, 4), 2: (True, 5, 5), 3: (False, 4, 4), 4: (False, 0, 3), 5: (False, 2, 2), 6: (False, 0, 3)}
    assert docs[5]["recent"] == [0.9, 0.9]


def test_a_track_confirmed_later_appears_with_all_its_detections(backend, indexed, cameras, strict):
    lobby, _ = cameras
    indexed(track(1, lobby.pk, 7, [0.6, 0.95]))
    assert backend.get(7) is None
    indexed(track(1, lobby.pk, 7, [0.7], start_ms=5000, ordinal=1))
    hit = backend.get(7)
    assert hit is not None
    assert (hit.detections, hit.confidence, hit.end_ms - hit.start_ms, hit.best_offset_ms) == (3, 0.95, 5000, 1000)
    indexed(track(1, lobby.pk, 7, [0.31] * 10, start_ms=6000, ordinal=2))  # sticky
    assert backend.get(7).detections == 13  # type: ignore[union-attr]


def test_how_the_log_is_cut_into_batches_changes_nothing(backend, projection, cameras, strict):
    lobby, vault = cameras
    EventLog.append(mixed_tracks(lobby.pk, vault.pk))
    projections.catch_up(projection, batch=1)  # event by event
    one_by_one = summaries(backend)
    rebuild_index(backend.client, backend.names, batch=5000)  # all in one batch, into a new generation
    assert summaries(backend) == one_by_one
    assert [i for i, d in one_by_one.items() if d["confirmed"]] == [1, 2]


def test_changing_a_cameras_tracked_objects_rebuilds_the_index(backend, indexed, cameras, strict,
                                                              django_capture_on_commit_callbacks):
    lobby, vault = cameras
    indexed(mixed_tracks(lobby.pk, vault.pk))
    assert visible(backend) == [1, 2]
    # GIVEN the vault tracks dogs, and the lobby cars from a low threshold (one transaction: one rebuild)
    with django_capture_on_commit_callbacks(execute=True):
        dog = TrackedObject.objects.create(camera=vault, label="dog", min_score=0.5, threshold=0.5, min_hits=3)
        TrackedObject.objects.create(camera=lobby, label="car", min_score=0.3, threshold=0.4, min_hits=2)
    # THEN the index was rebuilt under the new rules: hidden tracks appear, the lobby's persons go
    assert indices.generations(backend.client, backend.names) == {2}
    assert visible(backend) == [3, 6]
    assert backend.get(6).detections == 3  # type: ignore[union-attr]
    assert backend.get(1) is None
    # AND a stricter rule hides the dog again, the site defaults give the lobby its persons back
    with django_capture_on_commit_callbacks(execute=True):
        dog.min_hits = 4
        dog.save()
        TrackedObject.objects.filter(camera=lobby).delete()
    assert indices.generations(backend.client, backend.names) == {3}
    assert visible(backend) == [1, 2]
    # AND the live projector writes the new generation under the new rules
    indexed(track(9, vault.pk, 9, [0.9] * 4, label="dog", start_ms=60_000))
    assert visible(backend) == [1, 2, 9]
    assert projection_lag(backend) == 0


def projection_lag(backend) -> int:
    return backend.projections()[0].lag()


def test_summaries_of_an_index_older_than_the_rule_count_as_confirmed(backend, es_settings, cameras, strict):
    """GIVEN a partition created before the rule (its strict mapping lacks the new fields) holding a summary
    without them, WHEN the projector of this version writes to it, THEN the mapping gains the fields (nothing
    is refused), the old summary is a sighting and goes on folding from its old counts."""
    client, names = backend.client, backend.names
    lobby, _ = cameras
    EventLog.append(track(1, lobby.pk, 41, [0.9]))  # the old projector had indexed this one
    event = Event.objects.get(track=41)
    old_mapping = indices.sighting_mapping().to_dict()
    for field in indices.CONFIRMATION_FIELDS:
        del old_mapping["properties"][field]
    month = month_of_ms(int(T0.timestamp() * 1000))
    index = names.partition(indices.SIGHTINGS, 1, month)
    client.indices.create(index=index, mappings=old_mapping, aliases={names.sightings_alias: {}})
    indices.set_live_generation(client, names, 1)
    old = {"id": 41, "camera_id": lobby.pk, "label": "person", "model": "test-model", "confidence": 0.9,
           "start": int(T0.timestamp() * 1000), "end": int(T0.timestamp() * 1000), "best": int(T0.timestamp() * 1000),
           "best_seq": event.seq, "best_clip_id": 1, "best_offset_ms": 0, "x1": 0.1, "y1": 0.2, "x2": 0.3, "y2": 0.6,
           "detections": 1, "thumbnail": "", "last_seq": event.seq}
    client.index(index=index, id="41", document=old, refresh=True)
    ProjectionCheckpoint.objects.update_or_create(name="search.elasticsearch", defaults={"position": event.seq})
    assert SightingSummary.from_document(old).confirmed
    assert (SightingSummary.from_document(old).hits, SightingSummary.from_document(old).recent) == (1, [])
    writer = ElasticsearchProjection(client=client, names=names)
    EventLog.append(track(1, lobby.pk, 41, [0.8], start_ms=1000, ordinal=1) + track(2, lobby.pk, 42, [0.9]))
    projections.catch_up(writer)
    writer.refresh()
    assert visible(backend) == [41]
    assert backend.get(41).detections == 2  # type: ignore[union-attr]
    docs = summaries(backend)
    assert (docs[41]["confirmed"], docs[41]["hits"]) == (True, 2)
    assert (docs[42]["confirmed"], docs[42]["hits"]) == (False, 1)
    assert not client.indices.exists(index=names.deadletter) or client.count(index=names.deadletter)["count"] == 0
