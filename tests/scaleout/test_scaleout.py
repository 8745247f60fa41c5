"""Scale-out: a whole server-mode site as real processes on this machine, with faults, and what it kept.

Three Elasticsearch nodes (indices with one replica), two web processes (daphne), two analysis workers, two
recorders sharing two live RTSP cameras by lease, one projector, on the PostgreSQL and Redis of the
server-mode pass (the test database, fresh for this test). Driven by uploads through both web processes
while both cameras record, searches against both, and four WebSocket clients of the live feed that each
drop once and resume on the other web process with ``after=``. Faults, one after the other: a worker
SIGKILLed while it analyses, a recorder SIGKILLed, an Elasticsearch node SIGKILLed and brought back, the
projector SIGKILLed and restarted. Then everything must add up (``harness.Deployment.verify``); the time to
recover from each fault is printed (``-s``, or in the report of a failure). The harness is
``tests/scaleout/harness.py``; ``benchmarks/bench_scaleout.py`` measures with it.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.factories import UserFactory
from tests.scaleout import harness
from tests.services import service_unavailable

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.timeout(1500)]


def test_scaled_out_site_loses_and_doubles_nothing_through_its_faults(transactional_db, settings, tmp_path,
                                                                         vtest_path):
    redis = os.environ.get("SIGHTLINE_TEST_REDIS_URL")
    if connection.vendor != "postgresql" or not redis:
        service_unavailable("the scale-out test needs DATABASE_URL (PostgreSQL) and SIGHTLINE_TEST_REDIS_URL")
    cluster = harness.ElasticsearchCluster()
    try:
        cluster.script("install", timeout=900)
    except Exception as exc:
        service_unavailable(f"Elasticsearch cannot be installed here: {str(exc)[-500:]}")
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update=harness.TEST_PROCESS_SETTINGS)
    admin = UserFactory(username="scaleout-admin", is_staff=True, is_superuser=True, role="admin")

    outcome = harness.run(work=tmp_path, database=harness.database_url(), redis=redis, cluster=cluster,
                          admin=admin, vtest=vtest_path, secret_key=django_settings.SECRET_KEY)

    report, searches = outcome.report, outcome.searches
    harness.log(f"report: { {k: v for k, v in report.items() if k != 'problems'} }")
    for fault, seconds in outcome.deployment.recoveries.items():
        harness.log(f"recovery: {fault}: {seconds:.1f} s")
    harness.log(f"searches while ingesting: {harness.summary(searches.latencies_ms)}, by web process "
                f"{searches.by_port}, {len(searches.failures)} failed {searches.failures[:3]}")
    harness.log(f"timings: { {k: round(v, 1) for k, v in outcome.timings.items()} }")
    # THEN nothing was lost, doubled, recorded twice, delivered twice or out of order, or left unfinished
    assert report["problems"] == []
    # AND the run did what it claims: footage analysed, sightings confirmed, the feed carried them, both
    # web processes answered searches, and the worker really was killed mid-clip (its job ran again)
    assert report["detections"] > 0 and report["sightings"] > 0 and report["recorded_segments"] >= 4
    assert report["feed_messages_required"] > 0
    assert all(report[f"feed_{c}"]["connects"] >= 2 for c in ("client-1", "client-2", "client-3", "client-4"))
    assert set(searches.by_port) == set(outcome.deployment.web_ports) and searches.latencies_ms
    assert outcome.attempts_after_worker_kill >= 2
    # AND the restarted recorder ran, found both cameras leased by the other, and recorded neither
    assert "recorder recorder-1 started" in outcome.restarted_recorder_log
    assert "recording camera" not in outcome.restarted_recorder_log
    # AND every index has its replica, and the cluster is whole again
    assert outcome.replicas and set(outcome.replicas.values()) == {"1"}, outcome.replicas
    assert outcome.cluster_green
    assert len(outcome.deployment.recoveries) == 5
