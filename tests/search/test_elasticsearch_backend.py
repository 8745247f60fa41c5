"""The Elasticsearch backend against a real Elasticsearch: the shared contract plus what only it has.

The cluster comes from ``SIGHTLINE_TEST_ELASTICSEARCH_URL`` (``scripts/services/elasticsearch.sh start``
starts one; ``... url`` prints its URL). Unset: skipped with the reason, except in CI (``CI=true``), where a
missing service is a failure. Every test gets its own index prefix, so tests never see each other's data
(the fixtures are in ``conftest.py``, shared with test_elasticsearch_confirmation.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backend.eventlog import projections
from backend.eventlog.log import EventLog
from search.backends.base import SearchQuery, SimilarQuery
from search.backends.elasticsearch import (
    ElasticsearchProjection,
    ProjectionWriteError,
    get_client,
    indices,
    rebuild_index,
)
from tests.factories import T0, detection
from tests.search.contract import MINUTE, SearchBackendContract, dataset, unit


class TestElasticsearchBackend(SearchBackendContract):
    pass


def _answers(backend):
    """Everything a user could see, for comparing two states of the index."""
    out = []
    for sort in ("-confidence", "time", "-time"):
        page = backend.search(SearchQuery(sort=sort))
        out.append((sort, page.results, page.facets))
    return out


def test_catching_up_twice_and_rebuilding_give_the_same_answers(backend, projection, indexed, cameras):
    lobby, vault = cameras
    indexed(dataset(lobby.pk, vault.pk))
    first = _answers(backend)
    # GIVEN a replay of the whole log over the same index (as after a crash before the checkpoint saved)
    from backend.eventlog.models import ProjectionCheckpoint

    ProjectionCheckpoint.objects.filter(name=projection.name).update(position=0)
    projections.catch_up(projection)
    projection.refresh()
    assert _answers(backend) == first
    # AND a rebuild from zero (dropping everything)
    projections.rebuild(projection)
    projection.refresh()
    assert _answers(backend) == first
    assert backend.get(1).detections == 3


def test_elasticsearch_down_mid_ingestion_loses_and_doubles_nothing(
    backend, projection, indexed, cameras
):
    lobby, vault = cameras
    events = dataset(lobby.pk, vault.pk)
    indexed(events[:4])
    before = projections.position(projection.name)
    EventLog.append(events[4:])
    # WHEN Elasticsearch cannot be reached (a closed port) during a catch-up
    unreachable = ElasticsearchProjection(client=get_client("http://127.0.0.1:9"), names=projection.names)
    with pytest.raises(Exception):  # noqa: B017 - any transport error must surface
        projections.catch_up(unreachable)
    # THEN the checkpoint did not advance
    assert projections.position(projection.name) == before
    assert projection.lag() == len(events) - 4
    # AND once it is back, catching up gives exactly the full answers
    projections.catch_up(projection)
    projection.refresh()
    assert projection.lag() == 0
    page = backend.search(SearchQuery())
    assert [h.id for h in page.results] == [5, 1, 3, 6, 2, 4]
    assert {h.id: h.detections for h in page.results} == {1: 3, 2: 1, 3: 2, 4: 1, 5: 1, 6: 1}


def test_partial_batch_replayed_after_failure_counts_each_detection_once(
    backend, projection, indexed, cameras
):
    """GIVEN a batch whose summaries were written but whose checkpoint was not saved, WHEN it is replayed,
    THEN no detection is counted twice (the summary's last_seq guards it)."""
    lobby, _ = cameras
    indexed([detection(1, lobby.pk, 7, 0, 0.5), detection(1, lobby.pk, 7, MINUTE, 0.6, ordinal=1)])
    from backend.eventlog.models import Event

    projection.apply(list(Event.objects.order_by("seq")))  # replay without moving the checkpoint
    projection.refresh()
    hit = backend.get(7)
    assert (hit.detections, hit.confidence, hit.end_ms - hit.start_ms) == (2, 0.6, MINUTE)


def _block(client, names, setting, value):
    client.indices.put_settings(index=names.generation_pattern(), settings={f"index.blocks.{setting}": value})


def test_transient_refusals_are_retried_with_backoff(backend, projection, indexed, cameras):
    """GIVEN partitions under a read-only-allow-delete block (what a full disk sets; ES answers 429),
    WHEN the block lifts while the projector backs off, THEN the batch lands whole, nothing set aside."""
    lobby, _ = cameras
    indexed([detection(1, lobby.pk, 30, 0, 0.5)])
    client, names = backend.client, backend.names
    _block(client, names, "read_only_allow_delete", True)
    EventLog.append([detection(1, lobby.pk, 30, MINUTE, 0.9, ordinal=1)])
    projection.base_backoff_s = 0.3
    lift = threading.Timer(1.0, _block, (client, names, "read_only_allow_delete", None))
    lift.start()
    try:
        projections.catch_up(projection)
    finally:
        lift.join()
    projection.refresh()
    assert projection.lag() == 0
    assert backend.get(30).detections == 2
    assert (
        not client.indices.exists(index=names.deadletter)
        or client.count(index=names.deadletter)["count"] == 0
    )


def test_write_block_halts_without_advancing_or_dead_lettering(backend, projection, indexed, cameras):
    lobby, _ = cameras
    indexed([detection(1, lobby.pk, 31, 0, 0.5)])
    client, names = backend.client, backend.names
    _block(client, names, "write", True)
    EventLog.append([detection(1, lobby.pk, 31, MINUTE, 0.9, ordinal=1)])
    with pytest.raises(ProjectionWriteError):
        projections.catch_up(projection)
    assert projection.lag() == 1
    _block(client, names, "write", None)
    projections.catch_up(projection)
    projection.refresh()
    assert backend.get(31).detections == 2
    assert client.count(index=names.deadletter)["count"] == 0


def test_poison_document_is_set_aside_with_its_reason(backend, projection, indexed, cameras, es_settings):
    lobby, _ = cameras
    # A box coordinate that is not a finite number: the database stores it, Elasticsearch refuses it (400).
    poison = detection(1, lobby.pk, 8, 0, 0.7, box=(float("inf"), 0.2, 0.3, 0.6), ordinal=4)
    indexed([poison, detection(1, lobby.pk, 9, MINUTE, 0.8)])
    assert projection.lag() == 0
    assert [h.id for h in backend.search(SearchQuery()).results] == [9]
    dead = backend.client.search(index=backend.names.deadletter, size=10)["hits"]["hits"]
    kinds = sorted(d["_source"]["kind"] for d in dead)
    assert kinds == ["detections", "sightings"]
    for d in dead:
        assert d["_source"]["status"] == 400
        assert "failed to parse" in d["_source"]["reason"]


def test_retention_drops_whole_months(backend, projection, indexed, cameras):
    lobby, _ = cameras
    october = datetime(2026, 10, 15, tzinfo=UTC)
    indexed(
        [
            detection(3, lobby.pk, 20, 0, 0.9, start=october),
            detection(1, lobby.pk, 21, 0, 0.8),  # T0 is in November 2026
        ]
    )
    assert [h.id for h in backend.search(SearchQuery()).results] == [20, 21]
    # A cutoff inside November keeps November, drops October.
    dropped = backend.drop_partitions_before(datetime(2026, 11, 10, tzinfo=UTC))
    assert sorted(i.rsplit("-", 2)[1:] for i in dropped) == [
        ["detections", "2026.10"],
        ["sightings", "2026.10"],
    ]
    assert [h.id for h in backend.search(SearchQuery()).results] == [21]


def test_rebuild_swaps_aliases_while_searches_keep_answering(backend, projection, indexed, cameras):
    lobby, vault = cameras
    indexed(dataset(lobby.pk, vault.pk))
    expected = [5, 1, 3, 6, 2, 4]
    client, names = backend.client, backend.names
    # Many more events so the rebuild takes a while, appended but also projected live.
    indexed(
        [
            detection(9, lobby.pk, 1000 + i // 10, 60 * MINUTE + i * 1000, 0.01, ordinal=i % 10)
            for i in range(3000)
        ]
    )
    expected_all = [h.id for h in backend.search(SearchQuery(page_size=200)).results]
    failures: list[object] = []
    answers: list[int] = []
    stop = threading.Event()

    def searcher() -> None:
        while not stop.is_set():
            try:
                page = backend.search(SearchQuery(page_size=6), facets=False)
                assert [h.id for h in page.results] == expected
                answers.append(1)
            except Exception as exc:
                failures.append(exc)

    thread = threading.Thread(target=searcher)
    thread.start()
    try:
        result = rebuild_index(client, names, batch=500)
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert answers
    assert (result["previous"], result["generation"]) == (1, 2)
    assert indices.generations(client, names) == {2}
    assert [h.id for h in backend.search(SearchQuery(page_size=200)).results] == expected_all
    # The live projector now writes to the new generation.
    indexed([detection(1, lobby.pk, 2, 11 * MINUTE, 0.99, ordinal=1)])
    assert [h.id for h in backend.search(SearchQuery(page_size=1)).results] == [2]
    assert projection.lag() == 0


def test_empty_index_answers_empty(backend, es_settings):
    page = backend.search(SearchQuery(start=T0, end=T0 + timedelta(hours=1)))
    assert page.results == [] and page.facets.tags == {}
    assert backend.get(1) is None


@contextlib.contextmanager
def running_projector(projection: ElasticsearchProjection):
    """``run_projector``'s loop (its ``Runner``, fast backoff) in a thread, as the only registered projection."""
    from backend.eventlog.management.commands.run_projector import Runner

    registered = dict(projections.registered())
    projections.register(projection)
    runner = Runner(base_backoff_s=0.05, max_backoff_s=0.3)
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        from django.db import connection

        try:
            while not stop.is_set():
                runner.tick()
                stop.wait(0.05)
        except BaseException as exc:  # the runner must never raise
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield runner
    finally:
        stop.set()
        thread.join(10)
        projections._registry.clear()
        projections._registry.update(registered)
    assert errors == []


def caught_up(projection: ElasticsearchProjection, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while projection.lag() and time.monotonic() < deadline:
        time.sleep(0.05)
    return projection.lag() == 0


def test_projector_keeps_going_through_an_outage_and_catches_up(transactional_db, backend, indexed, cameras,
                                                                es_url):
    """GIVEN the projector running (``run_projector``'s loop) to Elasticsearch through a connection that is
    cut for real mid-ingestion, THEN it keeps retrying with backoff instead of exiting, its checkpoint stays
    put, and once the connection is back every detection is searchable exactly once."""
    from urllib.parse import urlsplit

    from tests.tcp_proxy import TcpProxy

    lobby, vault = cameras
    target = urlsplit(es_url)
    proxy = TcpProxy(target.hostname, target.port)
    via_proxy = ElasticsearchProjection(client=get_client(proxy.url).options(max_retries=0, request_timeout=5),
                                        names=backend.names)
    events = dataset(lobby.pk, vault.pk)
    try:
        EventLog.append(events[:4])
        with running_projector(via_proxy) as runner:
            assert caught_up(via_proxy, 30)
            proxy.cut()  # WHEN the connection goes away
            EventLog.append(events[4:])
            time.sleep(1.5)
            assert runner.failures.get(via_proxy.name, 0) >= 2, "it retried, with backoff, and kept running"
            assert via_proxy.lag() == len(events) - 4
            proxy.restore()  # AND comes back
            assert caught_up(via_proxy, 30)
            assert via_proxy.name not in runner.failures
    finally:
        proxy.close()
    backend.projections()[0].refresh()
    page = backend.search(SearchQuery())
    assert [h.id for h in page.results] == [5, 1, 3, 6, 2, 4]
    assert {h.id: h.detections for h in page.results} == {1: 3, 2: 1, 3: 2, 4: 1, 5: 1, 6: 1}


@pytest.mark.slow
def test_the_elasticsearch_jvm_killed_and_restarted_while_the_projector_runs(transactional_db, backend, cameras,
                                                                            es_url):
    """GIVEN the projector running, WHEN the Elasticsearch JVM is SIGKILLed mid-ingestion and started again
    on its data, THEN the projector waits it out and catches up: every sighting once, with every detection
    counted once (the acknowledged writes survived the crash; the rest were replayed)."""
    from tests.services import control

    lobby, vault = cameras
    projection = ElasticsearchProjection(client=get_client(es_url).options(max_retries=0, request_timeout=5),
                                         names=backend.names)
    events = dataset(lobby.pk, vault.pk)
    with running_projector(projection) as runner:
        EventLog.append(events[:4])
        assert caught_up(projection, 30)
        control("elasticsearch", "kill")
        try:
            EventLog.append(events[4:])
            deadline = time.monotonic() + 10
            while runner.failures.get(projection.name, 0) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert runner.failures.get(projection.name, 0) >= 2 and projection.lag() == len(events) - 4
        finally:
            control("elasticsearch", "start")
            control("elasticsearch", "wait")
        assert caught_up(projection, 60)
    projection.refresh()
    page = backend.search(SearchQuery())
    assert [h.id for h in page.results] == [5, 1, 3, 6, 2, 4]
    assert {h.id: h.detections for h in page.results} == {1: 3, 2: 1, 3: 2, 4: 1, 5: 1, 6: 1}


def test_elasticsearch_is_never_called_inside_a_database_transaction(transactional_db, backend, projection,
                                                                    indexed, cameras):
    """On SQLite a transaction holds the only write lock: an Elasticsearch call inside it would stall every
    append for as long as Elasticsearch takes to answer (or to time out)."""
    from django.db import connection

    seen: list[bool] = []
    apply = projection.apply

    def watched(events):
        seen.append(connection.in_atomic_block)
        return apply(events)

    projection.apply = watched
    lobby, vault = cameras
    indexed(dataset(lobby.pk, vault.pk))
    assert seen and not any(seen)


def test_expired_clips_leave_no_document_behind(backend, projection, indexed, cameras):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from backend.clips.models import Clip
    from backend.clips.retention import expire_by_age

    lobby, _vault = cameras
    lobby.retention_days = 7
    lobby.save()
    now = T0 + timedelta(days=30)
    clips = [Clip.objects.create(camera=lobby, started_at=start, status=Clip.Status.DONE,
                                 file=default_storage.save("clips/es.mp4", ContentFile(b"x")))
             for start in (T0, now - timedelta(days=1))]
    # Two tracks in the old clip, one in the fresh one.
    indexed([detection(clips[0].pk, lobby.pk, track, offset, 0.6 + offset / 100_000, start=T0, ordinal=track)
             for track in (1, 2) for offset in (1000, 2000)]
            + [detection(clips[1].pk, lobby.pk, 3, 1000, 0.7, start=clips[1].started_at)])
    client = backend.client

    def detection_docs(clip: Clip) -> int:
        return client.count(index=backend.names.detections_alias, query={"term": {"clip_id": clip.pk}})["count"]

    assert detection_docs(clips[0]) == 4 and {h.id for h in backend.search(SearchQuery()).results} == {1, 2, 3}

    assert expire_by_age(now).expired == 1
    projections.catch_up(projection)
    projection.refresh()

    assert detection_docs(clips[0]) == 0 and detection_docs(clips[1]) == 1
    assert [h.id for h in backend.search(SearchQuery()).results] == [3]
    assert backend.get(1) is None
    # A rebuild from the log gives the same index: the expired detections are gone from the log too.
    rebuild_index(client, backend.names)
    projection.refresh()
    assert [h.id for h in backend.search(SearchQuery()).results] == [3]
    assert detection_docs(clips[0]) == 0


def test_a_private_ca_from_the_settings_is_what_the_client_trusts(settings, tmp_path):
    """``SIGHTLINE_ELASTICSEARCH_CA_CERTS`` (the deployment's own CA, docker/compose.yaml) reaches the client."""
    from search.backends.elasticsearch.backend import ElasticsearchSearchBackend

    ca = tmp_path / "ca.crt"
    ca.write_text(Path("/etc/ssl/certs/ca-certificates.crt").read_text())
    conf = settings.SIGHTLINE.model_copy(update={"ELASTICSEARCH_URL": "https://es.invalid:9200",
                                                 "ELASTICSEARCH_USERNAME": "sightline",
                                                 "ELASTICSEARCH_PASSWORD": "x", "ELASTICSEARCH_CA_CERTS": ca})
    backend = ElasticsearchSearchBackend.from_settings(conf)
    assert [node.config.ca_certs for node in backend.client.transport.node_pool.all()] == [str(ca)]


def test_a_restarted_projector_keeps_the_descriptor_it_reads_back(backend, projection, indexed, cameras):
    """Elasticsearch 9 leaves dense vectors out of ``_source`` unless asked: a projector that reads a summary
    back (no cache: just started) must still write its descriptor again."""
    lobby = cameras[0].pk
    indexed([detection(9, lobby, 51, 0, 0.9, colors={"embedding": unit(1.0)}),
             detection(9, lobby, 52, 0, 0.8, ordinal=1, colors={"embedding": unit(0.9, 1)})])
    restarted = ElasticsearchProjection(client=projection.client, names=projection.names)
    EventLog.append([detection(9, lobby, 52, 1000, 0.5, ordinal=1)])  # weaker: the best stays
    projections.catch_up(restarted)
    restarted.refresh()
    assert backend.get(52).detections == 2
    assert [f.hit.id for f in backend.similar(SimilarQuery(of=51))] == [52]
